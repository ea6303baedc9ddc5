package jwtauth

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"

	"github.com/remoteassist/remoteassist"
)

// cacheWays is the number of slots a token may occupy. Four slots of 16 bytes fill one cache
// line, so a lookup touches one line plus the matching entry.
const cacheWays = 4

// tokenCache remembers successfully verified tokens until they expire. It is a fixed-size,
// 4-way set-associative table of atomic pointers: a lookup is a few atomic loads and takes no
// lock, so concurrent hits on the same popular token never contend (a read lock would bounce
// its counter between cores on every hit), and the size bound holds by construction.
//
// Tokens are placed by a keyed 64-bit hash (the per-process seed means nobody can precompute
// collisions) and confirmed by comparing the whole stored token, so a hash collision can only
// cost a miss, never return another caller's principal.
type tokenCache struct {
	seed    maphash.Seed
	buckets uint64
	ways    int
	slots   []cacheSlot
}

type cacheSlot struct {
	// tag is the hash of the entry, checked before the entry is dereferenced. It is written
	// separately from entry, so a reader may see a mismatched pair; the full check on the entry
	// makes that a miss, never a wrong answer.
	tag   atomic.Uint64
	entry atomic.Pointer[cacheEntry]
}

// cacheEntry is immutable once stored, so readers may use it without synchronisation.
type cacheEntry struct {
	hash  uint64
	token string
	p     remoteassist.Principal
	until int64 // Unix nanoseconds at which the token stops being accepted: exp plus leeway
}

// newTokenCache returns a cache holding at most size (at least 1) entries: size rounded down to a
// multiple of cacheWays when larger than it.
func newTokenCache(size int) *tokenCache {
	ways := min(size, cacheWays)
	buckets := size / ways
	return &tokenCache{
		seed:    maphash.MakeSeed(),
		buckets: uint64(buckets),
		ways:    ways,
		slots:   make([]cacheSlot, buckets*ways),
	}
}

// set returns the slots where a token with hash h may live.
func (c *tokenCache) set(h uint64) []cacheSlot {
	// Lemire's multiply-shift maps h onto [0, buckets) without a division.
	b, _ := bits.Mul64(h, c.buckets)
	i := int(b) * c.ways
	return c.slots[i : i+c.ways]
}

// get returns the principal of a verified token that is still valid at now (Unix nanoseconds).
func (c *tokenCache) get(token string, now int64) (remoteassist.Principal, bool) {
	h := maphash.String(c.seed, token)
	set := c.set(h)
	for i := range set {
		if set[i].tag.Load() != h {
			continue
		}
		e := set[i].entry.Load()
		if e == nil || e.hash != h || !sameToken(e.token, token) {
			continue
		}
		if now >= e.until {
			set[i].entry.CompareAndSwap(e, nil)
			return remoteassist.Principal{}, false
		}
		return e.p, true
	}
	return remoteassist.Principal{}, false
}

// put stores a verified token, in the first slot of its set that is free, expired or holds the
// same token, and otherwise in a random one of them: random eviction needs no bookkeeping on the
// hit path.
func (c *tokenCache) put(token string, p remoteassist.Principal, until, now int64) {
	h := maphash.String(c.seed, token)
	set := c.set(h)
	victim := -1
	for i := range set {
		if e := set[i].entry.Load(); e == nil || now >= e.until || e.hash == h {
			victim = i
			break
		}
	}
	if victim < 0 {
		victim = rand.IntN(len(set))
	}
	set[victim].entry.Store(&cacheEntry{hash: h, token: token, p: p, until: until})
	set[victim].tag.Store(h)
}

// len returns the number of cached tokens.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].entry.Load() != nil {
			n++
		}
	}
	return n
}

// sameToken compares in constant time, so the comparison leaks nothing about a cached token to
// a caller who found a colliding hash. crypto/subtle.ConstantTimeCompare goes byte by byte, which
// alone costs most of a microsecond on a typical token; XORing eight bytes at a time into one
// accumulator is just as free of data-dependent branches and several times faster.
func sameToken(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var acc uint64
	i := 0
	for ; i+8 <= len(a); i += 8 {
		acc |= load64(a[i:i+8]) ^ load64(b[i:i+8])
	}
	for ; i < len(a); i++ {
		acc |= uint64(a[i] ^ b[i])
	}
	return acc == 0
}

// load64 reads eight bytes; the compiler turns it into a single load.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
