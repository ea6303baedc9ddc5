package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// WithRootCAs verifies the service's certificate against the CAs in pool, and only those:
// for a service whose certificate a private CA signed, such as "remoteassist serve --tls"
// (its ca.pem) or remoteassisttest's TLS server. HTTP/2 is negotiated as with the default
// client. It cannot be combined with WithHTTPClient: set RootCAs in that client's transport.
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
// once, by New. Like WithRootCAs, it cannot be combined with WithHTTPClient.
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

// tlsClient is the default client with the CAs of WithRootCAs or WithCAFile.
func tlsClient(pool *x509.CertPool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone() // keeps ForceAttemptHTTP2
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: DefaultTimeout, Transport: t}
}
