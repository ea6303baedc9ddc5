package storetest

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/remoteassist/remoteassist"
)

// testEveryProperty holds a store to every property of remoteassist.Settings, whatever they are:
// for each property, a tenant is written with that property alone away from its default, and
// must read back exactly so. A property added to the domain that a store forgets to keep (a
// record field, a column) fails here, without this test naming it.
func testEveryProperty(t *testing.T, s remoteassist.Store) {
	for i, want := range oneAwayFromDefault(t, "every-property") {
		tenant := fmt.Sprintf("every-property-%d", i)
		want.ID = remoteassist.SettingsID(tenant)
		mustUpdate(t, s, tenant, want.Patch())
		if got := mustSettings(t, s, tenant); got != want {
			t.Errorf("wrote %+v, read back %+v", want, got)
		}
	}
}

// oneAwayFromDefault returns, per settable property of Settings, the defaults with that one
// property changed. It fails the test for a property of a kind it cannot change, so that a new
// kind of property makes the suite say so rather than skip it.
func oneAwayFromDefault(t *testing.T, tenant string) []remoteassist.Settings {
	t.Helper()
	def := remoteassist.DefaultSettings(tenant)
	typ := reflect.TypeOf(def)
	var out []remoteassist.Settings
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "ID" {
			continue // derived from the tenant, not settable
		}
		s := def
		v := reflect.ValueOf(&s).Elem().Field(i)
		switch {
		case f.Type.Kind() == reflect.Bool:
			v.SetBool(!v.Bool())
		case f.Type == reflect.TypeOf(remoteassist.State("")):
			for _, state := range remoteassist.States() {
				if state != def.RemoteAssistanceState {
					v.Set(reflect.ValueOf(state))
				}
			}
		default:
			t.Fatalf("storetest cannot vary Settings.%s of type %s: teach oneAwayFromDefault its values", f.Name, f.Type)
		}
		out = append(out, s)
	}
	return out
}
