package requestid

import (
	"strings"
	"testing"
)

func TestNewIsUUIDv4(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := New()
		if len(id) != 36 || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
			t.Fatalf("not a version 4 UUID: %s", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}

func TestUsableClientID(t *testing.T) {
	for id, want := range map[string]bool{
		"my-id-42":                   true,
		"":                           false,
		"has space":                  true,
		"tab\there":                  true,
		"new\nline":                  false,
		"nul\x00":                    false,
		"del\x7f":                    false,
		"é":                          false,
		strings.Repeat("a", 128):     true,
		strings.Repeat("a", 129):     false,
		"5f1c1a55-0d3c-4e5a-9a57-5d": true,
	} {
		if got := UsableClientID(id); got != want {
			t.Errorf("UsableClientID(%q) = %v, want %v", id, got, want)
		}
	}
}
