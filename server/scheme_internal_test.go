package server

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestSchemeExtractorIsEchos: the server's scheme extractor answers what echo's default one
// answers, for every combination of peer (trusted or not, unix socket), connection (TLS or not)
// and forwarding headers (none, each alone, several, with values echo takes or ignores).
func TestSchemeExtractorIsEchos(t *testing.T) {
	echos := echo.ExtractSchemeFromHeaders()
	ours := schemeExtractor(echos)
	peers := []string{"127.0.0.1:5000", "[::1]:5000", "10.1.2.3:5000", "192.168.0.7:80", "203.0.113.9:443", "[2001:db8::1]:443", "", "@", "/run/remoteassist.sock", "not an address"}
	values := []string{"https", "HTTPS", "http", "wss", "ws", "on", "off", "", "ftp", "http, https", "https,http"}
	var headerSets []http.Header
	headerSets = append(headerSets, http.Header{}, http.Header{"X-Other": {"https"}})
	// The names echo reads, written out here rather than taken from forwardingHeaders, so that a
	// name missing there is a case here that fails.
	for _, name := range []string{"X-Forwarded-Proto", "X-Forwarded-Protocol", "X-Forwarded-Ssl", "X-Url-Scheme"} {
		for _, v := range values {
			headerSets = append(headerSets, http.Header{name: {v}})
			headerSets = append(headerSets, http.Header{name: {"http", v}})
		}
	}
	for _, v := range values {
		headerSets = append(headerSets, http.Header{echo.HeaderXForwardedProto: {v}, echo.HeaderXForwardedSsl: {"on"}, echo.HeaderXUrlScheme: {"https"}})
		headerSets = append(headerSets, http.Header{echo.HeaderXForwardedProtocol: {v}, echo.HeaderXForwardedSsl: {v}})
	}
	n := 0
	for _, peer := range peers {
		for _, withTLS := range []bool{false, true} {
			for _, h := range headerSets {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.RemoteAddr = peer
				req.Header = h
				if !withTLS {
					req.TLS = nil
				} else {
					req.TLS = &tls.ConnectionState{}
				}
				if got, want := ours(req), echos(req); got != want {
					t.Errorf("peer %q, TLS %v, headers %v: %q, echo's %q", peer, withTLS, h, got, want)
				}
				n++
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d cases", n)
	}
}
