package influxtest

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestStartRetriesTakenPort: when a chosen port is taken before influxd
// binds it, start tries again on new ports instead of failing. Not
// parallel: it replaces pickPorts, which every start uses.
func TestStartRetriesTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		if calls == 1 {
			ports, err := freePorts(n)
			if err != nil {
				return nil, err
			}
			ports[0] = port
			return ports, nil
		}
		return freePorts(n)
	}
	defer func() { pickPorts = freePorts }()
	s := Start(t)
	if calls < 2 {
		t.Fatalf("ports chosen %d times, want a second choice after the taken port", calls)
	}
	if strings.HasSuffix(s.URL, fmt.Sprintf(":%d", port)) {
		t.Fatalf("server at %s, the taken port", s.URL)
	}
	if err := s.Query("SHOW DATABASES"); err != nil {
		t.Fatal(err)
	}
}
