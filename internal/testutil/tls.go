package testutil

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// tlsClient is a client of its own, with connections of its own, trusting roots and offering
// HTTP/2 beside HTTP/1.1 over TLS, as the SDKs' stacks do.
func tlsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

// HoldHTTP2 gets url, served over TLS by a certificate roots trusts, with a client of its own,
// fails the test unless it is answered 200 over HTTP/2, and returns that client: its connection
// stays open, holding a slot of a connection cap, until CloseIdleConnections.
func HoldHTTP2(t testing.TB, url string, roots *x509.CertPool) *http.Client {
	t.Helper()
	held := tlsClient(roots)
	res, err := held.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.ProtoMajor != 2 {
		t.Fatalf("the connection within the cap: %s %d, want HTTP/2 200", res.Proto, res.StatusCode)
	}
	return held
}

// CheckRefusedOverTLS gets url, served over TLS by a certificate roots trusts, with a client of
// its own, as a client over a connection cap that HoldHTTP2 filled, and fails the test unless
// it is answered over TLS (not with plaintext on its TLS socket) with Graph's 503,
// ServiceUnavailable, and a Retry-After of 1 s (server.LimitTLSListener's refusal).
func CheckRefusedOverTLS(t testing.TB, url string, roots *x509.CertPool) {
	t.Helper()
	over := tlsClient(roots)
	defer over.CloseIdleConnections()
	res, err := over.Get(url)
	if err != nil {
		t.Fatalf("the TLS client over the cap got no answer: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	if err != nil || res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" ||
		json.Unmarshal(body, &env) != nil || env.Error.Code != "ServiceUnavailable" {
		t.Fatalf("the TLS client over the cap: %s %d %v %q %v", res.Proto, res.StatusCode, res.Header, body, err)
	}
}
