package ordinal

import "testing"

func TestEqualIgnoreCase(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"blockChat", "blockChat", true},
		{"blockChat", "BLOCKCHAT", true},
		{"remoteAssistanceState", "remoteassistancestate", true},
		{"blockChat", "blockChats", false},
		{"", "", true},
		{"", "a", false},
		{"bloc\u212aChat", "blockChat", false}, // the Kelvin sign upper-cases to itself, k to K
		{"bloc\u212aChat", "BLOC\u212aCHAT", true},
		{"di\u017fabled", "disabled", true}, // the long s upper-cases to S
		{"di\u017fabled", "DISABLED", true},
		{"\u00e9nabled", "\u00c9NABLED", true},
		{"stra\u00dfe", "STRASSE", false}, // one character to two is not a simple mapping
		{"a\xffb", "a\xffb", true},
		{"a\xffb", "a\xfeb", false},
		{"a\xffb", "a\uFFFDb", false},
	} {
		if got := EqualIgnoreCase(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualIgnoreCase(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := EqualIgnoreCase(tc.b, tc.a); got != tc.want {
			t.Errorf("EqualIgnoreCase(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}
