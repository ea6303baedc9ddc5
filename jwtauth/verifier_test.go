package jwtauth

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/remoteassist/remoteassist"
)

// newTestVerifier trusts the dev key (ES256) and an RSA key (RS256), on a settable clock.
func newTestVerifier(t testing.TB, mod func(*Config)) (*Verifier, *clock) {
	t.Helper()
	clk := newClock()
	cfg := Config{
		Keys: []PublicKey{
			testDevKey().PublicKey(),
			{KID: rsaKID, Key: &testRSAKey().PublicKey},
		},
		Issuers: []string{DevIssuer},
		Now:     clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, clk
}

func TestAuthenticateValid(t *testing.T) {
	v, clk := newTestVerifier(t, nil)
	now := clk.Now()
	mint := func(spec TokenSpec) string {
		spec.IssuedAt = now
		tok, err := testDevKey().Mint(spec)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	withClaims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(now)
		mod(c)
		return c
	}
	tests := []struct {
		name  string
		token string
		want  remoteassist.Principal
	}{
		{
			name: "ES256 delegated",
			token: mint(TokenSpec{Tenant: testTenant, Subject: testSubject,
				Scopes: []string{"DeviceManagementServiceConfig.Read.All", "User.Read"}}),
			want: remoteassist.Principal{Tenant: testTenant, Subject: testSubject,
				Scopes: []string{"DeviceManagementServiceConfig.Read.All", "User.Read"}},
		},
		{
			name: "ES256 application",
			token: mint(TokenSpec{Tenant: testTenant, Subject: "app-oid",
				Roles: []string{"DeviceManagementConfiguration.ReadWrite.All"}}),
			want: remoteassist.Principal{Tenant: testTenant, Subject: "app-oid",
				Roles: []string{"DeviceManagementConfiguration.ReadWrite.All"}},
		},
		{
			name:  "RS256 delegated",
			token: sign(t, jwt.SigningMethodRS256, testRSAKey(), rsaKID, claimsAt(now)),
			want: remoteassist.Principal{Tenant: testTenant, Subject: testSubject,
				Scopes: []string{"DeviceManagementServiceConfig.Read.All"}},
		},
		{
			name: "RS256 application, app id audience in an array, sub without oid",
			token: sign(t, jwt.SigningMethodRS256, testRSAKey(), rsaKID, withClaims(func(c jwt.MapClaims) {
				c["aud"] = []string{"api://other", GraphAppID}
				delete(c, "scp")
				delete(c, "oid")
				c["roles"] = []string{"DeviceManagementServiceConfig.ReadWrite.All", "Other.Role"}
			})),
			want: remoteassist.Principal{Tenant: testTenant, Subject: "pairwise-sub",
				Roles: []string{"DeviceManagementServiceConfig.ReadWrite.All", "Other.Role"}},
		},
		{
			name:  "hand-assembled token (control for the relabelled forgeries)",
			token: signAs(t, "RS256", jwt.SigningMethodRS256, testRSAKey(), rsaKID, claimsAt(now)),
			want: remoteassist.Principal{Tenant: testTenant, Subject: testSubject,
				Scopes: []string{"DeviceManagementServiceConfig.Read.All"}},
		},
		{
			name:  "no permissions at all is still authenticated",
			token: mint(TokenSpec{Tenant: testTenant}),
			want:  remoteassist.Principal{Tenant: testTenant},
		},
		{
			name: "fractional times and extra whitespace in scp",
			token: sign(t, jwt.SigningMethodES256, testDevKey().priv, testDevKey().KeyID(), withClaims(func(c jwt.MapClaims) {
				c["exp"] = float64(now.Unix()) + 0.5
				c["scp"] = "  a  b "
			})),
			want: remoteassist.Principal{Tenant: testTenant, Subject: testSubject, Scopes: []string{"a", "b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 2 { // the second round is served from the cache
				p, err := v.Authenticate(t.Context(), tt.token)
				if err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
				if p.Tenant != tt.want.Tenant || p.Subject != tt.want.Subject ||
					!slices.Equal(p.Scopes, tt.want.Scopes) || !slices.Equal(p.Roles, tt.want.Roles) {
					t.Fatalf("round %d: got %+v, want %+v", i, p, tt.want)
				}
			}
		})
	}
}

func TestAuthenticateForged(t *testing.T) {
	// jku must never be followed: count any request to this "attacker" server.
	var jkuHits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jkuHits.Add(1)
		w.Write(testDevKey().JWKS())
	}))
	defer attacker.Close()

	v, clk := newTestVerifier(t, nil)
	now := clk.Now()
	dev := testDevKey()
	other := newECKey(t, elliptic.P256())
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&testRSAKey().PublicKey))})
	with := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsAt(now)
		mod(c)
		return c
	}
	valid := sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), claimsAt(now))
	validRSA := sign(t, jwt.SigningMethodRS256, testRSAKey(), rsaKID, claimsAt(now))
	parts := strings.Split(valid, ".")
	rsaParts := strings.Split(validRSA, ".")

	// The untouched originals must pass, or the forgeries below prove nothing.
	for _, tok := range []string{valid, validRSA} {
		if _, err := v.Authenticate(t.Context(), tok); err != nil {
			t.Fatalf("control token refused: %v", err)
		}
	}
	v.cache = newTokenCache(DefaultCacheSize, DefaultCacheBytes) // forget the controls

	tampered := func(mod func(jwt.MapClaims)) string {
		return parts[0] + "." + enc(t, with(mod)) + "." + parts[2]
	}

	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"empty", "", msgEmpty},
		{"non-JWT garbage", "this is not a token at all, just some words", msgMalformed},
		{"three garbage parts", "a.b.c", msgMalformed},
		{"header is not JSON", base64.RawURLEncoding.EncodeToString([]byte("hello")) + "." + parts[1] + "." + parts[2], msgMalformed},
		{"five parts (JWE)", valid + ".x.y", msgMalformed},
		{"unsigned alg none", rawToken(t, map[string]string{"alg": "none", "kid": dev.KeyID()}, claimsAt(now), ""), msgSignature},
		{"unsigned alg None", rawToken(t, map[string]string{"alg": "None", "typ": "JWT"}, claimsAt(now), ""), msgSignature},
		{"alg none keeping a real signature", rawToken(t, map[string]string{"alg": "none", "kid": dev.KeyID()}, claimsAt(now), parts[2]), msgSignature},
		{"signed by another key under the dev kid", sign(t, jwt.SigningMethodES256, other, dev.KeyID(), claimsAt(now)), msgSignature},
		{"HS256 with the RSA public key PEM as secret", sign(t, jwt.SigningMethodHS256, rsaPubPEM, rsaKID, claimsAt(now)), msgSignature},
		{"HS256 with the RSA public key DER as secret", sign(t, jwt.SigningMethodHS256, must(x509.MarshalPKIXPublicKey(&testRSAKey().PublicKey)), rsaKID, claimsAt(now)), msgSignature},
		{"HS256 with the dev JWKS as secret", sign(t, jwt.SigningMethodHS256, dev.JWKS(), dev.KeyID(), claimsAt(now)), msgSignature},
		{"ES256 header on the RSA kid", sign(t, jwt.SigningMethodES256, other, rsaKID, claimsAt(now)), msgSignature},
		{"RS256 header on the EC kid", sign(t, jwt.SigningMethodRS256, testRSAKey(), dev.KeyID(), claimsAt(now)), msgSignature},
		{"PS256 on a key bound to RS256", sign(t, jwt.SigningMethodPS256, testRSAKey(), rsaKID, claimsAt(now)), msgSignature},
		{"valid RS256 signature labelled PS256", signAs(t, "PS256", jwt.SigningMethodRS256, testRSAKey(), rsaKID, claimsAt(now)), msgSignature},
		{"valid ES256 signature labelled ES384", signAs(t, "ES384", jwt.SigningMethodES256, dev.priv, dev.KeyID(), claimsAt(now)), msgSignature},
		// golang-jwt decodes the payload before it checks the signature.
		{"payload is not JSON, signature invalid", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("{{{")) + "." + parts[2], msgMalformed},
		{"no kid", sign(t, jwt.SigningMethodES256, dev.priv, "", claimsAt(now)), msgSignature},
		{"unknown kid", sign(t, jwt.SigningMethodES256, dev.priv, "somebody-else", claimsAt(now)), msgSignature},
		{"jku pointing at the attacker's keys", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, claimsAt(now))
			tok.Header["kid"] = "attacker"
			tok.Header["jku"] = attacker.URL
			return must(tok.SignedString(dev.priv))
		}(), msgSignature},
		{"crit header", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, claimsAt(now))
			tok.Header["kid"] = dev.KeyID()
			tok.Header["crit"] = []string{"exp"}
			return must(tok.SignedString(dev.priv))
		}(), msgMalformed},
		{"tampered payload: other tenant", tampered(func(c jwt.MapClaims) { c["tid"] = "another-tenant" }), msgSignature},
		{"tampered payload: added role", tampered(func(c jwt.MapClaims) { c["roles"] = []string{"DeviceManagementConfiguration.ReadWrite.All"} }), msgSignature},
		{"tampered RSA payload: extended exp", rsaParts[0] + "." + enc(t, with(func(c jwt.MapClaims) { c["exp"] = now.Add(1000 * time.Hour).Unix() })) + "." + rsaParts[2], msgSignature},
		{"signature of one token on another", parts[0] + "." + parts[1] + "." + strings.Split(sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["tid"] = "x" })), ".")[2], msgSignature},
		{"truncated signature", valid[:len(valid)-10], msgSignature},
		{"signature removed", parts[0] + "." + parts[1] + ".", msgSignature},
		{"signature part removed", parts[0] + "." + parts[1], msgMalformed},
		{"truncated to the header", parts[0], msgMalformed},
		{"padded signature", valid + "==", msgMalformed},
		{"expired", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-2 * time.Hour).Unix()
			c["nbf"] = now.Add(-2 * time.Hour).Unix()
			c["exp"] = now.Add(-time.Hour).Unix()
		})), msgExpired},
		{"expired RSA", sign(t, jwt.SigningMethodRS256, testRSAKey(), rsaKID, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), msgExpired},
		{"no exp", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { delete(c, "exp") })), msgNoExpiry},
		{"exp as a string", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["exp"] = "99999999999" })), msgMalformed},
		{"not yet valid", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), msgNotYetValid},
		{"issued in the future", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["iat"] = now.Add(5 * time.Minute).Unix() })), msgNotYetValid},
		{"wrong issuer", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["iss"] = "https://sts.windows.net/" + testTenant + "/" })), msgIssuer},
		{"no issuer", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { delete(c, "iss") })), msgIssuer},
		{"wrong audience", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["aud"] = "https://management.azure.com" })), msgAudience},
		{"wrong audiences in an array", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} })), msgAudience},
		{"no audience", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { delete(c, "aud") })), msgAudience},
		{"missing tid", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { delete(c, "tid") })), msgNoTenant},
		{"empty tid", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["tid"] = "" })), msgNoTenant},
		{"tid over 256 characters", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["tid"] = strings.Repeat("é", remoteassist.MaxIDLength+1) })), msgLongID},
		{"appid over 256 characters", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["appid"] = strings.Repeat("a", remoteassist.MaxIDLength+1) })), msgLongID},
		{"azp over 256 characters", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["azp"] = strings.Repeat("a", remoteassist.MaxIDLength+1) })), msgLongID},
		{"scp as an array", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["scp"] = []string{"a"} })), msgMalformed},
		{"roles as a string", sign(t, jwt.SigningMethodES256, dev.priv, dev.KeyID(), with(func(c jwt.MapClaims) { c["roles"] = "a b" })), msgMalformed},
		{"enormous header (100 KB)", rawToken(t, map[string]string{"alg": "ES256", "kid": dev.KeyID(), "x": strings.Repeat("A", 100<<10)}, claimsAt(now), parts[2]), msgTooLarge},
		{"just over the size limit", strings.Repeat("a", MaxTokenSize+1), msgTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // a refusal must not be remembered as anything else
				p, err := v.Authenticate(t.Context(), tt.token)
				requireUnauthenticated(t, p, err, tt.token, tt.want)
			}
		})
	}
	if n := v.cache.len(); n != 0 {
		t.Errorf("cache holds %d entries after only refusals", n)
	}
	if n := jkuHits.Load(); n != 0 {
		t.Errorf("the jku URL was fetched %d times", n)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLeeway(t *testing.T) {
	tests := []struct {
		name   string
		leeway time.Duration
		exp    time.Duration // relative to now
		nbf    time.Duration
		want   string // "" for accepted
	}{
		{"expired within default leeway", 0, -29 * time.Second, -time.Hour, ""},
		{"expired beyond default leeway", 0, -31 * time.Second, -time.Hour, msgExpired},
		{"nbf within default leeway", 0, time.Hour, 29 * time.Second, ""},
		{"nbf beyond default leeway", 0, time.Hour, 31 * time.Second, msgNotYetValid},
		{"custom leeway", 5 * time.Minute, -4 * time.Minute, 4 * time.Minute, ""},
		{"no leeway: expired a second ago", -1, -time.Second, -time.Hour, msgExpired},
		{"no leeway: exp is now", -1, 0, -time.Hour, msgExpired},
		{"no leeway: nbf in a second", -1, time.Hour, time.Second, msgNotYetValid},
		{"no leeway: nbf is now", -1, time.Hour, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, clk := newTestVerifier(t, func(c *Config) { c.Leeway = tt.leeway })
			now := clk.Now()
			c := claimsAt(now)
			c["iat"] = now.Add(min(tt.nbf, 0)).Unix()
			c["nbf"] = now.Add(tt.nbf).Unix()
			c["exp"] = now.Add(tt.exp).Unix()
			tok := sign(t, jwt.SigningMethodES256, testDevKey().priv, testDevKey().KeyID(), c)
			p, err := v.Authenticate(t.Context(), tok)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			requireUnauthenticated(t, p, err, tok, tt.want)
		})
	}
}

// TestAllowedTenantsIgnoreGUIDCase: a tid that is a GUID matches the allow-list's entry for the
// same GUID in any letter case, and the principal's tenant stays the tid as the token has it;
// any other id matches only exactly.
func TestAllowedTenantsIgnoreGUIDCase(t *testing.T) {
	for _, tc := range []struct{ name, allowed, tid, want string }{
		{"GUID tid in lower case, listed in upper case", "0E3B1F6A-9C1D-4A8B-8F2E-1D2C3B4A5F60", "0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f60", ""},
		{"GUID tid in upper case, listed in lower case", "0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f60", "0E3B1F6A-9C1D-4A8B-8F2E-1D2C3B4A5F60", ""},
		{"GUID tid in mixed case", "0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f60", "0e3B1f6A-9c1D-4a8B-8f2E-1d2C3b4A5f60", ""},
		{"same case", "0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f60", "0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f60", ""},
		{"another GUID", "0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f61", "0E3B1F6A-9C1D-4A8B-8F2E-1D2C3B4A5F60", msgTenant},
		{"not a GUID: case matters", "Contoso", "contoso", msgTenant},
		{"GUID-shaped but not hex: case matters", "0E3B1F6A-9C1D-4A8B-8F2E-1D2C3B4A5F6G", "0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f6g", msgTenant},
		{"GUID without hyphens: case matters", "0E3B1F6A9C1D4A8B8F2E1D2C3B4A5F60", "0e3b1f6a9c1d4a8b8f2e1d2c3b4a5f60", msgTenant},
		{"GUID in braces: case matters", "{0E3B1F6A-9C1D-4A8B-8F2E-1D2C3B4A5F60}", "{0e3b1f6a-9c1d-4a8b-8f2e-1d2c3b4a5f60}", msgTenant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, clk := newTestVerifier(t, func(c *Config) { c.AllowedTenants = []string{"t0", tc.allowed} })
			c := claimsAt(clk.Now())
			c["tid"] = tc.tid
			tok := sign(t, jwt.SigningMethodRS256, testRSAKey(), rsaKID, c)
			p, err := v.Authenticate(t.Context(), tok)
			if tc.want != "" {
				requireUnauthenticated(t, p, err, tok, tc.want)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if p.Tenant != tc.tid {
				t.Errorf("tenant %q, want the token's tid %q", p.Tenant, tc.tid)
			}
		})
	}
}

func TestIssuersAudiencesTenants(t *testing.T) {
	const entra = "https://login.microsoftonline.com/" + TenantPlaceholder + "/v2.0"
	tests := []struct {
		name   string
		config func(*Config)
		claims func(jwt.MapClaims)
		want   string
	}{
		{"tenant placeholder matches own tid", func(c *Config) { c.Issuers = []string{entra} },
			func(c jwt.MapClaims) { c["iss"] = "https://login.microsoftonline.com/" + testTenant + "/v2.0" }, ""},
		{"tenant placeholder refuses another tenant's issuer", func(c *Config) { c.Issuers = []string{entra} },
			func(c jwt.MapClaims) { c["iss"] = "https://login.microsoftonline.com/other/v2.0" }, msgIssuer},
		{"tenant placeholder is not a wildcard", func(c *Config) { c.Issuers = []string{entra} },
			func(c jwt.MapClaims) { c["iss"] = entra }, msgIssuer},
		{"second issuer of a list", func(c *Config) { c.Issuers = []string{"https://a/", DevIssuer} },
			func(jwt.MapClaims) {}, ""},
		{"custom audience", func(c *Config) { c.Audiences = []string{"api://remoteassist"} },
			func(c jwt.MapClaims) { c["aud"] = "api://remoteassist" }, ""},
		{"custom audience replaces Graph's", func(c *Config) { c.Audiences = []string{"api://remoteassist"} },
			func(jwt.MapClaims) {}, msgAudience},
		{"allowed tenant", func(c *Config) { c.AllowedTenants = []string{"t0", testTenant} },
			func(jwt.MapClaims) {}, ""},
		{"tenant not allowed", func(c *Config) { c.AllowedTenants = []string{"t0"} },
			func(jwt.MapClaims) {}, msgTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, clk := newTestVerifier(t, tt.config)
			c := claimsAt(clk.Now())
			tt.claims(c)
			tok := sign(t, jwt.SigningMethodRS256, testRSAKey(), rsaKID, c)
			p, err := v.Authenticate(t.Context(), tok)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if p.Tenant != testTenant {
					t.Fatalf("tenant = %q", p.Tenant)
				}
				return
			}
			requireUnauthenticated(t, p, err, tok, tt.want)
		})
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	ec := testDevKey().PublicKey()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key source", Config{Issuers: []string{DevIssuer}}, "no key source"},
		{"no issuer", Config{Keys: []PublicKey{ec}}, "Issuers"},
		{"empty issuer", Config{Keys: []PublicKey{ec}, Issuers: []string{""}}, "Issuers"},
		{"empty audience", Config{Keys: []PublicKey{ec}, Issuers: []string{DevIssuer}, Audiences: []string{""}}, "Audiences"},
		{"empty tenant", Config{Keys: []PublicKey{ec}, Issuers: []string{DevIssuer}, AllowedTenants: []string{""}}, "AllowedTenants"},
		{"HMAC secret", Config{Keys: []PublicKey{{KID: "h", Key: []byte("secret"), Alg: "HS256"}}, Issuers: []string{DevIssuer}}, "unsupported key type"},
		{"short RSA key", Config{Keys: []PublicKey{{KID: "r", Key: &small.PublicKey}}, Issuers: []string{DevIssuer}}, "shorter than"},
		{"RSA algorithm on an EC key", Config{Keys: []PublicKey{{KID: "e", Key: ec.Key, Alg: "RS256"}}, Issuers: []string{DevIssuer}}, "cannot be used"},
		{"HS256 on an RSA key", Config{Keys: []PublicKey{{KID: "r", Key: &testRSAKey().PublicKey, Alg: "HS256"}}, Issuers: []string{DevIssuer}}, "cannot be used"},
		{"no kid", Config{Keys: []PublicKey{{Key: ec.Key}}, Issuers: []string{DevIssuer}}, "no kid"},
		{"duplicate kid", Config{Keys: []PublicKey{ec, ec}, Issuers: []string{DevIssuer}}, "duplicate"},
		{"not an http URL", Config{JWKSURL: "ftp://example.com/keys", Issuers: []string{DevIssuer}}, "JWKSURL"},
		{"relative URL", Config{JWKSURL: "/keys", Issuers: []string{DevIssuer}}, "JWKSURL"},
		{"missing JWKS file", Config{JWKSFile: t.TempDir() + "/nope.json", Issuers: []string{DevIssuer}}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier = %v, %v; want an error containing %q", v, err, tt.want)
			}
		})
	}
}

func TestNewDevVerifier(t *testing.T) {
	k := testDevKey()
	v, err := NewDevVerifier(k)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Mint(TokenSpec{Tenant: testTenant, Subject: testSubject, Scopes: []string{"DeviceManagementServiceConfig.Read.All"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasAny([]string{"DeviceManagementServiceConfig.Read.All"}) || p.Tenant != testTenant {
		t.Fatalf("principal %+v", p)
	}
	// A token from another dev key (another installation) must not pass.
	k2, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := k2.Mint(TokenSpec{Tenant: testTenant})
	if err != nil {
		t.Fatal(err)
	}
	p, err = v.Authenticate(context.Background(), tok2)
	requireUnauthenticated(t, p, err, tok2, msgSignature)
}

// TestClaimNamesAreExact: claims are read by their exact names. A member that differs from one
// only in letter case (or by Unicode folding, as ſ folds to s) is another claim, which an
// identity provider may let a user or an app set; read as the real one, and coming after it, it
// would choose the tenant, the roles or the scopes. A name given twice is refused.
func TestClaimNamesAreExact(t *testing.T) {
	v, clk := newTestVerifier(t, nil)
	dev := testDevKey()
	now := clk.Now().Unix()
	signRaw := func(payload string) string {
		input := enc(t, map[string]string{"alg": "ES256", "kid": dev.KeyID(), "typ": "JWT"}) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(payload))
		sig, err := jwt.SigningMethodES256.Sign(input, dev.priv)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	base := fmt.Sprintf(`"iss":%q,"aud":%q,"iat":%d,"exp":%d`, DevIssuer, GraphAudience, now, now+3600)

	p, err := v.Authenticate(t.Context(), signRaw(`{`+base+`,"tid":"own-tenant","scp":"A.Read",`+
		`"TID":"victim","Tid":"victim","Roles":["DeviceManagementConfiguration.ReadWrite.All"],"ROLES":["X"],"ſcp":"B.ReadWrite","appId":"other-app"}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "own-tenant" || !slices.Equal(p.Scopes, []string{"A.Read"}) || p.Roles != nil || p.App != "" {
		t.Errorf("principal %+v, want tenant own-tenant with only the scope A.Read: a claim in another letter case was read", p)
	}

	p, err = v.Authenticate(t.Context(), signRaw(`{"iss":"`+DevIssuer+`","aud":"`+GraphAudience+`","tid":"t","EXP":`+fmt.Sprint(now+3600)+`}`))
	requireUnauthenticated(t, p, err, "", msgNoExpiry)

	// RFC 7519 §4: a parser rejects a claim name given twice, or takes the last; rejecting
	// leaves no reading of the token to disagree about.
	p, err = v.Authenticate(t.Context(), signRaw(`{`+base+`,"tid":"first","tid":"last"}`))
	requireUnauthenticated(t, p, err, "", msgMalformed)
}
