package bolt

import (
	"hash/maphash"
	"sync"
	"syscall"
	"unsafe"
)

// index remembers, for each tenant with a record, which commit wrote its newest record and that
// record's checksum. Tenants are keyed by a 64-bit hash of their id; two tenants of one hash would
// read as damaged, not as each other, and are as likely as a random 64-bit collision.
//
// The entries live outside the Go heap, in open-addressing tables of anonymous memory (24 bytes a
// slot, at most three quarters full: 32 to 64 bytes per tenant, and a page at least for each of
// the 64 tables in use, 256 KiB in all with 4 KiB pages; resident as the process's own memory).
// In a Go map, the index of a million tenants (~56 MB) also raised the collector's heap goal by
// as much again, which the garbage of serving then filled: the process held about twice the
// index (bench/SCALE.md). The tables are split in indexShards by the hash's top bits, so
// that a table that fills is copied into one twice its size while only its own shard waits: a
// 64th of the entries, not all of them at once.
type index struct {
	seed   maphash.Seed
	shards [indexShards]indexShard
	// found collects what the check at Open finds, for built to size the tables at once, in
	// chunks of anonymous memory like the tables' (a list on the Go heap, 16 bytes a tenant, was
	// garbage once built, but in the process's memory until a collection after start-up, which an
	// idle server may not make for minutes).
	found []foundChunk
}

// foundChunk is a part of index.found, foundChunkLen long at most.
type foundChunk struct {
	found []found
	mem   []byte
}

const foundChunkLen = 1 << 16 // 1 MiB

// indexShards is the number of tables; the top indexShardBits bits of a hash pick one.
const (
	indexShardBits = 6
	indexShards    = 1 << indexShardBits
)

// minIndexSlots is the size of a shard's first table: 3 KiB, in a page of its own.
const minIndexSlots = 128

type found struct {
	h   uint64
	sum uint32
}

type indexEntry struct {
	txid uint64
	sum  uint32
}

type indexUpdate struct {
	tenant string
	sum    uint32
}

type indexPrev struct {
	h   uint64
	old indexEntry
	had bool
}

// indexShard is one table: linear probing, the slot of a hash its low bits.
type indexShard struct {
	mu    sync.RWMutex
	slots []indexSlot // a power of two long, or nil
	mem   []byte      // the mapping slots lives in; nil when slots is on the Go heap
	used  int
	// closed is set by close: the shard then stays empty, whatever a commit still ending does
	// (a failed commit reverts its entries after bbolt's Close has returned).
	closed bool
	_      [64]byte // apart from the next shard's lock, as the read cache's shards are
}

// indexSlot is one entry of a table, or an empty slot (used is false).
type indexSlot struct {
	h    uint64
	txid uint64
	sum  uint32
	used bool
}

func (x *index) init() {
	x.seed = maphash.MakeSeed()
}

// addOpen adds a record found at Open (before any commit of this process: commit 0). built
// makes them the index.
func (x *index) addOpen(key []byte, p parsed) {
	if len(x.found) == 0 || len(x.found[len(x.found)-1].found) == foundChunkLen {
		f, mem := allocOffHeap[found](foundChunkLen)
		x.found = append(x.found, foundChunk{f[:0], mem})
	}
	c := &x.found[len(x.found)-1]
	c.found = append(c.found, found{maphash.Bytes(x.seed, key), p.sum})
}

// built makes the index of what addOpen collected, each table sized for its share at once. It
// holds every shard's lock meanwhile.
func (x *index) built() {
	var counts [indexShards]int
	for _, c := range x.found {
		for _, f := range c.found {
			counts[shardOf(f.h)]++
		}
	}
	for i := range x.shards {
		sh := &x.shards[i]
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if n := slotsFor(sh.used + counts[i]); counts[i] > 0 && n > len(sh.slots) {
			sh.resize(n)
		}
	}
	for _, c := range x.found {
		for _, f := range c.found {
			x.shards[shardOf(f.h)].set(f.h, indexEntry{sum: f.sum})
		}
		freeOffHeap(c.mem)
	}
	x.found = nil
}

func (x *index) lookup(tenant string) (indexEntry, bool) {
	return x.lookupHash(maphash.String(x.seed, tenant))
}

// lookupHash is lookup of the tenant whose hash is h.
func (x *index) lookupHash(h uint64) (indexEntry, bool) {
	sh := &x.shards[shardOf(h)]
	sh.mu.RLock()
	e, ok := sh.get(h)
	sh.mu.RUnlock()
	return e, ok
}

// apply records the records commit txid writes and returns what they replace, for revert.
func (x *index) apply(updates []indexUpdate, txid uint64) []indexPrev {
	if len(updates) == 0 {
		return nil
	}
	prev := make([]indexPrev, len(updates))
	for i, u := range updates {
		h := maphash.String(x.seed, u.tenant)
		sh := &x.shards[shardOf(h)]
		sh.mu.Lock()
		old, had := sh.get(h)
		prev[i] = indexPrev{h, old, had}
		sh.set(h, indexEntry{txid: txid, sum: u.sum})
		sh.mu.Unlock()
	}
	return prev
}

// revert undoes apply, for a commit that failed.
func (x *index) revert(prev []indexPrev) {
	for i := len(prev) - 1; i >= 0; i-- {
		p := prev[i]
		sh := &x.shards[shardOf(p.h)]
		sh.mu.Lock()
		if p.had {
			sh.set(p.h, p.old)
		} else {
			sh.remove(p.h)
		}
		sh.mu.Unlock()
	}
}

// close gives the tables' memory back, and the list of a check that built no index; the index is
// empty afterwards, and stays so.
func (x *index) close() {
	for _, c := range x.found {
		freeOffHeap(c.mem)
	}
	x.found = nil
	for i := range x.shards {
		sh := &x.shards[i]
		sh.mu.Lock()
		freeOffHeap(sh.mem)
		sh.slots, sh.mem, sh.used, sh.closed = nil, nil, 0, true
		sh.mu.Unlock()
	}
}

func shardOf(h uint64) uint64 { return h >> (64 - indexShardBits) }

// slotsFor returns the table size that holds n entries at most three quarters full.
func slotsFor(n int) int {
	size := minIndexSlots
	for size*3/4 < n {
		size *= 2
	}
	return size
}

// get returns the entry of h. The caller holds the shard's lock.
func (sh *indexShard) get(h uint64) (indexEntry, bool) {
	if s := sh.find(h); s != nil {
		return indexEntry{txid: s.txid, sum: s.sum}, true
	}
	return indexEntry{}, false
}

// set makes e the entry of h, growing the table first if a new entry would fill it past three
// quarters. The caller holds the shard's write lock.
func (sh *indexShard) set(h uint64, e indexEntry) {
	if sh.closed {
		return
	}
	if s := sh.find(h); s != nil {
		s.txid, s.sum = e.txid, e.sum
		return
	}
	if (sh.used+1)*4 > len(sh.slots)*3 {
		sh.resize(max(minIndexSlots, 2*len(sh.slots)))
	}
	mask := uint64(len(sh.slots) - 1)
	i := h & mask
	for sh.slots[i].used {
		i = (i + 1) & mask
	}
	sh.slots[i] = indexSlot{h: h, txid: e.txid, sum: e.sum, used: true}
	sh.used++
}

// find returns the slot of h, or nil. The caller holds the shard's lock.
func (sh *indexShard) find(h uint64) *indexSlot {
	if sh.slots == nil {
		return nil
	}
	mask := uint64(len(sh.slots) - 1)
	for i := h & mask; sh.slots[i].used; i = (i + 1) & mask {
		if sh.slots[i].h == h {
			return &sh.slots[i]
		}
	}
	return nil
}

// remove deletes the entry of h, if any, moving back the entries after it that their probe
// sequences allow, so that no lookup meets an empty slot before its entry (no tombstones). The
// caller holds the shard's write lock.
func (sh *indexShard) remove(h uint64) {
	if sh.slots == nil {
		return
	}
	mask := uint64(len(sh.slots) - 1)
	i := h & mask
	for ; sh.slots[i].h != h || !sh.slots[i].used; i = (i + 1) & mask {
		if !sh.slots[i].used {
			return
		}
	}
	for j := (i + 1) & mask; sh.slots[j].used; j = (j + 1) & mask {
		// The entry at j may move to i only if its home slot is not in (i, j], cyclically:
		// otherwise a lookup from its home would stop at i, now empty, and miss it.
		home := sh.slots[j].h & mask
		if (j-home)&mask >= (j-i)&mask {
			sh.slots[i] = sh.slots[j]
			i = j
		}
	}
	sh.slots[i] = indexSlot{}
	sh.used--
}

// resize moves the shard's entries into a new table of n slots. The caller holds the shard's
// write lock.
func (sh *indexShard) resize(n int) {
	slots, mem := allocOffHeap[indexSlot](n)
	mask := uint64(n - 1)
	for _, s := range sh.slots {
		if !s.used {
			continue
		}
		i := s.h & mask
		for slots[i].used {
			i = (i + 1) & mask
		}
		slots[i] = s
	}
	freeOffHeap(sh.mem)
	sh.slots, sh.mem = slots, mem
}

// allocOffHeap returns n zero Ts in anonymous memory of their own, outside the Go heap: the
// collector neither counts them in its heap goal nor scans them, so T must hold no pointer.
// Where the kernel refuses the mapping, they are on the Go heap instead (mem is nil).
func allocOffHeap[T any](n int) (ts []T, mem []byte) {
	size := n * int(unsafe.Sizeof(*new(T)))
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]T, n), nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), n), mem
}

// freeOffHeap unmaps what allocOffHeap mapped (nothing, for a nil mem); nothing may use its Ts
// afterwards.
func freeOffHeap(mem []byte) {
	if mem != nil {
		_ = syscall.Munmap(mem)
	}
}
