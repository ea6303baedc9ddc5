package e2e_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// adminErrorLine is how a Graph error of the admin API reaches the user of remoteassist admin.
var adminErrorLine = regexp.MustCompile(`^error: ([A-Za-z]+): [^\n]+ \(request-id ([0-9a-f-]{36}), status (\d{3})\)\n$`)

// TestAdminCLI drives a real serve --admin-addr --fault-prefer with the binary's admin
// subcommands: the token read from the data directory, seeds the API then serves, fault rules
// the API answers with, the journal and its findings, snapshots, the exit statuses.
func TestAdminCLI(t *testing.T) {
	dataDir := t.TempDir()
	adminAddr := freeAddr(t)
	p := startServeArgs(t, "admin-cli", "--data", dataDir, "--store=memory", "--admin-addr", adminAddr, "--fault-prefer")
	p.waitForLog(t, `msg="admin API"`, 1)
	conn := []string{"--admin-url", "http://" + adminAddr, "--data", dataDir}
	admin := func(wantCode int, args ...string) result {
		t.Helper()
		r := run(t, append(append([]string{"admin"}, args...), conn...)...)
		if r.exitCode != wantCode {
			t.Fatalf("remoteassist admin %s: exit %d, want %d; stdout %q, stderr %q", strings.Join(args, " "), r.exitCode, wantCode, r.stdout, r.stderr)
		}
		return r
	}
	tok := token(t, dataDir, "contoso")

	// State: a seed the API then serves.
	if r := admin(0, "seed", "contoso", "--state", "enabled", "--block-chat=true"); !strings.Contains(r.stdout, "remoteAssistanceState             enabled") {
		t.Errorf("seed printed %q", r.stdout)
	}
	if s := getSettings(t, p.base, tok, "contoso"); s.RemoteAssistanceState != "enabled" || !s.BlockChat {
		t.Errorf("the API after the seed: %+v", s)
	}

	// A fault rule: the next PATCH of contoso is throttled; the client retries at once anyway.
	r := admin(0, "fault", "add", "--tenant", "contoso", "--method", "PATCH", "--status", "429", "--retry-after", "3600", "--times", "1", "--output", "json")
	var rule struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &rule); err != nil || rule.ID == "" {
		t.Fatalf("fault add printed %q (%v)", r.stdout, err)
	}
	res := call(t, http.MethodPatch, p.base+settingsPath, tok, `{"blockChat":false}`)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "3600" {
		t.Errorf("the PATCH under the rule: %d, Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	patchSettings(t, p.base, tok, "contoso", `{"blockChat":false}`)
	if r := admin(0, "fault", "list"); !strings.Contains(r.stdout, "tenant=contoso method=PATCH") || !strings.Contains(r.stdout, "429 Retry-After 3600") {
		t.Errorf("fault list:\n%s", r.stdout)
	}

	// The Prefer header, allowed by --fault-prefer.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, p.base+settingsPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Prefer", "code=503")
	preferred, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	preferred.Body.Close()
	if preferred.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Prefer: code=503 answered %d", preferred.StatusCode)
	}

	// The journal and its findings.
	for _, c := range []struct {
		filter []string
		want   string
	}{
		{[]string{"--tenant", "contoso"}, "4\n"},
		{[]string{"--tenant", "contoso", "--status", "429"}, "1\n"},
		{[]string{"--status", "503"}, "1\n"},
		{[]string{"--method", "PATCH"}, "2\n"},
	} {
		if r := admin(0, append([]string{"journal", "count"}, c.filter...)...); r.stdout != c.want {
			t.Errorf("journal count %v: %q, want %q", c.filter, r.stdout, c.want)
		}
	}
	if r := admin(0, "journal", "--status", "503"); !strings.Contains(r.stdout, "prefer") {
		t.Errorf("the journal does not name the Prefer header as the rule:\n%s", r.stdout)
	}
	if r := admin(0, "findings", "--tenant", "contoso"); !strings.Contains(r.stdout, "retriedBeforeRetryAfter") {
		t.Errorf("findings:\n%s", r.stdout)
	}

	// A snapshot round trip.
	snap := filepath.Join(t.TempDir(), "snap.json")
	admin(0, "snapshot", "export", snap)
	admin(0, "reset", "--all")
	if s := getSettings(t, p.base, tok, "contoso"); s.RemoteAssistanceState != "notConfigured" {
		t.Errorf("after reset --all: %+v", s)
	}
	admin(0, "snapshot", "import", snap)
	if s := getSettings(t, p.base, tok, "contoso"); s.RemoteAssistanceState != "enabled" || s.BlockChat {
		t.Errorf("after the import: %+v", s)
	}

	// Clearing, and what fails: one line, exit 1 for the service's refusals, 2 for usage.
	admin(0, "fault", "delete", rule.ID)
	admin(0, "journal", "clear")
	if r := admin(0, "journal", "count"); r.stdout != "0\n" {
		t.Errorf("after journal clear: %q", r.stdout)
	}
	if r := admin(1, "fault", "delete", rule.ID); adminErrorLine.FindStringSubmatch(r.stderr) == nil || !strings.Contains(r.stderr, "ResourceNotFound") {
		t.Errorf("delete a deleted rule: stderr %q", r.stderr)
	}
	if r := admin(2, "fault", "add", "--status", "418"); r.stderr != "remoteassist admin fault add: --status 418: want one of 429, 500, 502, 503, 504\n" {
		t.Errorf("a status outside the contract: stderr %q", r.stderr)
	}

	// The environment instead of flags, and a wrong token.
	env := []string{"REMOTEASSIST_ADMIN_URL=http://" + adminAddr, "REMOTEASSIST_DATA=" + dataDir}
	if r := runEnv(t, commandTimeout, env, "admin", "get", "contoso", "--output", "json"); r.exitCode != 0 || !strings.Contains(r.stdout, `"remoteAssistanceState": "enabled"`) {
		t.Errorf("admin get from the environment: exit %d, %q, %q", r.exitCode, r.stdout, r.stderr)
	}
	r = runEnv(t, commandTimeout, []string{"REMOTEASSIST_ADMIN_URL=http://" + adminAddr, "REMOTEASSIST_ADMIN_TOKEN=not-the-token"}, "admin", "fault", "clear")
	if m := adminErrorLine.FindStringSubmatch(r.stderr); r.exitCode != 1 || m == nil || m[1] != "InvalidAuthenticationToken" || m[3] != "401" {
		t.Errorf("a wrong token: exit %d, stderr %q", r.exitCode, r.stderr)
	}
}
