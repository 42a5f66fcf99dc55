package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"fibremon/internal/auth"
)

func TestTokenAddListRevoke(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.json")
	env := func(k string) string {
		if k == "FIBREMON_AUTH_TOKENS_FILE" {
			return file
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"token", "add", "--probe", "probe-municipio", "--site", "municipio"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	tokens, err := auth.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := tokens.Authenticate(tok); err != nil || p.Probe != "probe-municipio" {
		t.Fatalf("issued token: %+v, %v", p, err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"token", "list"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "probe-municipio  probe  municipio") {
		t.Fatalf("token list: %v\n%s", err, out.String())
	}
	if err := run(t.Context(), []string{"token", "add", "--probe", "Bad Name", "--site", "x"}, env, &out, &errOut); err == nil {
		t.Error("a bad probe name was accepted")
	}
	out.Reset()
	if err := run(t.Context(), []string{"token", "revoke", "--probe", "probe-municipio"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	tokens, _ = auth.Load(file)
	if _, err := tokens.Authenticate(tok); err == nil {
		t.Fatal("revoked token still in the file")
	}
	if err := run(t.Context(), []string{"token", "revoke", "--probe", "probe-municipio"}, env, &out, &errOut); err == nil {
		t.Error("revoking a probe with no token succeeded")
	}

	out.Reset()
	if err := run(t.Context(), []string{"token", "add", "--admin", "--name", "ufficio-tecnico"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	adminTok := strings.TrimSpace(out.String())
	tokens, _ = auth.Load(file)
	if p, err := tokens.Authenticate(adminTok); err != nil || !p.Admin || p.Probe != "ufficio-tecnico" {
		t.Fatalf("admin token: %+v, %v", p, err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"token", "list"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "ufficio-tecnico  admin") {
		t.Fatalf("token list: %v\n%s", err, out.String())
	}
	for _, bad := range [][]string{
		{"token", "add", "--admin"},
		{"token", "add", "--admin", "--name", "x", "--site", "municipio"},
		{"token", "add", "--name", "x", "--probe", "p", "--site", "municipio"},
	} {
		if err := run(t.Context(), bad, env, &out, &errOut); err == nil {
			t.Errorf("%q succeeded", bad)
		}
	}
}

// TestTokenScoped: reader and admin tokens scoped to one comune, named by
// slug, ISTAT code or name and checked against the data set; a tokens
// file without scopes keeps working, as the consortium's.
func TestTokenScoped(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.json")
	env := func(k string) string {
		if k == "FIBREMON_AUTH_TOKENS_FILE" {
			return file
		}
		return ""
	}
	// A tokens file written before scopes existed.
	old := auth.NewTokens()
	oldAdmin, _, _ := old.IssueAdmin("ufficio-tecnico", time.Now())
	if err := old.Save(file); err != nil {
		t.Fatal(err)
	}
	add := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := run(t.Context(), append([]string{"token", "add"}, args...), env, &out, &errOut)
		return strings.TrimSpace(out.String()), errOut.String(), err
	}
	for _, tc := range []struct {
		args       []string
		role, slug string
	}{
		{[]string{"--admin", "--name", "ufficio-crema", "--comune", "crema"}, auth.RoleAdmin, "crema"},
		{[]string{"--reader", "--name", "grafana-crema", "--comune", "Crema"}, auth.RoleReader, "crema"},
		{[]string{"--admin", "--name", "ufficio-ripalta", "--comune", "019081"}, auth.RoleAdmin, "ripalta-cremasca"},
		{[]string{"--admin", "--name", "ufficio-rivolta", "--comune", "Rivolta d'Adda"}, auth.RoleAdmin, "rivolta-d-adda"},
	} {
		tok, msg, err := add(tc.args...)
		if err != nil {
			t.Fatalf("token add %q: %v", tc.args, err)
		}
		if !strings.Contains(msg, "of comune "+tc.slug) {
			t.Errorf("token add %q says %q; want the scope named", tc.args, msg)
		}
		tokens, err := auth.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		p, err := tokens.Authenticate(tok)
		if err != nil || p.Role != tc.role || p.Comune != tc.slug {
			t.Errorf("token add %q: principal %+v, %v; want %s of %s", tc.args, p, err, tc.role, tc.slug)
		}
	}
	tokens, _ := auth.Load(file)
	if p, err := tokens.Authenticate(oldAdmin); err != nil || !p.Admin || p.Comune != "" {
		t.Errorf("the admin token of the old file: %+v, %v; want the consortium's admin", p, err)
	}
	raw, _ := os.ReadFile(file)
	if !strings.Contains(string(raw), `"comune": "crema"`) {
		t.Errorf("tokens file holds no scope:\n%s", raw)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--admin", "--name", "x", "--comune", "atlantide"}, "no such comune"},
		{[]string{"--probe", "p", "--site", "municipio", "--comune", "crema"}, "--comune is for --admin and --reader"},
	} {
		if _, _, err := add(bad.args...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("token add %q = %v; want an error saying %q", bad.args, err, bad.want)
		}
	}
	if _, _, err := add("--probe", "p-municipio", "--site", "municipio"); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"token", "list"}, env, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ufficio-tecnico +admin +\(consortium\) `),
		regexp.MustCompile(`(?m)^ufficio-crema +admin +crema `),
		regexp.MustCompile(`(?m)^grafana-crema +reader +crema `),
		regexp.MustCompile(`(?m)^p-municipio +probe +municipio +ripalta-cremasca `),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("token list lacks %s:\n%s", want, out.String())
		}
	}

	// A --data.dir that cannot be loaded: a slug is taken with a
	// warning, a name is refused.
	missing := filepath.Join(t.TempDir(), "nowhere")
	if _, msg, err := add("--admin", "--name", "y", "--comune", "crema", "--data.dir", missing); err != nil || !strings.Contains(msg, "not checked") {
		t.Errorf("token add --comune crema with a missing --data.dir = %v %q; want a warning", err, msg)
	}
	if _, _, err := add("--admin", "--name", "z", "--comune", "Crema", "--data.dir", missing); err == nil {
		t.Error("token add --comune Crema with a missing --data.dir succeeded")
	}
}
