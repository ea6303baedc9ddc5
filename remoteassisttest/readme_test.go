package remoteassisttest_test

// This file is the "Test your code against it" snippet of the README, kept compiling and
// passing here.

import (
	"context"
	"strings"
	"testing"

	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/internal/testutil"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

// lockDown is the code under test: it enables Remote Help with chat blocked.
func lockDown(ctx context.Context, c *client.Client) error {
	_, err := c.Update(ctx, client.Patch{
		RemoteAssistanceState: client.Ptr(client.StateEnabled),
		BlockChat:             client.Ptr(true),
	})
	return err
}

func TestLockDown(t *testing.T) {
	srv := remoteassisttest.New(t) // the real service, in process; closed when the test ends
	srv.Seed("contoso", client.Settings{AllowSessionsToUnenrolledDevices: true})

	if err := lockDown(t.Context(), srv.Client("contoso")); err != nil {
		t.Fatal(err)
	}
	got := srv.Settings("contoso")
	if got.RemoteAssistanceState != client.StateEnabled || !got.BlockChat || !got.AllowSessionsToUnenrolledDevices {
		t.Errorf("settings after lockDown: %+v", got)
	}

	// With a read-only token the same code gets Graph's 403, as a typed error.
	readOnly := srv.Client("contoso", client.WithToken(srv.Token("contoso", remoteassisttest.PermissionRead)))
	if err := lockDown(t.Context(), readOnly); !client.IsForbidden(err) {
		t.Errorf("read-only token: %v, want 403 Forbidden", err)
	}
}

// TestREADMEShowsThisFile keeps the README's snippet the code above: from the lockDown comment
// to the end, the README's Go block under "Test your code against it" and this file agree.
func TestREADMEShowsThisFile(t *testing.T) {
	const marker = "// lockDown is the code under test"
	block, code := testutil.READMESnippet(t, "## Test your code against it", "readme_test.go", marker, "TestREADMEShowsThisFile")
	_, snippet, ok := strings.Cut(block, marker)
	if !ok {
		t.Fatalf("the README's Go block lacks %q", marker)
	}
	if strings.TrimSpace(snippet) != strings.TrimSpace(code) {
		t.Errorf("the README's snippet and readme_test.go differ: copy the code from lockDown to the end of TestLockDown into the README")
	}
}
