package bolt

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/remoteassist/remoteassist"
)

// DefaultReadCache is how many tenants' settings the read cache holds by default (WithReadCache).
const DefaultReadCache = 16384

// readCache keeps the decoded settings of recently read or written tenants, so that a read of
// one costs a map lookup under a shard's read lock instead of a bbolt read transaction. It exists
// because that transaction is what a GET costs the store: under GET load a profile of the whole
// process put Store.Settings at about 6% of its CPU, 2.8 µs per GET (bbolt's Begin and Rollback
// with their locks and allocations, the path check of path.go, Tx.Bucket, Get, then decoding, the
// checksum and the index's vouching in get). bench/RESULTS.md records what the cache buys.
//
// Coherence. Every entry holds the full tenant string (entries are found by the index's 64-bit
// hash, and the string is compared, so that a collision is a miss, never another tenant's
// settings) and the commit its value is as of. Values get in two ways only, both through put:
//   - a read that missed went the checked way (read, get) in a transaction at commit at, and fills
//     with what it read, as of at;
//   - a commit that succeeded puts each value it wrote, as of its own commit.
//
// A write transaction removes its tenants' entries (a replace: every entry) right after it updates
// the index, inside the transaction, before its commit can be seen. put, under the shard's lock,
// takes a value as of commit txid only if
//   - the index's entry for the tenant (the commit of its newest record, done or in progress) is
//     not newer than txid,
//   - txid is not newer than the newest commit that succeeded (a commit that failed may still
//     have reached the file and be read, when bbolt fails after it wrote the meta page: the index
//     is reverted after that), and
//   - the tenant's entry, if any, is not newer than txid.
//
// So a fill that was checked before a write's index update is removed by that write, and one
// checked after it is refused: once a commit is visible, no entry holds a value older than it,
// and once an update has returned, every read (cached or not) returns its value or a newer one.
// A commit that fails leaves its tenants' entries removed.
//
// Faults. Settings checks the store's health before the cache: a store halted for good refuses
// cached reads as it does others. The cache is emptied when the store first finds damage, when it
// stops writing or serving (a panic in bbolt, the file gone back to an older commit) and when it
// is closed, and fills are refused once it is closed or while the file has gone back. Damage to
// the record of a cached tenant is found by the tenant's next write, by Verify, and by a read once
// the entry is gone; the cached value is one this process committed or read and checked.
//
// Bound. At most size entries (WithReadCache), in up to 64 shards, each with CLOCK eviction: a
// hit sets the entry's reference bit (an atomic store, only when it is clear: no allocation, no
// write lock); a new entry in a full shard replaces the first one the clock hand finds unreferenced,
// clearing bits as it passes. An entry costs about 230 bytes for a tenant id of 36 characters (a
// GUID): the slot (88 bytes), the copies of the tenant id and the settings id (48 bytes each) and
// its share of the shard's map (about 45); a longer tenant id adds its length. A shard takes its
// whole bound at its first entry. The default, 16384 entries, is 3.7 MB of heap when full
// (measured), whatever the number of tenants stored.
type readCache struct {
	shards    []cacheShard
	mask      uint64
	index     *index         // for the hash of a tenant (its seed) and the newest commit of its record
	committed *atomic.Uint64 // the store's newest commit that succeeded
}

type cacheShard struct {
	mu     sync.RWMutex
	m      map[uint64]int32 // the index's hash of the tenant → its slot
	slots  []cacheSlot      // at most max
	max    int
	hand   int
	closed bool
	_      [64]byte // keep shards' locks on cache lines of their own
}

type cacheSlot struct {
	h      uint64
	tenant string
	st     remoteassist.Settings
	txid   uint64 // the commit st is as of
	ref    uint32 // CLOCK's reference bit; atomic, since hits set it under the read lock
}

// maxCacheShards bounds the shards; a cache smaller than 64 entries per shard has fewer.
const maxCacheShards = 64

// newReadCache returns a cache of at most size entries, or nil (no cache: every method of a nil
// cache does nothing) for size 0.
func newReadCache(size int, x *index, committed *atomic.Uint64) *readCache {
	if size <= 0 {
		return nil
	}
	n := 1
	for n < maxCacheShards && 2*n*64 <= size {
		n *= 2
	}
	c := &readCache{shards: make([]cacheShard, n), mask: uint64(n - 1), index: x, committed: committed}
	for i := range c.shards {
		c.shards[i].max = size / n
	}
	return c
}

func (c *readCache) hash(tenant string) uint64 { return maphash.String(c.index.seed, tenant) }

// get returns the cached settings of tenant, if any.
func (c *readCache) get(tenant string) (remoteassist.Settings, bool) {
	if c == nil {
		return remoteassist.Settings{}, false
	}
	h := c.hash(tenant)
	sh := &c.shards[h&c.mask]
	sh.mu.RLock()
	if i, ok := sh.m[h]; ok {
		if e := &sh.slots[i]; e.tenant == tenant {
			if atomic.LoadUint32(&e.ref) == 0 {
				atomic.StoreUint32(&e.ref, 1)
			}
			st := e.st
			sh.mu.RUnlock()
			return st, true
		}
	}
	sh.mu.RUnlock()
	return remoteassist.Settings{}, false
}

// put caches st as the tenant's settings as of commit txid, unless the cache cannot vouch that
// it is the newest (see readCache).
func (c *readCache) put(tenant string, st remoteassist.Settings, txid uint64) {
	if c == nil {
		return
	}
	h := c.hash(tenant)
	sh := &c.shards[h&c.mask]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed || txid > c.committed.Load() {
		return
	}
	if e, ok := c.index.lookupHash(h); ok && e.txid > txid {
		return // a newer record is written, or being written
	}
	if i, ok := sh.m[h]; ok {
		e := &sh.slots[i]
		if e.tenant == tenant {
			if e.txid <= txid {
				e.st, e.txid = st, txid
			}
			return
		}
		// Another tenant of the same hash: this one takes its slot.
		*e = cacheSlot{h: h, tenant: strings.Clone(tenant), st: st, txid: txid}
		return
	}
	if sh.slots == nil { // the shard's whole bound at once: no growing, no slack past it
		sh.slots, sh.m = make([]cacheSlot, 0, sh.max), make(map[uint64]int32, sh.max)
	}
	// A copy of the id: the caller's string may share the memory of a whole request.
	slot := cacheSlot{h: h, tenant: strings.Clone(tenant), st: st, txid: txid}
	if len(sh.slots) < sh.max {
		sh.m[h] = int32(len(sh.slots))
		sh.slots = append(sh.slots, slot)
		return
	}
	for {
		sh.hand %= len(sh.slots)
		e := &sh.slots[sh.hand]
		if e.ref != 0 {
			e.ref = 0
			sh.hand++
			continue
		}
		delete(sh.m, e.h)
		*e = slot
		sh.m[h] = int32(sh.hand)
		sh.hand++
		return
	}
}

// invalidate removes the entries of the tenants a write transaction writes.
func (c *readCache) invalidate(updates []indexUpdate) {
	for _, u := range updates {
		c.forget(u.tenant)
	}
}

// forget removes the tenant's entry, if any (with a hash collision, whichever tenant of that
// hash the slot holds).
func (c *readCache) forget(tenant string) {
	if c == nil {
		return
	}
	h := c.hash(tenant)
	sh := &c.shards[h&c.mask]
	sh.mu.Lock()
	if i, ok := sh.m[h]; ok {
		sh.remove(int(i))
	}
	sh.mu.Unlock()
}

// remove removes slot i, moving the last slot into its place.
func (sh *cacheShard) remove(i int) {
	delete(sh.m, sh.slots[i].h)
	last := len(sh.slots) - 1
	if i != last {
		sh.slots[i] = sh.slots[last]
		sh.m[sh.slots[i].h] = int32(i)
	}
	sh.slots[last] = cacheSlot{}
	sh.slots = sh.slots[:last]
}

// clear removes every entry.
func (c *readCache) clear() { c.eachShard((*cacheShard).reset) }

// close removes every entry and refuses every later one.
func (c *readCache) close() {
	c.eachShard(func(sh *cacheShard) {
		sh.reset()
		sh.closed = true
	})
}

// eachShard calls f with each shard, under the shard's lock.
func (c *readCache) eachShard(f func(*cacheShard)) {
	if c == nil {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		f(sh)
		sh.mu.Unlock()
	}
}

// reset removes the shard's entries, keeping its memory; the caller holds its lock.
func (sh *cacheShard) reset() {
	clear(sh.m)
	clear(sh.slots)
	sh.slots, sh.hand = sh.slots[:0], 0
}
