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
	if err := run(t.Context(), []string{"token", "list"}, env, &out, &errOut); err != nil || !strings.Contains(out.String(), "probe-municipio  municipio") {
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
}
