package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"fibremon"
	"fibremon/internal/auth"
	"fibremon/internal/testing/testnet"
)

// cred is one simulated probe: its name, its site and its token in clear.
type cred struct {
	probe, site, token string
}

// readTokens reads "<probe> <site> <token>" lines; blank lines and lines
// starting with '#' are skipped.
func readTokens(path string) ([]cred, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []cred
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || !fibremon.ValidID(f[0]) || !fibremon.ValidID(f[1]) {
			return nil, fmt.Errorf("%s:%d: want '<probe> <site> <token>'", path, n)
		}
		out = append(out, cred{probe: f[0], site: f[1], token: f[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no tokens", path)
	}
	return out, nil
}

// issueTokens issues one token per probe, each bound to a site of its own,
// and writes the service's tokens file (hashes only) to path.
func issueTokens(n int, path string) ([]cred, error) {
	t := auth.NewTokens()
	now := time.Now()
	creds := make([]cred, n)
	for i := range creds {
		c := cred{probe: fmt.Sprintf("load-probe-%05d", i), site: fmt.Sprintf("load-site-%05d", i)}
		tok, _, err := t.Issue(c.probe, []string{c.site}, now)
		if err != nil {
			return nil, err
		}
		c.token = tok
		creds[i] = c
	}
	return creds, t.Save(path)
}

// fibremonBinary returns the fibremon binary to start: the one given, or
// one built from this module into dir, or the one on PATH.
func fibremonBinary(ctx context.Context, given, dir string, stderr io.Writer) (string, error) {
	if given != "" {
		return given, nil
	}
	bin := filepath.Join(dir, "fibremon")
	fmt.Fprintln(stderr, "building fibremon/cmd/fibremon")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "fibremon/cmd/fibremon").CombinedOutput()
	if err == nil {
		return bin, nil
	}
	if p, lerr := exec.LookPath("fibremon"); lerr == nil {
		fmt.Fprintf(stderr, "go build failed (%v); using %s\n", err, p)
		return p, nil
	}
	return "", fmt.Errorf("go build fibremon/cmd/fibremon: %w\n%s(give the binary with --fibremon)", err, out)
}

// service is a `fibremon serve` started for one run.
type service struct {
	url  string
	cmd  *exec.Cmd
	log  string
	done chan error
}

// startService starts bin serve on a free loopback port with extra flags
// and env, and waits until /readyz answers 200.
func startService(ctx context.Context, bin, dir string, flags, env []string) (*service, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := testnet.FreePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		logPath := filepath.Join(dir, fmt.Sprintf("fibremon-%d.log", port))
		logf, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		args := append([]string{"serve", "--web.listen-address", addr}, flags...)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, err
		}
		s := &service{url: "http://" + addr, cmd: cmd, log: logPath, done: make(chan error, 1)}
		go func() {
			s.done <- cmd.Wait()
			logf.Close()
		}()
		if lastErr = s.waitReady(ctx); lastErr == nil {
			return s, nil
		}
		s.kill()
		if !strings.Contains(s.logTail(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func (s *service) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("fibremon serve exited: %v\n%s", err, s.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("fibremon serve not ready within 60 s\n%s", s.logTail())
}

// stop sends SIGTERM and waits for a clean exit; the service drains its
// in-flight requests first.
func (s *service) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // reported by Wait
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("fibremon serve: %v\n%s", err, s.logTail())
		}
		return nil
	case <-time.After(30 * time.Second):
		s.kill()
		return fmt.Errorf("fibremon serve did not stop within 30 s of SIGTERM\n%s", s.logTail())
	}
}

func (s *service) kill() {
	s.cmd.Process.Kill() //nolint:errcheck // may have exited
	<-s.done
}

func (s *service) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// loadStore runs the load against a self-contained service on store.
func loadStore(ctx context.Context, cfg config, bin, dir, store string, stderr io.Writer) (*report, error) {
	sub, err := os.MkdirTemp(dir, store+"-")
	if err != nil {
		return nil, err
	}
	tokens := filepath.Join(sub, "tokens.json")
	creds, err := issueTokens(cfg.probes, tokens)
	if err != nil {
		return nil, err
	}
	flags := []string{"--auth.tokens-file", tokens, "--storage.path", filepath.Join(sub, "fibremon.db"),
		"--log.level", cfg.logLevel}
	// Each simulated probe posts far more often than a real one; the
	// per-probe rate limit stays in the path but this high never refuses.
	env := []string{"FIBREMON_WEB_RATE_LIMIT=1000000"}
	where := "sqlite " + filepath.Join(sub, "fibremon.db")
	if store == "influx" {
		bucket := cfg.influxBucket
		if bucket == "" {
			db := "fibreload_" + randomHex(6)
			if err := createInfluxDatabase(ctx, cfg.influxURL, cfg.influxToken, db); err != nil {
				return nil, err
			}
			bucket = db + "/autogen"
			if cfg.compareRaw {
				cfg.countDB = db
			}
		}
		flags = append(flags, "--storage.influx.url", cfg.influxURL, "--storage.influx.bucket", bucket)
		if cfg.influxToken != "" {
			env = append(env, "FIBREMON_STORAGE_INFLUX_TOKEN="+cfg.influxToken)
		}
		where = "influxdb " + cfg.influxURL + " bucket " + bucket
	}
	svc, err := startService(ctx, bin, sub, flags, env)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "%s: fibremon serve on %s (%s); %d probes, %d results a batch, %v\n",
		store, svc.url, where, cfg.probes, cfg.batch, cfg.duration)
	var rep *report
	if cfg.bigBatches > 0 {
		var big *bigReport
		if big, err = bigLoad(ctx, cfg, svc.url, creds[0], svc.cmd.Process.Pid, store, stderr); big != nil {
			rep = &report{store: store, big: big}
		}
	} else {
		procs := map[string]int{"fibremon": svc.cmd.Process.Pid, "fibreload": os.Getpid(), "influxd": cfg.influxPID}
		before := cpuTimes(procs)
		rep, err = load(ctx, cfg, svc.url, creds, store, stderr)
		if rep != nil && cfg.compareRaw {
			rep.cpu = cpuSince(procs, before)
		}
	}
	if serr := svc.stop(); serr != nil {
		return rep, errors.Join(err, serr)
	}
	return rep, err
}

// createInfluxDatabase creates a database on an InfluxDB 1.8 server.
func createInfluxDatabase(ctx context.Context, base, token, db string) error {
	form := url.Values{"q": {"CREATE DATABASE " + db}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/query",
		strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user, pass, ok := strings.Cut(token, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influx create database %s: %w", db, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("influx create database %s: %s %s (give an existing bucket with --influx.bucket)",
			db, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}
