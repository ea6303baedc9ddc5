package e2e_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	byteorder "encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startServeTLS starts `remoteassist serve --store=memory` with args (the TLS flags) on a
// free loopback port and waits until /healthz answers over HTTPS, verified with the CAs that
// roots returns (called again on each try: the development CA appears only once serve made it).
func startServeTLS(t *testing.T, name, dataDir string, roots func() *x509.CertPool, args ...string) *serveProc {
	t.Helper()
	p := launchServeTLS(t, name, dataDir, args...)
	p.waitHealthyTLS(t, roots)
	return p
}

// launchServeTLS starts the process of startServeTLS without waiting for it to serve;
// waitHealthyTLS waits.
func launchServeTLS(t *testing.T, name, dataDir string, args ...string) *serveProc {
	t.Helper()
	p := launchServeEnv(t, name, nil, append([]string{"--data", dataDir, "--store=memory"}, args...)...)
	p.base = "https://" + strings.TrimPrefix(p.base, "http://")
	return p
}

// waitHealthyTLS is waitHealthy over HTTPS, verified with the CAs that roots returns (called
// again on each try).
func (p *serveProc) waitHealthyTLS(t *testing.T, roots func() *x509.CertPool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for attempt := 1; ; {
		for {
			if pool := roots(); pool != nil {
				c := tlsClient(pool, true)
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/healthz", nil)
				res, err := c.Do(req)
				cancel()
				c.CloseIdleConnections()
				if err == nil {
					res.Body.Close()
					if res.StatusCode == http.StatusOK {
						return
					}
				}
			}
			select {
			case <-p.exited:
			case <-time.After(20 * time.Millisecond):
				if time.Now().After(deadline) {
					t.Fatalf("serve %q did not answer /healthz over HTTPS within %v:\n%s", p.name, startTimeout, p.logTail())
				}
				continue
			}
			break
		}
		if attempt < 3 && strings.Contains(p.logTail(), "address already in use") {
			attempt++
			p.launch(t)
			p.base = "https://" + strings.TrimPrefix(p.base, "http://")
			continue
		}
		t.Fatalf("serve %q exited before it served (%v):\n%s", p.name, p.cmd.ProcessState, p.logTail())
	}
}

// testClient is an HTTP client verifying the server with roots, offering HTTP/2 and HTTP/1.1
// (h2) or HTTP/1.1 only, with its own connections.
type testClient struct {
	*http.Client
	transport *http.Transport
}

func (c testClient) CloseIdleConnections() { c.transport.CloseIdleConnections() }

func tlsClient(roots *x509.CertPool, h2 bool) testClient {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: h2,
		Proxy:             nil,
	}
	if !h2 {
		// A non-nil empty map turns HTTP/2 off; only http/1.1 is offered by ALPN, as an
		// HTTP/1.1-only client such as curl --http1.1 does.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return testClient{Client: &http.Client{Transport: tr, Timeout: requestTimeout}, transport: tr}
}

// tlsResult is what one request over TLS saw.
type tlsResult struct {
	status int
	proto  string
	body   []byte
	serial *big.Int // of the certificate the server presented
	reused bool     // whether the request went over a connection opened before
	state  *tls.ConnectionState
}

// tlsDo sends one request through c and reads the answer.
func tlsDo(t *testing.T, c testClient, method, url, tok, body string) tlsResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	var r tlsResult
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { r.reused = info.Reused }})
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	r.body, err = io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	r.status, r.proto, r.state = res.StatusCode, res.Proto, res.TLS
	if res.TLS == nil || len(res.TLS.PeerCertificates) == 0 {
		t.Fatalf("%s %s: not over TLS", method, url)
	}
	r.serial = res.TLS.PeerCertificates[0].SerialNumber
	return r
}

// poolOf reads a PEM file of CA certificates, nil while it does not exist.
func poolOf(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil // being written
	}
	return pool
}

// TestServeTLSDevelopmentCA runs `serve --tls`: it makes a CA and a localhost certificate in
// the data directory, says how to trust it, serves HTTP/2 and HTTP/1.1 to a client that
// trusts ca.pem, refuses TLS 1.1, works with the CLI given --ca-file or SSL_CERT_FILE, and
// reuses both files on the next start.
func TestServeTLSDevelopmentCA(t *testing.T) {
	dataDir := t.TempDir()
	caFile := filepath.Join(dataDir, "ca.pem")
	roots := func() *x509.CertPool { return poolOf(t, caFile) }
	srv := startServeTLS(t, "tls-dev", dataDir, roots, "--tls")
	pool := roots()
	tok := token(t, dataDir, "contoso")

	log := srv.waitForLog(t, "NODE_EXTRA_CA_CERTS", 1)
	for _, want := range []string{
		"base_url=" + srv.base + "/beta",
		"SSL_CERT_FILE=" + caFile,
		"curl: --cacert " + caFile + ", or CURL_CA_BUNDLE=" + caFile,
		"NODE_EXTRA_CA_CERTS=" + caFile,
		"--ca-file " + caFile,
		"client.WithCAFile(",
		"created a development CA",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the start-up log lacks %q", want)
		}
	}
	for name, mode := range map[string]os.FileMode{"ca.pem": 0o644, "ca-key.pem": 0o600, "localhost.pem": 0o644, "localhost-key.pem": 0o600} {
		fi, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}

	// curl, as the log tells its users: either way it trusts the CA, and without it, it does not.
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		ok   bool
	}{
		{"curl --cacert", nil, []string{"--cacert", caFile}, true},
		{"CURL_CA_BUNDLE", []string{"CURL_CA_BUNDLE=" + caFile}, nil, true},
		{"curl trusting only the system's CAs", nil, nil, false},
	} {
		cmd := exec.CommandContext(t.Context(), "curl", append(tc.args, "-sS", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code}", srv.base+"/healthz")...)
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		if ok := err == nil && string(out) == "200"; ok != tc.ok {
			t.Errorf("%s: %v %q, want success %v", tc.name, err, out, tc.ok)
		}
	}

	url := srv.base + settingsPath
	h2 := tlsClient(pool, true)
	r := tlsDo(t, h2, http.MethodGet, url, tok, "")
	if r.status != http.StatusOK || r.proto != "HTTP/2.0" || r.state.NegotiatedProtocol != "h2" {
		t.Errorf("GET over an HTTP/2 client: %d %s (ALPN %q), want 200 over HTTP/2.0", r.status, r.proto, r.state.NegotiatedProtocol)
	}
	if !bytes.Contains(r.body, []byte(`"@odata.context":"`+srv.base+`/beta/$metadata#`)) {
		t.Errorf("@odata.context is not on the https base: %s", r.body)
	}
	r = tlsDo(t, h2, http.MethodPatch, url, tok, `{"blockChat":true}`)
	if r.status != http.StatusOK || r.proto != "HTTP/2.0" || !r.reused {
		t.Errorf("PATCH over HTTP/2: %d %s, reused connection %v; want 200 on the same connection", r.status, r.proto, r.reused)
	}
	h1 := tlsClient(pool, false)
	r = tlsDo(t, h1, http.MethodGet, url, tok, "")
	if r.status != http.StatusOK || r.proto != "HTTP/1.1" || r.state.NegotiatedProtocol != "http/1.1" || !bytes.Contains(r.body, []byte(`"blockChat":true`)) {
		t.Errorf("GET over an HTTP/1.1 client: %d %s (ALPN %q) %s", r.status, r.proto, r.state.NegotiatedProtocol, r.body)
	}
	h1.CloseIdleConnections()
	h2.CloseIdleConnections()

	// The certificate is for every loopback name; TLS 1.2 is served, TLS 1.1 refused.
	addr := strings.TrimPrefix(srv.base, "https://")
	for _, tc := range []struct {
		name       string
		serverName string
		max        uint16
		ok         bool
	}{
		{"TLS 1.3 to localhost", "localhost", tls.VersionTLS13, true},
		{"TLS 1.2 to 127.0.0.1", "127.0.0.1", tls.VersionTLS12, true},
		{"TLS 1.1", "localhost", tls.VersionTLS11, false},
		{"TLS 1.0", "localhost", tls.VersionTLS10, false},
	} {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: requestTimeout},
			Config: &tls.Config{RootCAs: pool, ServerName: tc.serverName, MinVersion: tls.VersionTLS10, MaxVersion: tc.max}}
		conn, err := d.DialContext(t.Context(), "tcp", addr)
		if (err == nil) != tc.ok {
			t.Errorf("%s: handshake error %v, want success %v", tc.name, err, tc.ok)
		}
		if err == nil {
			if v := conn.(*tls.Conn).ConnectionState().Version; v != tc.max {
				t.Errorf("%s: negotiated %x", tc.name, v)
			}
			conn.Close()
		}
	}

	// The CLI: refused without the CA, fine with --ca-file or SSL_CERT_FILE.
	env := []string{"HOME=" + t.TempDir(), "REMOTEASSIST_URL=" + srv.base + "/beta", "REMOTEASSIST_TOKEN=" + tok}
	if res := runEnv(t, commandTimeout, env, "get"); res.exitCode != 1 || !strings.Contains(res.stderr, "--ca-file") {
		t.Errorf("get without the CA: exit %d, stderr %q", res.exitCode, res.stderr)
	}
	if res := runEnv(t, commandTimeout, env, "get", "--ca-file", caFile); res.exitCode != 0 || !strings.Contains(res.stdout, "blockChat                         true") {
		t.Errorf("get --ca-file: exit %d, stdout %q, stderr %q", res.exitCode, res.stdout, res.stderr)
	}
	if res := runEnv(t, commandTimeout, append(env, "SSL_CERT_FILE="+caFile), "set", "--state", "enabled"); res.exitCode != 0 ||
		!strings.Contains(res.stdout, "remoteAssistanceState             enabled") {
		t.Errorf("set with SSL_CERT_FILE: exit %d, stdout %q, stderr %q", res.exitCode, res.stdout, res.stderr)
	}

	// Plain HTTP to the TLS port is not served.
	if res, err := do(t.Context(), http.MethodGet, "http://"+addr+"/healthz", "", ""); err == nil && res.status == http.StatusOK {
		t.Errorf("plain HTTP answered 200 on the TLS port")
	}

	// The next start reuses the CA and the certificate.
	files := map[string][]byte{}
	for _, name := range []string{"ca.pem", "ca-key.pem", "localhost.pem", "localhost-key.pem"} {
		files[name], _ = os.ReadFile(filepath.Join(dataDir, name))
	}
	srv.stop()
	again := startServeTLS(t, "tls-dev-again", dataDir, roots, "--tls")
	log = again.waitForLog(t, "NODE_EXTRA_CA_CERTS", 1)
	if strings.Contains(log, "created a development CA") || strings.Contains(log, "issued a certificate") {
		t.Errorf("the second start made new files:\n%s", log)
	}
	for name, before := range files {
		if now, _ := os.ReadFile(filepath.Join(dataDir, name)); !bytes.Equal(now, before) {
			t.Errorf("%s changed on the second start", name)
		}
	}
	// The same ca.pem still verifies it.
	c := tlsClient(pool, true)
	if r := tlsDo(t, c, http.MethodGet, again.base+"/healthz", "", ""); r.status != http.StatusOK {
		t.Errorf("after the restart: %d", r.status)
	}
	c.CloseIdleConnections()
}

// TestServeTLSReplicasShareOneCA: replicas of serve --tls started at once on one fresh data
// directory (a shared volume) each made a CA, and one could end serving a certificate of a CA
// whose ca.pem another had overwritten, so that clients trusting ca.pem failed. Both must serve
// certificates that verify with the one ca.pem on disk, and exactly one says it made the CA.
func TestServeTLSReplicasShareOneCA(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	caFile := filepath.Join(dataDir, "ca.pem")
	roots := func() *x509.CertPool { return poolOf(t, caFile) }
	replicas := []*serveProc{launchServeTLS(t, "tls-replica-a", dataDir, "--tls"), launchServeTLS(t, "tls-replica-b", dataDir, "--tls")}
	for _, p := range replicas {
		p.waitHealthyTLS(t, roots)
	}
	// Once both serve, ca.pem is what a client trusts: each must verify with it, now.
	pool := roots()
	made := 0
	for _, p := range replicas {
		if strings.Contains(p.waitForLog(t, "NODE_EXTRA_CA_CERTS", 1), "created a development CA") {
			made++
		}
		c := tlsClient(pool, true)
		if r := tlsDo(t, c, http.MethodGet, p.base+"/healthz", "", ""); r.status != http.StatusOK {
			t.Errorf("serve %q with the ca.pem on disk: %d", p.name, r.status)
		}
		c.CloseIdleConnections()
	}
	if made != 1 {
		t.Errorf("%d of %d replicas created a development CA, want exactly one (the other loads it)", made, len(replicas))
	}
}

// testCA is a CA made by the test, to issue the certificates serve is given in files.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a certificate for 127.0.0.1 with that serial for key, as PEM.
func (ca *testCA) issue(t *testing.T, serial int64, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// replaceFile writes data to path in one rename, as a secret volume or a certificate manager
// does, so that serve never reads half a file.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestServeTLSReloadsCertificate gives serve a certificate in files and replaces it while an
// HTTP/2 connection is open: the open connection keeps working on the old certificate, new
// handshakes get the new one, the process never restarts, and a broken replacement leaves the
// last good certificate in service with one warning in the log.
func TestServeTLSReloadsCertificate(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	replaceFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	replaceFile(t, certFile, ca.issue(t, 1001, key))

	dataDir := t.TempDir()
	srv := startServeTLS(t, "tls-files", dataDir, func() *x509.CertPool { return ca.pool }, "--tls-cert", certFile, "--tls-key", keyFile)
	tok := token(t, dataDir, "contoso")
	url := srv.base + settingsPath
	if log := srv.waitForLog(t, "TLS from files", 1); !strings.Contains(log, "base_url="+srv.base+"/beta") {
		t.Errorf("the start-up log lacks the https base URL:\n%s", log)
	}

	open := tlsClient(ca.pool, true) // keeps its HTTP/2 connection for the whole test
	defer open.CloseIdleConnections()
	r := tlsDo(t, open, http.MethodGet, url, tok, "")
	if r.status != http.StatusOK || r.proto != "HTTP/2.0" || r.serial.Int64() != 1001 {
		t.Fatalf("first GET: %d %s, certificate %v; want 200 over HTTP/2 with certificate 1001", r.status, r.proto, r.serial)
	}

	// A new certificate for the same key, in one rename.
	replaceFile(t, certFile, ca.issue(t, 1002, key))
	newHandshake := func() *big.Int {
		c := tlsClient(ca.pool, true)
		defer c.CloseIdleConnections()
		return tlsDo(t, c, http.MethodGet, srv.base+"/healthz", "", "").serial
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(startTimeout)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v\n%s", what, startTimeout, srv.logTail())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("a new handshake gets certificate 1002", func() bool { return newHandshake().Int64() == 1002 })
	srv.waitForLog(t, "TLS certificate reloaded", 1)

	// The connection opened before the reload still works, on the certificate it was opened with.
	r = tlsDo(t, open, http.MethodPatch, url, tok, `{"blockChat":true}`)
	if r.status != http.StatusOK || !r.reused || r.proto != "HTTP/2.0" || r.serial.Int64() != 1001 {
		t.Errorf("PATCH on the open connection: %d %s, reused %v, certificate %v; want 200 on the same HTTP/2 connection with 1001",
			r.status, r.proto, r.reused, r.serial)
	}

	// A broken replacement: the last good certificate stays, and the failure is logged once,
	// however many checks see the files unchanged since. A check logs nothing then, but it reads
	// the files again (tlsfiles retries files that failed at every check), so the opens of the
	// certificate file count the checks.
	opens := watchOpens(t, dir, filepath.Base(certFile))
	replaceFile(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	waitFor("the broken file is noticed", func() bool {
		if s := newHandshake(); s.Int64() != 1002 {
			t.Fatalf("a handshake after the broken replacement got certificate %v, want 1002", s)
		}
		b, _ := os.ReadFile(srv.logPath)
		return strings.Contains(string(b), "cannot be served")
	})
	// Two more checks of the unchanged broken file: a check runs in a handshake at least
	// tlsfiles.DefaultCheckInterval after the last one, so the handshakes go on until two more
	// reads of the file are seen (each done within a handshake that has returned, and so before
	// whatever that check logged).
	noticed := opens.count()
	waitFor("two more checks of the broken file (tlsfiles reads the files at every check while they fail to load)", func() bool {
		if s := newHandshake(); s.Int64() != 1002 {
			t.Fatalf("certificate %v, want 1002", s)
		}
		return opens.count() >= noticed+2
	})
	// serve writes its log in batches, in order: once a request made after those checks is in
	// the log, so is anything the checks logged.
	marker := "tls-reload-" + rand.Text()
	c := tlsClient(ca.pool, true)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("client-request-id", marker)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	c.CloseIdleConnections()
	log := srv.waitForLog(t, marker, 1)
	if n := strings.Count(log, "cannot be served"); n != 1 {
		t.Errorf("the broken file was logged %d times over at least %d checks of it, want once", n, opens.count()-noticed+1)
	}
	if r := tlsDo(t, open, http.MethodGet, url, tok, ""); r.status != http.StatusOK || !r.reused || !bytes.Contains(r.body, []byte(`"blockChat":true`)) {
		t.Errorf("GET on the open connection: %d, reused %v, %s", r.status, r.reused, r.body)
	}
	select {
	case <-srv.exited:
		t.Fatal("serve exited")
	default:
	}
}

// openWatch counts the opens of one file of a directory, by any process, through inotify.
type openWatch struct {
	name  string
	opens atomic.Int64
}

func (w *openWatch) count() int64 { return w.opens.Load() }

// watchOpens starts counting the opens of dir/name (the name, whatever file it is at the time:
// a rename over it counts on) until the test ends.
func watchOpens(t *testing.T, dir, name string) *openWatch {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_OPEN); err != nil {
		syscall.Close(fd)
		t.Fatalf("inotify watch of %s: %v", dir, err)
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a Read in progress
	w := &openWatch{name: name}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			// struct inotify_event: wd int32, mask, cookie, len uint32, then len bytes of name.
			for ev := buf[:n]; len(ev) >= syscall.SizeofInotifyEvent; {
				mask := byteorder.NativeEndian.Uint32(ev[4:])
				nameLen := int(byteorder.NativeEndian.Uint32(ev[12:]))
				end := syscall.SizeofInotifyEvent + nameLen
				if end > len(ev) {
					return
				}
				if mask&syscall.IN_OPEN != 0 && strings.TrimRight(string(ev[syscall.SizeofInotifyEvent:end]), "\x00") == w.name {
					w.opens.Add(1)
				}
				ev = ev[end:]
			}
		}
	}()
	t.Cleanup(func() {
		f.Close()
		<-done
	})
	return w
}
