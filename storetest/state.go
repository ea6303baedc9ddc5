package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/remoteassist/remoteassist"
)

// runState checks what the admin API needs of a store: resetting a tenant, listing every
// tenant, and replacing them all at once, nothing applied when a value is refused.
func runState(t *testing.T, open func(t *testing.T) remoteassist.Store) {
	state := func(t *testing.T) remoteassist.StateStore {
		s, ok := open(t).(remoteassist.StateStore)
		if !ok {
			t.Fatalf("%T is not a remoteassist.StateStore", s)
		}
		return s
	}
	t.Run("Reset", func(t *testing.T) {
		s := state(t)
		mustUpdate(t, s, "reset", remoteassist.Patch{BlockChat: ptr(true)})
		if err := s.ResetSettings(t.Context(), "reset"); err != nil {
			t.Fatal(err)
		}
		if got := mustSettings(t, s, "reset"); got != remoteassist.DefaultSettings("reset") {
			t.Errorf("after a reset: %+v", got)
		}
		if err := s.ResetSettings(t.Context(), "never-wrote"); err != nil {
			t.Errorf("resetting a tenant that never wrote: %v", err)
		}
		mustUpdate(t, s, "back-to-defaults", remoteassist.Patch{BlockChat: ptr(true)})
		mustUpdate(t, s, "back-to-defaults", remoteassist.Patch{BlockChat: ptr(false)})
		all, err := remoteassist.AllSettings(t.Context(), s)
		if err != nil || len(all) != 0 {
			t.Errorf("after every tenant was reset: %v, %v", all, err)
		}
	})
	t.Run("AllAndReplace", func(t *testing.T) {
		s := state(t)
		for i := range 5 {
			mustUpdate(t, s, fmt.Sprint("before-", i), remoteassist.Patch{BlockChat: ptr(true)})
		}
		want := map[string]remoteassist.Settings{}
		for i, v := range oneAwayFromDefault(t, "x") {
			want[fmt.Sprint("after-", i)] = v // IDs are the stores' to derive
		}
		mustReplace(t, s, want, "the replace")
		for tenant, v := range want {
			if v.ID = remoteassist.SettingsID(tenant); mustSettings(t, s, tenant) != v {
				t.Errorf("%s: read %+v, want %+v", tenant, mustSettings(t, s, tenant), v)
			}
		}
		if got := mustSettings(t, s, "before-0"); got != remoteassist.DefaultSettings("before-0") {
			t.Errorf("a tenant the snapshot lacks: %+v", got)
		}
	})
	t.Run("ReplaceMany", func(t *testing.T) {
		// More tenants than one page, node or COPY buffer holds, twice over the same store: the
		// second replace keeps half of the first's tenants, with other settings.
		s := state(t)
		away := oneAwayFromDefault(t, "x")
		for round := range 2 {
			want := map[string]remoteassist.Settings{}
			for i := range 5000 {
				tenant := fmt.Sprintf("tenant-%05d", i+round*2500)
				want[tenant] = away[(i+round)%len(away)]
			}
			mustReplace(t, s, want, fmt.Sprint("replace ", round))
		}
	})
	t.Run("EachInOrder", func(t *testing.T) {
		// The byte order of the ids, whatever the store's collation: upper case before lower,
		// a prefix before what extends it, non-ASCII after ASCII.
		s := state(t)
		want := []string{"B", "Z", "a", "a-1", "a1", "z", "\u00e9t\u00e9"}
		for _, i := range []int{3, 6, 0, 5, 2, 4, 1} {
			mustUpdate(t, s, want[i], remoteassist.Patch{BlockChat: ptr(true)})
		}
		mustUpdate(t, s, "defaults", remoteassist.Patch{BlockChat: ptr(false)}) // left out
		var got []string
		var listed []remoteassist.Settings
		if err := s.EachSettings(t.Context(), func(tenant string, v remoteassist.Settings) error {
			got, listed = append(got, tenant), append(listed, v)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("listed %q, want %q", got, want)
		}
		for i, tenant := range got {
			if read := mustSettings(t, s, tenant); listed[i] != read {
				t.Errorf("%s: listed %+v, read %+v", tenant, listed[i], read)
			}
		}
		stop := errors.New("enough")
		calls := 0
		err := s.EachSettings(t.Context(), func(string, remoteassist.Settings) error {
			calls++
			return stop
		})
		if err != stop || calls != 1 {
			t.Errorf("fn's error: EachSettings returned %v after %d calls, want it after 1", err, calls)
		}
	})
	t.Run("EachPanics", func(t *testing.T) {
		// A panic in fn is its caller's: it reaches the caller as it is, and the store serves on
		// (the embedded store must not take it for damage to its file).
		s := state(t)
		kept := mustUpdate(t, s, "kept", remoteassist.Patch{BlockChat: ptr(true)})
		type callersBug struct{}
		func() {
			defer func() {
				if r := recover(); r != (callersBug{}) {
					t.Errorf("EachSettings's panic: %v, want fn's", r)
				}
			}()
			_ = s.EachSettings(t.Context(), func(string, remoteassist.Settings) error { panic(callersBug{}) })
			t.Error("EachSettings returned after fn panicked")
		}()
		if p, ok := s.(remoteassist.Pinger); ok {
			if err := p.Ping(t.Context()); err != nil {
				t.Errorf("Ping after fn panicked: %v", err)
			}
		}
		if got := mustSettings(t, s, "kept"); got != kept {
			t.Errorf("after fn panicked: %+v, want %+v", got, kept)
		}
		mustUpdate(t, s, "kept", remoteassist.Patch{BlockChat: ptr(false)})
	})
	t.Run("UnkeyableTenant", func(t *testing.T) {
		// A tenant id holding NUL or bytes that are not UTF-8 (the admin API's path can carry
		// both: /admin/tenants/a%00b/settings) is one no store can key alike: PostgreSQL's text
		// holds neither. Every store refuses it as the client's mistake, and changes nothing.
		s := state(t)
		kept := mustUpdate(t, s, "kept", remoteassist.Patch{BlockChat: ptr(true)})
		for _, tenant := range []string{"a\x00b", "\x00", "a\xffb"} {
			refused := func(what string, err error) {
				t.Helper()
				if code := remoteassist.ErrorCode(err); code != remoteassist.EINVALID {
					t.Errorf("%s of tenant %q: error = %v (code %q), want code %q", what, tenant, err, code, remoteassist.EINVALID)
				}
			}
			_, err := s.Settings(t.Context(), tenant)
			refused("Settings", err)
			_, err = s.UpdateSettings(t.Context(), tenant, remoteassist.Patch{BlockChat: ptr(true)})
			refused("UpdateSettings", err)
			refused("ResetSettings", s.ResetSettings(t.Context(), tenant))
			refused("ReplaceAllSettings", s.ReplaceAllSettings(t.Context(), map[string]remoteassist.Settings{
				"fine": remoteassist.DefaultSettings("fine"),
				tenant: remoteassist.DefaultSettings(tenant),
			}))
		}
		all, err := remoteassist.AllSettings(t.Context(), s)
		if err != nil || len(all) != 1 || all["kept"] != kept {
			t.Errorf("refused calls changed the store: %v, %v; want kept alone", all, err)
		}
	})
	t.Run("ReplaceRefused", func(t *testing.T) {
		s := state(t)
		mustUpdate(t, s, "kept", remoteassist.Patch{BlockChat: ptr(true)})
		bad := map[string]remoteassist.Settings{
			"fine": remoteassist.DefaultSettings("fine"),
			"bad":  {RemoteAssistanceState: "on"},
		}
		err := s.ReplaceAllSettings(t.Context(), bad)
		var e *remoteassist.Error
		if !errors.As(err, &e) || e.Code != remoteassist.EINVALID || e.Target != "bad" {
			t.Fatalf("a snapshot with an out-of-contract value: %v", err)
		}
		all, err := remoteassist.AllSettings(t.Context(), s)
		if err != nil || len(all) != 1 || !all["kept"].BlockChat {
			t.Errorf("a refused replace changed the store: %v, %v", all, err)
		}
	})
}

// mustReplace replaces every tenant's settings with want's and fails unless the store then lists
// exactly want's tenants, each with its settings (and the id derived from it).
func mustReplace(t *testing.T, s remoteassist.StateStore, want map[string]remoteassist.Settings, what string) {
	t.Helper()
	if err := s.ReplaceAllSettings(t.Context(), want); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	all, err := remoteassist.AllSettings(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Errorf("after %s, %d tenants stored, want %d", what, len(all), len(want))
	}
	for tenant, v := range want {
		if v.ID = remoteassist.SettingsID(tenant); all[tenant] != v {
			t.Fatalf("after %s, %s listed as %+v, want %+v", what, tenant, all[tenant], v)
		}
	}
}
