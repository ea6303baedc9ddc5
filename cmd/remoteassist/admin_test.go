package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/remoteassisttest"
	"github.com/remoteassist/remoteassist/server"
)

// clearAdminEnv keeps the developer's own REMOTEASSIST_* settings out of the test, and points
// the default data directory at an empty one.
func clearAdminEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{"REMOTEASSIST_ADMIN_URL", "REMOTEASSIST_ADMIN_TOKEN", "REMOTEASSIST_URL", "REMOTEASSIST_TOKEN"} {
		t.Setenv(name, "")
	}
	t.Setenv("REMOTEASSIST_DATA", t.TempDir())
}

// adminServer is an emulator with its control plane, and the flags that reach its admin API.
func adminServer(t *testing.T, opts ...remoteassisttest.Option) (*remoteassisttest.Server, []string) {
	t.Helper()
	srv := remoteassisttest.New(t, append([]remoteassisttest.Option{remoteassisttest.WithControl()}, opts...)...)
	return srv, []string{"--admin-url", srv.AdminURL(), "--admin-token", srv.AdminToken()}
}

// withStdin makes "-" read s for the test.
func withStdin(t *testing.T, s string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	t.Cleanup(func() { stdin = old })
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAdminState: get, seed, reset and snapshots, in process against the emulator's admin API.
func TestAdminState(t *testing.T) {
	clearAdminEnv(t)
	id := remoteassist.SettingsID("contoso")
	seedFile := writeFile(t, "contoso.json", `{"remoteAssistanceState":"disabled","allowSessionsToUnenrolledDevices":true}`)
	snapFile := writeFile(t, "snap.json", `{"tenants":{"fabrikam":{"blockChat":true}}}`)
	tests := []struct {
		name       string
		seed       map[string]client.Settings // before the command
		args       []string
		stdin      string
		wantStdout string                     // exact, when set
		wantIn     string                     // in stdout, when set
		want       map[string]client.Settings // after; tenants not named read the defaults
	}{
		{
			name: "get prints a table",
			seed: map[string]client.Settings{"contoso": {RemoteAssistanceState: client.StateEnabled}},
			args: []string{"get", "contoso"},
			wantStdout: "PROPERTY                          VALUE\n" +
				"id                                " + id + "\n" +
				"allowSessionsToUnenrolledDevices  false\n" +
				"blockChat                         false\n" +
				"remoteAssistanceState             enabled\n",
			want: map[string]client.Settings{"contoso": {RemoteAssistanceState: client.StateEnabled}},
		},
		{
			name:       "get --output json, flags after the tenant",
			args:       []string{"get", "contoso", "--output", "json"},
			wantStdout: "{\n  \"allowSessionsToUnenrolledDevices\": false,\n  \"blockChat\": false,\n  \"id\": \"" + id + "\",\n  \"remoteAssistanceState\": \"notConfigured\"\n}\n",
		},
		{
			name:   "seed from flags: what is left out takes its default",
			seed:   map[string]client.Settings{"contoso": {AllowSessionsToUnenrolledDevices: true, BlockChat: true}},
			args:   []string{"seed", "contoso", "--state", "enabled", "--block-chat=true"},
			wantIn: "remoteAssistanceState             enabled",
			want:   map[string]client.Settings{"contoso": {RemoteAssistanceState: client.StateEnabled, BlockChat: true}},
		},
		{
			name: "seed from a file",
			args: []string{"seed", "--file", seedFile, "contoso", "--output=json"},
			want: map[string]client.Settings{"contoso": {RemoteAssistanceState: client.StateDisabled, AllowSessionsToUnenrolledDevices: true}},
		},
		{
			name:  "seed from stdin",
			args:  []string{"seed", "contoso", "--file", "-"},
			stdin: `{"blockChat":true}`,
			want:  map[string]client.Settings{"contoso": {RemoteAssistanceState: client.StateNotConfigured, BlockChat: true}},
		},
		{
			name: "reset a tenant",
			seed: map[string]client.Settings{"contoso": {BlockChat: true}, "fabrikam": {BlockChat: true}},
			args: []string{"reset", "contoso"},
			want: map[string]client.Settings{"fabrikam": {BlockChat: true}},
		},
		{
			name: "reset --all",
			seed: map[string]client.Settings{"contoso": {BlockChat: true}, "fabrikam": {BlockChat: true}},
			args: []string{"reset", "--all"},
		},
		{
			name: "snapshot export to stdout",
			seed: map[string]client.Settings{"contoso": {RemoteAssistanceState: client.StateEnabled}},
			args: []string{"snapshot", "export"},
			wantStdout: `{
  "tenants": {
    "contoso": {
      "allowSessionsToUnenrolledDevices": false,
      "blockChat": false,
      "remoteAssistanceState": "enabled"
    }
  }
}
`,
			want: map[string]client.Settings{"contoso": {RemoteAssistanceState: client.StateEnabled}},
		},
		{
			name: "snapshot import replaces every tenant",
			seed: map[string]client.Settings{"contoso": {BlockChat: true}},
			args: []string{"snapshot", "import", snapFile},
			want: map[string]client.Settings{"fabrikam": {RemoteAssistanceState: client.StateNotConfigured, BlockChat: true}},
		},
		{
			name:  "snapshot import from stdin",
			args:  []string{"snapshot", "import", "-"},
			stdin: `{"tenants":{"contoso":{"allowSessionsToUnenrolledDevices":true}}}`,
			want:  map[string]client.Settings{"contoso": {RemoteAssistanceState: client.StateNotConfigured, AllowSessionsToUnenrolledDevices: true}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, conn := adminServer(t)
			for tenant, s := range tc.seed {
				srv.Seed(tenant, s)
			}
			if tc.stdin != "" {
				withStdin(t, tc.stdin)
			}
			code, stdout, stderr := runCLI(t.Context(), append(append([]string{"admin"}, tc.args...), conn...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if tc.wantStdout != "" && stdout != tc.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tc.wantStdout)
			}
			if !strings.Contains(stdout, tc.wantIn) {
				t.Errorf("stdout:\n%s\nlacks %q", stdout, tc.wantIn)
			}
			for _, tenant := range []string{"contoso", "fabrikam"} {
				want, ok := tc.want[tenant]
				if !ok {
					want = remoteassist.DefaultSettings(tenant)
				}
				if want.RemoteAssistanceState == "" {
					want.RemoteAssistanceState = client.StateNotConfigured
				}
				want.ID = remoteassist.SettingsID(tenant)
				if got := srv.Settings(tenant); got != want {
					t.Errorf("%s: stored %+v, want %+v", tenant, got, want)
				}
			}
			// What seed prints is the settings it stored.
			if strings.Contains(strings.Join(tc.args, " "), "--output=json") {
				var printed client.Settings
				if err := json.Unmarshal([]byte(stdout), &printed); err != nil || printed != srv.Settings("contoso") {
					t.Errorf("printed %q (%v), want %+v", stdout, err, srv.Settings("contoso"))
				}
			}
		})
	}
}

// TestAdminSnapshotRoundTrip: export to a file, change things, import it back.
func TestAdminSnapshotRoundTrip(t *testing.T) {
	clearAdminEnv(t)
	srv, conn := adminServer(t)
	srv.Seed("contoso", client.Settings{RemoteAssistanceState: client.StateEnabled, BlockChat: true})
	srv.Seed("fabrikam", client.Settings{AllowSessionsToUnenrolledDevices: true})
	file := filepath.Join(t.TempDir(), "before.json")
	admin := func(args ...string) {
		t.Helper()
		if code, stdout, stderr := runCLI(t.Context(), append(append([]string{"admin"}, args...), conn...)...); code != 0 || stderr != "" {
			t.Fatalf("admin %v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	admin("snapshot", "export", file)
	// The snapshot holds every tenant's settings: only its owner may read it.
	if fi, err := os.Stat(file); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot file mode %v, want -rw-------", fi.Mode().Perm())
	}
	before := map[string]client.Settings{"contoso": srv.Settings("contoso"), "fabrikam": srv.Settings("fabrikam")}
	admin("reset", "--all")
	admin("seed", "northwind", "--block-chat=true")
	admin("snapshot", "import", file)
	for tenant, want := range before {
		if got := srv.Settings(tenant); got != want {
			t.Errorf("%s after the round trip: %+v, want %+v", tenant, got, want)
		}
	}
	if srv.Settings("northwind").BlockChat {
		t.Error("a tenant the snapshot lacks kept its settings")
	}
}

// TestAdminSnapshotImportLarge: a snapshot import reads stdin as it reads a file, whole: one of
// more than 16 MiB (which stdin was once cut at) is imported either way, up to the admin API's
// own limit, 64 MiB by default; beyond an admin API's limit, its 413 is what the user reads.
func TestAdminSnapshotImportLarge(t *testing.T) {
	clearAdminEnv(t)
	// Whitespace inside the object makes a snapshot of any size that is cheap to build and read.
	snapshot := func(size int) string {
		const head, tail = `{"tenants":{"contoso":{"blockChat":true}}`, `}`
		return head + strings.Repeat(" ", size-len(head)-len(tail)) + tail
	}
	big := snapshot(20 << 20)
	bigFile := writeFile(t, "big.json", big)

	// An admin API whose limit is 1 MiB, as serve --admin-max-body 1048576 has.
	store := memory.New()
	small, err := server.NewAdmin(server.AdminConfig{Store: store, Control: control.New(control.Options{}),
		Token: "0123456789abcdef0123", MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	smallTS := httptest.NewServer(small)
	t.Cleanup(smallTS.Close)
	smallConn := []string{"--admin-url", smallTS.URL, "--admin-token", "0123456789abcdef0123"}
	over := snapshot(2 << 20)

	tests := []struct {
		name     string
		file     string // "-": stdin
		stdin    string
		small    bool // against the admin API of 1 MiB
		wantCode int
	}{
		{name: "20 MB from stdin", file: "-", stdin: big},
		{name: "20 MB from a file", file: bigFile},
		{name: "2 MiB from stdin over a limit of 1 MiB", file: "-", stdin: over, small: true, wantCode: 1},
		{name: "2 MiB from a file over a limit of 1 MiB", file: writeFile(t, "over.json", over), small: true, wantCode: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, conn := adminServer(t)
			if tc.small {
				conn = smallConn
			}
			if tc.stdin != "" {
				withStdin(t, tc.stdin)
			}
			code, stdout, stderr := runCLI(t.Context(), append([]string{"admin", "snapshot", "import", tc.file}, conn...)...)
			if code != tc.wantCode || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d", code, stdout, stderr, tc.wantCode)
			}
			if tc.wantCode == 0 {
				if stderr != "" || !srv.Settings("contoso").BlockChat {
					t.Errorf("stderr %q, contoso %+v; want the snapshot imported", stderr, srv.Settings("contoso"))
				}
				return
			}
			if m := oneErrorLine.FindStringSubmatch(stderr); m == nil || m[1] != "RequestEntityTooLarge" || m[3] != "413" {
				t.Errorf("stderr %q, want one line with the admin API's RequestEntityTooLarge, status 413", stderr)
			}
			if got, _ := remoteassist.AllSettings(t.Context(), store); len(got) != 0 {
				t.Errorf("a refused import changed the store: %v", got)
			}
		})
	}
}

// TestAdminFaultAdd: the flags become the rule the control plane holds.
func TestAdminFaultAdd(t *testing.T) {
	clearAdminEnv(t)
	tests := []struct {
		name string
		args []string
		want string // the rule spec, as JSON
	}{
		{"a 429 for one PATCH of a tenant", []string{"--tenant", "contoso", "--method", "patch", "--status", "429", "--retry-after", "2", "--times", "1"},
			`{"effect":{"retryAfter":2,"status":429},"match":{"method":"PATCH","tenant":"contoso"},"times":1}`},
		{"a 503 without Retry-After, drawn", []string{"--status", "503", "--no-retry-after", "--probability", "0.25", "--seed", "7"},
			`{"effect":{"omitRetryAfter":true,"status":503},"probability":0.25,"seed":7}`},
		{"a delay range alone", []string{"--app", "job", "--operation", "deviceManagement.GetRemoteAssistanceSettings", "--delay-ms", "100-250"},
			`{"effect":{"delayMs":{"max":250,"min":100}},"match":{"app":"job","operation":"deviceManagement.GetRemoteAssistanceSettings"}}`},
		{"a fixed delay, then a 504", []string{"--delay-ms", "40", "--status", "504"},
			`{"effect":{"delayMs":{"min":40},"status":504}}`},
		{"a dropped connection", []string{"--drop", "--times", "3"},
			`{"effect":{"drop":true},"times":3}`},
		// The contract's largest seeds either way arrive exactly, not as the float64 nearest.
		{"the largest seed", []string{"--status", "500", "--probability", "0.5", "--seed", "9007199254740991"},
			`{"effect":{"status":500},"probability":0.5,"seed":9007199254740991}`},
		{"the smallest seed", []string{"--status", "500", "--probability", "0.5", "--seed", "-9007199254740991"},
			`{"effect":{"status":500},"probability":0.5,"seed":-9007199254740991}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, conn := adminServer(t)
			code, stdout, stderr := runCLI(t.Context(), append(append([]string{"admin", "fault", "add", "--output", "json"}, tc.args...), conn...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			rules := srv.Control().Faults()
			if len(rules) != 1 {
				t.Fatalf("rules %+v", rules)
			}
			r := rules[0]
			got, _ := json.Marshal(models.FaultRuleSpec{Match: r.Match, Effect: r.Effect, Times: r.Times, Probability: r.Probability, Seed: r.Seed})
			if string(got) != tc.want {
				t.Errorf("rule %s, want %s", got, tc.want)
			}
			var printed models.FaultRule
			if err := json.Unmarshal([]byte(stdout), &printed); err != nil || printed.Id != r.Id {
				t.Errorf("printed %q (%v), want the rule %s", stdout, err, r.Id)
			}
		})
	}
}

// TestAdminFaultListDeleteClear, and a rule the CLI added answering the API's requests.
func TestAdminFaultListDeleteClear(t *testing.T) {
	clearAdminEnv(t)
	srv, conn := adminServer(t)
	admin := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t.Context(), append(append([]string{"admin"}, args...), conn...)...)
		if code != 0 || stderr != "" {
			t.Fatalf("admin %v: exit %d, stderr %q", args, code, stderr)
		}
		return stdout
	}
	out := admin("fault", "add", "--tenant", "contoso", "--method", "GET", "--status", "503", "--retry-after", "9", "--times", "1")
	if want := "ID  MATCH                      EFFECT             TIMES  FIRED  LEFT  PROBABILITY  SEED\n" +
		"1   tenant=contoso method=GET  503 Retry-After 9  1      0      1     -            -\n"; out != want {
		t.Errorf("fault add printed:\n%s\nwant:\n%s", out, want)
	}
	admin("fault", "add", "--delay-ms", "1-3", "--probability", "0.5")
	admin("fault", "add", "--drop", "--app", "nobody")
	_, err := srv.Client("contoso", client.WithRetry(0, 0, 0)).Get(t.Context())
	var e *client.Error
	if !client.IsUnavailable(err) || !errors.As(err, &e) || e.RetryAfter != 9*time.Second {
		t.Errorf("GET under the rule: %v, want 503 with Retry-After 9", err)
	}
	out = admin("fault", "list")
	for _, want := range []string{"tenant=contoso method=GET  503 Retry-After 9  1      1      0", "any", "delay 1-3ms", "0.5", "app=nobody", "drop"} {
		if !strings.Contains(out, want) {
			t.Errorf("fault list lacks %q:\n%s", want, out)
		}
	}
	var list models.FaultRules
	if err := json.Unmarshal([]byte(admin("fault", "list", "--output", "json")), &list); err != nil || len(list.Rules) != 3 || list.Rules[0].Fired != 1 {
		t.Errorf("fault list --output json: %+v, %v", list, err)
	}
	admin("fault", "delete", "2")
	if rules := srv.Control().Faults(); len(rules) != 2 || rules[0].Id != "1" || rules[1].Id != "3" {
		t.Errorf("after delete 2: %+v", rules)
	}
	admin("fault", "clear")
	if rules := srv.Control().Faults(); len(rules) != 0 {
		t.Errorf("after clear: %+v", rules)
	}
}

// TestAdminJournalAndFindings: requests made through the API, read back with the filters.
func TestAdminJournalAndFindings(t *testing.T) {
	clearAdminEnv(t)
	srv, conn := adminServer(t)
	jobTok := srv.Mint(jwtauth.TokenSpec{Tenant: "contoso", App: "job", Scopes: []string{remoteassisttest.PermissionReadWrite}})
	job, err := client.New(srv.URL(), client.WithToken(jobTok), client.WithRetry(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	// The job retries a throttled PATCH at once, then sends the same PATCH again; fabrikam reads.
	if _, err := srv.Control().AddFault(models.FaultRuleSpec{Match: &models.FaultMatch{App: ptrTo("job")},
		Effect: models.FaultEffect{Status: ptrTo(models.FaultEffectStatusN429), RetryAfter: ptrTo(3600)}, Times: ptrTo(1)}); err != nil {
		t.Fatal(err)
	}
	patch := client.Patch{BlockChat: client.Ptr(true)}
	if _, err := job.Update(t.Context(), patch); !client.IsThrottled(err) {
		t.Fatalf("first PATCH: %v, want 429", err)
	}
	for range 2 {
		if _, err := job.Update(t.Context(), patch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Client("fabrikam").Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	admin := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := runCLI(t.Context(), append(append([]string{"admin"}, args...), conn...)...)
		if code != 0 || stderr != "" {
			t.Fatalf("admin %v: exit %d, stderr %q", args, code, stderr)
		}
		return stdout
	}
	counts := []struct {
		filter []string
		want   string
	}{
		{nil, "4\n"},
		{[]string{"--tenant", "contoso"}, "3\n"},
		{[]string{"--app", "job", "--status", "429"}, "1\n"},
		{[]string{"--method", "patch"}, "3\n"},
		{[]string{"--operation", "deviceManagement.GetRemoteAssistanceSettings"}, "1\n"},
		{[]string{"--since", "1h"}, "4\n"},
		{[]string{"--until", "2000-01-01T00:00:00Z"}, "0\n"},
		{[]string{"--tenant", ""}, "0\n"},
	}
	for _, c := range counts {
		if got := admin(append([]string{"journal", "count"}, c.filter...)...); got != c.want {
			t.Errorf("journal count %v: %q, want %q", c.filter, got, c.want)
		}
	}
	if got := admin("journal", "count", "--tenant", "contoso", "--output", "json"); got != "{\n  \"count\": 3\n}\n" {
		t.Errorf("journal count --output json: %q", got)
	}
	out := admin("journal", "--tenant", "contoso")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], "job") || !strings.Contains(lines[1], " 429 ") ||
		!strings.Contains(lines[1], "3600") || !strings.Contains(lines[2], "blockChat") {
		t.Errorf("journal --tenant contoso:\n%s", out)
	}
	var entries models.JournalEntries
	if err := json.Unmarshal([]byte(admin("journal", "--limit", "1", "--output", "json")), &entries); err != nil ||
		len(entries.Entries) != 1 || entries.Entries[0].Tenant == nil || *entries.Entries[0].Tenant != "fabrikam" {
		t.Errorf("journal --limit 1: %+v, %v; want the newest, fabrikam's", entries, err)
	}
	out = admin("findings", "--app", "job")
	if !strings.Contains(out, "retriedBeforeRetryAfter") || !strings.Contains(out, "duplicatePatch") || strings.Count(out, "\n") != 3 {
		t.Errorf("findings --app job:\n%s", out)
	}
	var findings models.Findings
	if err := json.Unmarshal([]byte(admin("findings", "--tenant", "fabrikam", "--output", "json")), &findings); err != nil || len(findings.Findings) != 0 {
		t.Errorf("findings --tenant fabrikam: %+v, %v", findings, err)
	}
	admin("journal", "clear")
	if n := srv.Control().Count(control.Filter{}); n != 0 {
		t.Errorf("after journal clear: %d entries", n)
	}
}

func ptrTo[T any](v T) *T { return &v }

// countingServer counts the requests that reach it, and answers each with a 500.
func countingServer(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(ts.Close)
	return ts.URL, &n
}

// TestAdminRefusedBeforeSending: every mistake exits 2 with one line naming the subcommand and
// what to fix, and no request is made.
func TestAdminRefusedBeforeSending(t *testing.T) {
	clearAdminEnv(t)
	url, requests := countingServer(t)
	conn := []string{"--admin-url", url, "--admin-token", "a-token-for-the-tests"}
	notJSON := writeFile(t, "bad.json", "{not json")
	notSnapshot := writeFile(t, "array.json", `{"contoso":{"blockChat":true}}`)
	long := strings.Repeat("x", 257)
	tests := []struct {
		name string
		args []string
		conn bool // append conn
		want string
	}{
		{"no subcommand", []string{}, false, "no subcommand given"},
		{"unknown subcommand", []string{"frobnicate"}, false, `unknown subcommand "frobnicate"`},
		{"group without subcommand", []string{"fault"}, false, "fault needs a subcommand: add, list, delete, clear"},
		{"unknown subcommand of a group", []string{"snapshot", "save"}, false, `unknown subcommand "save" of snapshot: want export, import`},
		{"get without a tenant", []string{"get"}, true, "get: TENANT is required"},
		{"get with two tenants", []string{"get", "a", "b"}, true, `unexpected argument "b"`},
		{"get an empty tenant", []string{"get", ""}, true, `TENANT "": want at least 1 character(s)`},
		{"get a tenant too long", []string{"get", long}, true, "want at most 256 characters"},
		{"unknown output", []string{"get", "contoso", "--output", "yaml"}, true, `--output "yaml": want "table" or "json"`},
		{"unknown flag", []string{"journal", "--colour"}, true, "flag provided but not defined: -colour"},
		{"seed nothing", []string{"seed", "contoso"}, true, "nothing to seed: give at least one of --allow-unenrolled, --block-chat, --state, or --file FILE"},
		{"seed a state outside the enum", []string{"seed", "contoso", "--state", "on"}, true, `--state "on": want one of notConfigured, disabled, enabled`},
		{"seed a boolean that is not one", []string{"seed", "contoso", "--block-chat=maybe"}, true, "invalid boolean value"},
		{"journal since after until", []string{"journal", "--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"}, true, `--since "2026-01-02T00:00:00Z" is later than --until "2026-01-01T00:00:00Z"`},
		{"journal since after until, as durations", []string{"journal", "--since", "5m", "--until", "10m"}, true, "is later than --until"},
		{"seed a boolean written with a space", []string{"seed", "--block-chat", "false"}, true, "--block-chat false: a boolean flag takes its value after \"=\": write --block-chat=false"},
		{"seed a boolean written with a space after the tenant", []string{"seed", "contoso", "--allow-unenrolled", "true"}, true, "write --allow-unenrolled=true"},
		{"seed flags and a file", []string{"seed", "contoso", "--state", "enabled", "--file", notJSON}, true, "--file and --allow-unenrolled, --block-chat, --state: give one or the other"},
		{"seed a missing file", []string{"seed", "contoso", "--file", "/nonexistent/x.json"}, true, "--file /nonexistent/x.json: no such file or directory"},
		{"seed a file that is not JSON", []string{"seed", "contoso", "--file", notJSON}, true, "not a JSON object"},
		{"reset nothing", []string{"reset"}, true, "give a TENANT to reset, or --all"},
		{"reset a tenant and --all", []string{"reset", "contoso", "--all"}, true, "a TENANT and --all: give one or the other"},
		{"import without a file", []string{"snapshot", "import"}, true, "FILE is required"},
		{"import what is not a snapshot", []string{"snapshot", "import", notSnapshot}, true, "not a snapshot"},
		{"export to two files", []string{"snapshot", "export", "a", "b"}, true, `unexpected argument "b"`},
		{"fault with no effect", []string{"fault", "add", "--tenant", "contoso"}, true, "nothing to inject: give --status, --drop or --delay-ms"},
		{"fault status outside the enum", []string{"fault", "add", "--status", "418"}, true, "--status 418: want one of 429, 500, 502, 503, 504"},
		{"fault drop with a status", []string{"fault", "add", "--drop", "--status", "503"}, true, "--drop and --status: a dropped connection has no status"},
		{"fault both Retry-After flags", []string{"fault", "add", "--status", "429", "--retry-after", "1", "--no-retry-after"}, true, "--retry-after and --no-retry-after: give one or the other"},
		{"fault Retry-After without status", []string{"fault", "add", "--delay-ms", "5", "--retry-after", "1"}, true, "go with --status"},
		{"fault Retry-After too long", []string{"fault", "add", "--status", "429", "--retry-after", "3601"}, true, "--retry-after 3601: want 1 to 3600"},
		{"fault delay not a number", []string{"fault", "add", "--delay-ms", "soon"}, true, `--delay-ms "soon": want MIN or MIN-MAX milliseconds`},
		{"fault delay range backwards", []string{"fault", "add", "--delay-ms", "50-10"}, true, `--delay-ms "50-10": MAX is below MIN`},
		{"fault delay too long", []string{"fault", "add", "--delay-ms", "60001"}, true, "--delay-ms 60001: want 0 to 60000"},
		{"fault probability above 1", []string{"fault", "add", "--status", "500", "--probability", "1.5"}, true, "--probability 1.5: want 0 to 1"},
		{"fault probability not a number", []string{"fault", "add", "--status", "500", "--probability", "NaN"}, true, "--probability NaN: want 0 to 1"},
		{"fault probability infinite", []string{"fault", "add", "--status", "500", "--probability", "-Inf"}, true, "--probability -Inf: want 0 to 1"},
		{"fault times zero", []string{"fault", "add", "--status", "500", "--times", "0"}, true, "--times 0: want 1 to 1000000"},
		// A refused number is shown as typed: past 2^53 a float64 would show its neighbour.
		{"fault seed past 2^53", []string{"fault", "add", "--status", "500", "--seed", "9007199254740993"}, true,
			"--seed 9007199254740993: want -9007199254740991 to 9007199254740991"},
		{"fault seed below -2^53", []string{"fault", "add", "--status", "500", "--seed", "-9007199254740993"}, true,
			"--seed -9007199254740993: want -9007199254740991 to 9007199254740991"},
		{"fault seed past int64", []string{"fault", "add", "--status", "500", "--seed", "18446744073709551615"}, true,
			"--seed 18446744073709551615: want -9007199254740991 to 9007199254740991"},
		{"fault seed far below int64", []string{"fault", "add", "--status", "500", "--seed", "-99999999999999999999999"}, true,
			"--seed -99999999999999999999999: want -9007199254740991 to 9007199254740991"},
		{"fault seed in hexadecimal past 2^53", []string{"fault", "add", "--status", "500", "--seed", "0x20000000000001"}, true,
			"--seed 0x20000000000001: want -9007199254740991 to 9007199254740991"},
		{"fault seed not a number", []string{"fault", "add", "--status", "500", "--seed", "seven"}, true, `invalid value "seven" for flag -seed`},
		{"fault times past 2^53", []string{"fault", "add", "--status", "500", "--times", "9007199254740993"}, true, "--times 9007199254740993: "},
		{"fault delay past 2^53", []string{"fault", "add", "--delay-ms", "9007199254740993"}, true, "--delay-ms 9007199254740993: "},
		{"fault of an empty tenant", []string{"fault", "add", "--status", "500", "--tenant", ""}, true, `--tenant "": want at least 1 character(s)`},
		{"fault method outside the enum", []string{"fault", "add", "--status", "500", "--method", "delete"}, true, `--method "DELETE": want one of GET, PATCH`},
		{"fault operation unknown", []string{"fault", "add", "--status", "500", "--operation", "get"}, true, `--operation "get": want one of deviceManagement.GetRemoteAssistanceSettings`},
		{"fault add with an argument", []string{"fault", "add", "503"}, true, `unexpected argument "503"`},
		{"fault delete without an id", []string{"fault", "delete"}, true, "ID is required"},
		{"fault delete an id too long", []string{"fault", "delete", strings.Repeat("9", 65)}, true, "want at most 64 characters"},
		{"journal status out of range", []string{"journal", "--status", "600"}, true, "--status 600: want 0 to 599"},
		{"journal limit zero", []string{"journal", "--limit", "0"}, true, "--limit 0: want 1 to 10000"},
		{"journal since not a time", []string{"journal", "count", "--since", "yesterday"}, true, `--since "yesterday": want a time such as`},
		{"journal unknown operation", []string{"journal", "count", "--operation", "x"}, true, `--operation "x": want one of`},
		{"findings tenant too long", []string{"findings", "--tenant", long}, true, "want at most 256 characters"},
		{"zero timeout", []string{"fault", "list", "--timeout", "0s"}, true, "--timeout must be positive"},
		{"URL without a scheme", []string{"fault", "list", "--admin-url", "127.0.0.1:8081", "--admin-token", "x"}, false, `--admin-url "127.0.0.1:8081": want http://HOST:PORT`},
		{"token and data directory", []string{"fault", "list", "--admin-url", url, "--admin-token", "x", "--data", t.TempDir()}, false, "--admin-token and --data: give one"},
		{"data directory without a token file", []string{"fault", "list", "--admin-url", url, "--data", "/nonexistent"}, false, "--data /nonexistent: no admin-token file there"},
		{"no token anywhere", []string{"fault", "list", "--admin-url", url}, false, "no admin token: pass --admin-token, set REMOTEASSIST_ADMIN_TOKEN, or pass --data DIR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"admin"}, tc.args...)
			if tc.conn {
				args = append(args, conn...)
			}
			code, stdout, stderr := runCLI(t.Context(), args...)
			if code != 2 || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
			}
			if !strings.HasPrefix(stderr, "remoteassist admin") || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line containing %q", stderr, tc.want)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the admin API", n)
	}
}

// TestAdminServiceErrors: what the admin API refuses prints as one line and exits 1; so do the
// failures that are not its answers.
func TestAdminServiceErrors(t *testing.T) {
	clearAdminEnv(t)
	srv, conn := adminServer(t)
	invalidSeed := writeFile(t, "seed.json", `{"remoteAssistanceState":"on"}`)
	invalidSnap := writeFile(t, "snap.json", `{"tenants":{"contoso":{"blockChat":"yes"}}}`)
	tests := []struct {
		name       string
		args       []string
		wantCode   string
		wantStatus string
	}{
		{"a wrong admin token", []string{"get", "contoso", "--admin-url", srv.AdminURL(), "--admin-token", "not-the-admin-token"}, "InvalidAuthenticationToken", "401"},
		{"an API token is no admin token", []string{"fault", "list", "--admin-url", srv.AdminURL(), "--admin-token", srv.Token("contoso")}, "InvalidAuthenticationToken", "401"},
		{"delete a rule that is not there", append([]string{"fault", "delete", "42"}, conn...), "ResourceNotFound", "404"},
		{"seed a file with a value out of the contract", append([]string{"seed", "contoso", "--file", invalidSeed}, conn...), "BadRequest", "400"},
		{"import a snapshot with a value out of the contract", append([]string{"snapshot", "import", invalidSnap}, conn...), "BadRequest", "400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t.Context(), append([]string{"admin"}, tc.args...)...)
			if code != 1 || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
			}
			m := oneErrorLine.FindStringSubmatch(stderr)
			if m == nil || m[1] != tc.wantCode || m[3] != tc.wantStatus {
				t.Errorf("stderr %q, want one line with %s and status %s", stderr, tc.wantCode, tc.wantStatus)
			}
		})
	}
	if got := srv.Settings("contoso"); got.RemoteAssistanceState != client.StateNotConfigured || got.BlockChat {
		t.Errorf("a refused request changed the store: %+v", got)
	}

	// Nothing listening, and a server that never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })
	bodiless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok"))
	}))
	t.Cleanup(bodiless.Close)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing listening", []string{"fault", "list", "--admin-url", closedURL, "--admin-token", "x"}, `is "remoteassist serve --admin-addr" running?`},
		{"no answer in time", []string{"journal", "--admin-url", hanging.URL, "--admin-token", "x", "--timeout", "200ms"}, "no answer from " + hanging.URL + " within 200ms (--timeout)"},
		{"an answer without its body", []string{"snapshot", "export", "--admin-url", bodiless.URL, "--admin-token", "x"}, "the admin API at " + bodiless.URL + " answered 200 without the JSON body of its contract: ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			code, _, stderr := runCLI(ctx, append([]string{"admin"}, tc.args...)...)
			if code != 1 || !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 1 and one line containing %q", code, stderr, tc.want)
			}
		})
	}
}

// TestAdminTokenSources: the token from the flag, the environment, or the data directory's
// admin-token file, explicit or the default; the URL from the environment.
func TestAdminTokenSources(t *testing.T) {
	clearAdminEnv(t)
	srv, _ := adminServer(t)
	srv.Seed("contoso", client.Settings{BlockChat: true})
	withToken := t.TempDir()
	if err := os.WriteFile(filepath.Join(withToken, adminTokenFile), []byte(srv.AdminToken()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"--admin-token", nil, []string{"--admin-token", srv.AdminToken()}},
		{"REMOTEASSIST_ADMIN_TOKEN", map[string]string{"REMOTEASSIST_ADMIN_TOKEN": srv.AdminToken()}, nil},
		{"--data DIR", nil, []string{"--data", withToken}},
		{"--data wins over a wrong REMOTEASSIST_ADMIN_TOKEN", map[string]string{"REMOTEASSIST_ADMIN_TOKEN": "wrong"}, []string{"--data", withToken}},
		{"REMOTEASSIST_DATA", map[string]string{"REMOTEASSIST_DATA": withToken}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("REMOTEASSIST_ADMIN_URL", srv.AdminURL())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCLI(t.Context(), append([]string{"admin", "get", "contoso", "--output", "json"}, tc.args...)...)
			if code != 0 || !strings.Contains(stdout, `"blockChat": true`) {
				t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
		})
	}
}

// TestAdminHelp: each subcommand's help, with its flags and examples, never the token.
func TestAdminHelp(t *testing.T) {
	clearAdminEnv(t)
	t.Setenv("REMOTEASSIST_ADMIN_TOKEN", "secret-admin-token-value")
	code, stdout, stderr := runCLI(t.Context(), "admin", "--help")
	if code != 0 || stderr != "" {
		t.Fatalf("admin --help: exit %d, stderr %q", code, stderr)
	}
	for _, s := range adminSubcommands() {
		if !strings.Contains(stdout, "  "+s.name+" ") {
			t.Errorf("admin --help lacks %q:\n%s", s.name, stdout)
		}
		code, stdout, stderr := runCLI(t.Context(), append(append([]string{"admin"}, strings.Fields(s.name)...), "--help")...)
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: remoteassist admin "+s.name) || !strings.Contains(stdout, "Examples:") ||
			!strings.Contains(stdout, "-admin-url") || strings.Count(stdout, "Usage:") != 1 {
			t.Errorf("admin %s --help: exit %d, stderr %q:\n%s", s.name, code, stderr, stdout)
		}
		if strings.Contains(stdout, "secret-admin-token-value") {
			t.Errorf("admin %s --help shows the token", s.name)
		}
	}
	code, stdout, _ = runCLI(t.Context(), "admin", "fault", "--help")
	if code != 0 || !strings.Contains(stdout, "fault add") || strings.Contains(stdout, "journal count") {
		t.Errorf("admin fault --help: exit %d:\n%s", code, stdout)
	}
	if code, stdout, _ := runCLI(t.Context(), "help"); code != 0 || !strings.Contains(stdout, "admin ") {
		t.Errorf("help does not list admin:\n%s", stdout)
	}
}
