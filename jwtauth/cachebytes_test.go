package jwtauth

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/remoteassist/remoteassist"
)

// recount checks the cache's byte count against the entries it holds: each entry's recorded
// bytes are entryBytes of its token and principal, and the count is their sum. It returns the
// number of entries and the count.
func recount(t *testing.T, c *tokenCache) (tokens, bytes int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := 0
	for _, k := range c.lru.Keys() {
		e, _ := c.lru.Peek(k)
		if want := entryBytes(k, e.p); e.bytes != want {
			t.Errorf("entry of a %d-byte token records %d bytes, entryBytes says %d", len(k), e.bytes, want)
		}
		sum += e.bytes
	}
	if sum != c.bytes {
		t.Fatalf("the cache counts %d bytes for %d entries holding %d", c.bytes, c.lru.Len(), sum)
	}
	if c.bytes > c.budget {
		t.Fatalf("the cache counts %d bytes, over its budget of %d", c.bytes, c.budget)
	}
	return c.lru.Len(), c.bytes
}

// largeScopes returns n scopes of about 80 bytes each, which make a token's scp claim, and the
// principal's scopes, about n*80 bytes.
func largeScopes(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("Scope.%04d.%s", i, strings.Repeat("x", 70))
	}
	return s
}

// TestCacheByteBound: a flood of distinct large valid tokens, which the count bound alone would
// all keep, keeps the cache within its byte budget, holding as many as fit, while every token
// authenticates.
func TestCacheByteBound(t *testing.T) {
	const budget = 256 << 10
	v, clk := newTestVerifier(t, func(c *Config) { c.CacheBytes = budget })
	scopes := largeScopes(100)
	tokens := make([]string, 2000)
	for i := range tokens {
		tokens[i] = mintAt(t, clk, TokenSpec{Tenant: testTenant, Subject: fmt.Sprint(i), Scopes: scopes})
	}
	if n := len(tokens[0]); n < 10<<10 || n > MaxTokenSize {
		t.Fatalf("a token is %d bytes, want ~12 KiB", n)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	minEntry, maxEntry := 1<<62, 0
	for g := range 4 {
		wg.Go(func() {
			for _, tok := range tokens[g*500 : (g+1)*500] {
				p, err := v.Authenticate(t.Context(), tok)
				if err != nil {
					t.Error(err)
					return
				}
				n := entryBytes(tok, p)
				mu.Lock()
				minEntry, maxEntry = min(minEntry, n), max(maxEntry, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	n, bytes := recount(t, v.cache)
	t.Logf("%d entries of %d to %d bytes hold %d bytes of %d", n, minEntry, maxEntry, bytes, budget)
	if n >= len(tokens) || n > budget/minEntry {
		t.Fatalf("cache holds %d entries of at least %d bytes, more than a %d-byte budget holds", n, minEntry, budget)
	}
	if bytes+maxEntry <= budget {
		t.Fatalf("cache holds only %d bytes of %d: eviction too eager", bytes, budget)
	}
	// The tokens evicted still authenticate, verified again.
	for _, tok := range tokens[:10] {
		if _, err := v.Authenticate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	recount(t, v.cache)
}

// TestCacheTokenOverBudget: a token counted as more than the whole budget authenticates, each
// time by a full verification, and is not cached, while a small token still is.
func TestCacheTokenOverBudget(t *testing.T) {
	const budget = 4 << 10
	v, clk := newTestVerifier(t, func(c *Config) { c.CacheBytes = budget })
	big := mintAt(t, clk, TokenSpec{Tenant: testTenant, Scopes: largeScopes(40)})
	small := mintAt(t, clk, TokenSpec{Tenant: testTenant, Scopes: []string{"s"}})
	if len(big) <= budget {
		t.Fatalf("the big token is only %d bytes", len(big))
	}
	for range 2 {
		if p, err := v.Authenticate(t.Context(), big); err != nil || p.Tenant != testTenant {
			t.Fatalf("big token: %+v, %v", p, err)
		}
	}
	if n, bytes := recount(t, v.cache); n != 0 || bytes != 0 {
		t.Fatalf("cache holds %d entries, %d bytes, after a token over its budget", n, bytes)
	}
	if _, err := v.Authenticate(t.Context(), small); err != nil {
		t.Fatal(err)
	}
	if n, _ := recount(t, v.cache); n != 1 {
		t.Fatalf("cache holds %d entries after a small token, want 1", n)
	}
	// With the audience no longer accepted, only the cache can still accept a token: the big one
	// is verified again, and refused.
	v.audiences = []string{"api://another"}
	p, err := v.Authenticate(t.Context(), big)
	requireUnauthenticated(t, p, err, big, msgAudience)
	if _, err := v.Authenticate(t.Context(), small); err != nil {
		t.Fatalf("cached small token: %v", err)
	}
}

// TestCacheBytesConfig: zero CacheBytes is the default budget; a negative one disables the cache.
func TestCacheBytesConfig(t *testing.T) {
	v, _ := newTestVerifier(t, nil)
	if v.cache == nil || v.cache.budget != DefaultCacheBytes {
		t.Fatalf("default cache: %+v", v.cache)
	}
	v, _ = newTestVerifier(t, func(c *Config) { c.CacheBytes = -1 })
	if v.cache != nil {
		t.Fatal("cache enabled with a negative CacheBytes")
	}
}

// testPrincipal returns a principal of about size bytes of strings, in a few roles.
func testPrincipal(r *rand.Rand, size int) remoteassist.Principal {
	p := remoteassist.Principal{Tenant: testTenant, Subject: fmt.Sprint(r.Int())}
	for range r.IntN(4) {
		p.Roles = append(p.Roles, strings.Repeat("r", r.IntN(size+1)))
	}
	return p
}

// TestCacheAccountingExact: after any mix of puts (new tokens, tokens put again, tokens over the
// budget, already expired ones), hits, gets of expired tokens and of tokens whose key is no longer
// trusted, and evictions by count and by bytes, the byte count is the sum over the entries held,
// and it returns to 0 once every token has expired.
func TestCacheAccountingExact(t *testing.T) {
	const budget = 8 << 10
	c := newTokenCache(6, budget)
	r := rand.New(rand.NewPCG(1, 2))
	keys := []*verKey{{kid: "a"}, {kid: "b"}}
	revoked := map[*verKey]bool{}
	trusted := func(k *verKey) bool { return !revoked[k] }
	var now int64
	tokens := make([]string, 40)
	// Half the tokens are small, so that the count bound is reached too.
	for i := range tokens {
		tokens[i] = fmt.Sprintf("token-%02d", i)
		if i%2 == 1 {
			tokens[i] += strings.Repeat("t", r.IntN(3000))
		}
	}
	for range 5000 {
		now += int64(r.IntN(3))
		i := r.IntN(len(tokens))
		tok := tokens[i]
		switch op := r.IntN(10); {
		case op < 5: // a put, which may be of a token held, over the budget, or expired
			size := 50
			if i%2 == 1 {
				size = 2500
			}
			c.put(tok, testPrincipal(r, size), keys[r.IntN(len(keys))], now+int64(r.IntN(60))-5, now)
		case op < 9:
			c.get(tok, now, trusted)
		default: // the provider revokes a key, or trusts it again
			k := keys[r.IntN(len(keys))]
			revoked[k] = !revoked[k]
		}
		if t.Failed() {
			return
		}
		recount(t, c)
	}
	clear(revoked)
	for _, tok := range tokens {
		c.get(tok, now+100, trusted)
	}
	if n, bytes := recount(t, c); n != 0 || bytes != 0 {
		t.Fatalf("after every token expired: %d entries, %d bytes", n, bytes)
	}
}

// TestCacheAccountingConcurrent: the byte count stays exact when goroutines put, hit, expire and
// distrust entries at once (run with -race, which also checks that the count is only touched
// under the cache's lock).
func TestCacheAccountingConcurrent(t *testing.T) {
	const budget = 16 << 10
	c := newTokenCache(8, budget)
	keys := []*verKey{{kid: "a"}, {kid: "b"}}
	var revokedB sync.Map // set while keys[1] is distrusted
	trusted := func(k *verKey) bool { _, gone := revokedB.Load(k); return !gone }
	tokens := make([]string, 30)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("token-%02d-%s", i, strings.Repeat("t", i*100))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for i := range 3000 {
				now := int64(i)
				tok := tokens[r.IntN(len(tokens))]
				switch op := r.IntN(10); {
				case op < 5:
					c.put(tok, testPrincipal(r, 2000), keys[r.IntN(2)], now+int64(r.IntN(40)), now)
				case op < 9:
					c.get(tok, now, trusted)
				case r.IntN(2) == 0:
					revokedB.Store(keys[1], true)
				default:
					revokedB.Delete(keys[1])
				}
			}
		})
	}
	wg.Wait()
	recount(t, c)
	revokedB.Delete(keys[1])
	for _, tok := range tokens {
		c.get(tok, 1<<40, trusted)
	}
	if n, bytes := recount(t, c); n != 0 || bytes != 0 {
		t.Fatalf("after every token expired: %d entries, %d bytes", n, bytes)
	}
}
