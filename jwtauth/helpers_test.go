package jwtauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/remoteassist/remoteassist"
)

// Test keys are generated once per test binary: RSA generation is slow.
var (
	testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	testDevKey = sync.OnceValue(func() *Key {
		k, err := GenerateKey()
		if err != nil {
			panic(err)
		}
		return k
	})
)

const (
	testTenant  = "8d7a3c1e-0000-4000-8000-000000000001"
	testSubject = "5f0e2b1a-0000-4000-8000-0000000000aa"
	rsaKID      = "rsa-test-1"
)

func newECKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// claimsAt returns valid delegated-token claims for the dev issuer and Graph audience.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": DevIssuer,
		"aud": GraphAudience,
		"tid": testTenant,
		"oid": testSubject,
		"sub": "pairwise-sub",
		"scp": "DeviceManagementServiceConfig.Read.All",
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}

// sign signs claims with any golang-jwt method; kid "" leaves the header without one.
func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func enc(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// rawToken assembles a token from arbitrary parts, for forgeries no library would produce.
func rawToken(t testing.TB, header, claims any, sig string) string {
	return enc(t, header) + "." + enc(t, claims) + "." + sig
}

// requireUnauthenticated checks that a refusal carries no principal, the right code and message,
// and does not echo the token.
func requireUnauthenticated(t *testing.T, p remoteassist.Principal, err error, token, wantMsg string) {
	t.Helper()
	if p.Tenant != "" || p.Subject != "" || p.Scopes != nil || p.Roles != nil {
		t.Errorf("got principal %+v with the error", p)
	}
	var e *remoteassist.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *remoteassist.Error", err, err)
	}
	if e.Code != remoteassist.EUNAUTHENTICATED {
		t.Errorf("code = %q, want %q (err: %v)", e.Code, remoteassist.EUNAUTHENTICATED, err)
	}
	if e.Message != wantMsg {
		t.Errorf("message = %q, want %q (err: %v)", e.Message, wantMsg, err)
	}
	if len(token) >= 16 && (strings.Contains(err.Error(), token) || strings.Contains(e.Message, token[:16])) {
		t.Errorf("error echoes the token: %v", err)
	}
}

// signAs signs claims with method but writes headerAlg into the header: a signature that is
// valid for the key, under a label that is not the key's algorithm.
func signAs(t testing.TB, headerAlg string, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	input := enc(t, map[string]string{"alg": headerAlg, "kid": kid, "typ": "JWT"}) + "." + enc(t, claims)
	sig, err := m.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
