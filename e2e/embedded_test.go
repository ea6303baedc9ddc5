package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/remoteassist/remoteassist"
)

// property is one settable property as the crash test writes it: each tenant gets it set once,
// from its default to target(i), a value that differs from the default.
type property struct {
	name   string
	body   func(i int) string
	get    func(s remoteassist.Settings) any
	target func(i int) any
	def    any
}

var properties = []property{
	{
		name:   "allowSessionsToUnenrolledDevices",
		body:   func(int) string { return `{"allowSessionsToUnenrolledDevices":true}` },
		get:    func(s remoteassist.Settings) any { return s.AllowSessionsToUnenrolledDevices },
		target: func(int) any { return true },
		def:    false,
	},
	{
		name:   "remoteAssistanceState",
		body:   func(i int) string { return fmt.Sprintf(`{"remoteAssistanceState":%q}`, stateFor(i)) },
		get:    func(s remoteassist.Settings) any { return s.RemoteAssistanceState },
		target: func(i int) any { return stateFor(i) },
		def:    remoteassist.StateNotConfigured,
	},
	{
		name:   "blockChat",
		body:   func(int) string { return `{"blockChat":true}` },
		get:    func(s remoteassist.Settings) any { return s.BlockChat },
		target: func(int) any { return true },
		def:    false,
	},
}

// stateFor varies the state written across tenants, never the default.
func stateFor(i int) remoteassist.State {
	if i%2 == 0 {
		return remoteassist.StateEnabled
	}
	return remoteassist.StateDisabled
}

// writer is one goroutine of the crash test: it owns one property on one lane of tenants and
// PATCHes them in order, one request at a time, so that at any moment at most one of its
// requests is unanswered.
type writer struct {
	lane, prop int
	acked      []remoteassist.Settings // acked[i] is the answer to the 200 PATCH of tenant i
	inFlight   int                     // the tenant whose request got no answer, -1 if none
	err        error                   // why it got none
}

// TestCrashSafetyEmbedded kills the server with SIGKILL while PATCHes stream in and restarts it
// on the same data directory: every PATCH that was answered 200 must be there, every tenant must
// read a valid state, and nothing that was never sent may appear.
//
// Why the check is exact: the writes are monotonic. Each writer owns one property on one lane of
// tenants (crash-L-000, crash-L-001, ...) and walks the lane in order, setting its property from
// the default to a non-default value on each tenant, once. The three writers of a lane (one per
// property) write the same tenants concurrently, so a per-tenant merge that loses an update shows
// too. For writer w, whose last 200 was for tenant a and whose request for tenant a+1 was cut by
// the kill, the restarted store must have w's property set on tenants 0..a, either value on a+1,
// and the default on every tenant after. And every 200 answer showed a state that was committed:
// every property it showed set must still be set after the crash.
func TestCrashSafetyEmbedded(t *testing.T) {
	const (
		lanes   = 4
		perLane = 60
		// The kill comes once this many PATCHes were answered, well before the writers finish.
		killAfter = lanes * perLane * 3 * 2 / 5
	)
	data := t.TempDir()
	tenant := func(lane, i int) string { return fmt.Sprintf("crash-%d-%03d", lane, i) }
	var all []string
	for l := range lanes {
		for i := range perLane {
			all = append(all, tenant(l, i))
		}
	}
	toks := tokens(t, data, all)
	first := startServe(t, "first", data, "")

	var acked atomic.Int64
	var killOnce sync.Once
	kill := func() { killOnce.Do(func() { first.kill(t) }) }
	var writers []*writer
	var wg sync.WaitGroup
	start := make(chan struct{})
	for l := range lanes {
		for p := range properties {
			w := &writer{lane: l, prop: p, inFlight: -1}
			writers = append(writers, w)
			wg.Go(func() {
				<-start
				prop := properties[w.prop]
				for i := range perLane {
					ten := tenant(w.lane, i)
					ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
					res, err := do(ctx, http.MethodPatch, first.base+settingsPath, toks[ten], prop.body(i))
					cancel()
					if err != nil {
						// Killed: the request could not connect or lost its connection.
						w.inFlight, w.err = i, err
						return
					}
					// An answer other than a valid 200 is a bug: the server was alive to send it.
					if res.status != http.StatusOK {
						t.Errorf("PATCH %s of %s: %d %s", prop.body(i), ten, res.status, res.body)
						return
					}
					s, err := parseSettings(ten, res.body)
					if err != nil {
						t.Errorf("PATCH %s of %s: %v", prop.body(i), ten, err)
						return
					}
					w.acked = append(w.acked, s)
					if acked.Add(1) == killAfter {
						kill()
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	kill() // in case the writers finished first, which the checks below report
	t.Logf("%d PATCHes answered 200 before the kill", acked.Load())

	unfinished := 0
	for _, w := range writers {
		prop := properties[w.prop]
		for i, s := range w.acked {
			if got := prop.get(s); got != prop.target(i) {
				t.Errorf("PATCH %s of %s answered %s=%v, want %v", prop.body(i), tenant(w.lane, i), prop.name, got, prop.target(i))
			}
		}
		if len(w.acked) < perLane {
			unfinished++
		}
		if w.inFlight >= 0 {
			t.Logf("writer of %s on lane %d: %d answered, %s cut by the kill: %v", prop.name, w.lane, len(w.acked), tenant(w.lane, w.inFlight), w.err)
		}
	}
	if unfinished == 0 {
		t.Fatal("every writer finished before the kill: the test did not kill mid-stream")
	}

	second := startServe(t, "second", data, "")
	final := map[string]remoteassist.Settings{}
	for _, ten := range all {
		final[ten] = getSettings(t, second.base, toks[ten], ten)
	}
	for _, w := range writers {
		prop := properties[w.prop]
		for i := range perLane {
			ten := tenant(w.lane, i)
			got := prop.get(final[ten])
			switch {
			case i < len(w.acked):
				if got != prop.target(i) {
					t.Errorf("lost after the crash: %s of %s reads %v, but PATCH %s was answered 200", prop.name, ten, got, prop.body(i))
				}
			case i == w.inFlight:
				if got != prop.target(i) && got != prop.def {
					t.Errorf("%s of %s reads %v, neither the default nor the value of the PATCH in flight", prop.name, ten, got)
				}
			default:
				if got != prop.def {
					t.Errorf("%s of %s reads %v, but no PATCH of it was sent", prop.name, ten, got)
				}
			}
		}
		// Whatever a 200 answer showed was committed: a property it showed set is still set.
		for i, s := range w.acked {
			ten := tenant(w.lane, i)
			for _, q := range properties {
				if shown := q.get(s); shown != q.def && q.get(final[ten]) != shown {
					t.Errorf("%s of %s was %v in an answer before the crash and is %v after it", q.name, ten, shown, q.get(final[ten]))
				}
			}
		}
	}
}

// TestSecondServeOnSameDataDir starts a second embedded server on a data directory in use: it
// must exit non-zero with the "in use" message (after its 1s lock timeout; the bound is
// commandTimeout's, which only catches a serve that waits for the lock forever, and asserts no
// speed), and the first must keep serving.
func TestSecondServeOnSameDataDir(t *testing.T) {
	data := t.TempDir()
	first := startServe(t, "first", data, "")
	tok := token(t, data, "contoso")
	patchSettings(t, first.base, tok, "contoso", `{"blockChat":true}`)

	r := run(t, "serve", "--addr", "127.0.0.1:0", "--data", data)
	if r.exitCode == 0 {
		t.Fatalf("a second serve on the same data directory exited 0:\n%s", r.stderr)
	}
	want := fmt.Sprintf("data file %q is in use by another remoteassist process", filepath.Join(data, "settings.db"))
	if !strings.Contains(r.stderr, want) {
		t.Errorf("second serve: stderr %q, want it to say %q", r.stderr, want)
	}
	if s := getSettings(t, first.base, tok, "contoso"); !s.BlockChat {
		t.Errorf("the first server lost its data after the second tried to start: %+v", s)
	}
	patchSettings(t, first.base, tok, "contoso", `{"blockChat":false}`)
}

// TestEmbeddedRestart stops the server cleanly (SIGTERM) and starts it again: the data is there.
func TestEmbeddedRestart(t *testing.T) {
	data := t.TempDir()
	tok := token(t, data, "contoso")
	first := startServe(t, "first", data, "")
	want := patchSettings(t, first.base, tok, "contoso", `{"remoteAssistanceState":"enabled","allowSessionsToUnenrolledDevices":true}`)
	first.stop()
	if code := first.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}
	if fi, err := os.Stat(filepath.Join(data, "settings.db")); err != nil {
		t.Fatalf("the embedded store is not at DATA/settings.db: %v", err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("settings.db has mode %o, want 600", fi.Mode().Perm())
	}
	second := startServe(t, "second", data, "")
	if got := getSettings(t, second.base, tok, "contoso"); got != want {
		t.Errorf("after a restart: %+v, want %+v", got, want)
	}
}
