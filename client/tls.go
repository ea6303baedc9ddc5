package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
)

// WithRootCAs verifies the service's certificate against the CAs in pool, and only those:
// for a service whose certificate a private CA signed, such as "remoteassist serve --tls"
// (its ca.pem) or remoteassisttest's TLS server. HTTP/2 is negotiated as with the default
// client. With WithHTTPClient, in either order, the CAs go into a copy of that client's
// *http.Transport (the client itself is never changed), which keeps the rest of its settings.
func WithRootCAs(pool *x509.CertPool) Option {
	return func(o *options) error {
		if pool == nil {
			return errors.New("client: WithRootCAs: the pool is nil")
		}
		o.rootCAs = pool
		return nil
	}
}

// WithCAFile trusts the CA certificates in a PEM file besides the system's: the ca.pem that
// "remoteassist serve --tls" writes in its data directory, for instance. The file is read
// once, by New. Like WithRootCAs, it combines with WithHTTPClient in either order.
//
// Without either option the system's CAs are used, which on Linux honours SSL_CERT_FILE and
// SSL_CERT_DIR.
func WithCAFile(path string) Option {
	return func(o *options) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("client: WithCAFile: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(data) {
			return fmt.Errorf("client: WithCAFile: %s holds no PEM certificate", path)
		}
		o.rootCAs = pool
		return nil
	}
}

// tlsClient returns a copy of base (the default client when nil) that verifies the service's
// certificate against pool. base is never changed: its transport is cloned, which needs it to
// be an *http.Transport (nil meaning http.DefaultTransport).
func tlsClient(base *http.Client, pool *x509.CertPool) (*http.Client, error) {
	if base == nil {
		base = &http.Client{Timeout: DefaultTimeout}
	}
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	orig, ok := rt.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("client: WithRootCAs or WithCAFile with WithHTTPClient: the client's Transport is a %T, not an *http.Transport the CAs can be set in; set them in your transport instead", rt)
	}
	t := orig.Clone()
	// net/http attempts HTTP/2 by itself only on a transport without a TLS config or custom
	// dialers; setting the config below would quietly turn HTTP/2 off where the caller's
	// transport had it, so it is asked for explicitly then.
	if t.Protocols == nil && t.TLSNextProto == nil && speaksHTTP2(orig) {
		t.ForceAttemptHTTP2 = true
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.RootCAs = pool
	hc := *base
	hc.Transport = t
	return &hc, nil
}

// speaksHTTP2 reports whether net/http negotiates HTTP/2 on t (when it has not been told
// otherwise by Protocols or TLSNextProto): forced, or a transport without a TLS config or
// dialers of its own, or one whose config net/http already set up for h2 on a first use.
func speaksHTTP2(t *http.Transport) bool {
	if t.ForceAttemptHTTP2 {
		return true
	}
	if t.Dial != nil || t.DialContext != nil || t.DialTLS != nil || t.DialTLSContext != nil {
		return false
	}
	return t.TLSClientConfig == nil || slices.Contains(t.TLSClientConfig.NextProtos, "h2")
}
