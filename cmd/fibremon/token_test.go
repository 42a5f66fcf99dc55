package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

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
