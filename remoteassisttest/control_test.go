package remoteassisttest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/remoteassisttest"
)

func ptr[T any](v T) *T { return &v }

// getRaw GETs the settings with a token and extra headers and returns the response, read.
func getRaw(t *testing.T, srv *remoteassisttest.Server, tenant string, header http.Header) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+"/deviceManagement/remoteAssistanceSettings", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token(tenant))
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, nil
}

// TestControlFaults: each kind of fault rule the control plane holds reaches the API's answer,
// and the journal records it with the rule that applied.
func TestControlFaults(t *testing.T) {
	tests := []struct {
		name       string
		spec       models.FaultRuleSpec
		prefer     string
		wantStatus int    // 0: the connection is dropped
		wantAfter  string // the Retry-After header
		wantCode   string
	}{
		{"429 with its Retry-After", models.FaultRuleSpec{Effect: models.FaultEffect{Status: ptr(models.FaultEffectStatusN429), RetryAfter: ptr(7)}},
			"", 429, "7", "TooManyRequests"},
		{"503 without Retry-After", models.FaultRuleSpec{Effect: models.FaultEffect{Status: ptr(models.FaultEffectStatusN503), OmitRetryAfter: ptr(true)}},
			"", 503, "", "ServiceUnavailable"},
		{"504 with the default Retry-After", models.FaultRuleSpec{Effect: models.FaultEffect{Status: ptr(models.FaultEffectStatusN504)}},
			"", 504, "5", "GatewayTimeout"},
		{"500, which carries no Retry-After", models.FaultRuleSpec{Effect: models.FaultEffect{Status: ptr(models.FaultEffectStatusN500)}},
			"", 500, "", "InternalServerError"},
		{"a delay alone", models.FaultRuleSpec{Effect: models.FaultEffect{DelayMs: &models.DelayRange{Min: 1, Max: ptr(5)}}},
			"", 200, "", ""},
		{"a dropped connection", models.FaultRuleSpec{Effect: models.FaultEffect{Drop: ptr(true)}},
			"", 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := remoteassisttest.New(t, remoteassisttest.WithControl())
			rule, err := srv.Control().AddFault(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			res, err := getRaw(t, srv, "contoso", nil)
			switch {
			case tc.wantStatus == 0:
				if err == nil {
					t.Fatalf("got %d, want the connection dropped", res.StatusCode)
				}
			case err != nil:
				t.Fatal(err)
			case res.StatusCode != tc.wantStatus || res.Header.Get("Retry-After") != tc.wantAfter:
				t.Errorf("got %d with Retry-After %q, want %d with %q", res.StatusCode, res.Header.Get("Retry-After"), tc.wantStatus, tc.wantAfter)
			}
			if tc.wantCode != "" {
				_, err := srv.Client("contoso", client.WithRetry(0, 0, 0)).Get(t.Context())
				var e *client.Error
				if !errors.As(err, &e) || e.Code != tc.wantCode || e.RequestID == "" {
					t.Errorf("through the client: %v, want code %s", err, tc.wantCode)
				}
			}
			tenant := "contoso"
			entries := srv.Control().Journal(control.Filter{Tenant: &tenant}, 0)
			if len(entries) == 0 || entries[0].Rule == nil || *entries[0].Rule != rule.Id {
				t.Fatalf("journal %+v, want the request with rule %s", entries, rule.Id)
			}
			if got := srv.Control().Faults()[0].Fired; got < 1 {
				t.Errorf("the rule fired %d times", got)
			}
		})
	}
}

// TestFaultPrefer: with WithFaultPrefer a request asks for its own error; without it the header
// is ignored.
func TestFaultPrefer(t *testing.T) {
	prefer := http.Header{"Prefer": {"code=503, retry-after=9"}}
	srv := remoteassisttest.New(t, remoteassisttest.WithFaultPrefer())
	res, err := getRaw(t, srv, "contoso", prefer)
	if err != nil || res.StatusCode != 503 || res.Header.Get("Retry-After") != "9" {
		t.Errorf("Prefer code=503: %v %v", res, err)
	}
	if n := srv.Control().Count(control.Filter{Status: ptr(503)}); n != 1 {
		t.Errorf("journal count of 503s: %d", n)
	}
	plain := remoteassisttest.New(t, remoteassisttest.WithControl())
	if res, err := getRaw(t, plain, "contoso", prefer); err != nil || res.StatusCode != 200 {
		t.Errorf("Prefer without WithFaultPrefer: %v %v", res, err)
	}
}

// TestJournalAndFindings: the journal holds the requests a Go test makes through the client,
// bounded by WithJournalSize, and the findings name what the client did.
func TestJournalAndFindings(t *testing.T) {
	srv := remoteassisttest.New(t, remoteassisttest.WithJournalSize(3))
	c := srv.Client("contoso")
	patch := client.Patch{BlockChat: client.Ptr(true)}
	for range 2 {
		if _, err := c.Update(t.Context(), patch); err != nil {
			t.Fatal(err)
		}
	}
	findings := srv.Control().Findings(control.Filter{})
	if len(findings) != 1 || findings[0].Kind != models.FindingKindDuplicatePatch {
		t.Errorf("findings %+v, want one duplicatePatch", findings)
	}
	for range 3 {
		if _, err := c.Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	entries := srv.Control().Journal(control.Filter{}, 0)
	if len(entries) != 3 || entries[0].Method != http.MethodGet {
		t.Errorf("journal of size 3 after 5 requests: %+v", entries)
	}
	srv.Control().ClearJournal()
	if n := srv.Control().Count(control.Filter{}); n != 0 {
		t.Errorf("after ClearJournal: %d entries", n)
	}
}

// TestReset: Reset and ResetAll go through the store's StateStore.
func TestReset(t *testing.T) {
	srv := remoteassisttest.New(t)
	for _, tenant := range []string{"a", "b", "c"} {
		srv.Seed(tenant, client.Settings{BlockChat: true})
	}
	srv.Reset("a")
	if s := srv.Settings("a"); s.BlockChat || s.RemoteAssistanceState != client.StateNotConfigured {
		t.Errorf("a after Reset: %+v", s)
	}
	if !srv.Settings("b").BlockChat {
		t.Error("Reset(a) reset b")
	}
	srv.ResetAll()
	for _, tenant := range []string{"b", "c"} {
		if srv.Settings(tenant).BlockChat {
			t.Errorf("%s after ResetAll: %+v", tenant, srv.Settings(tenant))
		}
	}
}

// onlyStore is a Store and no more: it cannot be reset.
type onlyStore struct{ s *memory.Store }

func (o onlyStore) Settings(ctx context.Context, tenant string) (remoteassist.Settings, error) {
	return o.s.Settings(ctx, tenant)
}

func (o onlyStore) UpdateSettings(ctx context.Context, tenant string, p remoteassist.Patch) (remoteassist.Settings, error) {
	return o.s.UpdateSettings(ctx, tenant, p)
}

// TestControlPlaneRefusals: what a Server cannot do fails with a message that says why (as a
// panic for a Server from Start, a test failure for one from New).
func TestControlPlaneRefusals(t *testing.T) {
	plain, err := remoteassisttest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	storeOnly, err := remoteassisttest.Start(remoteassisttest.WithControl(), remoteassisttest.WithStore(onlyStore{memory.New()}))
	if err != nil {
		t.Fatal(err)
	}
	defer storeOnly.Close()
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"Control without WithControl", func() { plain.Control() }, "start it WithControl()"},
		{"AdminURL without WithControl", func() { plain.AdminURL() }, "start it WithControl()"},
		{"AdminToken without WithControl", func() { plain.AdminToken() }, "start it WithControl()"},
		{"Reset of a store that cannot", func() { storeOnly.Reset("t") }, "cannot reset tenants"},
		{"AdminURL on a store that cannot reset", func() { storeOnly.AdminURL() }, "cannot reset tenants"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), tc.want) {
					t.Errorf("panic %v, want one saying %q", r, tc.want)
				}
			}()
			tc.call()
		})
	}
}

// TestAdminURL: the admin API on its own loopback listener, over the same store and control
// plane, needing its token, closed with the Server.
func TestAdminURL(t *testing.T) {
	var adminURL string
	t.Run("serves", func(t *testing.T) {
		srv := remoteassisttest.New(t, remoteassisttest.WithControl())
		adminURL = srv.AdminURL()
		if !strings.HasPrefix(adminURL, "http://127.0.0.1:") || adminURL == strings.TrimSuffix(srv.URL(), "/beta") || srv.AdminURL() != adminURL {
			t.Errorf("AdminURL %q (API %q)", adminURL, srv.URL())
		}
		adm := srv.AdminClient()
		ctx := t.Context()
		seeded, err := adm.SeedTenantSettingsWithResponse(ctx, "contoso", remoteassist.Update{BlockChat: ptr(true)})
		if err != nil || seeded.StatusCode() != http.StatusOK {
			t.Fatalf("seed: %v %v", seeded, err)
		}
		if !srv.Settings("contoso").BlockChat {
			t.Error("the seed did not reach the store")
		}
		added, err := adm.AddFaultWithResponse(ctx, models.FaultRuleSpec{Match: &models.FaultMatch{Tenant: ptr("contoso")},
			Effect: models.FaultEffect{Status: ptr(models.FaultEffectStatusN502)}, Times: ptr(1)})
		if err != nil || added.JSON201 == nil {
			t.Fatalf("add fault: %v %v", added, err)
		}
		if got := srv.Control().Faults(); len(got) != 1 || got[0].Id != added.JSON201.Id {
			t.Errorf("Control().Faults() %+v, want the rule added over HTTP", got)
		}
		if res, err := getRaw(t, srv, "contoso", nil); err != nil || res.StatusCode != http.StatusBadGateway {
			t.Errorf("the API after the rule: %v %v", res, err)
		}
		count, err := adm.CountJournalWithResponse(ctx, &models.CountJournalParams{Status: ptr(502)})
		if err != nil || count.JSON200 == nil || count.JSON200.Count != 1 {
			t.Errorf("journal count over HTTP: %v %v", count, err)
		}
		snap, err := adm.ExportSnapshotWithResponse(ctx)
		if err != nil || snap.JSON200 == nil || len(snap.JSON200.Tenants) != 1 {
			t.Errorf("snapshot: %v %v", snap, err)
		}
		// Without the token: Graph's 401.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/admin/faults", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ Error struct{ Code string } }
		json.NewDecoder(res.Body).Decode(&env)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || env.Error.Code != "InvalidAuthenticationToken" {
			t.Errorf("no token: %d %+v", res.StatusCode, env)
		}
		if other := remoteassisttest.New(t, remoteassisttest.WithControl()); other.AdminToken() == srv.AdminToken() || len(srv.AdminToken()) < 16 {
			t.Error("two Servers share an admin token, or it is short")
		}
	})
	// Closed with the test.
	if _, err := http.Get(adminURL + "/admin/faults"); err == nil {
		t.Error("the admin API still answers after its test ended")
	}
}

// TestMint: a token naming its application reaches the journal as that application; an
// expired one is refused.
func TestMint(t *testing.T) {
	srv := remoteassisttest.New(t, remoteassisttest.WithControl())
	tok := srv.Mint(jwtauth.TokenSpec{Tenant: "contoso", App: "sync-job", Scopes: []string{remoteassisttest.PermissionRead}})
	if _, err := newClient(t, srv, tok).Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := srv.Control().Count(control.Filter{App: ptr("sync-job")}); n != 1 {
		t.Errorf("requests of app sync-job: %d, want 1", n)
	}
	expired := srv.Mint(jwtauth.TokenSpec{Tenant: "contoso", Scopes: []string{remoteassisttest.PermissionRead}, TTL: -time.Hour})
	if _, err := newClient(t, srv, expired).Get(t.Context()); !client.IsUnauthorized(err) {
		t.Errorf("expired token: %v, want 401", err)
	}
}

// TestCloseCutsDelayedRequests: Close does not wait out a fault rule's delay, which may hold a
// request for a minute: after its grace it cuts the request, as serve cuts one at the end of
// --shutdown-grace, and the journal records the 503 it was owed.
func TestCloseCutsDelayedRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  remoteassisttest.Option
	}{
		{"HTTP/1.1", nil},
		{"HTTP/2 over TLS", remoteassisttest.WithTLS()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := remoteassisttest.Start(tc.opt, remoteassisttest.WithControl())
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			rule, err := srv.Control().AddFault(models.FaultRuleSpec{Effect: models.FaultEffect{DelayMs: &models.DelayRange{Min: 60_000}}})
			if err != nil {
				t.Fatal(err)
			}
			answered := make(chan error, 1)
			go func() {
				_, err := srv.Client("contoso", client.WithRetry(0, 0, 0)).Get(context.Background())
				answered <- err
			}()
			// The rule fires as the request reaches it, before the delay: from then on it is held.
			for hangGuard := time.Now().Add(time.Minute); srv.Control().Faults()[0].Fired == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(hangGuard) {
					t.Fatal("the GET never reached the fault rule")
				}
			}
			srv.Close()
			if err := <-answered; err == nil {
				t.Error("the delayed GET was answered: Close waited out the rule's delay")
			}
			entries := srv.Control().Journal(control.Filter{}, 0)
			if len(entries) != 1 || entries[0].Status != http.StatusServiceUnavailable || entries[0].Rule == nil || *entries[0].Rule != rule.Id {
				t.Errorf("journal %+v, want the GET as a 503 of rule %s", entries, rule.Id)
			}
		})
	}
}
