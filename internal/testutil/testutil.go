// Package testutil holds small helpers the project's tests share.
package testutil

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// SyncBuffer is a bytes.Buffer that a server's or a process's goroutines may write while a test
// reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// READMESnippet returns what a README test compares: the first Go block under heading in the
// README (../README.md, from a package folder beside it) and the code of the test's own file from
// marker up to the comment that starts with next, the test that does the comparing. The
// snippets of the README are thereby code that compiles and passes.
func READMESnippet(t testing.TB, heading, file, marker, next string) (block, code string) {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), heading)
	if !ok {
		t.Fatalf("the README has no %q section", strings.TrimLeft(heading, "# "))
	}
	_, block, _ = strings.Cut(section, "```go\n")
	block, _, _ = strings.Cut(block, "```")
	_, code, _ = strings.Cut(string(self), marker)
	code, _, _ = strings.Cut(code, "\n// "+next)
	return block, code
}

// CheckContinuedSnippet is the README test of a snippet that continues the one under earlier in
// the same file: the first Go block under heading is, after the text before marker, the code of
// file from marker to the comment of next (READMESnippet), and that text names every import the
// code needs that the earlier snippet does not have (MissingImports).
func CheckContinuedSnippet(t testing.TB, heading, earlier, file, marker, next string) {
	t.Helper()
	block, code := READMESnippet(t, heading, file, marker, next)
	intro, body, ok := strings.Cut(block, marker)
	if !ok || strings.TrimSpace(body) != strings.TrimSpace(code) {
		t.Errorf("the README's snippet under %q and %s differ: copy %s into the README", heading, file, strings.TrimPrefix(marker, "func "))
	}
	first, _ := READMESnippet(t, earlier, file, marker, next)
	if missing := MissingImports(t, file, code, intro, first); len(missing) > 0 {
		t.Errorf("the README's snippet under %q does not say it needs to import %q", heading, missing)
	}
}

// packageName is the name a package is conventionally imported by: its path's last element,
// without a major-version element (".../jwt/v5" is jwt) or a "-go" suffix ("testcontainers-go").
func packageName(path string) string {
	elems := strings.Split(path, "/")
	name := elems[len(elems)-1]
	if len(elems) > 1 && len(name) > 1 && name[0] == 'v' && strings.Trim(name[1:], "0123456789") == "" {
		name = elems[len(elems)-2]
	}
	return strings.TrimSuffix(name, "-go")
}

// MissingImports checks a README snippet that continues an earlier one (same file, more code):
// every package of file's imports that code uses must be named, quoted, in intro (the snippet's
// text before its code) unless the earlier snippet, earlier, imports it already. It returns the
// import paths that are named nowhere, for a reader pasting the snippet would miss them.
func MissingImports(t testing.TB, file, code, intro, earlier string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, spec := range f.Imports {
		path, _ := strconv.Unquote(spec.Path.Value)
		name := packageName(path)
		if spec.Name != nil {
			name = spec.Name.Name
		}
		used := strings.Contains(code, name+".")
		if used && !strings.Contains(earlier, spec.Path.Value) && !strings.Contains(intro, spec.Path.Value) {
			missing = append(missing, path)
		}
	}
	return missing
}
