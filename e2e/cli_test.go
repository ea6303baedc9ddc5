package e2e_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/remoteassist/remoteassist"
)

// oneErrorLine is how a Graph error must reach the user of the CLI: one line with the code, the
// message, the request-id to quote and the status.
var oneErrorLine = regexp.MustCompile(`^error: ([A-Za-z]+): [^\n]+ \(request-id ([0-9a-f-]{36}), status (\d{3})\)\n$`)

// TestCLISession is the README's session as a user types it: serve on the embedded store,
// mint a token, export the URL and the token, then get and set, including a value the CLI
// refuses itself and one the service refuses.
func TestCLISession(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServe(t, "cli", dataDir, "")
	home := "HOME=" + t.TempDir() // nothing lands in the real home
	env := []string{home, "REMOTEASSIST_URL=" + srv.base + "/beta", "REMOTEASSIST_TOKEN=" + token(t, dataDir, "contoso")}
	cli := func(args ...string) result {
		t.Helper()
		return runEnv(t, commandTimeout, env, args...)
	}
	id := remoteassist.SettingsID("contoso")

	r := cli("get")
	wantTable := "PROPERTY                          VALUE\n" +
		"id                                " + id + "\n" +
		"allowSessionsToUnenrolledDevices  false\n" +
		"blockChat                         false\n" +
		"remoteAssistanceState             notConfigured\n"
	if r.exitCode != 0 || r.stdout != wantTable || r.stderr != "" {
		t.Fatalf("get: exit %d\nstdout:\n%s\nstderr: %s", r.exitCode, r.stdout, r.stderr)
	}

	r = cli("set", "--state", "enabled", "--block-chat=true")
	if r.exitCode != 0 || !strings.Contains(r.stdout, "remoteAssistanceState             enabled\n") ||
		!strings.Contains(r.stdout, "blockChat                         true\n") {
		t.Fatalf("set: exit %d\nstdout:\n%s\nstderr: %s", r.exitCode, r.stdout, r.stderr)
	}

	r = cli("get", "--output", "json")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); r.exitCode != 0 || err != nil {
		t.Fatalf("get --output json: exit %d, %v\n%s%s", r.exitCode, err, r.stdout, r.stderr)
	}
	want := map[string]any{"id": id, "remoteAssistanceState": "enabled", "blockChat": true, "allowSessionsToUnenrolledDevices": false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("get --output json = %v, want %v", got, want)
	}

	// A state outside the enum is refused by the CLI: exit 2, and the server sees nothing. Wait
	// for the three requests so far (get, set, get) to be logged, then count.
	log := srv.waitForLog(t, "path=/beta/", 3)
	requests := strings.Count(log, "path=/beta/")
	if patches := strings.Count(log, "method=PATCH"); patches != 1 {
		t.Fatalf("server logged %d PATCHes, want 1; the test cannot count them:\n%s", patches, log)
	}
	r = cli("set", "--state", "on")
	if r.exitCode != 2 || r.stdout != "" || !strings.Contains(r.stderr, `--state "on": want one of notConfigured, disabled, enabled`) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("set --state on: exit %d, stdout %q, stderr %q", r.exitCode, r.stdout, r.stderr)
	}

	// A Graph error: one line with the code and the request-id, exit 1.
	readOnly := run(t, "token", "--data", dataDir, "--tenant", "contoso", "--scopes", "DeviceManagementServiceConfig.Read.All")
	r = cli("set", "--block-chat=false", "--token", strings.TrimSpace(readOnly.stdout))
	m := oneErrorLine.FindStringSubmatch(r.stderr)
	if r.exitCode != 1 || r.stdout != "" || m == nil || m[1] != "Forbidden" || m[3] != "403" {
		t.Fatalf("set with a read-only token: exit %d, stdout %q, stderr %q", r.exitCode, r.stdout, r.stderr)
	}
	// The request-id printed is the one the server logged, so support can find the request; and
	// that PATCH is the next request the server logged after the refused set, which sent none.
	log = srv.waitForLog(t, m[2], 1)
	if n := strings.Count(log, "path=/beta/"); n != requests+1 {
		t.Errorf("the server logged %d requests since the refused set, want 1 (the forbidden PATCH)", n-requests)
	}

	// Neither refusal changed anything.
	r = cli("get", "--output", "json")
	if !strings.Contains(r.stdout, `"remoteAssistanceState": "enabled"`) || !strings.Contains(r.stdout, `"blockChat": true`) {
		t.Errorf("settings changed by a refused command:\n%s", r.stdout)
	}
}

// TestCLIThrottled: get and set against a serve that throttles the tenant (--throttle) or is
// made to by an admin fault rule say, in one line on stderr with exit status 1, what the service
// asked, whether the CLI retried and gave up or did not wait because of --timeout, and what to
// do.
func TestCLIThrottled(t *testing.T) {
	dataDir := t.TempDir()
	adminAddr := freeAddr(t)
	p := startServeArgs(t, "cli-throttled", "--data", dataDir, "--store=memory", "--throttle", "100,1,1h", "--admin-addr", adminAddr)
	p.waitForLog(t, `msg="admin API"`, 1)
	env := []string{"HOME=" + t.TempDir(), "REMOTEASSIST_URL=" + p.base + "/beta", "REMOTEASSIST_TOKEN=" + token(t, dataDir, "contoso")}
	cli := func(args ...string) result {
		t.Helper()
		return runEnv(t, commandTimeout, env, args...)
	}
	line := regexp.MustCompile(`^error: ([A-Za-z]+): [^\n]+ \(request-id [0-9a-f-]{36}, status (\d{3}); ([^\n)]+)\); ([^\n]+)\n$`)

	// The tenant's one write of the hour, then a second: throttled until the hour is over, far
	// longer than --timeout.
	if r := cli("set", "--block-chat=true"); r.exitCode != 0 {
		t.Fatalf("the first set: exit %d, stderr %q", r.exitCode, r.stderr)
	}
	r := cli("set", "--block-chat=false", "--timeout", "20s")
	m := line.FindStringSubmatch(r.stderr)
	if r.exitCode != 1 || r.stdout != "" || m == nil || m[1] != "TooManyRequests" || m[2] != "429" ||
		!regexp.MustCompile(`^the service asked to wait \d+s, longer than the client waits: not retried$`).MatchString(m[3]) ||
		m[4] != "the wait would outlast --timeout 20s: run the command again once it is over, or with a longer --timeout" {
		t.Errorf("a throttled set: exit %d, stdout %q, stderr %q", r.exitCode, r.stdout, r.stderr)
	}

	// A fault rule: the next four GETs are 503 with Retry-After: 1, which the CLI waits for
	// three times, then gives up.
	if r := run(t, "admin", "fault", "add", "--method", "GET", "--status", "503", "--retry-after", "1", "--times", "4",
		"--admin-url", "http://"+adminAddr, "--data", dataDir); r.exitCode != 0 {
		t.Fatalf("admin fault add: exit %d, stderr %q", r.exitCode, r.stderr)
	}
	r = cli("get")
	m = line.FindStringSubmatch(r.stderr)
	if r.exitCode != 1 || r.stdout != "" || m == nil || m[1] != "ServiceUnavailable" || m[2] != "503" ||
		m[3] != "the service asked to wait 1s: gave up after 3 retries" ||
		m[4] != "the service is still unavailable: run the command again later" {
		t.Errorf("a get the service turned away four times: exit %d, stdout %q, stderr %q", r.exitCode, r.stdout, r.stderr)
	}

	// Neither changed anything: the first set's write stands.
	if r := cli("get", "--output", "json"); r.exitCode != 0 || !strings.Contains(r.stdout, `"blockChat": true`) {
		t.Errorf("get after the refusals: exit %d, stdout %q, stderr %q", r.exitCode, r.stdout, r.stderr)
	}
}
