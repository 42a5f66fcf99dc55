package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fibremon/internal/auth"
	"fibremon/internal/cli"
)

// logBuffer collects a service's log; safe for the service's goroutines
// and the test's.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log lines containing every one of subs.
func (b *logBuffer) lines(subs ...string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok && l != "" {
			out = append(out, l)
		}
	}
	return out
}

// inProcess is `fibremon serve` run in this process through run, as main
// runs it, on a free port.
type inProcess struct {
	base string
	log  *logBuffer
}

func startInProcess(t *testing.T, args []string, env map[string]string) *inProcess {
	t.Helper()
	addr := freeAddr(t)
	args = append([]string{"serve", "--web.listen-address", addr, "--storage.path", filepath.Join(t.TempDir(), "db"), "--data.comune", "ripalta-cremasca",
		"--status.refresh-interval", "1s"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{base: "http://" + addr, log: &logBuffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, io.Discard, p.log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := p.get(t, "/healthz", ""); code == http.StatusOK {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer /healthz within 20 s; log:\n%s", p.log.lines())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *inProcess) get(t *testing.T, path, token string) (int, string) {
	return p.do(t, http.MethodGet, path, token, "")
}

func (p *inProcess) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, p.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// issueAll writes a tokens file with a probe, a reader and an admin token.
func issueAll(t *testing.T, path string) (probe, reader, admin string) {
	t.Helper()
	ts := auth.NewTokens()
	var err error
	if probe, _, err = ts.Issue("probe-municipio", []string{"municipio"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if reader, _, err = ts.IssueReader("grafana", time.Now()); err != nil {
		t.Fatal(err)
	}
	if admin, _, err = ts.IssueAdmin("ufficio-tecnico", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := ts.Save(path); err != nil {
		t.Fatal(err)
	}
	return probe, reader, admin
}

// TestServeAccessFlags: --web.public-read and --web.metrics-auth, and their
// environment mirrors, reach the running service.
func TestServeAccessFlags(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	probe, reader, _ := issueAll(t, tokens)
	type check struct {
		path, token string
		want        int
		body        string // a substring the answer must hold
	}
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		checks []check
	}{
		{"default", nil, nil, []check{
			{"/api/v1/results?site_id=municipio", "", 401, "read token"},
			{"/api/v1/results?site_id=municipio", probe, 200, `"results"`},
			{"/api/v1/results", probe, 403, "site_id"},
			{"/api/v1/results", reader, 200, `"results"`},
			{"/api/v1/contracts", "", 401, "read token"},
			{"/api/v1/sites", "", 200, `"view":"public"`},
			{"/api/v1/sites", reader, 200, `"view":"full"`},
			{"/metrics", "", 200, `fibremon_auth_tokens{role="reader"} 1`},
		}},
		{"flags", []string{"--web.public-read", "--web.metrics-auth", "read-token"}, nil, []check{
			{"/api/v1/results", "", 200, `"results"`},
			{"/api/v1/contracts", "", 200, `"contracts"`},
			{"/api/v1/sites", "", 200, `"view":"full"`},
			{"/metrics", "", 401, "read token"},
			{"/metrics", probe, 403, "reader token"},
			{"/metrics", reader, 200, `fibremon_auth_tokens{role="probe"} 1`},
		}},
		{"environment", nil, map[string]string{"FIBREMON_WEB_PUBLIC_READ": "true", "FIBREMON_WEB_METRICS_AUTH": "read-token"}, []check{
			{"/api/v1/results", "", 200, `"results"`},
			{"/metrics", "", 401, "read token"},
			{"/metrics", reader, 200, "fibremon_auth_tokens"},
		}},
		{"flag wins over environment", []string{"--web.metrics-auth=none"}, map[string]string{"FIBREMON_WEB_METRICS_AUTH": "read-token"}, []check{
			{"/metrics", "", 200, "fibremon_auth_tokens"},
			{"/api/v1/results", "", 401, "read token"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startInProcess(t, append([]string{"--auth.tokens-file", tokens}, tc.args...), tc.env)
			for _, c := range tc.checks {
				code, body := p.get(t, c.path, c.token)
				if code != c.want || !strings.Contains(body, c.body) {
					t.Errorf("GET %s (token %v) = %d %.200s; want %d with %q", c.path, c.token != "", code, body, c.want, c.body)
				}
			}
		})
	}
}

func TestServeAccessFlagsInvalid(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--web.metrics-auth", "basic"}, nil},
		{nil, map[string]string{"FIBREMON_WEB_METRICS_AUTH": "read_token"}},
		{nil, map[string]string{"FIBREMON_WEB_PUBLIC_READ": "maybe"}},
	} {
		args := append([]string{"serve", "--web.listen-address", "127.0.0.1:0", "--storage.path", filepath.Join(t.TempDir(), "db"), "--data.comune", "ripalta-cremasca",
			"--auth.tokens-file", filepath.Join(t.TempDir(), "tokens.json")}, tc.args...)
		var stderr bytes.Buffer
		err := run(t.Context(), args, func(k string) string { return tc.env[k] }, io.Discard, &stderr)
		var ue cli.UsageError
		if !errors.As(err, &ue) || exitCode(err) != 2 {
			t.Errorf("serve %q env %v = %v; want a usage error (exit 2)", tc.args, tc.env, err)
		}
	}
}

// TestTokenAddReader: `fibremon token add --reader` issues a token of role
// reader that the service accepts for reading.
func TestTokenAddReader(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.json")
	env := func(k string) string {
		if k == "FIBREMON_AUTH_TOKENS_FILE" {
			return file
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"token", "add", "--reader", "--name", "grafana"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	tokens, err := auth.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := tokens.Authenticate(tok); err != nil || p.Role != auth.RoleReader || p.Probe != "grafana" || !p.MayRead() {
		t.Fatalf("reader token: %+v, %v", p, err)
	}
	if !strings.Contains(errOut.String(), `reader token for "grafana"`) {
		t.Errorf("token add --reader said %q", errOut.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"token", "list"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "grafana  reader") {
		t.Fatalf("token list: %v\n%s", err, out.String())
	}
	for _, bad := range [][]string{
		{"token", "add", "--reader"},
		{"token", "add", "--reader", "--admin", "--name", "x"},
		{"token", "add", "--reader", "--name", "x", "--site", "municipio"},
		{"token", "add", "--reader", "--name", "x", "--probe", "p"},
	} {
		if err := run(t.Context(), bad, env, &out, &errOut); err == nil {
			t.Errorf("%q succeeded", bad)
		}
	}
}

// TestServeZeroTokens: the tokens file of a running service is moved away;
// the service, watching it, holds 0 tokens, logs that at WARN with the
// count, fails /readyz with a body that says why, exports
// fibremon_auth_tokens{role="probe"} 0 and answers uploads 503; moving the
// file back recovers all of it. A service started without a tokens file
// warns at once.
func TestServeZeroTokens(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	probe, _, _ := issueAll(t, tokens)
	p := startInProcess(t, []string{"--auth.tokens-file", tokens}, nil)
	body := `{"results":[]}` // refused with 400 once the token is known
	if code, b := p.get(t, "/readyz", ""); code != http.StatusOK {
		t.Fatalf("readyz = %d %s", code, b)
	}
	if l := p.log.lines("0 probe tokens"); len(l) != 0 {
		t.Fatalf("warned of 0 probe tokens with one loaded: %q", l)
	}

	if err := os.Rename(tokens, filepath.Join(dir, "moved-away.json")); err != nil {
		t.Fatal(err)
	}
	// The file is watched every 2 s; 20 s is ample on a loaded machine.
	waitUntil(t, 20*time.Second, "readyz to fail with 0 probe tokens", func() bool {
		code, b := p.get(t, "/readyz", "")
		return code == http.StatusServiceUnavailable && strings.Contains(b, "0 probe tokens loaded (0 reader, 0 admin)")
	})
	warn := p.log.lines("level=WARN", "0 probe tokens loaded (0 tokens in all)", "probe_tokens=0", "tokens_file="+tokens)
	if len(warn) != 1 {
		t.Errorf("WARN lines of 0 probe tokens: %q; want 1\nlog:\n%s", warn, strings.Join(p.log.lines(), "\n"))
	}
	_, metrics := p.get(t, "/metrics", "")
	if !strings.Contains(metrics, `fibremon_auth_tokens{role="probe"} 0`) || !strings.Contains(metrics, `fibremon_auth_tokens{role="admin"} 0`) {
		t.Errorf("/metrics lacks fibremon_auth_tokens probe 0, admin 0")
	}
	if code, b := p.do(t, http.MethodPost, "/api/v1/results", probe, body); code != http.StatusServiceUnavailable {
		t.Errorf("upload with 0 probe tokens = %d %s; want 503", code, b)
	}

	if err := os.Rename(filepath.Join(dir, "moved-away.json"), tokens); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "readyz to recover", func() bool {
		code, _ := p.get(t, "/readyz", "")
		return code == http.StatusOK
	})
	if l := p.log.lines("level=INFO", "1 probe tokens loaded again"); len(l) != 1 {
		t.Errorf("INFO lines of recovery: %q; want 1", l)
	}
	if code, b := p.do(t, http.MethodPost, "/api/v1/results", probe, body); code != http.StatusBadRequest {
		t.Errorf("upload after recovery = %d %s; want 400 (the token known, the batch empty)", code, b)
	}
	_, metrics = p.get(t, "/metrics", "")
	if !strings.Contains(metrics, `fibremon_auth_tokens{role="probe"} 1`) {
		t.Errorf("/metrics lacks fibremon_auth_tokens{role=\"probe\"} 1 after recovery")
	}

	t.Run("no file at start", func(t *testing.T) {
		p := startInProcess(t, []string{"--auth.tokens-file", filepath.Join(t.TempDir(), "none.json")}, nil)
		if l := p.log.lines("level=WARN", "0 probe tokens loaded (0 tokens in all)"); len(l) != 1 {
			t.Errorf("WARN lines at start: %q; want 1", l)
		}
		if code, b := p.get(t, "/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(b, "0 probe tokens loaded") {
			t.Errorf("readyz = %d %s; want 503 saying 0 probe tokens loaded", code, b)
		}
	})
}

func waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
