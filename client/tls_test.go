package client_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
