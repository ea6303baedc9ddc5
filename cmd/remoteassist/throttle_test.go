package main

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

// throttledLine is the line of an answer the CLI stopped retrying: the Graph error as the client
// renders it (code, message, request-id, status, what the service asked and why the client
// stopped), then what to do.
var throttledLine = regexp.MustCompile(`^error: ([A-Za-z]+): [^\n]+ \(request-id [0-9a-f-]{36}, status (\d{3}); ([^\n)]+)\); ([^\n]+)\n$`)

// TestThrottledCall: a get or set the service throttles (429) or turns away (503) says in one
// line what the service asked, whether the CLI retried and gave up or did not wait because of
// --timeout, and what to do; it exits 1 and changes nothing. The service is the emulator, made
// to answer so by fault rules of its control plane.
func TestThrottledCall(t *testing.T) {
	clearEnv(t)
	const tenant = "contoso"
	tests := []struct {
		name        string
		status      models.FaultEffectStatus
		retryAfter  int // seconds
		times       int // requests the rule answers
		args        []string
		wantSent    int    // requests that reached the service
		wantOutcome string // what the client says of its retries
		wantHint    string // what the CLI says to do
	}{
		{"429 asking for more than --timeout", models.FaultEffectStatusN429, 3600, 1,
			[]string{"set", "--block-chat=true", "--timeout", "30s"}, 1,
			"the service asked to wait 3600s, longer than the client waits: not retried",
			"the wait would outlast --timeout 30s: run the command again once it is over, or with a longer --timeout"},
		// 40 s is more than the client waits by default (30 s), but not more than this --timeout:
		// the wait is refused only for the part of --timeout the first request used.
		{"503 asking for more than what is left of --timeout", models.FaultEffectStatusN503, 40, 1,
			[]string{"get", "--timeout", "40s"}, 1,
			"the service asked to wait 40s, past the context's deadline: not retried",
			"the wait would outlast --timeout 40s: run the command again once it is over, or with a longer --timeout"},
		{"429 after every retry", models.FaultEffectStatusN429, 1, 4,
			[]string{"set", "--state", "enabled"}, 4,
			"the service asked to wait 1s: gave up after 3 retries",
			"the tenant is still over its request rate: run the command again later"},
		{"503 after every retry", models.FaultEffectStatusN503, 1, 4,
			[]string{"get"}, 4,
			"the service asked to wait 1s: gave up after 3 retries",
			"the service is still unavailable: run the command again later"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := remoteassisttest.New(t, remoteassisttest.WithControl())
			seeded := client.Settings{RemoteAssistanceState: client.StateDisabled}
			srv.Seed(tenant, seeded)
			if _, err := srv.Control().AddFault(models.FaultRuleSpec{
				Effect: models.FaultEffect{Status: &tc.status, RetryAfter: &tc.retryAfter},
				Times:  &tc.times,
			}); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(t.Context(), append(tc.args, "--url", srv.URL(), "--token", srv.Token(tenant))...)
			m := throttledLine.FindStringSubmatch(stderr)
			if code != 1 || stdout != "" || m == nil {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 1, nothing on stdout and one line of the error", code, stdout, stderr)
			}
			if want := map[models.FaultEffectStatus]string{429: "TooManyRequests", 503: "ServiceUnavailable"}[tc.status]; m[1] != want || m[2] != strconv.Itoa(int(tc.status)) {
				t.Errorf("code %s, status %s; want %s, %d", m[1], m[2], want, tc.status)
			}
			if m[3] != tc.wantOutcome || m[4] != tc.wantHint {
				t.Errorf("stderr %q\nsays %q; %q\nwant %q; %q", stderr, m[3], m[4], tc.wantOutcome, tc.wantHint)
			}
			if n := len(srv.Control().Journal(control.Filter{}, 0)); n != tc.wantSent {
				t.Errorf("%d requests reached the service, want %d", n, tc.wantSent)
			}
			if got := srv.Settings(tenant); got.RemoteAssistanceState != seeded.RemoteAssistanceState || got.BlockChat {
				t.Errorf("stored %+v after the refused call, want %+v", got, seeded)
			}
		})
	}
}
