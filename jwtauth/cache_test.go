package jwtauth

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func mintAt(t testing.TB, clk *clock, spec TokenSpec) string {
	t.Helper()
	spec.IssuedAt = clk.Now()
	tok, err := testDevKey().Mint(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCacheSkipsVerification(t *testing.T) {
	v, clk := newTestVerifier(t, nil)
	cached := mintAt(t, clk, TokenSpec{Tenant: testTenant, Scopes: []string{"s"}})
	if _, err := v.Authenticate(t.Context(), cached); err != nil {
		t.Fatal(err)
	}
	// With the audience no longer accepted, only the cache can still accept a token.
	v.audiences = []string{"api://another"}
	if p, err := v.Authenticate(t.Context(), cached); err != nil || p.Tenant != testTenant {
		t.Fatalf("cached token: %+v, %v", p, err)
	}
	fresh := mintAt(t, clk, TokenSpec{Tenant: testTenant, Subject: "other"})
	p, err := v.Authenticate(t.Context(), fresh)
	requireUnauthenticated(t, p, err, fresh, msgAudience)
}

// TestCacheForgetsUntrustedKeys: a cached token is accepted only while the key that verified it
// is trusted; with the key gone it is verified again, and refused.
func TestCacheForgetsUntrustedKeys(t *testing.T) {
	v, clk := newTestVerifier(t, nil)
	cached := mintAt(t, clk, TokenSpec{Tenant: testTenant, Scopes: []string{"s"}})
	if _, err := v.Authenticate(t.Context(), cached); err != nil {
		t.Fatal(err)
	}
	v.static = map[string]*verKey{}
	p, err := v.Authenticate(t.Context(), cached)
	requireUnauthenticated(t, p, err, cached, msgSignature)
	if v.cache.len() != 0 {
		t.Errorf("the cache still holds %d tokens", v.cache.len())
	}
}

// TestCacheFarExpiry: an exp past the year 2262 (this one is 250 years away), where nanoseconds overflow int64, still caches
// the token until then, not until a moment already past.
func TestCacheFarExpiry(t *testing.T) {
	v, clk := newTestVerifier(t, nil)
	tok := mintAt(t, clk, TokenSpec{Tenant: testTenant, TTL: 250 * 365 * 24 * time.Hour})
	if _, err := v.Authenticate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if v.cache.len() != 1 {
		t.Fatalf("a token of exp %v was not cached", clk.Now().Add(250*365*24*time.Hour))
	}
}

func TestCacheHonoursExpiry(t *testing.T) {
	v, clk := newTestVerifier(t, nil)
	tok := mintAt(t, clk, TokenSpec{Tenant: testTenant, TTL: 10 * time.Minute})
	if _, err := v.Authenticate(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10*time.Minute + DefaultLeeway - time.Second)
	if _, err := v.Authenticate(t.Context(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clk.Advance(time.Second)
	p, err := v.Authenticate(t.Context(), tok)
	requireUnauthenticated(t, p, err, tok, msgExpired)
	if n := v.cache.len(); n != 0 {
		t.Errorf("expired entry still cached (%d entries)", n)
	}
}

func TestCacheBound(t *testing.T) {
	for _, size := range []int{1, 7, 100, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			v, clk := newTestVerifier(t, func(c *Config) { c.CacheSize = size })
			tokens := make([]string, 2000)
			for i := range tokens {
				tokens[i] = mintAt(t, clk, TokenSpec{Tenant: testTenant, Subject: fmt.Sprint(i)})
			}
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for _, tok := range tokens[g*500 : (g+1)*500] {
						if _, err := v.Authenticate(t.Context(), tok); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if n := v.cache.len(); n > size {
				t.Fatalf("cache holds %d entries, bound %d", n, size)
			} else if n < size/2 {
				t.Fatalf("cache holds only %d entries of %d: eviction too eager", n, size)
			}
		})
	}
}

func TestCacheDisabled(t *testing.T) {
	v, clk := newTestVerifier(t, func(c *Config) { c.CacheSize = -1 })
	if v.cache != nil {
		t.Fatal("cache enabled")
	}
	tok := mintAt(t, clk, TokenSpec{Tenant: testTenant})
	for range 2 {
		if _, err := v.Authenticate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCachedHitAllocatesNothing(t *testing.T) {
	v, clk := newTestVerifier(t, nil)
	tok := mintAt(t, clk, TokenSpec{Tenant: testTenant, Scopes: []string{"a", "b"}, Roles: []string{"r"}})
	ctx := t.Context()
	if _, err := v.Authenticate(ctx, tok); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := v.Authenticate(ctx, tok); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("cached Authenticate allocates %v times", allocs)
	}
}

func TestSharedPrincipalSurvivesAppend(t *testing.T) {
	v, clk := newTestVerifier(t, nil)
	tok := mintAt(t, clk, TokenSpec{Tenant: testTenant, Scopes: []string{"a", "b"}, Roles: []string{"r"}})
	p1, err := v.Authenticate(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(p1.Scopes, "injected")
	_ = append(p1.Roles, "injected")
	p2, err := v.Authenticate(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Scopes) != 2 || len(p2.Roles) != 1 || p2.Scopes[:cap(p2.Scopes)][len(p2.Scopes)-1] != "b" {
		t.Fatalf("shared principal changed: %+v", p2)
	}
	if cap(p2.Scopes) != len(p2.Scopes) || cap(p2.Roles) != len(p2.Roles) {
		t.Fatalf("shared slices have spare capacity, so append would write into them")
	}
}

// TestAppClaims: the principal's App is appid (v1 tokens), else azp (v2 tokens).
func TestAppClaims(t *testing.T) {
	v, clk := newTestVerifier(t, nil)
	p, err := v.Authenticate(t.Context(), mintAt(t, clk, TokenSpec{Tenant: testTenant, App: "sync-job"}))
	if err != nil || p.App != "sync-job" {
		t.Errorf("appid: %+v, %v", p, err)
	}
	claims := claimsAt(clk.Now())
	claims["azp"] = "spa-client"
	p, err = v.Authenticate(t.Context(), sign(t, jwt.SigningMethodES256, testDevKey().priv, testDevKey().KeyID(), claims))
	if err != nil || p.App != "spa-client" {
		t.Errorf("azp: %+v, %v", p, err)
	}
}
