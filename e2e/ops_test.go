package e2e_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/server"
)

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// dialKept connects to addr over TCP; the connection is closed when the test ends.
func dialKept(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConnectionCapAndOpsListener: past --max-connections a connection is answered 503 at once
// (not left in the kernel's queue), while the probes on --ops-addr keep answering; SIGTERM with
// a client still sending its body ends the process within the grace period, the client
// answered 503.
func TestConnectionCapAndOpsListener(t *testing.T) {
	dataDir := t.TempDir()
	ops := freeAddr(t)
	p := startServeArgs(t, "capped", "--data", dataDir, "--store=memory", "--max-connections", "3", "--ops-addr", ops, "--shutdown-grace", "5s")
	tok := token(t, dataDir, "capped")

	// Three connections take the three slots: two idle, one sending a body it never finishes.
	// Each is shown to be within the cap by a request served on it; one refused means the
	// server had yet to see an earlier connection (the health check's) close, so it is retried.
	api := strings.TrimPrefix(p.base, "http://")
	client.CloseIdleConnections()
	dialAPI := func() net.Conn { return dialKept(t, api) }
	hold := func() (net.Conn, *bufio.Reader) {
		deadline := time.Now().Add(requestTimeout)
		for {
			c := dialAPI()
			r := bufio.NewReader(c)
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(requestTimeout))
			res, err := http.ReadResponse(r, nil)
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return c, r
				}
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("no connection within the cap: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	hold()
	hold()
	slow, slowReader := hold()
	fmt.Fprintf(slow, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", settingsPath, tok)

	// Each refusal is counted, on the ops listener's /metrics as on the API's.
	refused := func() int {
		t.Helper()
		res := call(t, http.MethodGet, "http://"+ops+"/metrics", "", "")
		for line := range strings.SplitSeq(string(res.body), "\n") {
			if v, ok := strings.CutPrefix(line, `remoteassist_connections_refused_total{answered="true"} `); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("metrics line %q: %v", line, err)
				}
				return n
			}
		}
		t.Fatalf("no remoteassist_connections_refused_total{answered=\"true\"} in /metrics:\n%s", res.body)
		return 0
	}
	before := refused()

	over := dialAPI()
	io.WriteString(over, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	over.SetReadDeadline(time.Now().Add(requestTimeout))
	res, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil {
		t.Fatalf("the connection past the cap got no answer: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("the connection past the cap: %d", res.StatusCode)
	}
	// Counted once the 503 is written, which the client may read first: wait for the count (a
	// hang guard only), then check it is one more.
	n := refused()
	for deadline := time.Now().Add(requestTimeout); n == before && time.Now().Before(deadline); n = refused() {
		time.Sleep(10 * time.Millisecond)
	}
	if n != before+1 {
		t.Errorf("remoteassist_connections_refused_total{answered=\"true\"} went from %d to %d over one refusal", before, n)
	}

	// The probes have a listener of their own.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if res := call(t, http.MethodGet, "http://"+ops+path, "", ""); res.status != http.StatusOK {
			t.Errorf("ops %s: %d", path, res.status)
		}
	}
	if res := call(t, http.MethodGet, "http://"+ops+settingsPath, tok, ""); res.status != http.StatusNotFound {
		t.Errorf("the API on the ops listener: %d, want 404", res.status)
	}

	// SIGTERM: the slow body is answered 503 and the process exits 0, within the grace period.
	// Only once serve is reading that body: a SIGTERM before serve has read the PATCH's headers
	// finds an idle connection, which a graceful stop closes without an answer. The ops
	// listener's goroutine dump shows the read.
	for deadline := time.Now().Add(60 * time.Second); ; { // a hang guard only
		if res := call(t, http.MethodGet, "http://"+ops+"/debug/pprof/goroutine?debug=1", "", ""); bytes.Contains(res.body, []byte("(*admission).readBody")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve is not reading the slow PATCH's body 60 s after its headers were sent")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.stop()
	slow.SetReadDeadline(time.Now().Add(requestTimeout))
	if res, err := http.ReadResponse(slowReader, nil); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the slow body at shutdown: %v %v", res, err)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// TestOpsListenerConnectionCap: the ops listener's probes are unauthenticated, and it had no
// connection cap, so that a slow-loris there could take every file descriptor of the process.
// With server.OpsMaxConnections idle connections open on it, the next is answered 503 with
// Retry-After and counted in remoteassist_ops_connections_refused_total, while the API's
// listener serves as before and its own refusal count stays 0.
func TestOpsListenerConnectionCap(t *testing.T) {
	dataDir := t.TempDir()
	ops := freeAddr(t)
	p := startServeArgs(t, "ops-capped", "--data", dataDir, "--store=memory", "--ops-addr", ops)

	checkConnectionCap(t, "ops", ops, server.OpsMaxConnections, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")

	// The API's listener is not affected, and serves the metrics too.
	const opsSeries, apiSeries = `remoteassist_ops_connections_refused_total{answered="true"}`, `remoteassist_connections_refused_total{answered="true"}`
	metrics := waitForCount(t, p.base+"/metrics", opsSeries)
	if n := metricValue(t, metrics, opsSeries); n != 1 {
		t.Errorf("%s = %v after one refusal, want 1", opsSeries, n)
	}
	if n := metricValue(t, metrics, apiSeries); n != 0 {
		t.Errorf("%s = %v after a refusal on the ops listener only, want 0", apiSeries, n)
	}
	if res := call(t, http.MethodGet, p.base+"/readyz", "", ""); res.status != http.StatusOK {
		t.Errorf("API /readyz with the ops listener full: %d", res.status)
	}
}

// TestAdminListenerConnectionCap: the admin API's listener had no connection cap, and a
// connection is held before its token is checked, so that anyone reaching the port could hold
// file descriptors and memory without bound. With server.AdminMaxConnections idle connections
// open on it, the next is answered 503 with Retry-After and counted in
// remoteassist_admin_connections_refused_total, while the API's listener serves as before and
// the other listeners' refusal counts stay 0.
func TestAdminListenerConnectionCap(t *testing.T) {
	dataDir := t.TempDir()
	admin := freeAddr(t)
	const adminToken = "admin-cap-test-token-0123456789"
	p := startServeArgs(t, "admin-capped", "--data", dataDir, "--store=memory", "--admin-addr", admin, "--admin-token", adminToken)
	p.waitForLog(t, `msg="admin API"`, 1)

	checkConnectionCap(t, "admin", admin, server.AdminMaxConnections,
		"GET /admin/tenants/contoso/settings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+adminToken+"\r\n\r\n")

	const adminSeries = `remoteassist_admin_connections_refused_total{answered="true"}`
	metrics := waitForCount(t, p.base+"/metrics", adminSeries)
	for series, want := range map[string]float64{
		adminSeries: 1,
		`remoteassist_ops_connections_refused_total{answered="true"}`: 0,
		`remoteassist_connections_refused_total{answered="true"}`:     0,
	} {
		if n := metricValue(t, metrics, series); n != want {
			t.Errorf("%s = %v after one refusal on the admin listener, want %v", series, n, want)
		}
	}
	tok := token(t, dataDir, "contoso")
	getSettings(t, p.base, tok, "contoso")
}

// checkConnectionCap holds max connections open on the listener at addr, each shown to be
// within its cap by request (a raw HTTP/1.1 request) answered 200 on it and then left open,
// idle, as a slow-loris's would be, until the test ends; and checks that the next connection
// is answered 503 with Retry-After. what names the listener in failures.
func checkConnectionCap(t *testing.T, what, addr string, max int, request string) {
	t.Helper()
	send := func(c net.Conn) (*http.Response, error) {
		io.WriteString(c, request)
		c.SetReadDeadline(time.Now().Add(requestTimeout))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		return res, err
	}
	for i := range max {
		if res, err := send(dialKept(t, addr)); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s connection %d of %d: %v %v, want 200", what, i+1, max, res, err)
		}
	}
	res, err := send(dialKept(t, addr))
	if err != nil {
		t.Fatalf("the %s connection past the cap of %d got no answer: %v", what, max, err)
	}
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("the %s connection past the cap of %d: %d, Retry-After %q, want 503 with Retry-After", what, max, res.StatusCode, res.Header.Get("Retry-After"))
	}
}

// waitForCount GETs the Prometheus exposition at url until series counts at least one and
// returns it. A refusal is counted once its 503 is written, which the client may read first:
// the wait is a hang guard only, and the caller checks the values.
func waitForCount(t *testing.T, url, series string) string {
	t.Helper()
	for deadline := time.Now().Add(requestTimeout); ; {
		res := call(t, http.MethodGet, url, "", "")
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: %d", url, res.status)
		}
		if metricValue(t, string(res.body), series) >= 1 || time.Now().After(deadline) {
			return string(res.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
