package testcontainers_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/gen/admin/models"
	ratc "github.com/remoteassist/remoteassist/testcontainers"
)

func ptr[T any](v T) *T { return &v }

// send makes one request with a bearer token and extra headers, through hc, and returns the
// status, the protocol and the headers.
func send(t *testing.T, hc *http.Client, method, url, tok, body string, header http.Header) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, nil
}

// TestWithAdmin: the admin API on its own loopback port with the token Run made, seeding state
// the API serves, a fault rule the API answers with, the journal; WithFaultPrefer's header.
func TestWithAdmin(t *testing.T) {
	ctr := start(t, ratc.WithAdmin(), ratc.WithFaultPrefer())
	if !strings.HasPrefix(ctr.AdminURL(), "http://127.0.0.1:") || strings.Contains(ctr.BaseURL(), strings.TrimPrefix(ctr.AdminURL(), "http://")) || len(ctr.AdminToken()) < 16 {
		t.Fatalf("AdminURL %q (API %q), token of %d characters", ctr.AdminURL(), ctr.BaseURL(), len(ctr.AdminToken()))
	}
	adm, err := ctr.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if res, err := adm.SeedTenantSettingsWithResponse(ctx, "contoso", remoteassist.Update{BlockChat: ptr(true)}); err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("seed: %v, %v", res, err)
	}
	c, err := ctr.Client("contoso", client.WithRetry(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.Get(ctx); err != nil || !s.BlockChat {
		t.Errorf("the API after the seed: %+v, %v", s, err)
	}
	if res, err := adm.AddFaultWithResponse(ctx, models.FaultRuleSpec{Match: &models.FaultMatch{Tenant: ptr("contoso")},
		Effect: models.FaultEffect{Status: ptr(models.FaultEffectStatusN503), RetryAfter: ptr(11)}, Times: ptr(1)}); err != nil || res.JSON201 == nil {
		t.Fatalf("add fault: %v, %v", res, err)
	}
	_, err = c.Get(ctx)
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusServiceUnavailable || e.RetryAfter != 11*time.Second {
		t.Errorf("GET under the rule: %v, want 503 with Retry-After 11", err)
	}
	tok, err := ctr.Token("contoso")
	if err != nil {
		t.Fatal(err)
	}
	res, err := send(t, ctr.HTTPClient(), http.MethodGet, ctr.BaseURL()+"/deviceManagement/remoteAssistanceSettings", tok, "", http.Header{"Prefer": {"code=429"}})
	if err != nil || res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("Prefer: code=429: %v, %v", res, err)
	}
	count, err := adm.CountJournalWithResponse(ctx, &models.CountJournalParams{Tenant: ptr("contoso")})
	if err != nil || count.JSON200 == nil || count.JSON200.Count != 3 {
		t.Errorf("journal count of contoso: %v, %v; want 3", count, err)
	}
	if res, err := send(t, http.DefaultClient, http.MethodGet, ctr.AdminURL()+"/admin/faults", "", "", nil); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the admin API without its token: %v, %v", res, err)
	}
	if res, err := send(t, http.DefaultClient, http.MethodGet, ctr.AdminURL()+"/admin/faults", tok, "", nil); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the admin API with an API token: %v, %v", res, err)
	}
}

// TestWithTLS: HTTPS and HTTP/2 with the container's development CA, which the module's
// clients trust and others do not; the admin API stays plain HTTP.
func TestWithTLS(t *testing.T) {
	ctr := start(t, ratc.WithTLS(), ratc.WithAdmin())
	if !strings.HasPrefix(ctr.BaseURL(), "https://127.0.0.1:") || ctr.CertPool() == nil {
		t.Fatalf("BaseURL %q, CertPool %v", ctr.BaseURL(), ctr.CertPool())
	}
	c, err := ctr.Client("contoso")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.Update(t.Context(), client.Patch{RemoteAssistanceState: client.Ptr(client.StateEnabled)}); err != nil || s.RemoteAssistanceState != client.StateEnabled {
		t.Fatalf("PATCH over https: %+v, %v", s, err)
	}
	tok, err := ctr.Token("contoso")
	if err != nil {
		t.Fatal(err)
	}
	url := ctr.BaseURL() + "/deviceManagement/remoteAssistanceSettings"
	res, err := send(t, ctr.HTTPClient(), http.MethodGet, url, tok, "", nil)
	if err != nil || res.StatusCode != http.StatusOK || res.Proto != "HTTP/2.0" {
		t.Errorf("HTTPClient: %v, %v; want 200 over HTTP/2.0", res, err)
	}
	var unknown x509.UnknownAuthorityError
	if _, err := send(t, &http.Client{Transport: &http.Transport{}}, http.MethodGet, url, tok, "", nil); !errors.As(err, &unknown) {
		t.Errorf("a client that does not trust the CA: %v, want an unknown authority", err)
	}
	adm, err := ctr.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	if snap, err := adm.ExportSnapshotWithResponse(t.Context()); err != nil || snap.JSON200 == nil || snap.JSON200.Tenants["contoso"].RemoteAssistanceState == nil {
		t.Errorf("the admin API of a TLS container: %v, %v", snap, err)
	}
}

// TestWithProfile: the graph profile reaches the service (a never-written tenant reads disabled,
// PATCH answers 204) and the module's client.
func TestWithProfile(t *testing.T) {
	ctr := start(t, ratc.WithProfile(remoteassist.ProfileGraph))
	if ctr.Profile() != remoteassist.ProfileGraph {
		t.Errorf("Profile %q", ctr.Profile())
	}
	c, err := ctr.Client("contoso")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.Get(t.Context()); err != nil || s.RemoteAssistanceState != client.StateDisabled {
		t.Errorf("a never-written tenant under graph: %+v, %v", s, err)
	}
	// The client knows the profile: notConfigured is refused before any request.
	if _, err := c.Update(t.Context(), client.Patch{RemoteAssistanceState: client.Ptr(client.StateNotConfigured)}); !errors.Is(err, client.ErrInvalidState) {
		t.Errorf("notConfigured under graph: %v", err)
	}
	tok, err := ctr.Token("contoso")
	if err != nil {
		t.Fatal(err)
	}
	res, err := send(t, ctr.HTTPClient(), http.MethodPatch, ctr.BaseURL()+"/deviceManagement/remoteAssistanceSettings", tok, `{"remoteAssistanceState":"Enabled"}`, nil)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Errorf("PATCH under graph: %v, %v; want 204", res, err)
	}
}
