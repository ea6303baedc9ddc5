package testcontainers_test

// This file is the snippet of the README's "The admin API, TLS and the graph profile", kept
// compiling and passing here.

import (
	"testing"

	"github.com/testcontainers/testcontainers-go"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/internal/testutil"
	ratc "github.com/remoteassist/remoteassist/testcontainers"
)

func TestUnavailableInContainer(t *testing.T) {
	ctr, err := ratc.Run(t.Context(), image, ratc.WithAdmin(), ratc.WithTLS(), ratc.WithProfile(remoteassist.ProfileGraph))
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatal(err)
	}
	// ctr.BaseURL() is https://127.0.0.1:PORT/beta; ctr.Client trusts the container's CA and
	// knows its profile. ctr.AdminURL() and ctr.AdminToken() reach the admin API.
	adm, err := ctr.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	status, once := models.FaultEffectStatusN503, 1
	res, err := adm.AddFaultWithResponse(t.Context(), models.FaultRuleSpec{
		Effect: models.FaultEffect{Status: &status, OmitRetryAfter: client.Ptr(true)}, Times: &once,
	})
	if err != nil || res.JSON201 == nil {
		t.Fatalf("add fault: %v, %v", res, err)
	}
	c, err := ctr.Client("contoso", client.WithRetry(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context()); !client.IsUnavailable(err) {
		t.Fatalf("first GET: %v, want the injected 503", err)
	}
	// Under the graph profile a tenant that never wrote reads disabled.
	if s, err := c.Get(t.Context()); err != nil || s.RemoteAssistanceState != client.StateDisabled {
		t.Fatalf("then: %+v, %v", s, err)
	}
}

// TestREADMEShowsAdminSnippet keeps the README's snippet the test above.
func TestREADMEShowsAdminSnippet(t *testing.T) {
	const marker = "func TestUnavailableInContainer"
	// It goes in the file of the snippet before it, which imports what that one needs.
	testutil.CheckContinuedSnippet(t, "### The admin API, TLS and the graph profile", "## Use it from Testcontainers",
		"readme_admin_test.go", marker, "TestREADMEShowsAdminSnippet")
}
