// Package influxtest starts a real InfluxDB 1.8 server (influxd) for tests:
// no mocks. The binary is the one scripts/install-test-deps builds into
// .tools/influxd at the version pinned in scripts/tools.env, or an influxd
// on PATH.
//
// Each server listens on loopback ports chosen at start, keeps its meta,
// data and WAL directories under a temporary directory, has Flux enabled
// (/api/v2/query) and reporting, the monitor database and most logging
// off. Its log goes to influxd.log in that directory and is printed when
// the server fails to start.
//
//	s := influxtest.Start(t)         // one server for this test, stopped on cleanup
//	s := influxtest.Shared(t)        // one server per test binary
//	bucket := s.NewDatabase(t)       // a fresh database "db/autogen" for this test
//	s.Stop(); s.Restart()            // fault tests: same ports, same data
//
// A package that uses Shared should stop it when its tests end:
//
//	func TestMain(m *testing.M) { os.Exit(influxtest.Main(m)) }
package influxtest

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fibremon/internal/testing/testnet"
)

// DefaultDatabase is the database Start creates.
const DefaultDatabase = "fibremon"

// StartTimeout bounds how long a server may take to answer /health. A
// start initialises Flux first, some 5 s of CPU: on a loaded 2-core machine
// it took over 30 s. Only a server that never starts waits this long.
const StartTimeout = 2 * time.Minute

// notFound is the message of the failure when no influxd is installed.
const notFound = "influxd not found: run scripts/install-test-deps (builds InfluxDB v1.8.3 into .tools/)"

// Options configure a server.
type Options struct {
	// Auth enables authentication: an admin user is created and its
	// "user:password" is the Server's Token.
	Auth bool
}

// Server is a running (or stopped) influxd.
type Server struct {
	// URL is the HTTP API's base URL, http://127.0.0.1:<port>.
	URL string
	// Database is the database created at start, DefaultDatabase.
	Database string
	// Bucket is Database + "/autogen", the v2-compatible bucket name.
	Bucket string
	// Token is "user:password" of the admin user when Options.Auth is set,
	// else empty.
	Token string

	dir, bin, config, logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	dbs  int
}

// Start starts an influxd for t, creates DefaultDatabase and stops the
// server (and removes its data) when t ends. It fails t if influxd is not
// installed or does not become healthy within StartTimeout.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWithOptions(t, Options{})
}

// StartWithOptions is Start with options.
func StartWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartIn starts an influxd outside a test (a benchmark command), with
// its configuration, data and log under dir, and creates DefaultDatabase.
// The caller stops it with Stop and removes dir.
func StartIn(dir string, opts Options) (*Server, error) { return start(dir, opts) }

var shared struct {
	once sync.Once
	s    *Server
	dir  string
	err  error
}

// Shared returns the server shared by every test of this test binary,
// starting it on first use. Tests on it should use their own database
// (NewDatabase) and must not stop it. See Main for stopping it.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "influxtest-")
		if shared.err == nil {
			shared.s, shared.err = start(shared.dir, Options{})
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.s
}

// Main runs the tests of m, then stops the shared server, if any, and
// removes its data. Use it from TestMain in packages that call Shared.
func Main(m *testing.M) int {
	code := m.Run()
	if shared.s != nil {
		shared.s.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	return code
}

// NewDatabase creates a database of its own for t on s and returns its
// bucket name ("<db>/autogen"). The database is dropped when t ends.
func (s *Server) NewDatabase(t testing.TB) (bucket string) {
	t.Helper()
	s.mu.Lock()
	s.dbs++
	db := fmt.Sprintf("t%d_%s", s.dbs, randomHex(4))
	s.mu.Unlock()
	if err := s.Query("CREATE DATABASE " + db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Query("DROP DATABASE " + db) }) //nolint:errcheck // may be stopped
	return db + "/autogen"
}

// Query runs an InfluxQL statement through /query (with the admin
// credentials when auth is enabled) and returns its error, if any.
func (s *Server) Query(q string) error {
	req, err := http.NewRequest(http.MethodPost, s.URL+"/query",
		strings.NewReader(url.Values{"q": {q}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.Token != "" {
		u, p, _ := strings.Cut(s.Token, ":")
		req.SetBasicAuth(u, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influxtest: %s: %w", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// InfluxQL errors come with 200 and an "error" member.
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("influxtest: %s: %d %s", q, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// QueryResult runs an InfluxQL query on database db and returns the rows of
// every series, each value formatted as text (numbers with %g). It fails
// t on any error.
func (s *Server) QueryResult(t testing.TB, db, q string) [][]string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+"/query?"+url.Values{"db": {db}, "q": {q}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Token != "" {
		u, p, _ := strings.Cut(s.Token, ":")
		req.SetBasicAuth(u, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("influxtest: %s: %v", q, err)
	}
	defer resp.Body.Close()
	var body struct {
		Results []struct {
			Error  string
			Series []struct {
				Values [][]any
			}
		}
		Error string
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("influxtest: %s: %d: %v", q, resp.StatusCode, err)
	}
	var rows [][]string
	for _, r := range body.Results {
		if r.Error != "" || body.Error != "" {
			t.Fatalf("influxtest: %s: %s%s", q, r.Error, body.Error)
		}
		for _, series := range r.Series {
			for _, vs := range series.Values {
				row := make([]string, len(vs))
				for i, v := range vs {
					switch v := v.(type) {
					case float64:
						row[i] = strconv.FormatFloat(v, 'g', -1, 64)
					default:
						row[i] = fmt.Sprint(v)
					}
				}
				rows = append(rows, row)
			}
		}
	}
	return rows
}

// Flux runs a Flux query (on /api/v2/query, as the admin when auth is
// enabled) and returns its rows, each a map from column name to the
// column's text. It fails t on any error, including an error in the
// answer's body.
func (s *Server) Flux(t testing.TB, flux string) []map[string]string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/v2/query", strings.NewReader(flux))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.flux")
	req.Header.Set("Accept", "application/csv")
	if s.Token != "" {
		req.Header.Set("Authorization", "Token "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("influxtest: flux: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("influxtest: flux: %d %s\n%s", resp.StatusCode, bytes.TrimSpace(body), flux)
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	var rows []map[string]string
	var header []string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("influxtest: flux answer: %v\n%s", err, body)
		}
		switch {
		case len(rec) <= 1 || strings.HasPrefix(rec[0], "#"):
			header = nil // annotations start a new table
		case header == nil:
			header = rec
			if len(rec) > 1 && rec[1] == "error" {
				header = nil
				next, _ := r.Read()
				t.Fatalf("influxtest: flux: %v\n%s", next, flux)
			}
		default:
			row := make(map[string]string, len(rec))
			for i, v := range rec {
				if i < len(header) && header[i] != "" {
					row[header[i]] = v
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// Stop stops the server: SIGTERM, then SIGKILL if it has not exited
// within 10 s. Its data stays, for Restart. Stopping a stopped server does
// nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // may have exited
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill() //nolint:errcheck // may have exited
		<-s.done
	}
	s.cmd = nil
}

// Kill stops the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill() //nolint:errcheck // may have exited
	<-s.done
	s.cmd = nil
}

// Restart starts a stopped server again on the same ports and data, and
// waits until it is healthy. It fails t if it cannot.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Fatal("influxtest: Restart of a running server")
	}
	if err := s.run(); err != nil {
		t.Fatal(err)
	}
}

// startAttempts bounds how often start picks new ports when another
// process took one of them between choosing and binding.
const startAttempts = 5

// start writes the configuration under dir and starts influxd. Ports are
// chosen free and then handed to influxd, so another process can take one
// in between (tests of other packages run in parallel): start then tries
// again on new ports.
func start(dir string, opts Options) (*Server, error) {
	bin, err := findInfluxd()
	if err != nil {
		return nil, err
	}
	var s *Server
	for attempt := 1; ; attempt++ {
		s, err = startOnFreePorts(bin, dir, opts)
		if err == nil {
			break
		}
		if attempt == startAttempts || !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	if opts.Auth {
		// With no user yet, InfluxDB 1.x lets anyone create the first
		// admin; from then on every request needs credentials.
		pw := randomHex(12)
		if err := s.Query(fmt.Sprintf("CREATE USER admin WITH PASSWORD '%s' WITH ALL PRIVILEGES", pw)); err != nil {
			s.Stop()
			return nil, err
		}
		s.Token = "admin:" + pw
	}
	if err := s.Query("CREATE DATABASE " + s.Database); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// errPortTaken marks a start that failed because a port was taken.
var errPortTaken = errors.New("influxtest: port taken")

// startOnFreePorts is one attempt of start.
func startOnFreePorts(bin, dir string, opts Options) (*Server, error) {
	ports, err := pickPorts(2)
	if err != nil {
		return nil, err
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	s := &Server{
		URL:      "http://" + httpAddr,
		Database: DefaultDatabase,
		Bucket:   DefaultDatabase + "/autogen",
		dir:      dir,
		bin:      bin,
		config:   filepath.Join(dir, "influxdb.conf"),
		logPath:  filepath.Join(dir, "influxd.log"),
	}
	conf := fmt.Sprintf(configTemplate,
		fmt.Sprintf("127.0.0.1:%d", ports[1]),
		filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"),
		httpAddr, opts.Auth)
	if err := os.WriteFile(s.config, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s.mu.Lock()
	err = s.run()
	s.mu.Unlock()
	if err != nil && strings.Contains(s.Log(), "address already in use") {
		os.Remove(s.logPath)
		return nil, fmt.Errorf("%w: %v", errPortTaken, err)
	}
	return s, err
}

// run starts the process and waits for /health; s.mu is held.
func (s *Server) run() error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "run", "-config", s.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "INFLUXDB_REPORTING_DISABLED=true")
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("influxtest: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck // the exit is reported through done
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(StartTimeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("influxtest: influxd exited at start: %s\n%s", cmd.ProcessState, s.logTail())
		default:
		}
		resp, err := client.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill() //nolint:errcheck // may have exited
	<-done
	s.cmd = nil
	return fmt.Errorf("influxtest: influxd not healthy at %s within %v\n%s", s.URL, StartTimeout, s.logTail())
}

// Running reports whether the server process is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// PID returns the process id of the running influxd, or 0.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

func (s *Server) logTail() string {
	l := s.Log()
	if len(l) > 4000 {
		l = "..." + l[len(l)-4000:]
	}
	return l
}

// findInfluxd returns .tools/influxd of the module this test runs in, or
// influxd on PATH.
func findInfluxd() (string, error) {
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, ".tools", "influxd")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, nil
	}
	return "", errors.New(notFound)
}

// moduleRoot walks up from the working directory (a package directory
// under go test) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("influxtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// pickPorts chooses the ports of a start; tests replace it.
var pickPorts = freePorts

// freePorts returns n distinct loopback ports below the ephemeral range
// that were free a moment ago.
func freePorts(n int) ([]int, error) { return testnet.FreePorts(n) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}

// configTemplate is a minimal influxd 1.8 configuration: RPC bind address,
// meta, data and WAL directories, HTTP bind address, auth-enabled.
const configTemplate = `reporting-disabled = true
bind-address = %q

[meta]
  dir = %q
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = %q
  wal-dir = %q
  wal-fsync-delay = "0s"
  index-version = "inmem"
  query-log-enabled = false
  trace-logging-enabled = false

[coordinator]
  log-queries-after = "0s"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = %q
  auth-enabled = %t
  log-enabled = false
  suppress-write-log = true
  flux-enabled = true
  flux-log-enabled = false
  pprof-enabled = false
  ping-auth-enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
`
