package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned writes a certificate for 127.0.0.1 and its key.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fibremon test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestTLS: serve over HTTPS; a probe trusting the service's CA uploads, one
// that does not is refused by certificate verification and keeps its results.
func TestTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	t.Parallel() // its own ports, files and processes
	fibremonBin, probeBin := buildBinaries(t)
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	addr := freeAddr(t)
	tokens := filepath.Join(dir, "tokens.json")
	out, err := exec.Command(fibremonBin, "token", "add", "--auth.tokens-file", tokens, "--probe", "p", "--site", "municipio").Output()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(out))
	serve := exec.Command(fibremonBin, "serve", "--web.listen-address", addr, "--storage.path", filepath.Join(dir, "db"),
		"--auth.tokens-file", tokens, "--web.tls-cert-file", certFile, "--web.tls-key-file", keyFile)
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { serve.Process.Kill(); serve.Wait() }()

	pool := x509.NewCertPool()
	b, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(b)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := client.Get("https://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTPS service not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// TLS 1.2 only with ECDHE and AEAD: a client offering nothing but a
	// CBC suite with a SHA-1 MAC, or only TLS 1.1, fails the handshake;
	// one offering an AEAD suite of TLS 1.2 succeeds.
	for _, c := range []struct {
		name   string
		config *tls.Config
		ok     bool
	}{
		{"TLS 1.2 ECDHE-ECDSA-AES128-SHA (CBC)", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
		{"TLS 1.2 ECDHE-ECDSA-AES256-SHA (CBC)", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
		{"TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
	} {
		cfg := c.config.Clone()
		cfg.RootCAs = pool
		conn, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			st := conn.ConnectionState()
			conn.Close()
			if !c.ok {
				t.Errorf("%s: handshake succeeded with %s over %s; want it refused", c.name,
					tls.CipherSuiteName(st.CipherSuite), tls.VersionName(st.Version))
			}
			continue
		}
		if c.ok {
			t.Errorf("%s: handshake failed: %v", c.name, err)
		}
	}

	config := func(name, caLine string) string {
		p := filepath.Join(dir, name+".yml")
		os.WriteFile(p, []byte(fmt.Sprintf(`probe: p
site_id: municipio
service:
  url: https://%s
  token: %s
%sspool:
  dir: %s
measurements:
  - kind: tcp
    target: %s
`, addr, token, caLine, filepath.Join(dir, name+"-spool"), addr)), 0o600)
		return p
	}
	out, err = exec.Command(probeBin, "once", "--upload", "--config.file", config("trusting", "  ca_file: "+certFile+"\n")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 results uploaded") {
		t.Fatalf("probe with the CA: %v\n%s", err, out)
	}
	out, err = exec.Command(probeBin, "once", "--upload", "--config.file", config("untrusting", "")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "certificate") || !strings.Contains(string(out), "results stay in the spool") {
		t.Fatalf("probe without the CA: err %v\n%s", err, out)
	}
	if _, err := exec.Command(fibremonBin, "serve", "--web.listen-address", freeAddr(t), "--storage.path", filepath.Join(dir, "db2"),
		"--web.tls-cert-file", certFile).CombinedOutput(); err == nil {
		t.Error("serve accepted a certificate without its key")
	}
}
