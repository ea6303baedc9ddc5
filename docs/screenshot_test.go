package docs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"testing"
)

// The README shows docs/screenshot.png, taken by TestBrowserRendersDocs. So that it cannot fall
// behind the page it shows, docs/screenshot.inputs records, when the screenshot is taken, what it
// was taken of: the window, and the sha256 of every body the page loads (the HTML page, which
// names the scripts by their hashes, the Redoc bundle, the start-up script and the contract), and
// the sha256 of the PNG itself. Every other run of the test computes the same from the handler and
// fails when anything differs: a contract change, a new Redoc, a changed template or script, or a
// screenshot committed without its record. Chromium's version and the system fonts are not
// inputs: a Debian update must not fail the build.
//
//	UPDATE_SCREENSHOT=1 go test ./docs -run TestBrowserRendersDocs
//
// rewrites both files; commit them together.

const (
	screenshotPath       = "screenshot.png"
	screenshotInputsPath = "screenshot.inputs"
	// screenshotTarget is the element the screenshot is scrolled to.
	screenshotTarget = `[id$="/operation/deviceManagement.GetRemoteAssistanceSettings"]`
	updateScreenshot = "UPDATE_SCREENSHOT=1 go test ./docs -run TestBrowserRendersDocs"
)

// screenshotPageLoads are the paths of the bodies the page loads, which determine what it shows.
// TestBrowserRendersDocs checks that the page asked for each.
var screenshotPageLoads = []string{PathDocs, PathRedocJS, PathInitJS, PathSpecJSON}

const screenshotInputsHeader = `# What docs/screenshot.png was taken of, written with it by TestBrowserRendersDocs
# (docs/browser_test.go, docs/screenshot_test.go), which fails when the page's inputs no longer
# match these lines. Do not edit: regenerate both files with
#   ` + updateScreenshot + `
`

// screenshotInputs returns the lines that describe what a screenshot taken now shows: the
// window and the sha256 of each body the handler serves the page.
func screenshotInputs(t *testing.T, h http.Handler) []string {
	t.Helper()
	lines := []string{fmt.Sprintf("window %dx%d scrolled to %s", windowWidth, windowHeight, screenshotTarget)}
	for _, path := range screenshotPageLoads {
		res := do(t, h, http.MethodGet, path, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		lines = append(lines, fmt.Sprintf("%s sha256 %x", path, sha256.Sum256(body(t, res))))
	}
	return lines
}

// pngLine is the record's line for the PNG's own bytes.
func pngLine(png []byte) string {
	return fmt.Sprintf("%s sha256 %x", screenshotPath, sha256.Sum256(png))
}

// writeScreenshot writes the screenshot and its record.
func writeScreenshot(t *testing.T, png []byte, inputs []string) {
	t.Helper()
	record := screenshotInputsHeader + strings.Join(append([]string{pngLine(png)}, inputs...), "\n") + "\n"
	if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(screenshotInputsPath, []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
}

// screenshotStaleness compares the committed screenshot and its record with the inputs of now
// and returns what differs, nothing when the screenshot is current.
func screenshotStaleness(inputs []string) []string {
	png, err := os.ReadFile(screenshotPath)
	if err != nil {
		return []string{fmt.Sprintf("docs/%s cannot be read: %v", screenshotPath, err)}
	}
	raw, err := os.ReadFile(screenshotInputsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{fmt.Sprintf("docs/%s is missing: nothing says what docs/%s shows", screenshotInputsPath, screenshotPath)}
	} else if err != nil {
		return []string{fmt.Sprintf("docs/%s cannot be read: %v", screenshotInputsPath, err)}
	}
	recorded := map[string]string{} // by the line's first field
	for line := range strings.SplitSeq(string(bytes.TrimSpace(raw)), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, _ := strings.Cut(line, " ")
		recorded[key] = line
	}
	var stale []string
	for _, want := range append([]string{pngLine(png)}, inputs...) {
		key, _, _ := strings.Cut(want, " ")
		got, ok := recorded[key]
		delete(recorded, key)
		switch {
		case !ok:
			stale = append(stale, fmt.Sprintf("no record of %s; now: %q", key, want))
		case got != want && key == screenshotPath:
			stale = append(stale, fmt.Sprintf("docs/%s is not the one recorded: it was changed without its record", screenshotPath))
		case got != want:
			stale = append(stale, fmt.Sprintf("%s changed since the screenshot: recorded %q, now %q", key, got, want))
		}
	}
	for key := range recorded {
		stale = append(stale, fmt.Sprintf("the record names %s, which is no input any more", key))
	}
	return stale
}

// checkScreenshotCurrent fails the test when the committed screenshot no longer shows the page.
func checkScreenshotCurrent(t *testing.T, inputs []string) {
	t.Helper()
	if stale := screenshotStaleness(inputs); len(stale) > 0 {
		t.Errorf("docs/%s is stale: it no longer shows what /docs renders.\n  %s\nRun %s and commit docs/%s and docs/%s.",
			screenshotPath, strings.Join(stale, "\n  "), updateScreenshot, screenshotPath, screenshotInputsPath)
	}
}

// TestScreenshotStalenessCheck is the negative control of the check: a contract the screenshot
// was not taken of, and a screenshot changed without its record, are reported; the record the
// check writes is accepted.
func TestScreenshotStalenessCheck(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	h := newTestHandler(t)
	inputs := screenshotInputs(t, h)
	png := []byte("\x89PNG not really")
	writeScreenshot(t, png, inputs)
	if stale := screenshotStaleness(inputs); len(stale) != 0 {
		t.Fatalf("a fresh record is reported stale: %q", stale)
	}

	// The contract changes: its line differs, and only its line.
	changed, err := Handler([]byte("openapi: 3.0.3\n"), []byte(`{"openapi":"3.0.3","info":{"title":"Other"}}`))
	if err != nil {
		t.Fatal(err)
	}
	stale := screenshotStaleness(screenshotInputs(t, changed))
	var joined = strings.Join(stale, "\n")
	if !strings.Contains(joined, PathSpecJSON+" changed since the screenshot") || !strings.Contains(joined, PathDocs+" changed") {
		t.Errorf("a changed contract and title are not reported: %q", stale)
	}
	if strings.Contains(joined, PathRedocJS+" changed") {
		t.Errorf("the unchanged Redoc bundle is reported: %q", stale)
	}

	// The PNG is replaced without its record.
	if err := os.WriteFile(screenshotPath, []byte("\x89PNG another"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stale := screenshotStaleness(inputs); len(stale) != 1 || !strings.Contains(stale[0], "changed without its record") {
		t.Errorf("a PNG changed without its record: %q", stale)
	}

	// No record at all.
	if err := os.Remove(screenshotInputsPath); err != nil {
		t.Fatal(err)
	}
	if stale := screenshotStaleness(inputs); len(stale) != 1 || !strings.Contains(stale[0], "is missing") {
		t.Errorf("a missing record: %q", stale)
	}
}
