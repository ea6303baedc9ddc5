package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/bolt"
	"github.com/remoteassist/remoteassist/internal/pgtest"
)

// asMainEnv makes the test binary run main instead of the tests: serveProcess runs the real
// command, with its signal handling, as a process of its own.
const asMainEnv = "REMOTEASSIST_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		return
	}
	os.Exit(pgtest.Run(m))
}

// serveProc is a remoteassist serve process, the test binary running main.
type serveProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited; then err is set
	err    error

	mu     sync.Mutex
	log    []map[string]any // serve's JSON log records, in order
	read   int              // how many of them waitLog went past
	stderr strings.Builder  // every line serve wrote to stderr, for a failure's message
}

// startServe runs "remoteassist serve --log-format json" with args, without the developer's
// REMOTEASSIST_* variables, and kills it when the test ends, or when the test binary dies
// (killed at go test's -timeout, say) without ending it.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"serve", "--log-format", "json"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REMOTEASSIST_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, asMainEnv+"=1")
	// The kernel kills serve when the thread that started it ends: in a Go program, with the
	// process (the runtime ends a thread only for a goroutine that locked it and did not unlock,
	// which no test here does).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, exited: make(chan struct{})}
	// Read without ever waiting for the test: serve blocks when its stderr is not read.
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			isJSON := json.Unmarshal(sc.Bytes(), &rec) == nil
			p.mu.Lock()
			fmt.Fprintln(&p.stderr, sc.Text())
			if isJSON {
				p.log = append(p.log, rec)
			}
			p.mu.Unlock()
		}
		p.err = cmd.Wait() // after the pipe is read to its end, as Wait requires
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("serve's stderr:\n%s", p.stderr.String())
			p.mu.Unlock()
		}
	})
	return p
}

// waitLog returns the first log record past those it returned before whose msg is msg.
func (p *serveProc) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a hang guard only
	for {
		p.mu.Lock()
		for ; p.read < len(p.log); p.read++ {
			if rec := p.log[p.read]; rec["msg"] == msg {
				p.read++
				p.mu.Unlock()
				return rec
			}
		}
		p.mu.Unlock()
		select {
		case <-p.exited:
			t.Fatalf("serve exited (%v) before logging %q", p.err, msg)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log %q within 30s", msg)
		}
	}
}

// errAcceptFailed is what a failingListener's Accept answers.
var errAcceptFailed = errors.New("test: accept failed")

// failingListener is a listener whose Accept fails for good at once, as one whose descriptor
// went bad would.
type failingListener struct{ addr net.Addr }

func (l failingListener) Accept() (net.Conn, error) { return nil, errAcceptFailed }
func (l failingListener) Close() error              { return nil }
func (l failingListener) Addr() net.Addr            { return l.addr }

// listenFailingOn replaces listen for the rest of the test: addr gets a failingListener, any
// other address a real listener (on loopback, as every test's).
func listenFailingOn(t *testing.T, addr string) {
	t.Helper()
	orig := listen
	listen = func(network, a string) (net.Listener, error) {
		if a == addr {
			tcp, err := net.ResolveTCPAddr(network, a)
			if err != nil {
				return nil, err
			}
			return failingListener{tcp}, nil
		}
		return orig(network, a)
	}
	t.Cleanup(func() { listen = orig })
}

// TestServeSideListenerFails: a side listener that stops serving on its own ends serve at once,
// exit 1, with a last line naming the listener and why, logged (as JSON with --log-format json,
// through serve's own logger) before the API is drained, not discovered at shutdown.
func TestServeSideListenerFails(t *testing.T) {
	tests := []struct {
		name string
		args []string
		fail string // the address whose listener fails
		want string // serve's last line
	}{
		{name: "operations listener", args: []string{"--ops-addr", "127.0.0.1:1"}, fail: "127.0.0.1:1",
			want: "remoteassist serve: the operations listener on 127.0.0.1:1 failed: " + errAcceptFailed.Error()},
		{name: "admin API", args: []string{"--admin-addr", "127.0.0.1:2"}, fail: "127.0.0.1:2",
			want: "remoteassist serve: the admin API on 127.0.0.1:2 failed: " + errAcceptFailed.Error()},
		{name: "admin API beside the operations listener", args: []string{"--ops-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:2"}, fail: "127.0.0.1:2",
			want: "remoteassist serve: the admin API on 127.0.0.1:2 failed: " + errAcceptFailed.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearServeEnv(t)
			listenFailingOn(t, tc.fail)
			// Without the failure noticed, serve would run until this context ends: a hang guard
			// only, against serve running on for good.
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			args := append([]string{"serve", "--data", t.TempDir(), "--store", "memory", "--addr", "127.0.0.1:0",
				"--log-format", "json", "--shutdown-grace", "1s"}, tc.args...)
			start := time.Now()
			code, stdout, stderr := runCLI(ctx, args...)
			if ctx.Err() != nil {
				t.Fatalf("serve ran on for %v after its listener failed: exit %d, stderr:\n%s", time.Since(start), code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if code != 1 || stdout != "" || lines[len(lines)-1] != tc.want {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and the last line %q", code, stdout, stderr, tc.want)
			}
			logged := false
			for _, line := range lines[:len(lines)-1] {
				var rec struct{ Level, Msg, Error string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("a log line that is not JSON, with --log-format json: %q", line)
					continue
				}
				logged = logged || rec.Level == "ERROR" && rec.Msg == "a listener failed: shutting down" && rec.Error == strings.TrimPrefix(tc.want, "remoteassist serve: ")
			}
			if !logged {
				t.Errorf("no ERROR line for the failure in the log:\n%s", stderr)
			}
		})
	}
}

// TestServeSecondSignal: a first SIGTERM or SIGINT starts the graceful stop, which waits for a
// request in flight for as long as the grace allows; a second one ends the process at once,
// killed by that signal, instead of being swallowed until the grace is over.
func TestServeSecondSignal(t *testing.T) {
	tests := []struct {
		name          string
		first, second syscall.Signal
	}{
		{"SIGTERM twice", syscall.SIGTERM, syscall.SIGTERM},
		{"SIGINT twice", syscall.SIGINT, syscall.SIGINT},
		{"SIGINT then SIGTERM", syscall.SIGINT, syscall.SIGTERM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := serveHoldingARequest(t, "10m", "")

			p.cmd.Process.Signal(tc.first)
			if rec := p.waitLog(t, "shutting down"); rec["force"] != "send SIGINT or SIGTERM again to stop at once" {
				t.Errorf("the shutdown line %v does not say how to force it", rec)
			}
			select {
			case <-p.exited:
				t.Fatalf("serve exited (%v) on the first signal with a request in flight and 10m of grace", p.err)
			case <-time.After(300 * time.Millisecond):
			}

			// A second signal swallowed would leave serve in the 10m grace, or waiting out the
			// request's 60 s delay and then exiting 0 (which the exit status below refuses).
			p.cmd.Process.Signal(tc.second)
			select {
			case <-p.exited:
			case <-time.After(60 * time.Second): // a hang guard only
				t.Fatal("serve still runs 60s after a second signal, with a grace of 10m")
			}
			var exitErr *exec.ExitError
			if !errors.As(p.err, &exitErr) {
				t.Fatalf("serve ended with %v, want killed by %v", p.err, tc.second)
			}
			if ws := exitErr.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != tc.second {
				t.Errorf("serve ended with %v, want killed by %v", p.err, tc.second)
			}
		})
	}
}

// call makes one request with a bearer token and fails the test unless it answers want.
func call(t *testing.T, method, url, token, body string, want int) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); res.StatusCode != want {
		t.Fatalf("%s %s: %s %s, want %d", method, url, res.Status, b, want)
	}
}

// serveHoldingARequest starts serve (memory store, admin API, the given --shutdown-grace) with a
// GET of tenant contoso held in flight for 60 s by a fault rule, and returns once the rule has
// fired: the process, and where the GET's outcome arrives (nil never: an error, or one saying a
// response reached the client). clientRequestID, if set, is the GET's client-request-id.
func serveHoldingARequest(t *testing.T, grace, clientRequestID string) (*serveProc, <-chan error) {
	t.Helper()
	clearServeEnv(t)
	dataDir := t.TempDir()
	p := startServe(t, "--data", dataDir, "--store", "memory", "--addr", "127.0.0.1:0",
		"--admin-addr", "127.0.0.1:0", "--shutdown-grace", grace)
	base := p.waitLog(t, "serving")["base_url"].(string)
	admin := p.waitLog(t, "admin API")["addr"].(string)
	adminToken, err := os.ReadFile(filepath.Join(dataDir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	call(t, http.MethodPost, "http://"+admin+"/admin/faults", strings.TrimSpace(string(adminToken)),
		`{"match":{"tenant":"contoso"},"effect":{"delayMs":{"min":60000}}}`, http.StatusCreated)
	code, token, stderr := runCLI(t.Context(), "token", "--data", dataDir, "--tenant", "contoso")
	if code != 0 {
		t.Fatalf("token: exit %d, %s", code, stderr)
	}
	answered := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/deviceManagement/remoteAssistanceSettings", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
		if clientRequestID != "" {
			req.Header.Set("Client-Request-Id", clientRequestID)
		}
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			err = fmt.Errorf("a response reached the client: %s", res.Status)
		}
		answered <- err
	}()
	waitFired(t, "http://"+admin, strings.TrimSpace(string(adminToken)))
	return p, answered
}

// waitFired waits until the admin API at adminURL shows its one fault rule fired: the request
// it delays is in flight (a delay comes before a request counts as being served, in
// /metrics).
func waitFired(t *testing.T, adminURL, token string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a hang guard only
	for {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, adminURL+"/admin/faults", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), `"fired":1`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fault rule has not fired after 30s: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeShutdownBoundsControlSocket: a backup on the control socket whose reader stalls
// holds serve's stop no longer than the grace period: the socket gets what is left of it, not
// a wait of its own (controlCloseWait, and controlStall for the stalled write) past it.
//
// No duration is measured: both of the socket's own waits are made 10 minutes, longer than the
// test may run, so that a stop that waited on either of them, instead of the few seconds of
// grace, hangs into the hang guard, which only a hang reaches.
func TestServeShutdownBoundsControlSocket(t *testing.T) {
	clearServeEnv(t)
	stall, closeWait := controlStall, controlCloseWait
	controlStall, controlCloseWait = 10*time.Minute, 10*time.Minute
	t.Cleanup(func() { controlStall, controlCloseWait = stall, closeWait })
	dataDir := t.TempDir()
	s, err := bolt.Open(dataFile(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	// Far more than the socket's buffers hold: the copy's writes must wait for the reader.
	all := make(map[string]remoteassist.Settings, 50000)
	for i := range 50000 {
		all[fmt.Sprintf("tenant-%05d", i)] = remoteassist.Settings{BlockChat: true, RemoteAssistanceState: remoteassist.StateEnabled}
	}
	if err := s.ReplaceAllSettings(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, signal := context.WithCancel(t.Context())
	defer signal()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCLI(ctx, "serve", "--data", dataDir, "--addr", "127.0.0.1:0", "--shutdown-grace", "2s")
		done <- result{code, stdout, stderr}
	}()
	var res *http.Response
	for deadline := time.Now().Add(60 * time.Second); ; { // a hang guard only
		if res, err = controlGet(t.Context(), dataDir, "/v1/backup"); err == nil {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("serve ended: exit %d, %s", r.code, r.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backup from the control socket within 60s: %v", err)
		}
	}
	defer res.Body.Close() // read none of it until serve has stopped: the backup stalls

	signal()
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second): // a hang guard only
		// Unstall the backup, so that serve ends before the waits are put back.
		res.Body.Close()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
		}
		t.Fatal("serve still runs 60s after the signal, with a grace of 2s: the stalled backup held its stop")
	}
	if r.code != 0 {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
	if _, err := os.Stat(controlPath(dataDir)); !os.IsNotExist(err) {
		t.Errorf("the control socket outlived serve: %v", err)
	}
}

// TestServeGraceOverIs503: a request still in flight when the shutdown's grace is over is cut by
// serve, which sends it nothing, as before, and logs it as the 503 it was owed, at ERROR with
// the cause, rather than as a client that went away (499).
func TestServeGraceOverIs503(t *testing.T) {
	p, answered := serveHoldingARequest(t, "300ms", "cut-at-grace-end")

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second): // a hang guard only
		t.Fatal("serve still runs 30s after SIGTERM with a grace of 300ms")
	}
	if p.err != nil {
		t.Errorf("serve ended with %v, want exit 0", p.err)
	}
	if err := <-answered; strings.Contains(err.Error(), "a response reached the client") {
		t.Error(err)
	}
	for {
		rec := p.waitLog(t, "request")
		if rec["client_request_id"] != "cut-at-grace-end" {
			continue
		}
		if rec["status"] != float64(503) || rec["level"] != "ERROR" || !strings.Contains(fmt.Sprint(rec["error"]), "grace was over") {
			t.Errorf("access log line %v, want status 503 at ERROR naming the grace", rec)
		}
		break
	}
}

// TestDataDirProblem: a write refused in the data directory says what to do, which differs for
// a directory serve's user may not write (chown it) and a read-only file system (chown cannot
// help: mount it read-write); other errors are left as they are.
func TestDataDirProblem(t *testing.T) {
	dir := t.TempDir()
	in := func(errno error) error {
		return &fs.PathError{Op: "open", Path: filepath.Join(dir, "signing-key.pem"), Err: errno}
	}
	for _, tc := range []struct {
		err       error
		want, not string
	}{
		{in(syscall.EACCES), "chown", "read-only"},
		{in(syscall.EROFS), "read-only file system: mount it read-write", "chown"},
		{&fs.PathError{Op: "open", Path: "/elsewhere/x", Err: syscall.EACCES}, "", "chown"},
		{in(syscall.ENOSPC), "", "chown"},
	} {
		got := dataDirProblem(tc.err, dir).Error()
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
			t.Errorf("%v: %q, want it to say %q and not %q", tc.err, got, tc.want, tc.not)
		}
	}
}
