package server

import "testing"

// TestInjectedStatusesAreUnique: injectedError picks the code of a fault's status by ranging over
// graphErrors, a map, so two codes with injected words and the same status would make a fault
// rule's answer vary from one request to the next.
func TestInjectedStatusesAreUnique(t *testing.T) {
	seen := map[int]string{}
	for code, g := range graphErrors {
		if g.injected == "" {
			continue
		}
		if other, ok := seen[g.status]; ok {
			t.Errorf("status %d is injected as both %s and %s", g.status, other, code)
		}
		seen[g.status] = code
	}
}
