package main

import (
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/remoteassist/remoteassist/internal/testutil"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	var paths []string
	var serverLog testutil.SyncBuffer
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		w.WriteHeader(status)
	}))
	ts.Config.ErrorLog = log.New(&serverLog, "", 0)
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		// The probes ask a plain port over https first, which it answers without a word.
		if l := serverLog.String(); l != "" {
			t.Errorf("the probes made the plain port log %q", l)
		}
	})
	addr := strings.TrimPrefix(ts.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)

	// A server that is gone: a port that was free a moment ago.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := l.Addr().String()
	l.Close()

	tests := []struct {
		name     string
		env      string // REMOTEASSIST_ADDR
		args     []string
		status   int
		wantCode int
		wantErr  string // in stderr
		usage    bool   // refused before any request
	}{
		{"ready, address from the environment", addr, nil, http.StatusOK, 0, "", false},
		{"all interfaces becomes loopback", "0.0.0.0:" + port, nil, http.StatusOK, 0, "", false},
		{"IPv6 any becomes loopback", "[::]:" + port, nil, http.StatusOK, 0, "", false},
		{"empty host becomes loopback", ":" + port, nil, http.StatusOK, 0, "", false},
		{"not ready", addr, nil, http.StatusServiceUnavailable, 1, "unhealthy: GET http://" + addr + "/readyz: 503 Service Unavailable", false},
		{"a 400 is not taken for a TLS port", addr, nil, http.StatusBadRequest, 1, "unhealthy: GET http://" + addr + "/readyz: 400 Bad Request", false},
		{"nothing listens", gone, nil, http.StatusOK, 1, "unhealthy: ", false},
		{"--url wins over the environment", gone, []string{"--url", ts.URL + "/readyz"}, http.StatusOK, 0, "", false},
		// Mistakes exit 1 too, not 2, which Docker reserves in a HEALTHCHECK.
		{"malformed address", "8080", nil, http.StatusOK, 1, "remoteassist healthcheck: REMOTEASSIST_ADDR \"8080\"", true},
		{"port a service name", "127.0.0.1:http", nil, http.StatusOK, 1, "REMOTEASSIST_ADDR \"127.0.0.1:http\": want HOST:PORT such as 127.0.0.1:8080, the port a number", true},
		{"port over 65535", "127.0.0.1:65536", nil, http.StatusOK, 1, "REMOTEASSIST_ADDR \"127.0.0.1:65536\"", true},
		{"bad timeout", addr, []string{"--timeout", "0s"}, http.StatusOK, 1, "remoteassist healthcheck: --timeout must be positive", true},
		{"timeout not a duration", addr, []string{"--timeout", "5"}, http.StatusOK, 1, `invalid value "5" for flag -timeout`, true},
		{"unknown flag", addr, []string{"--bogus"}, http.StatusOK, 1, "remoteassist healthcheck: flag provided but not defined: -bogus", true},
		{"unexpected argument", addr, []string{"extra"}, http.StatusOK, 1, `unexpected argument "extra"`, true},
		{"malformed url", addr, []string{"--url", "http://[::1/readyz"}, http.StatusOK, 1, "remoteassist healthcheck: --url: ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REMOTEASSIST_ADDR", tt.env)
			status = tt.status
			paths = nil
			code, stdout, stderr := runCLI(t.Context(), append([]string{"healthcheck"}, tt.args...)...)
			if code != tt.wantCode || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and nothing on stdout", code, stdout, stderr, tt.wantCode)
			}
			if tt.wantErr == "" && stderr != "" || !strings.Contains(stderr, tt.wantErr) || strings.Count(stderr, "\n") > 1 {
				t.Errorf("stderr %q, want one line with %q", stderr, tt.wantErr)
			}
			switch {
			case tt.usage && len(paths) != 0:
				t.Errorf("requests %q, want none", paths)
			case !tt.usage && tt.env != gone && (len(paths) != 1 || paths[0] != "/readyz"):
				t.Errorf("requests %q, want one GET /readyz", paths)
			}
		})
	}
}

// TestHealthcheckTLS: with serve's TLS variables set, the default URL is https, and the probe of
// the local process does not need to trust its certificate. Without them (serve --tls given as
// a flag: docker run IMAGE serve --tls), the default http:// URL that a TLS port answers with
// net/http's 400 is asked again over https; a --url given is asked as it is.
func TestHealthcheckTLS(t *testing.T) {
	var readyz atomic.Int64
	var serverLog testutil.SyncBuffer
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		readyz.Add(1)
	}))
	ts.Config.ErrorLog = log.New(&serverLog, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "https://")
	for _, env := range []map[string]string{
		{"REMOTEASSIST_TLS": "true"},
		{"REMOTEASSIST_TLS_CERT": "/etc/remoteassist/cert.pem"},
	} {
		t.Setenv("REMOTEASSIST_ADDR", addr)
		t.Setenv("REMOTEASSIST_TLS", "")
		t.Setenv("REMOTEASSIST_TLS_CERT", "")
		for k, v := range env {
			t.Setenv(k, v)
		}
		if code, stdout, stderr := runCLI(t.Context(), "healthcheck"); code != 0 || stdout != "" || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0", env, code, stdout, stderr)
		}
	}
	t.Setenv("REMOTEASSIST_TLS", "")
	t.Setenv("REMOTEASSIST_TLS_CERT", "")
	readyz.Store(0)
	if code, stdout, stderr := runCLI(t.Context(), "healthcheck"); code != 0 || stdout != "" || stderr != "" || readyz.Load() != 1 {
		t.Errorf("without the TLS variables: exit %d, stdout %q, stderr %q, %d GET /readyz; want 0 after one over https", code, stdout, stderr, readyz.Load())
	}
	// Asked over https first, the TLS port has nothing to log (plain HTTP first made it log a
	// handshake error for every probe).
	if l := serverLog.String(); l != "" {
		t.Errorf("the probes of a TLS port without the TLS variables made it log %q", l)
	}
	url := "http://" + addr + "/readyz"
	if code, _, stderr := runCLI(t.Context(), "healthcheck", "--url", url); code != 1 || !strings.Contains(stderr, "GET "+url+": 400 Bad Request") {
		t.Errorf("--url %s: exit %d, stderr %q; want 1 with the 400", url, code, stderr)
	}
}
