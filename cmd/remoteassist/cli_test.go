package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

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
	for _, name := range []string{"REMOTEASSIST_URL", "REMOTEASSIST_TOKEN", "REMOTEASSIST_CA_FILE"} {
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
				"allowSessionsToUnenrolledDevices  false\n" +
				"blockChat                         false\n" +
				"remoteAssistanceState             notConfigured\n",
			wantSent: []string{"GET "},
			want:     client.Settings{ID: id, RemoteAssistanceState: client.StateNotConfigured},
		},
		{
			name: "get --output json",
			seed: client.Settings{RemoteAssistanceState: client.StateEnabled, BlockChat: true},
			args: []string{"get", "--output", "json"},
			wantStdout: `{
  "allowSessionsToUnenrolledDevices": false,
  "blockChat": true,
  "id": "` + id + `",
  "remoteAssistanceState": "enabled"
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
		{"boolean value after a space", append([]string{"set", "--block-chat", "false"}, conn...), `--block-chat false: a boolean flag takes its value after "=": write --block-chat=false`},
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
			// A context that only keeps a hang from stalling the run: the --timeout is the bound.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			code, _, stderr := runCLI(ctx, tc.args...)
			if code != 1 || !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 1 and one line containing %q", code, stderr, tc.want)
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
	clearServeEnv(t) // the defaults shown come from the environment
	t.Setenv("REMOTEASSIST_TOKEN", "secret-token-value")
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"get", "--help"}, []string{"Usage: remoteassist get", "-url", "-token", "-output", "-timeout", "Examples:", "remoteassist get --output json"}},
		{[]string{"set", "-h"}, []string{"Usage: remoteassist set", "-state", "notConfigured, disabled, enabled", "-allow-unenrolled", "-block-chat", "Examples:", "remoteassist set --state enabled --block-chat=true"}},
		{[]string{"help"}, []string{"serve ", "token ", "get ", "set "}},
		{[]string{"serve", "--help"}, []string{"Usage: remoteassist serve", "-leeway", "0 for none (env REMOTEASSIST_LEEWAY) (default 30s)",
			"-dev-tokens", "(env REMOTEASSIST_DEV_TOKENS)", "0 means the default, a negative number no cap (env REMOTEASSIST_MAX_CONCURRENT)",
			"(env REMOTEASSIST_MAX_CONNECTIONS)", "Examples:"}},
		{[]string{"token", "--help"}, []string{"Usage: remoteassist token --tenant ID", "[--subject ID]", "-subject", "-ttl", "Examples:"}},
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

// TestNoCommand checks that a bare "remoteassist" is a usage error: the usage goes to stderr,
// while asking for help prints it on stdout and succeeds.
func TestNoCommand(t *testing.T) {
	code, stdout, stderr := runCLI(t.Context())
	if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "remoteassist: no command given\n") || !strings.Contains(stderr, "Usage: remoteassist COMMAND") {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", code, stdout, stderr)
	}
	for _, arg := range []string{"help", "-h", "--help"} {
		code, stdout, stderr := runCLI(t.Context(), arg)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage: remoteassist COMMAND") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", arg, code, stdout, stderr)
		}
	}
}

// TestREADMEListsEveryServeFlag: the README's flag tables are written by hand, so this keeps
// them from falling behind serve's flags: every flag serve --help prints appears, as `--name`,
// in a README table row.
func TestREADMEListsEveryServeFlag(t *testing.T) {
	clearEnv(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows strings.Builder
	for line := range strings.Lines(string(readme)) {
		if strings.HasPrefix(line, "| `--") {
			rows.WriteString(line)
		}
	}
	_, stdout, _ := runCLI(t.Context(), "serve", "--help")
	flags := regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllStringSubmatch(stdout, -1)
	if len(flags) < 10 {
		t.Fatalf("found %d flags in serve --help:\n%s", len(flags), stdout)
	}
	for _, f := range flags {
		if !strings.Contains(rows.String(), "`--"+f[1]+"`") {
			t.Errorf("README: no table row lists `--%s`", f[1])
		}
	}
}

// TestConnErrorsNameTheVariable checks that a bad server URL or CA file that came from the
// environment is reported under the variable's name, not a flag the user never typed, and
// under the flag's name when the flag gave it.
func TestConnErrorsNameTheVariable(t *testing.T) {
	clearEnv(t)
	missing := filepath.Join(t.TempDir(), "no-such-ca.pem")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"URL from the environment", map[string]string{"REMOTEASSIST_URL": "127.0.0.1:8080/beta"}, []string{"get", "--token", "x"}, "remoteassist get: REMOTEASSIST_URL: "},
		{"URL from the flag", map[string]string{"REMOTEASSIST_URL": "http://127.0.0.1:1/beta"}, []string{"get", "--token", "x", "--url", "127.0.0.1:8080/beta"}, "remoteassist get: --url: "},
		{"CA file from the environment", map[string]string{"REMOTEASSIST_CA_FILE": missing}, []string{"get", "--token", "x", "--url", "https://127.0.0.1:1/beta"}, "remoteassist get: REMOTEASSIST_CA_FILE " + missing + ": "},
		{"CA file from the flag", nil, []string{"set", "--token", "x", "--url", "https://127.0.0.1:1/beta", "--ca-file", missing, "--block-chat=true"}, "remoteassist set: --ca-file " + missing + ": "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCLI(t.Context(), tc.args...)
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and stderr starting %q", code, stdout, stderr, tc.want)
			}
		})
	}
}
