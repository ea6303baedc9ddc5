package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
)

const settingsPath = "/beta/deviceManagement/remoteAssistanceSettings"

// Bounds that only keep a hang from stalling the run: every wait is for something that should
// take milliseconds, and a test that reaches one of them fails saying what hung.
const (
	startTimeout   = 60 * time.Second // a process to answer /healthz
	requestTimeout = 30 * time.Second // one HTTP request
	commandTimeout = 60 * time.Second // a command that exits on its own
)

// client is shared by the tests; per-request contexts bound every call. Enough idle connections
// are kept that concurrent writers do not reconnect for each request.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}}

// serveProc is one running `remoteassist serve`.
type serveProc struct {
	name    string
	args    []string
	base    string // http://127.0.0.1:PORT
	logPath string
	env     []string // "NAME=value" on top of cleanEnv's
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has exited
}

// startServe starts `remoteassist serve --data dataDir --store store` on a free loopback port
// and waits until it answers /healthz. The process is stopped when the test ends, and its log is
// shown if the test failed.
func startServe(t *testing.T, name, dataDir, store string) *serveProc {
	t.Helper()
	return startServeArgs(t, name, "--data", dataDir, "--store="+store)
}

// startServeArgs is startServe with serve's flags as given (after --addr, which it picks).
func startServeArgs(t *testing.T, name string, args ...string) *serveProc {
	t.Helper()
	return startServeEnv(t, name, nil, args...)
}

// startServeEnv is startServeArgs with env ("NAME=value") on top of cleanEnv's.
func startServeEnv(t *testing.T, name string, env []string, args ...string) *serveProc {
	t.Helper()
	p := launchServeEnv(t, name, env, args...)
	p.waitHealthy(t)
	return p
}

// launchServe starts the process without waiting for it to serve; waitHealthy waits.
func launchServe(t *testing.T, name, dataDir, store string) *serveProc {
	t.Helper()
	return launchServeEnv(t, name, nil, "--data", dataDir, "--store="+store)
}

// launchServeEnv is launchServe with serve's flags as given and env on top of cleanEnv's; the
// log is a file of its own in a temporary directory.
func launchServeEnv(t *testing.T, name string, env []string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{name: name, args: args, env: env, logPath: filepath.Join(t.TempDir(), name+".log")}
	p.start(t)
	return p
}

// start launches p and stops it when the test ends, showing its log if the test failed.
func (p *serveProc) start(t *testing.T) {
	t.Helper()
	p.launch(t)
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("log of serve %q:\n%s", p.name, p.logTail())
		}
	})
}

// launch picks a free port (listen on port 0, close, pass it on) and starts the process on it.
func (p *serveProc) launch(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", addr}, p.args...)...)
	cmd.Env = append(cleanEnv(), p.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies, the server must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.cmd, p.exited, p.base = cmd, exited, "http://"+addr
}

// waitHealthy polls /healthz until it answers 200. If the process exits because another
// process took its port between the probe and the start, it starts again on another port.
func (p *serveProc) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for attempt := 1; ; {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		res, err := do(ctx, http.MethodGet, p.base+"/healthz", "", "")
		cancel()
		if err == nil && res.status == http.StatusOK {
			return
		}
		select {
		case <-p.exited:
			if log := p.logTail(); strings.Contains(log, "address already in use") && attempt < 3 {
				attempt++
				p.launch(t)
				continue
			}
			t.Fatalf("serve %q exited before it served (%v):\n%s", p.name, p.cmd.ProcessState, p.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve %q did not answer /healthz within %v (last: %v, %v):\n%s", p.name, startTimeout, res.status, err, p.logTail())
		}
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would, and waits for it.
// It may be called from any goroutine.
func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Errorf("kill serve %q: %v", p.name, err)
		return
	}
	<-p.exited
}

// stop asks the process to shut down and kills it if it does not within a while.
func (p *serveProc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitForLog waits until the process's log holds want at least n times: serve batches its log
// lines and writes them within 50 ms.
func (p *serveProc) waitForLog(t *testing.T, want string, n int) string {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		b, _ := os.ReadFile(p.logPath)
		if strings.Count(string(b), want) >= n {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never reached the log of serve %q %d times", want, p.name, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *serveProc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// cleanEnv is the test's environment without REMOTEASSIST_ variables or the Go collector's
// settings (which turn off serve's GC headroom), so that a developer's or CI's settings cannot
// change what the processes under test do.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "REMOTEASSIST_") || strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=")
	})
}

// result is how a command ended.
type result struct {
	stdout, stderr string
	exitCode       int
}

// run runs the binary with args until it exits, bounded by commandTimeout.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return runWithin(t, commandTimeout, args...)
}

// runWithin runs the binary with args until it exits; the test fails if that takes longer
// than timeout.
func runWithin(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	return runEnv(t, timeout, nil, args...)
}

// runEnv is runWithin with extra environment variables ("NAME=value") on top of cleanEnv's.
func runEnv(t *testing.T, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("remoteassist %s did not exit within %v:\n%s", strings.Join(args, " "), timeout, stderr.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("remoteassist %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// token mints a bearer token for tenant with `remoteassist token`, signed by dataDir's key.
func token(t *testing.T, dataDir, tenant string) string {
	t.Helper()
	r := run(t, "token", "--data", dataDir, "--tenant", tenant)
	tok := strings.TrimSpace(r.stdout)
	if r.exitCode != 0 || tok == "" {
		t.Fatalf("remoteassist token --tenant %s: exit %d, stdout %q, stderr %q", tenant, r.exitCode, r.stdout, r.stderr)
	}
	return tok
}

// tokens mints a token for each tenant, a few commands at a time.
func tokens(t *testing.T, dataDir string, tenants []string) map[string]string {
	t.Helper()
	// The first call creates the data directory's key if it has none; the others then only
	// read it.
	out := map[string]string{tenants[0]: token(t, dataDir, tenants[0])}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	errs := make(chan error, len(tenants))
	for range 4 {
		wg.Go(func() {
			for tenant := range work {
				ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
				cmd := exec.CommandContext(ctx, binary, "token", "--data", dataDir, "--tenant", tenant)
				cmd.Env = cleanEnv()
				b, err := cmd.Output()
				cancel()
				if err != nil || len(bytes.TrimSpace(b)) == 0 {
					errs <- fmt.Errorf("remoteassist token --tenant %s: %v", tenant, err)
					continue
				}
				mu.Lock()
				out[tenant] = string(bytes.TrimSpace(b))
				mu.Unlock()
			}
		})
	}
	for _, tenant := range tenants[1:] {
		work <- tenant
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// response is an HTTP response read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do makes one request. body, when not empty, is sent as JSON.
func do(ctx context.Context, method, url, tok, body string) (response, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// call makes one request bounded by requestTimeout and fails the test if it errs or hangs.
func call(t *testing.T, method, url, tok, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	res, err := do(ctx, method, url, tok, body)
	if ctx.Err() != nil {
		t.Fatalf("%s %s: no answer within %v: the server hangs", method, url, requestTimeout)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return res
}

// getSettings GETs the tenant's settings through the process at base and checks the answer.
func getSettings(t *testing.T, base, tok, tenant string) remoteassist.Settings {
	t.Helper()
	res := call(t, http.MethodGet, base+settingsPath, tok, "")
	if res.status != http.StatusOK {
		t.Fatalf("GET %s for %s: %d %s", base, tenant, res.status, res.body)
	}
	s, err := parseSettings(tenant, res.body)
	if err != nil {
		t.Fatalf("GET %s for %s: %v", base, tenant, err)
	}
	return s
}

// patchSettings PATCHes body through the process at base and checks the answer.
func patchSettings(t *testing.T, base, tok, tenant, body string) remoteassist.Settings {
	t.Helper()
	res := call(t, http.MethodPatch, base+settingsPath, tok, body)
	if res.status != http.StatusOK {
		t.Fatalf("PATCH %s %s for %s: %d %s", base, body, tenant, res.status, res.body)
	}
	s, err := parseSettings(tenant, res.body)
	if err != nil {
		t.Fatalf("PATCH %s %s for %s: %v", base, body, tenant, err)
	}
	return s
}

// parseSettings reads a settings entity and checks that it is a valid state of the tenant: the
// right type and id, every property present, the state in the contract.
func parseSettings(tenant string, body []byte) (remoteassist.Settings, error) {
	var e struct {
		Type      string  `json:"@odata.type"`
		ID        string  `json:"id"`
		Allow     *bool   `json:"allowSessionsToUnenrolledDevices"`
		State     *string `json:"remoteAssistanceState"`
		BlockChat *bool   `json:"blockChat"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return remoteassist.Settings{}, fmt.Errorf("body %s: %w", body, err)
	}
	switch {
	case e.Type != remoteassist.ODataType:
		return remoteassist.Settings{}, fmt.Errorf("body %s: @odata.type %q, want %q", body, e.Type, remoteassist.ODataType)
	case e.ID != remoteassist.SettingsID(tenant):
		return remoteassist.Settings{}, fmt.Errorf("body %s: id %q, want %q, the id of tenant %s", body, e.ID, remoteassist.SettingsID(tenant), tenant)
	case e.Allow == nil || e.State == nil || e.BlockChat == nil:
		return remoteassist.Settings{}, fmt.Errorf("body %s: a property is missing", body)
	case !remoteassist.State(*e.State).Valid():
		return remoteassist.Settings{}, fmt.Errorf("body %s: state %q is not in the contract", body, *e.State)
	}
	return remoteassist.Settings{ID: e.ID, AllowSessionsToUnenrolledDevices: *e.Allow, RemoteAssistanceState: remoteassist.State(*e.State), BlockChat: *e.BlockChat}, nil
}

// checkUnavailable checks that a response is the Graph 503 envelope with a Retry-After in whole
// seconds.
func checkUnavailable(t *testing.T, what string, res response) {
	t.Helper()
	if res.status != http.StatusServiceUnavailable {
		t.Errorf("%s: status %d, want 503 (body %s)", what, res.status, res.body)
		return
	}
	var envelope struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(res.body, &envelope); err != nil {
		t.Errorf("%s: the 503 body is not a Graph error envelope: %v: %s", what, err, res.body)
	} else if envelope.Error.Code != "ServiceUnavailable" || envelope.Error.Message == "" {
		t.Errorf("%s: error %+v, want code ServiceUnavailable and a message", what, envelope.Error)
	}
	if after, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || after <= 0 {
		t.Errorf("%s: Retry-After %q, want a positive number of seconds", what, res.header.Get("Retry-After"))
	}
}
