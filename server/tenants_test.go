package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/server"
)

// TestTenantAllowListIgnoresGUIDCase: with an allow-list (serve --tenants), a token whose tid is
// a listed GUID in another letter case is served, and what it writes is kept under the tid as
// the token has it; other ids match exactly, and a tenant not listed gets the 401 and changes
// nothing.
func TestTenantAllowListIgnoresGUIDCase(t *testing.T) {
	key, err := jwtauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(c *server.Config) {
		v, err := jwtauth.NewVerifier(jwtauth.Config{Keys: []jwtauth.PublicKey{key.PublicKey()}, Issuers: []string{jwtauth.DevIssuer},
			AllowedTenants: []string{"contoso", "0E3B1F6A-9C1D-4A8B-8F2E-1D2C3B4A5F60"}})
		if err != nil {
			t.Fatal(err)
		}
		c.Authenticator = v
	})
	for _, tc := range []struct {
		tid    string
		status int
	}{
		{"0E3B1F6A-9C1D-4A8B-8F2E-1D2C3B4A5F60", http.StatusOK},
		{"0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f60", http.StatusOK},
		{"0e3b1f6a-9C1D-4a8b-8F2E-1d2c3b4a5f60", http.StatusOK},
		{"0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f61", http.StatusUnauthorized},
		{"contoso", http.StatusOK},
		{"Contoso", http.StatusUnauthorized},
	} {
		tok, err := key.Mint(jwtauth.TokenSpec{Tenant: tc.tid, Subject: "user", Scopes: []string{readWriteConfig}, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		before := h.stored(tc.tid)
		res := h.patch(tok, `{"blockChat":true}`)
		if res.status != tc.status {
			t.Errorf("tid %s: %d, want %d: %s", tc.tid, res.status, tc.status, res.body)
			continue
		}
		if got := h.stored(tc.tid); tc.status == http.StatusOK && !got.BlockChat {
			t.Errorf("tid %s: the PATCH is not stored under the tid: %+v", tc.tid, got)
		} else if tc.status != http.StatusOK {
			if code, msg, _ := res.graphError(t); code != "InvalidAuthenticationToken" || got != before {
				t.Errorf("tid %s: %s %q, state %+v → %+v", tc.tid, code, msg, before, got)
			}
		}
	}
}
