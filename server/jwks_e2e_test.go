package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/server"
)

const testIssuer = "https://login.example.test/{tenantid}/v2.0"

// jwksServer is an identity provider's key endpoint whose key set can be swapped.
type jwksServer struct {
	mu      sync.Mutex
	jwks    []byte
	fetches atomic.Int32
}

func (j *jwksServer) set(jwks []byte) { j.mu.Lock(); j.jwks = jwks; j.mu.Unlock() }

func (j *jwksServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.fetches.Add(1)
	j.mu.Lock()
	defer j.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(j.jwks)
}

func mintIdP(t *testing.T, k *jwtauth.Key, tenant string) string {
	t.Helper()
	tok, err := k.Mint(jwtauth.TokenSpec{
		Tenant: tenant, Subject: "s", Scopes: []string{readWriteConfig}, TTL: time.Hour,
		Issuer: strings.ReplaceAll(testIssuer, "{tenantid}", tenant), Audience: jwtauth.GraphAppID,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestJWKSKeyRotationEndToEnd runs the server against a local JWKS endpoint and rotates the
// provider's key mid-test: tokens from the new key work without a restart, new tokens from
// the retired key are refused.
func TestJWKSKeyRotationEndToEnd(t *testing.T) {
	oldKey, _ := jwtauth.GenerateKey()
	newKey, _ := jwtauth.GenerateKey()
	idp := &jwksServer{jwks: oldKey.JWKS()}
	idpServer := httptest.NewServer(idp)
	defer idpServer.Close()

	clk := &clock{now: time.Now()}
	verifier, err := jwtauth.NewVerifier(jwtauth.Config{
		JWKSURL:            idpServer.URL,
		Issuers:            []string{testIssuer},
		MinRefreshInterval: time.Second,
		Now:                clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(c *server.Config) { c.Authenticator = verifier })

	if res := h.get(mintIdP(t, oldKey, "contoso")); res.status != http.StatusOK {
		t.Fatalf("token from the current key: %d %s", res.status, res.body)
	}
	idp.set(newKey.JWKS())
	clk.advance(2 * time.Second) // past the refresh rate limit
	if res := h.patch(mintIdP(t, newKey, "contoso"), `{"blockChat":true}`); res.status != http.StatusOK {
		t.Fatalf("token from the rotated-in key: %d %s", res.status, res.body)
	}
	clk.advance(2 * time.Second)
	res := h.get(mintIdP(t, oldKey, "fabrikam"))
	if res.status != http.StatusUnauthorized {
		t.Fatalf("new token from the retired key: %d, want 401", res.status)
	}
	if code, _, _ := res.graphError(t); code != "InvalidAuthenticationToken" {
		t.Errorf("code %q", code)
	}
	// A token from a key the provider never published is refused too.
	stranger, _ := jwtauth.GenerateKey()
	if res := h.get(mintIdP(t, stranger, "contoso")); res.status != http.StatusUnauthorized {
		t.Errorf("stranger's token: %d", res.status)
	}
	if n := idp.fetches.Load(); n > 4 {
		t.Errorf("%d JWKS fetches for a handful of unknown kids: the refresh limit is not holding", n)
	}
}

// TestForgedTokensOverHTTP sends forged tokens through the whole stack: each gets a 401 Graph
// envelope with WWW-Authenticate, and none changes state.
func TestForgedTokensOverHTTP(t *testing.T) {
	h := newHarness(t)
	valid := h.token("victim", readWriteConfig)
	parts := strings.Split(valid, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(claims), `"victim"`, `"attacker"`, 1)
	mac := hmac.New(sha256.New, h.key.JWKS())
	hsHeader := b64([]byte(`{"alg":"HS256","typ":"JWT","kid":"` + h.key.KeyID() + `"}`))
	mac.Write([]byte(hsHeader + "." + parts[1]))
	other, _ := jwtauth.GenerateKey()
	wrongKey, _ := other.Mint(jwtauth.TokenSpec{Tenant: "victim", Scopes: []string{readWriteConfig}, TTL: time.Hour})
	expired, _ := h.key.Mint(jwtauth.TokenSpec{Tenant: "victim", Scopes: []string{readWriteConfig}, TTL: time.Minute,
		IssuedAt: time.Now().Add(-2 * time.Hour), NotBefore: time.Now().Add(-2 * time.Hour)})
	future, _ := h.key.Mint(jwtauth.TokenSpec{Tenant: "victim", Scopes: []string{readWriteConfig}, TTL: time.Hour,
		IssuedAt: time.Now().Add(time.Hour), NotBefore: time.Now().Add(time.Hour)})
	wrongAud, _ := h.key.Mint(jwtauth.TokenSpec{Tenant: "victim", Scopes: []string{readWriteConfig}, TTL: time.Hour, Audience: "api://other"})
	wrongIss, _ := h.key.Mint(jwtauth.TokenSpec{Tenant: "victim", Scopes: []string{readWriteConfig}, TTL: time.Hour, Issuer: "https://evil.example/"})
	noTenant, _ := h.key.Mint(jwtauth.TokenSpec{Scopes: []string{readWriteConfig}, TTL: time.Hour})

	forged := map[string]string{
		"alg none":         b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"HS256 public key": hsHeader + "." + parts[1] + "." + b64(mac.Sum(nil)),
		"wrong key":        wrongKey,
		"expired":          expired,
		"not yet valid":    future,
		"wrong audience":   wrongAud,
		"wrong issuer":     wrongIss,
		"no tid":           noTenant,
		"tampered payload": parts[0] + "." + b64([]byte(tampered)) + "." + parts[2],
		"truncated":        valid[:len(valid)-10],
		"garbage":          "not-a-jwt-at-all",
		"enormous header":  b64([]byte(`{"alg":"ES256","x":"`+strings.Repeat("A", 20000)+`"}`)) + "." + parts[1] + "." + parts[2],
	}
	for name, tok := range forged {
		t.Run(name, func(t *testing.T) {
			res := h.patch(tok, `{"blockChat":true}`)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", res.status, res.body)
			}
			if code, msg, _ := res.graphError(t); code != "InvalidAuthenticationToken" || msg == "" {
				t.Errorf("code %q message %q", code, msg)
			}
			if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", res.header.Get("WWW-Authenticate"))
			}
		})
	}
	for _, tenant := range []string{"victim", "attacker"} {
		if h.stored(tenant).BlockChat {
			t.Errorf("a forged token changed %s's settings", tenant)
		}
	}
}

// TestIdentityProviderDown: when the JWKS was never fetched because the provider is down,
// callers get 503 with Retry-After (retry later), not 401 (their token is fine).
func TestIdentityProviderDown(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer down.Close()
	verifier, err := jwtauth.NewVerifier(jwtauth.Config{JWKSURL: down.URL, Issuers: []string{testIssuer}, MinRefreshInterval: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(c *server.Config) { c.Authenticator = verifier })
	key, _ := jwtauth.GenerateKey()
	res := h.get(mintIdP(t, key, "contoso"))
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "7" {
		t.Fatalf("status %d Retry-After %q, want 503 and 7: %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	if code, _, _ := res.graphError(t); code != "ServiceUnavailable" {
		t.Errorf("code %q", code)
	}
}
