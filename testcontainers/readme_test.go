package testcontainers_test

// This file is the "Use it from Testcontainers" snippet of the README (from the test function
// on; the README sets image to "remoteassist:dev"), kept compiling and passing here.

import (
	"strings"
	"testing"

	"github.com/testcontainers/testcontainers-go"

	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/internal/testutil"
	ratc "github.com/remoteassist/remoteassist/testcontainers"
)

func TestLockDownInContainer(t *testing.T) {
	ctr, err := ratc.Run(t.Context(), image, ratc.WithIntuneThrottle())
	testcontainers.CleanupContainer(t, ctr) // before the error check: a failed Run may return a container
	if err != nil {
		t.Fatal(err)
	}
	// Any Graph client works with ctr.BaseURL() (http://127.0.0.1:PORT/beta) and
	// ctr.Token(tenant, permissions...); Client is the main module's, with a read-write token.
	c, err := ctr.Client("contoso")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(t.Context(), client.Patch{BlockChat: client.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Get(t.Context())
	if err != nil || !s.BlockChat {
		t.Fatalf("after the PATCH: %+v, %v", s, err)
	}
}

// TestREADMEShowsThisFile keeps the README's snippet the code above: from the test function to
// its end, the README's Go block under "Use it from Testcontainers" and this file agree.
func TestREADMEShowsThisFile(t *testing.T) {
	const marker = "func TestLockDownInContainer"
	block, code := testutil.READMESnippet(t, "## Use it from Testcontainers", "readme_test.go", marker, "TestREADMEShowsThisFile")
	_, snippet, ok := strings.Cut(block, marker)
	if !ok {
		t.Fatalf("the README's Go block lacks %q", marker)
	}
	if strings.TrimSpace(snippet) != strings.TrimSpace(code) {
		t.Errorf("the README's snippet and readme_test.go differ: copy TestLockDownInContainer into the README")
	}
	for _, imp := range []string{`"github.com/testcontainers/testcontainers-go"`, `"github.com/remoteassist/remoteassist/client"`, `ratc "github.com/remoteassist/remoteassist/testcontainers"`} {
		if !strings.Contains(block, imp) {
			t.Errorf("the README's snippet does not import %s", imp)
		}
	}
}
