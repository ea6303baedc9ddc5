// Package storetest is the contract every remoteassist.Store must meet, written once so that the
// in-memory, bbolt and PostgreSQL stores are held to exactly the same behaviour.
//
// A store package runs it from an ordinary test:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) remoteassist.Store { return memory.New() })
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/remoteassist/remoteassist"
)

// Run checks the store contract. open is called once per subtest and must return an empty store
// that lives until the subtest ends (register closing with t.Cleanup); a fresh store per subtest
// keeps one failing check from disturbing the others.
func Run(t *testing.T, open func(t *testing.T) remoteassist.Store) {
	t.Run("Defaults", func(t *testing.T) { testDefaults(t, open(t)) })
	t.Run("Merge", func(t *testing.T) { testMerge(t, open(t)) })
	t.Run("EveryState", func(t *testing.T) { testEveryState(t, open(t)) })
	t.Run("EveryProperty", func(t *testing.T) { testEveryProperty(t, open(t)) })
	t.Run("Refused", func(t *testing.T) { testRefused(t, open(t)) })
	t.Run("TenantIsolation", func(t *testing.T) { testTenantIsolation(t, open(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) {
		// One tenant per writer index makes a lost update visible; one shared tenant makes every
		// writer contend for the same record, which is where locking bugs and deadlocks show.
		for _, c := range []struct {
			name   string
			tenant func(k int) string
		}{
			{"TenantPerWriter", func(k int) string { return fmt.Sprintf("concurrent-%03d", k) }},
			{"OneTenant", func(int) string { return "concurrent-shared" }},
		} {
			t.Run(c.name, func(t *testing.T) {
				if err := checkConcurrentUpdates(t.Context(), open(t), 50, c.tenant); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
	t.Run("CancelledContext", func(t *testing.T) { testCancelled(t, open(t)) })
	t.Run("State", func(t *testing.T) { runState(t, open) })
}

func ptr[T any](v T) *T { return &v }

// mustSettings reads a tenant's settings and fails the test on error.
func mustSettings(t *testing.T, s remoteassist.Store, tenant string) remoteassist.Settings {
	t.Helper()
	got, err := s.Settings(t.Context(), tenant)
	if err != nil {
		t.Fatalf("Settings(%q): %v", tenant, err)
	}
	return got
}

// mustUpdate applies a patch, fails the test on error, and checks that the result it returns is
// what a read returns afterwards: the HTTP layer answers a PATCH with the returned value.
func mustUpdate(t *testing.T, s remoteassist.Store, tenant string, p remoteassist.Patch) remoteassist.Settings {
	t.Helper()
	got, err := s.UpdateSettings(t.Context(), tenant, p)
	if err != nil {
		t.Fatalf("UpdateSettings(%q, %s): %v", tenant, describe(p), err)
	}
	if read := mustSettings(t, s, tenant); read != got {
		t.Fatalf("UpdateSettings(%q, %s) returned %+v, but Settings then reads %+v", tenant, describe(p), got, read)
	}
	return got
}

func testDefaults(t *testing.T, s remoteassist.Store) {
	for _, tenant := range []string{"00000000-0000-0000-0000-000000000001", "contoso.onmicrosoft.com", "tenant-ü"} {
		got := mustSettings(t, s, tenant)
		want := remoteassist.Settings{ID: remoteassist.SettingsID(tenant), RemoteAssistanceState: remoteassist.StateNotConfigured}
		if got != want {
			t.Errorf("Settings(%q) of a tenant that never wrote = %+v, want %+v", tenant, got, want)
		}
		// Reading must not change what a later read sees.
		if again := mustSettings(t, s, tenant); again != got {
			t.Errorf("second Settings(%q) = %+v, first was %+v", tenant, again, got)
		}
	}
}

func testMerge(t *testing.T, s remoteassist.Store) {
	const tenant = "merge-tenant"
	id := remoteassist.SettingsID(tenant)
	// The steps run in order against one tenant; each expects the full settings after its patch,
	// so every step also checks that the properties it leaves out kept their values.
	steps := []struct {
		name  string
		patch remoteassist.Patch
		want  remoteassist.Settings
	}{
		{"allow only", remoteassist.Patch{AllowSessionsToUnenrolledDevices: ptr(true)},
			remoteassist.Settings{ID: id, AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: remoteassist.StateNotConfigured}},
		{"state only", remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.StateEnabled)},
			remoteassist.Settings{ID: id, AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: remoteassist.StateEnabled}},
		{"blockChat only", remoteassist.Patch{BlockChat: ptr(true)},
			remoteassist.Settings{ID: id, AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: remoteassist.StateEnabled, BlockChat: true}},
		{"same value again", remoteassist.Patch{BlockChat: ptr(true)},
			remoteassist.Settings{ID: id, AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: remoteassist.StateEnabled, BlockChat: true}},
		{"explicit false", remoteassist.Patch{AllowSessionsToUnenrolledDevices: ptr(false)},
			remoteassist.Settings{ID: id, RemoteAssistanceState: remoteassist.StateEnabled, BlockChat: true}},
		{"two properties", remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.StateDisabled), BlockChat: ptr(false)},
			remoteassist.Settings{ID: id, RemoteAssistanceState: remoteassist.StateDisabled}},
		{"all properties", remoteassist.Patch{AllowSessionsToUnenrolledDevices: ptr(true), RemoteAssistanceState: ptr(remoteassist.StateNotConfigured), BlockChat: ptr(true)},
			remoteassist.Settings{ID: id, AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: remoteassist.StateNotConfigured, BlockChat: true}},
	}
	for _, step := range steps {
		if got := mustUpdate(t, s, tenant, step.patch); got != step.want {
			t.Fatalf("after %q: got %+v, want %+v", step.name, got, step.want)
		}
	}
}

// testEveryState checks that each state of the contract can be stored and read back, so a store
// with its own list of states (a CHECK constraint, a decoder) cannot fall behind the contract.
func testEveryState(t *testing.T, s remoteassist.Store) {
	const tenant = "state-tenant"
	// Go through the states twice so every state is also written over every other.
	for _, state := range append(remoteassist.States(), remoteassist.States()...) {
		got := mustUpdate(t, s, tenant, remoteassist.Patch{RemoteAssistanceState: ptr(state)})
		if got.RemoteAssistanceState != state {
			t.Fatalf("state %q read back as %q", state, got.RemoteAssistanceState)
		}
	}
}

func testRefused(t *testing.T, s remoteassist.Store) {
	const written, fresh = "refused-written", "refused-fresh"
	before := mustUpdate(t, s, written, remoteassist.Patch{AllowSessionsToUnenrolledDevices: ptr(true), RemoteAssistanceState: ptr(remoteassist.StateDisabled), BlockChat: ptr(true)})
	cases := []struct {
		name  string
		patch remoteassist.Patch
	}{
		{"empty patch", remoteassist.Patch{}},
		{"state on", remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.State("on"))}},
		{"state Enabled", remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.State("Enabled"))}},
		{"state empty", remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.State(""))}},
		// A valid property next to an invalid one must not be applied either.
		{"valid and invalid", remoteassist.Patch{BlockChat: ptr(false), RemoteAssistanceState: ptr(remoteassist.State("NOTCONFIGURED"))}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, tenant := range []string{written, fresh} {
				want := mustSettings(t, s, tenant)
				_, err := s.UpdateSettings(t.Context(), tenant, c.patch)
				if code := remoteassist.ErrorCode(err); code != remoteassist.EINVALID {
					t.Fatalf("UpdateSettings(%q, %s) error = %v (code %q), want code %q", tenant, describe(c.patch), err, code, remoteassist.EINVALID)
				}
				// The store must pass Patch.Validate's error on unchanged: its message is what the
				// client sees.
				if got, want := remoteassist.ErrorMessage(err), remoteassist.ErrorMessage(c.patch.Validate()); got != want {
					t.Errorf("error message = %q, want Patch.Validate's %q", got, want)
				}
				if got := mustSettings(t, s, tenant); got != want {
					t.Errorf("a refused patch changed %q: %+v, was %+v", tenant, got, want)
				}
			}
		})
	}
	if got := mustSettings(t, s, written); got != before {
		t.Errorf("after refused patches %q reads %+v, want %+v", written, got, before)
	}
}

func testTenantIsolation(t *testing.T, s remoteassist.Store) {
	const a, b = "tenant-a", "tenant-b"
	gotA := mustUpdate(t, s, a, remoteassist.Patch{AllowSessionsToUnenrolledDevices: ptr(true), RemoteAssistanceState: ptr(remoteassist.StateEnabled)})
	if got := mustSettings(t, s, b); got != remoteassist.DefaultSettings(b) {
		t.Fatalf("writing %q changed %q: %+v", a, b, got)
	}
	gotB := mustUpdate(t, s, b, remoteassist.Patch{BlockChat: ptr(true)})
	if gotA.ID == gotB.ID {
		t.Errorf("tenants %q and %q share the id %q", a, b, gotA.ID)
	}
	if gotB != (remoteassist.Settings{ID: remoteassist.SettingsID(b), RemoteAssistanceState: remoteassist.StateNotConfigured, BlockChat: true}) {
		t.Errorf("%q = %+v: it started from another tenant's settings", b, gotB)
	}
	if got := mustSettings(t, s, a); got != gotA {
		t.Errorf("writing %q changed %q: %+v, was %+v", b, a, got, gotA)
	}
	// Tenants that differ only in case are different tenants: a store must not fold them.
	if got := mustSettings(t, s, "TENANT-A"); got != remoteassist.DefaultSettings("TENANT-A") {
		t.Errorf("TENANT-A reads %+v: the store folded case", got)
	}
}

// checkConcurrentUpdates starts writers goroutines per property, all released at once; writer k of
// every property writes tenant(k). Every writer sets its property away from the default, so at the
// end each tenant written must have all three set. When tenant(k) differs for each k, a tenant has
// exactly one writer per property: if a store lets one update overwrite another (a read-modify-write
// outside the transaction), the lost property stays missing instead of being rewritten by a later
// writer.
func checkConcurrentUpdates(ctx context.Context, s remoteassist.Store, writers int, tenant func(k int) string) error {
	patches := []remoteassist.Patch{
		{AllowSessionsToUnenrolledDevices: ptr(true)},
		{RemoteAssistanceState: ptr(remoteassist.StateEnabled)},
		{BlockChat: ptr(true)},
	}
	start := make(chan struct{})
	errs := make(chan error, writers*len(patches))
	var wg sync.WaitGroup
	for k := range writers {
		for _, p := range patches {
			wg.Go(func() {
				<-start
				got, err := s.UpdateSettings(ctx, tenant(k), p)
				if err != nil {
					errs <- fmt.Errorf("UpdateSettings(%q, %s): %w", tenant(k), describe(p), err)
					return
				}
				// Whatever ran before, the result of an update includes the update itself.
				if p.Apply(got) != got {
					errs <- fmt.Errorf("UpdateSettings(%q, %s) returned %+v, which lacks its own change", tenant(k), describe(p), got)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	want := func(k int) remoteassist.Settings {
		return remoteassist.Settings{ID: remoteassist.SettingsID(tenant(k)), AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: remoteassist.StateEnabled, BlockChat: true}
	}
	for k := range writers {
		if k > 0 && tenant(k) == tenant(k-1) {
			continue // already checked
		}
		got, err := s.Settings(ctx, tenant(k))
		if err != nil {
			all = append(all, fmt.Errorf("Settings(%q): %w", tenant(k), err))
		} else if got != want(k) {
			all = append(all, fmt.Errorf("lost update: %q reads %+v after one update of each property, want %+v", tenant(k), got, want(k)))
		}
	}
	return errors.Join(all...)
}

func testCancelled(t *testing.T, s remoteassist.Store) {
	const tenant = "cancelled-tenant"
	before := mustUpdate(t, s, tenant, remoteassist.Patch{BlockChat: ptr(true)})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Settings(ctx, tenant); !errors.Is(err, context.Canceled) {
		t.Errorf("Settings with a cancelled context: error = %v, want one wrapping context.Canceled", err)
	}
	if _, err := s.UpdateSettings(ctx, tenant, remoteassist.Patch{BlockChat: ptr(false)}); !errors.Is(err, context.Canceled) {
		t.Errorf("UpdateSettings with a cancelled context: error = %v, want one wrapping context.Canceled", err)
	}
	if got := mustSettings(t, s, tenant); got != before {
		t.Errorf("an update with a cancelled context changed the settings: %+v, was %+v", got, before)
	}
}

// describe renders a patch for messages: its fields are pointers, which %+v would print as
// addresses.
func describe(p remoteassist.Patch) string {
	var parts []string
	if v := p.AllowSessionsToUnenrolledDevices; v != nil {
		parts = append(parts, fmt.Sprintf("allowSessionsToUnenrolledDevices=%t", *v))
	}
	if v := p.RemoteAssistanceState; v != nil {
		parts = append(parts, fmt.Sprintf("remoteAssistanceState=%q", string(*v)))
	}
	if v := p.BlockChat; v != nil {
		parts = append(parts, fmt.Sprintf("blockChat=%t", *v))
	}
	return fmt.Sprintf("%v", parts)
}
