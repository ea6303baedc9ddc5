package remoteassisttest_test

// This file is the snippet of the README's "Faults, the journal and the admin API, in process"
// (lockDown is readme_test.go's), kept compiling and passing here.

import (
	"testing"

	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/internal/testutil"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

func TestLockDownWaitsOutThrottling(t *testing.T) {
	srv := remoteassisttest.New(t, remoteassisttest.WithControl())
	tenant, once, after := "contoso", 1, 1
	status := models.FaultEffectStatusN429
	if _, err := srv.Control().AddFault(models.FaultRuleSpec{
		Match:  &models.FaultMatch{Tenant: &tenant},
		Effect: models.FaultEffect{Status: &status, RetryAfter: &after},
		Times:  &once,
	}); err != nil {
		t.Fatal(err)
	}

	// The client waits the Retry-After of the 429, then retries.
	if err := lockDown(t.Context(), srv.Client(tenant)); err != nil {
		t.Fatal(err)
	}
	if n := srv.Control().Count(control.Filter{Tenant: &tenant}); n != 2 {
		t.Errorf("%d requests, want the 429 and one retry", n)
	}
	if f := srv.Control().Findings(control.Filter{}); len(f) != 0 {
		t.Errorf("findings %+v, want none", f)
	}
}

// TestREADMEShowsControlSnippet keeps the README's snippet the test above.
func TestREADMEShowsControlSnippet(t *testing.T) {
	const marker = "func TestLockDownWaitsOutThrottling"
	// It goes in the file of the snippet before it, which imports what that one needs.
	testutil.CheckContinuedSnippet(t, "### Faults, the journal and the admin API, in process", "## Test your code against it",
		"readme_control_test.go", marker, "TestREADMEShowsControlSnippet")
}
