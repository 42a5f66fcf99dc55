package influxtest_test

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"fibremon/internal/testing/influxtest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.Main(m)) }

func write(t *testing.T, s *influxtest.Server, bucket, line string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v2/write?bucket="+bucket+"&precision=ns", strings.NewReader(line))
	if s.Token != "" {
		req.Header.Set("Authorization", "Token "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func count(t *testing.T, s *influxtest.Server, bucket string) string {
	t.Helper()
	flux := `from(bucket: "` + bucket + `") |> range(start: 0) |> filter(fn: (r) => r._measurement == "m") |> count()`
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v2/query", strings.NewReader(flux))
	req.Header.Set("Content-Type", "application/vnd.flux")
	if s.Token != "" {
		req.Header.Set("Authorization", "Token "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("flux query: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// TestStartWriteQueryRestart: the server takes a v2 write, answers Flux,
// and keeps its data across Stop and Restart on the same ports.
func TestStartWriteQueryRestart(t *testing.T) {
	t.Parallel() // its own influxd, or its own databases on the shared one
	s := influxtest.Start(t)
	if s.Bucket != "fibremon/autogen" {
		t.Errorf("Bucket = %q; want fibremon/autogen", s.Bucket)
	}
	if code := write(t, s, s.Bucket, "m v=1 1000000000\nm v=2 2000000000"); code != http.StatusNoContent {
		t.Fatalf("write = %d; want 204", code)
	}
	if got := count(t, s, s.Bucket); !strings.Contains(got, ",2\r\n") {
		t.Fatalf("count before restart:\n%s", got)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("running after Stop")
	}
	if _, err := http.Get(s.URL + "/health"); err == nil {
		t.Fatal("/health answers after Stop")
	}
	s.Restart(t)
	if got := count(t, s, s.Bucket); !strings.Contains(got, ",2\r\n") {
		t.Fatalf("count after restart:\n%s", got)
	}
}

// TestAuth: with Options.Auth, requests need the admin's credentials.
func TestAuth(t *testing.T) {
	t.Parallel() // its own influxd, or its own databases on the shared one
	s := influxtest.StartWithOptions(t, influxtest.Options{Auth: true})
	if !strings.HasPrefix(s.Token, "admin:") {
		t.Fatalf("Token = %q; want admin:<password>", s.Token)
	}
	if code := write(t, s, s.Bucket, "m v=1 1"); code != http.StatusNoContent {
		t.Fatalf("write with the admin token = %d; want 204", code)
	}
	good := s.Token
	s.Token = "admin:wrong"
	if code := write(t, s, s.Bucket, "m v=1 1"); code != http.StatusUnauthorized {
		t.Fatalf("write with a wrong password = %d; want 401", code)
	}
	s.Token = good
}

// TestSharedDatabases: tests on the shared server get distinct databases.
func TestSharedDatabases(t *testing.T) {
	t.Parallel() // its own influxd, or its own databases on the shared one
	s := influxtest.Shared(t)
	a, b := s.NewDatabase(t), s.NewDatabase(t)
	if a == b || !strings.HasSuffix(a, "/autogen") {
		t.Fatalf("NewDatabase: %q, %q; want two distinct <db>/autogen", a, b)
	}
	if code := write(t, s, a, "m v=1 1"); code != http.StatusNoContent {
		t.Fatalf("write = %d", code)
	}
	if got := count(t, s, b); strings.Contains(got, ",1\r\n") {
		t.Fatalf("database %s sees the point written to %s:\n%s", b, a, got)
	}
	if influxtest.Shared(t) != s {
		t.Fatal("Shared returned another server")
	}
}
