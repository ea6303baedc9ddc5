package client_test

import (
	"strings"
	"testing"

	"github.com/remoteassist/remoteassist/internal/testutil"
)

// TestREADMEShowsUseFromGo keeps the README's program under "Use it from Go" the one in
// internal/readme, which go vet ./... and go build ./... compile.
func TestREADMEShowsUseFromGo(t *testing.T) {
	const marker = "package main\n"
	block, code := testutil.READMESnippet(t, "## Use it from Go", "internal/readme/main.go", marker, "no test follows")
	_, snippet, ok := strings.Cut(block, marker)
	if !ok || code == "" {
		t.Fatalf("the README's Go block under \"Use it from Go\" or internal/readme/main.go lacks %q", marker)
	}
	if strings.TrimSpace(snippet) != strings.TrimSpace(code) {
		t.Errorf("the README's program under \"Use it from Go\" and internal/readme/main.go differ: copy the file from its package clause into the README")
	}
}
