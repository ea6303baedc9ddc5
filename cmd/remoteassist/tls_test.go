package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/internal/devca"
	"github.com/remoteassist/remoteassist/internal/testutil"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

// tlsFixtures are certificate files for serve's TLS tests, in one directory.
type tlsFixtures struct {
	dir                 string
	cert, key, otherKey string // a good pair, and a key of another certificate
	expired, expiredKey string
}

func (f tlsFixtures) path(name string) string { return filepath.Join(f.dir, name) }

func newTLSFixtures(t *testing.T) tlsFixtures {
	t.Helper()
	dir := t.TempDir()
	f := tlsFixtures{dir: dir}
	now := time.Now()
	f.cert, f.key = writeSelfSigned(t, dir, "good", now.Add(-time.Hour), now.Add(time.Hour))
	_, f.otherKey = writeSelfSigned(t, dir, "other", now.Add(-time.Hour), now.Add(time.Hour))
	f.expired, f.expiredKey = writeSelfSigned(t, dir, "expired", now.Add(-2*time.Hour), now.Add(-time.Hour))
	for name, data := range map[string]string{"empty.pem": "", "garbage.pem": "not a certificate\n"} {
		if err := os.WriteFile(f.path(name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its key as NAME.pem and
// NAME-key.pem.
func writeSelfSigned(t *testing.T, dir, name string, notBefore, notAfter time.Time) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// TestCAFile checks get's and set's --ca-file and REMOTEASSIST_CA_FILE against an HTTPS server
// whose certificate no system CA signed.
func TestCAFile(t *testing.T) {
	clearEnv(t)
	t.Setenv("REMOTEASSIST_CA_FILE", "")
	srv := remoteassisttest.New(t, remoteassisttest.WithTLS())
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	conn := []string{"--url", srv.URL(), "--token", srv.Token("contoso")}

	code, stdout, stderr := runCLI(t.Context(), append([]string{"get"}, conn...)...)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "certificate signed by unknown authority") ||
		!strings.Contains(stderr, "pass --ca-file") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("get without the CA: exit %d, stdout %q, stderr %q; want 1 and a hint", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t.Context(), append([]string{"get", "--ca-file", caFile}, conn...)...)
	if code != 0 || !strings.Contains(stdout, "notConfigured") {
		t.Errorf("get --ca-file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Setenv("REMOTEASSIST_CA_FILE", caFile)
	code, stdout, stderr = runCLI(t.Context(), append([]string{"set", "--block-chat=true"}, conn...)...)
	if code != 0 || !strings.Contains(stdout, "blockChat                         true") {
		t.Errorf("set with REMOTEASSIST_CA_FILE: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Setenv("REMOTEASSIST_CA_FILE", "")

	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for file, want := range map[string]string{
		missing: "--ca-file " + missing + ": no such file or directory",
		notPEM:  "--ca-file " + notPEM + ": holds no PEM certificate",
	} {
		code, stdout, stderr := runCLI(t.Context(), append([]string{"get", "--ca-file", file}, conn...)...)
		assertRefused(t, "get", code, stdout, stderr, want)
	}
}

// TestServeTLSRefusesOverTLS: serve --tls with one connection allowed, that one held by an
// HTTP/2 client; a client over the cap is answered Graph's 503 with Retry-After over TLS, so that
// an SDK backs off, where it used to get plaintext on its TLS socket (a handshake error).
func TestServeTLSRefusesOverTLS(t *testing.T) {
	clearServeEnv(t)
	lns := captureListener(t)

	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	var logs testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--tls", "--data", dataDir, "--addr", "127.0.0.1:0", "--store", "memory",
			"--max-connections", "1", "--shutdown-grace", "2s"}, io.Discard, &logs)
	}()
	var ln net.Listener
	select {
	case ln = <-lns:
	case code := <-done:
		t.Fatalf("serve exited %d before listening:\n%s", code, logs.String())
	}
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d:\n%s", code, logs.String())
		}
	}()

	caPEM, err := os.ReadFile(filepath.Join(dataDir, devca.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in ca.pem")
	}
	url := "https://" + ln.Addr().String() + "/healthz"
	held := testutil.HoldHTTP2(t, url, roots)
	defer held.CloseIdleConnections()
	testutil.CheckRefusedOverTLS(t, url, roots)
}

// TestServeTLSAnswersPlainHTTP: a client that sends plain HTTP to serve --tls (an http:// URL
// for an https:// one) reads net/http's 400 saying so, with a request as long as any carrying
// a bearer token: net/http reads only its first few hundred bytes before answering and closing,
// and the close used to reset the connection under the answer ("connection reset by peer").
func TestServeTLSAnswersPlainHTTP(t *testing.T) {
	clearServeEnv(t)
	lns := captureListener(t)

	ctx, cancel := context.WithCancel(t.Context())
	var logs testutil.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--tls", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--store", "memory",
			"--shutdown-grace", "2s"}, io.Discard, &logs)
	}()
	var ln net.Listener
	select {
	case ln = <-lns:
	case code := <-done:
		t.Fatalf("serve exited %d before listening:\n%s", code, logs.String())
	}
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d:\n%s", code, logs.String())
		}
	}()

	url := "http://" + ln.Addr().String() + "/beta/deviceManagement/remoteAssistanceSettings"
	for _, tc := range []struct {
		method   string
		tokenLen int
	}{
		{http.MethodGet, 0}, {http.MethodGet, 1500}, {http.MethodGet, 16 << 10},
		// net/http answers only some methods itself; the API's write and a cleanup's DELETE too.
		{http.MethodPatch, 1500}, {http.MethodDelete, 0}, {http.MethodDelete, 16 << 10},
	} {
		method, tokenLen := tc.method, tc.tokenLen
		req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tokenLen > 0 {
			req.Header.Set("Authorization", "Bearer "+strings.Repeat("x", tokenLen))
		}
		c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		res, err := c.Do(req)
		if err != nil {
			t.Errorf("%s %s with a token of %d bytes: %v, want net/http's 400", method, url, tokenLen, err)
			continue
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || err != nil || !strings.Contains(string(body), "Client sent an HTTP request to an HTTPS server") {
			t.Errorf("%s %s with a token of %d bytes: %s %q (%v), want 400 saying the server is HTTPS", method, url, tokenLen, res.Status, body, err)
		}
	}
}

// captureListener has serve's listen hand the test the API's listener, for the test to learn its
// address (serve listens on 127.0.0.1:0), until the test ends.
func captureListener(t *testing.T) <-chan net.Listener {
	lns := make(chan net.Listener, 1)
	orig := listen
	listen = func(network, addr string) (net.Listener, error) {
		ln, err := net.Listen(network, addr)
		if err == nil {
			lns <- ln
		}
		return ln, err
	}
	t.Cleanup(func() { listen = orig })
	return lns
}
