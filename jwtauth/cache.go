package jwtauth

import (
	"strings"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/remoteassist/remoteassist"
)

// entryOverhead is the heap an entry takes besides the bytes entryBytes counts for its token and
// principal: the LRU's list element (the links, the key's and the cacheEntry's headers and the
// unused expiry fields: 185 bytes, in the 192-byte size class) and the map's slot for it (key and
// element pointer, 24 bytes, which the swiss map's load factor and power-of-two growth make ~27
// to ~55). Measured, not only derived: a Verifier caching N distinct tokens (N = 1,000 to 20,000)
// grew the heap (runtime.ReadMemStats after runtime.GC, the tokens themselves held outside the
// cache) by 201 to 227 bytes an entry more than entryBytes counts without this constant, for
// tokens whose principal has no scopes or roles, and by 98 to 116 for a typical principal with
// five scopes and two roles; 256 covers both. Not counted: the allocator's rounding of each
// string to its size class, up to 1/8 of it, which a token with hundreds of short roles makes
// ~20 % of the entry (a 14.7 KiB token with 200 roles of 50 bytes took 34.3 KB for 28.3 KB
// counted).
const entryOverhead = 256

// stringHeader is the size of a string header, which a slice of strings holds for each element.
const stringHeader = 16

// tokenCache remembers successfully verified tokens until they expire, so that the requests of
// a client reusing its token skip the signature check (about 100 µs for ES256, against a
// fraction of a microsecond for a hit). It holds at most its size in tokens and its budget in
// bytes (entryBytes of each), the least recently used going first, however many distinct tokens
// arrive: a count alone would let 10,000 tokens of 16 KiB pin ~170 MB. Each entry keeps the key
// that verified it, so that a token is not accepted from the cache once its key is no longer
// trusted.
//
// One mutex guards the LRU and the byte count together, so that the count is exact at every
// moment: the LRU's removal callback, which gives an entry's bytes back however it leaves
// (expiry, untrusted key, eviction by count or by bytes), runs under it. golang-lru's own
// thread-safe Cache would run that callback after releasing its lock, leaving a window in which
// the count and the entries disagree; the simple LRU under this mutex takes the one lock a hit
// took before.
type tokenCache struct {
	mu     sync.Mutex
	lru    *simplelru.LRU[string, cacheEntry] // guarded by mu
	bytes  int                                // entryBytes summed over the entries held; guarded by mu
	budget int                                // the most bytes held; an entry costing more is not cached
}

// cacheEntry is what a verified token stands for, and until when.
type cacheEntry struct {
	p     remoteassist.Principal
	key   *verKey // the key that verified the token
	until int64   // Unix nanoseconds at which the token stops being accepted: exp plus leeway
	bytes int     // entryBytes of the entry, given back when it leaves
}

// newTokenCache returns a cache holding at most size (at least 1) tokens and budget bytes.
func newTokenCache(size, budget int) *tokenCache {
	c := &tokenCache{budget: budget}
	l, err := simplelru.NewLRU(max(size, 1), func(_ string, e cacheEntry) { c.bytes -= e.bytes })
	if err != nil {
		panic(err) // only for a size below 1
	}
	c.lru = l
	return c
}

// entryBytes is what caching token for p costs: the token (the key, cloned by put), the
// principal's strings, the string headers of its slices, and entryOverhead. The scopes are
// substrings of the scp claim, which they keep whole; the spaces between them (one a scope) are
// within entryOverhead's rounding.
func entryBytes(token string, p remoteassist.Principal) int {
	n := entryOverhead + len(token) + len(p.Tenant) + len(p.Subject) + len(p.App)
	for _, s := range p.Scopes {
		n += stringHeader + len(s)
	}
	for _, s := range p.Roles {
		n += stringHeader + len(s)
	}
	return n
}

// get returns the principal of a token verified before that has not expired at now and whose
// key trusted still reports as trusted; it forgets any other.
func (c *tokenCache) get(token string, now int64, trusted func(*verKey) bool) (remoteassist.Principal, bool) {
	c.mu.Lock()
	e, ok := c.lru.Get(token)
	c.mu.Unlock()
	if !ok {
		return remoteassist.Principal{}, false
	}
	// trusted is asked outside the lock: it reads the key sources, which have locks of their own.
	if now >= e.until || !trusted(e.key) {
		c.mu.Lock()
		// Only the entry judged: another goroutine may have put the token again since, verified by
		// a key that is trusted (a refreshed set's).
		if cur, ok := c.lru.Peek(token); ok && cur.key == e.key && cur.until == e.until {
			c.lru.Remove(token)
		}
		c.mu.Unlock()
		return remoteassist.Principal{}, false
	}
	return e.p, true
}

// put remembers a token key verified until until, unless it has expired at now or costs more
// than the whole budget (it is then verified again at each use, as with no cache). To make room
// it forgets the least recently used tokens.
func (c *tokenCache) put(token string, p remoteassist.Principal, key *verKey, until, now int64) {
	if until <= now {
		return
	}
	n := entryBytes(token, p)
	if n > c.budget {
		return
	}
	// The caller's token may be a substring of a longer string (the Authorization header):
	// cloned, the entry pins only the bytes it counts.
	token = strings.Clone(token)
	c.mu.Lock()
	defer c.mu.Unlock()
	// A token verified by two requests at once is put twice; the last put wins, as Add's update
	// would, but through Remove, so that the first entry's bytes are given back.
	c.lru.Remove(token)
	for c.bytes+n > c.budget {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break // unreachable: n fits the budget, so an empty cache has room
		}
	}
	c.lru.Add(token, cacheEntry{p: p, key: key, until: until, bytes: n})
	c.bytes += n
}

// len returns the number of tokens held.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
