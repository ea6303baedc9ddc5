package remoteassist_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/openapi"
)

// TestStatesMatchContract keeps the domain's list of states, used in messages and help texts,
// equal to the contract's enumeration, in the contract's order.
func TestStatesMatchContract(t *testing.T) {
	doc, err := openapi.Shared(remoteassist.ProfileDocumented)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, v := range doc.Components.Schemas["microsoft.graph.remoteAssistanceState"].Value.Enum {
		want = append(want, v.(string))
	}
	var got []string
	for _, s := range remoteassist.States() {
		got = append(got, string(s))
		if !s.Valid() {
			t.Errorf("%q is listed but not valid", s)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("States() = %v, the contract says %v", got, want)
	}
}

func TestPatchValidate(t *testing.T) {
	state := func(s string) *remoteassist.State { v := remoteassist.State(s); return &v }
	yes := true
	cases := []struct {
		name  string
		patch remoteassist.Patch
		cause error
	}{
		{"empty", remoteassist.Patch{}, remoteassist.ErrEmptyPatch},
		{"unknown state", remoteassist.Patch{RemoteAssistanceState: state("on")}, remoteassist.ErrInvalidState},
		{"state in the wrong case", remoteassist.Patch{RemoteAssistanceState: state("Enabled"), BlockChat: &yes}, remoteassist.ErrInvalidState},
		{"valid", remoteassist.Patch{RemoteAssistanceState: state("enabled")}, nil},
		{"one boolean", remoteassist.Patch{BlockChat: &yes}, nil},
	}
	for _, tc := range cases {
		err := tc.patch.Validate()
		if !errors.Is(err, tc.cause) || (tc.cause == nil) != (err == nil) {
			t.Errorf("%s: Validate() = %v, want cause %v", tc.name, err, tc.cause)
		}
		if err != nil && remoteassist.ErrorCode(err) != remoteassist.EINVALID {
			t.Errorf("%s: code %q, want %q", tc.name, remoteassist.ErrorCode(err), remoteassist.EINVALID)
		}
	}
}

func TestSettingsIDIsStableAndDistinct(t *testing.T) {
	a, b := remoteassist.SettingsID("contoso"), remoteassist.SettingsID("fabrikam")
	if a != remoteassist.SettingsID("contoso") || a == b || len(a) != 36 || a[14] != '5' {
		t.Errorf("SettingsID: %q, %q", a, b)
	}
}

func TestSettingsID(t *testing.T) {
	// Stored ids depend on these values: they must never change.
	for tenant, want := range map[string]string{
		"contoso": "7cf033c2-711d-5ec7-8fd5-eb3c046d20fe",
		"":        "390db4bb-7afe-57de-a816-53b933f57abe",
		"ünï":     "edecf509-01ea-58e5-92c9-ce3e0da9086a",
	} {
		if got := remoteassist.SettingsID(tenant); got != want {
			t.Errorf("SettingsID(%q) = %s, want %s", tenant, got, want)
		}
	}
}

// TestProfileStatesMatchContracts keeps each profile's list of states, which the Go client
// checks patches against, equal to the enumeration of that profile's served document.
func TestProfileStatesMatchContracts(t *testing.T) {
	for _, p := range remoteassist.Profiles() {
		doc, err := openapi.Shared(p)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, v := range doc.Components.Schemas["microsoft.graph.remoteAssistanceState"].Value.Enum {
			want = append(want, v.(string))
		}
		var got []string
		for _, s := range p.States() {
			got = append(got, string(s))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: States() = %v, its document says %v", p, got, want)
		}
	}
	if _, err := remoteassist.ParseProfile("Graph"); err == nil {
		t.Error("ParseProfile accepts a name in another casing")
	}
}
