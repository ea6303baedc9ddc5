package client_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

func TestTrustingACA(t *testing.T) {
	srv := remoteassisttest.New(t, remoteassisttest.WithTLS())
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", srv.URL())
	}
	token := client.WithToken(srv.Token("contoso"))

	// The system's CAs do not know the test server's certificate.
	c, err := client.New(srv.URL(), token, client.WithRetry(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if _, err := c.Get(t.Context()); !errors.As(err, &unknown) {
		t.Errorf("without its CA: %v, want x509.UnknownAuthorityError", err)
	}

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, opt := range map[string]client.Option{
		"WithRootCAs": client.WithRootCAs(srv.CertPool()),
		"WithCAFile":  client.WithCAFile(caFile),
	} {
		c, err := client.New(srv.URL(), token, opt)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := c.Get(t.Context()); err != nil {
			t.Errorf("%s: GET: %v", name, err)
		}
		// With the caller's client, in either order: its CAs are used and the caller's client
		// (here one with its own transport) is left as it was.
		caller := &http.Client{Transport: &http.Transport{}}
		for _, opts := range [][]client.Option{{opt, client.WithHTTPClient(caller)}, {client.WithHTTPClient(caller), opt}} {
			c, err := client.New(srv.URL(), append(opts, token)...)
			if err != nil {
				t.Fatalf("%s with WithHTTPClient: %v", name, err)
			}
			if _, err := c.Get(t.Context()); err != nil {
				t.Errorf("%s with WithHTTPClient: GET: %v", name, err)
			}
		}
		if tr := caller.Transport.(*http.Transport); tr.TLSClientConfig != nil && tr.TLSClientConfig.RootCAs != nil {
			t.Errorf("%s changed the caller's transport", name)
		}
	}

	if _, err := client.New(srv.URL(), client.WithCAFile(filepath.Join(t.TempDir(), "missing.pem"))); err == nil ||
		!strings.Contains(err.Error(), "no such file") {
		t.Errorf("WithCAFile of a missing file: %v", err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	if _, err := client.New(srv.URL(), client.WithCAFile(notPEM)); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("WithCAFile of a file without certificates: %v", err)
	}
	if _, err := client.New(srv.URL(), client.WithRootCAs(nil)); err == nil {
		t.Error("WithRootCAs(nil) accepted")
	}
}

// TestRootCAsKeepHTTP2 checks that trusting a CA does not quietly turn HTTP/2 off: cloning a
// transport and giving it a TLS config loses net/http's automatic h2 unless ForceAttemptHTTP2
// is set, so the default client and a caller's plain transport, in either order, must still
// negotiate h2 with a server that offers it.
func TestRootCAsKeepHTTP2(t *testing.T) {
	var mu sync.Mutex
	var protos []int
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos = append(protos, r.ProtoMajor)
		mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	cases := map[string][]client.Option{
		"default client":               {client.WithRootCAs(pool)},
		"WithRootCAs first":            {client.WithRootCAs(pool), client.WithHTTPClient(&http.Client{Transport: &http.Transport{}})},
		"WithHTTPClient first":         {client.WithHTTPClient(&http.Client{Transport: &http.Transport{}}), client.WithRootCAs(pool)},
		"WithHTTPClient, no Transport": {client.WithHTTPClient(&http.Client{}), client.WithRootCAs(pool)},
	}
	for name, opts := range cases {
		mu.Lock()
		protos = nil
		mu.Unlock()
		c, err := client.New(ts.URL+"/beta", append(opts, client.WithToken("t"), client.WithRetry(0, 0, 0))...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.Get(t.Context())
		c.CloseIdleConnections()
		mu.Lock()
		if len(protos) != 1 || protos[0] != 2 {
			t.Errorf("%s: the server saw HTTP major versions %v, want [2]", name, protos)
		}
		mu.Unlock()
	}
}
