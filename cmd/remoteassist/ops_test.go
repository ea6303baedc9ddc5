package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestOpsCmdlineHidesSecrets: the operations listener needs no token and is bound where probes
// and scrapers reach it, so its /debug/pprof/cmdline must not hand out the secrets serve was
// given on its command line (net/http/pprof's shows os.Args as they are).
func TestOpsCmdlineHidesSecrets(t *testing.T) {
	clearServeEnv(t)
	const secret = "s3cret-admin-token-of-the-test"
	p := startServe(t, "--data", t.TempDir(), "--store", "memory", "--addr", "127.0.0.1:0",
		"--ops-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--admin-token", secret)
	ops := "http://" + p.waitLog(t, "operations listener")["addr"].(string)
	get := func(path string) string {
		t.Helper()
		res, err := http.Get(ops + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v", path, res.Status, err)
		}
		return string(b)
	}
	res, err := http.Get(ops + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || strings.Contains(string(b), secret) {
		t.Errorf("/debug/pprof/cmdline: %s %q, want 404 without the admin token", res.Status, b)
	}
	// The rest of the listener is the server's OpsHandler, as before.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/"} {
		get(path)
	}
}

// TestSideListenersBoundHeaders: the operations listener and the admin API's have no connection
// cap, so their headers are bounded as the API's are (32 KiB), not by net/http's 1 MiB default,
// under which a few hundred connections sending long headers held hundreds of MB.
func TestSideListenersBoundHeaders(t *testing.T) {
	clearServeEnv(t)
	p := startServe(t, "--data", t.TempDir(), "--store", "memory", "--addr", "127.0.0.1:0",
		"--ops-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	ops := "http://" + p.waitLog(t, "operations listener")["addr"].(string) + "/healthz"
	admin := "http://" + p.waitLog(t, "admin API")["addr"].(string) + "/openapi.yaml"
	for _, url := range []string{ops, admin} {
		for _, tc := range []struct {
			header int
			want   int
		}{{1 << 10, http.StatusOK}, {64 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Padding", strings.Repeat("a", tc.header))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("GET %s with a %d-byte header: %s, want %d", url, tc.header, res.Status, tc.want)
			}
		}
	}
}
