package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/internal/testutil"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

// TestMain removes the binary the end-to-end tests build.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// oneErrorLine is how a Graph error must reach the user: one line with the code, the message,
// the request-id to quote and the status.
var oneErrorLine = regexp.MustCompile(`^error: ([A-Za-z]+): [^\n]+ \(request-id ([0-9a-f-]{36}), status (\d{3})\)\n$`)

// counter sits in front of an emulator and records the requests that reach it.
type counter struct {
	mu     sync.Mutex
	seen   []string // "METHOD body"
	next   http.Handler
	server *httptest.Server
}

func newCounter(t *testing.T, srv *remoteassisttest.Server) *counter {
	c := &counter{next: srv.Handler()}
	c.server = httptest.NewServer(c)
	t.Cleanup(c.server.Close)
	return c
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	c.mu.Lock()
	c.seen = append(c.seen, r.Method+" "+string(body))
	c.mu.Unlock()
	c.next.ServeHTTP(w, r)
}

func (c *counter) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

func (c *counter) url() string { return c.server.URL + "/beta" }

// runCLI runs the command line in process, as main would.
func runCLI(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// clearEnv keeps the developer's own REMOTEASSIST_* settings out of the test.
func clearEnv(t *testing.T) {
	for _, name := range []string{"REMOTEASSIST_URL", "REMOTEASSIST_TOKEN"} {
		t.Setenv(name, "")
	}
}

func TestGetAndSet(t *testing.T) {
	clearEnv(t)
	const tenant = "contoso"
	id := remoteassist.SettingsID(tenant)
	tests := []struct {
		name       string
		seed       client.Settings
		args       []string
		wantCode   int
		wantStdout string
		wantSent   []string // requests that reached the service
		want       client.Settings
	}{
		{
			name: "get prints a table",
			args: []string{"get"},
			wantStdout: "PROPERTY                          VALUE\n" +
				"id                                " + id + "\n" +
				"remoteAssistanceState             notConfigured\n" +
				"allowSessionsToUnenrolledDevices  false\n" +
				"blockChat                         false\n",
			wantSent: []string{"GET "},
			want:     client.Settings{ID: id, RemoteAssistanceState: client.StateNotConfigured},
		},
		{
			name: "get --output json",
			seed: client.Settings{RemoteAssistanceState: client.StateEnabled, BlockChat: true},
			args: []string{"get", "--output", "json"},
			wantStdout: `{
  "id": "` + id + `",
  "allowSessionsToUnenrolledDevices": false,
  "remoteAssistanceState": "enabled",
  "blockChat": true
}
`,
			wantSent: []string{"GET "},
			want:     client.Settings{ID: id, RemoteAssistanceState: client.StateEnabled, BlockChat: true},
		},
		{
			name:     "set sends only the flags given",
			seed:     client.Settings{AllowSessionsToUnenrolledDevices: true},
			args:     []string{"set", "--state", "enabled", "--block-chat=true", "--output=json"},
			wantSent: []string{`PATCH {"blockChat":true,"remoteAssistanceState":"enabled"}`},
			want:     client.Settings{ID: id, AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: client.StateEnabled, BlockChat: true},
		},
		{
			name:     "set a boolean to false",
			seed:     client.Settings{RemoteAssistanceState: client.StateDisabled, AllowSessionsToUnenrolledDevices: true, BlockChat: true},
			args:     []string{"set", "--allow-unenrolled=false"},
			wantSent: []string{`PATCH {"allowSessionsToUnenrolledDevices":false}`},
			want:     client.Settings{ID: id, RemoteAssistanceState: client.StateDisabled, BlockChat: true},
		},
		{
			name:     "set all three",
			args:     []string{"set", "-state=disabled", "-allow-unenrolled", "-block-chat=false"},
			wantSent: []string{`PATCH {"allowSessionsToUnenrolledDevices":true,"blockChat":false,"remoteAssistanceState":"disabled"}`},
			want:     client.Settings{ID: id, RemoteAssistanceState: client.StateDisabled, AllowSessionsToUnenrolledDevices: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := remoteassisttest.New(t)
			srv.Seed(tenant, tc.seed)
			front := newCounter(t, srv)
			args := append(tc.args, "--url", front.url(), "--token", srv.Token(tenant))
			code, stdout, stderr := runCLI(t.Context(), args...)
			if code != tc.wantCode || stderr != "" {
				t.Fatalf("exit %d, stderr %q; want %d and nothing", code, stderr, tc.wantCode)
			}
			if tc.wantStdout != "" && stdout != tc.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tc.wantStdout)
			}
			if got := front.requests(); !slices.Equal(got, tc.wantSent) {
				t.Errorf("requests %q, want %q", got, tc.wantSent)
			}
			if got := srv.Settings(tenant); got != tc.want {
				t.Errorf("stored %+v, want %+v", got, tc.want)
			}
			// What set prints is the settings after the change.
			if slices.Contains(tc.args, "--output=json") {
				var printed client.Settings
				if err := json.Unmarshal([]byte(stdout), &printed); err != nil || printed != tc.want {
					t.Errorf("printed %q (%v), want %+v", stdout, err, tc.want)
				}
			}
		})
	}
}

// TestRefusedBeforeSending checks the mistakes that must cost no request: each exits 2 with
// one line on stderr that says what to fix.
func TestRefusedBeforeSending(t *testing.T) {
	clearEnv(t)
	srv := remoteassisttest.New(t)
	srv.Seed("t", client.Settings{RemoteAssistanceState: client.StateEnabled})
	front := newCounter(t, srv)
	conn := []string{"--url", front.url(), "--token", srv.Token("t")}
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"state outside the enum", append([]string{"set", "--state", "on"}, conn...), `--state "on": want one of notConfigured, disabled, enabled`},
		{"state in the wrong case", append([]string{"set", "--state=Enabled"}, conn...), `--state "Enabled"`},
		{"empty state", append([]string{"set", "--state="}, conn...), `--state "": want one of`},
		{"set without a flag", append([]string{"set"}, conn...), "nothing to set"},
		{"boolean value after a space", append([]string{"set", "--block-chat", "false"}, conn...), `unexpected argument "false"`},
		{"boolean that is not one", append([]string{"set", "--block-chat=maybe"}, conn...), "invalid boolean value"},
		{"unknown flag", append([]string{"get", "--tenant", "x"}, conn...), "flag provided but not defined: -tenant"},
		{"unknown output", append([]string{"get", "--output", "yaml"}, conn...), `--output "yaml": want "table" or "json"`},
		{"no token", []string{"get", "--url", front.url()}, "no token: pass --token or set REMOTEASSIST_TOKEN"},
		{"bad URL", []string{"get", "--url", "127.0.0.1:8080/beta", "--token", "x"}, "--url: "},
		{"zero timeout", append([]string{"get", "--timeout", "0s"}, conn...), "--timeout must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t.Context(), tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line containing %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
	if got := front.requests(); len(got) != 0 {
		t.Errorf("requests reached the service: %q", got)
	}
	if got := srv.Settings("t").RemoteAssistanceState; got != client.StateEnabled {
		t.Errorf("state changed to %q", got)
	}
}

// TestServiceErrors checks that what the service refuses prints as one line and exits 1.
func TestServiceErrors(t *testing.T) {
	clearEnv(t)
	srv := remoteassisttest.New(t)
	other := remoteassisttest.New(t)
	withoutBeta := strings.TrimSuffix(srv.URL(), "/beta")
	tests := []struct {
		name       string
		args       []string
		wantCode   string
		wantStatus string
	}{
		{"read-only token on set", []string{"set", "--block-chat=true", "--url", srv.URL(), "--token", srv.Token("t", remoteassisttest.PermissionRead)}, "Forbidden", "403"},
		{"token of another server", []string{"get", "--url", srv.URL(), "--token", other.Token("t")}, "InvalidAuthenticationToken", "401"},
		{"garbage token", []string{"get", "--url", srv.URL(), "--token", "garbage"}, "InvalidAuthenticationToken", "401"},
		{"URL without /beta", []string{"get", "--url", withoutBeta, "--token", srv.Token("t")}, "ResourceNotFound", "404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t.Context(), tc.args...)
			if code != 1 || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
			}
			m := oneErrorLine.FindStringSubmatch(stderr)
			if m == nil || m[1] != tc.wantCode || m[3] != tc.wantStatus {
				t.Errorf("stderr %q, want one line with %s and status %s", stderr, tc.wantCode, tc.wantStatus)
			}
		})
	}
}

// TestUnreachable checks the errors that are not Graph's: still one line, exit 1.
func TestUnreachable(t *testing.T) {
	clearEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/beta"
	ln.Close()
	// A server that never answers. Its handler is released when the test ends: an unread
	// request body keeps the server from noticing that the client went away.
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) }) // runs before Close
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing listening", []string{"get", "--url", closedURL, "--token", "x"}, `is "remoteassist serve" running?`},
		{"no answer in time", []string{"set", "--state", "enabled", "--url", hanging.URL + "/beta", "--token", "x", "--timeout", "200ms"},
			"no answer from " + hanging.URL + "/beta within 200ms (--timeout)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, _, stderr := runCLI(t.Context(), tc.args...)
			if code != 1 || !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 1 and one line containing %q", code, stderr, tc.want)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

func TestEnvironment(t *testing.T) {
	srv := remoteassisttest.New(t)
	srv.Seed("envtenant", client.Settings{BlockChat: true})
	t.Setenv("REMOTEASSIST_URL", srv.URL())
	t.Setenv("REMOTEASSIST_TOKEN", srv.Token("envtenant")+"\n") // as $(remoteassist token) might leave it
	code, stdout, stderr := runCLI(t.Context(), "get", "--output", "json")
	if code != 0 || !strings.Contains(stdout, `"blockChat": true`) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// --token wins over the environment.
	code, _, stderr = runCLI(t.Context(), "get", "--token", "garbage")
	if code != 1 || !strings.Contains(stderr, "InvalidAuthenticationToken") {
		t.Errorf("--token did not override REMOTEASSIST_TOKEN: exit %d, %q", code, stderr)
	}
}

func TestHelp(t *testing.T) {
	t.Setenv("REMOTEASSIST_TOKEN", "secret-token-value")
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"get", "--help"}, []string{"Usage: remoteassist get", "-url", "-token", "-output", "-timeout", "Examples:", "remoteassist get --output json"}},
		{[]string{"set", "-h"}, []string{"Usage: remoteassist set", "-state", "notConfigured, disabled, enabled", "-allow-unenrolled", "-block-chat", "Examples:", "remoteassist set --state enabled --block-chat=true"}},
		{[]string{"help"}, []string{"get ", "set "}},
	}
	for _, tc := range tests {
		code, stdout, stderr := runCLI(t.Context(), tc.args...)
		if code != 0 || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, w, stdout)
			}
		}
		if strings.Count(stdout, "Usage:") != 1 {
			t.Errorf("%v: help printed %d times", tc.args, strings.Count(stdout, "Usage:"))
		}
		if strings.Contains(stdout, "secret-token-value") {
			t.Errorf("%v: help shows the token from the environment", tc.args)
		}
	}
}

// ----- End to end: the binary, as a user types it -----

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// binary builds the command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		if binDir, buildErr = os.MkdirTemp("", "remoteassist-cli-test-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "remoteassist")
		out, err := exec.Command(goTool, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// userEnv is the environment of the commands: the test's, without REMOTEASSIST_* settings,
// with a home of its own so that nothing lands in the real one, plus extra.
func userEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REMOTEASSIST_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_DATA_HOME=") {
			env = append(env, kv)
		}
	}
	return append(append(env, "HOME="+home), extra...)
}

// serve starts "remoteassist serve" on a free loopback port and returns its address and its
// log. It is stopped with SIGINT when the test ends.
func serve(t *testing.T, bin, dataDir string) (addr string, log *testutil.SyncBuffer) {
	t.Helper()
	// serve takes a fixed address: find a free port, free it, and hand it over.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()

	log = &testutil.SyncBuffer{}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data", dataDir)
	cmd.Env = userEnv(t.TempDir())
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("serve did not stop on SIGINT; log:\n%s", log)
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return addr, log
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("serve exited (%v); log:\n%s", err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not healthy after 15s; log:\n%s", log)
		}
	}
}

// result is how a command ended.
type result struct {
	code           int
	stdout, stderr string
}

// runBinary runs the binary with args and env, as a shell would.
func runBinary(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code, stdout.String(), stderr.String()}
}

func TestEndToEnd(t *testing.T) {
	bin := binary(t)
	dataDir := t.TempDir()
	addr, serverLog := serve(t, bin, dataDir)
	home := t.TempDir()

	mint := runBinary(t, bin, userEnv(home), "token", "--data", dataDir, "--tenant", "contoso")
	if mint.code != 0 {
		t.Fatalf("token: exit %d: %s", mint.code, mint.stderr)
	}
	// As in the README: export the URL and the token, then type commands.
	env := userEnv(home, "REMOTEASSIST_URL=http://"+addr+"/beta", "REMOTEASSIST_TOKEN="+strings.TrimSpace(mint.stdout))
	id := remoteassist.SettingsID("contoso")

	r := runBinary(t, bin, env, "get")
	wantTable := "PROPERTY                          VALUE\n" +
		"id                                " + id + "\n" +
		"remoteAssistanceState             notConfigured\n" +
		"allowSessionsToUnenrolledDevices  false\n" +
		"blockChat                         false\n"
	if r.code != 0 || r.stdout != wantTable || r.stderr != "" {
		t.Fatalf("get: exit %d\nstdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	r = runBinary(t, bin, env, "set", "--state", "enabled", "--block-chat=true")
	if r.code != 0 || !strings.Contains(r.stdout, "remoteAssistanceState             enabled\n") ||
		!strings.Contains(r.stdout, "blockChat                         true\n") {
		t.Fatalf("set: exit %d\nstdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	r = runBinary(t, bin, env, "get", "--output", "json")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); r.code != 0 || err != nil {
		t.Fatalf("get --output json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	want := map[string]any{"id": id, "remoteAssistanceState": "enabled", "blockChat": true, "allowSessionsToUnenrolledDevices": false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("get --output json = %v, want %v", got, want)
	}

	// A state outside the enum is refused by the CLI: exit 2, and the server sees nothing.
	// The server batches its log lines (within 50 ms), so wait for the three requests so far
	// (get, set, get) to show: the PATCH's line alone is not enough, the last GET's may come
	// in a later batch.
	waitForLogCount(t, serverLog, "path=/beta/", 3)
	patches, requests := strings.Count(serverLog.String(), "method=PATCH"), strings.Count(serverLog.String(), "path=/beta/")
	if patches != 1 {
		t.Fatalf("server logged %d PATCHes, want 1; the test cannot count them:\n%s", patches, serverLog)
	}
	r = runBinary(t, bin, env, "set", "--state", "on")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, `--state "on": want one of notConfigured, disabled, enabled`) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("set --state on: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// Give a request that should not exist the time to show up in the log (lines are flushed
	// within 50 ms).
	time.Sleep(300 * time.Millisecond)
	if n := strings.Count(serverLog.String(), "path=/beta/"); n != requests {
		t.Errorf("the server logged %d more requests after the refused set", n-requests)
	}

	// A Graph error: one line with the code and the request-id, exit 1.
	readOnly := runBinary(t, bin, userEnv(home), "token", "--data", dataDir, "--tenant", "contoso",
		"--scopes", "DeviceManagementServiceConfig.Read.All")
	r = runBinary(t, bin, env, "set", "--block-chat=false", "--token", strings.TrimSpace(readOnly.stdout))
	m := oneErrorLine.FindStringSubmatch(r.stderr)
	if r.code != 1 || r.stdout != "" || m == nil || m[1] != "Forbidden" || m[3] != "403" {
		t.Fatalf("set with a read-only token: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// The request-id printed is the one the server logged, so support can find the request.
	waitForLog(t, serverLog, m[2])

	// Neither refusal changed anything.
	r = runBinary(t, bin, env, "get", "--output", "json")
	if !strings.Contains(r.stdout, `"remoteAssistanceState": "enabled"`) || !strings.Contains(r.stdout, `"blockChat": true`) {
		t.Errorf("settings changed by a refused command:\n%s", r.stdout)
	}
}

// waitForLog waits until the server's log holds want, failing the test after a few seconds.
func waitForLog(t *testing.T, log *testutil.SyncBuffer, want string) {
	t.Helper()
	waitForLogCount(t, log, want, 1)
}

// waitForLogCount waits until the server's log holds want at least n times, failing the test
// after a few seconds.
func waitForLogCount(t *testing.T, log *testutil.SyncBuffer, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(log.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q never reached the server log %d times:\n%s", want, n, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
