package bolt

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestIndexShardIsAMap: a shard's table answers what a Go map answers after any sequence of
// sets and removes, whether the hashes spread over the table or crowd a few home slots (long
// probe runs that wrap around the table's end, which removal must keep reachable), through its
// resizes from the first table to large ones.
func TestIndexShardIsAMap(t *testing.T) {
	for _, c := range []struct {
		name string
		hash func(r *rand.Rand) uint64
		most int // entries past which the steps mostly remove
	}{
		{"spread", func(r *rand.Rand) uint64 { return r.Uint64() }, 30_000},
		// Few distinct low bits, and the homes near the table's last slot: every run wraps.
		{"crowded", func(r *rand.Rand) uint64 { return r.Uint64()<<12 | uint64(0xff0+r.IntN(16)) }, 1_000},
		// Only 300 distinct hashes: sets of a known hash update, removes find their entries.
		{"few", func(r *rand.Rand) uint64 { return uint64(r.IntN(300)) * 0x9e3779b97f4a7c15 }, 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var sh indexShard
			defer func() { freeOffHeap(sh.mem) }()
			model := map[uint64]indexEntry{}
			var keys []uint64
			for step := range 120_000 {
				op := r.IntN(10)
				if len(keys) > c.most {
					op = 6 + r.IntN(4)
				}
				switch {
				case op < 6 || len(keys) == 0:
					h := c.hash(r)
					e := indexEntry{txid: uint64(step), sum: r.Uint32()}
					if _, ok := model[h]; !ok {
						keys = append(keys, h)
					}
					sh.set(h, e)
					model[h] = e
				case op < 9:
					i := r.IntN(len(keys))
					h := keys[i]
					keys[i] = keys[len(keys)-1]
					keys = keys[:len(keys)-1]
					sh.remove(h)
					delete(model, h)
				default:
					if h := c.hash(r); !has(model, h) {
						sh.remove(h) // absent: changes nothing
					}
				}
				if step%997 == 0 {
					checkShard(t, &sh, model)
				}
			}
			checkShard(t, &sh, model)
			if len(sh.slots) <= minIndexSlots {
				t.Errorf("the table never grew: %d slots for %d entries", len(sh.slots), sh.used)
			}
		})
	}
}

func has(m map[uint64]indexEntry, h uint64) bool { _, ok := m[h]; return ok }

// checkShard fails t unless sh holds exactly what model holds, at most three quarters full.
func checkShard(t *testing.T, sh *indexShard, model map[uint64]indexEntry) {
	t.Helper()
	if sh.used != len(model) {
		t.Fatalf("%d entries, want %d", sh.used, len(model))
	}
	for h, want := range model {
		if got, ok := sh.get(h); !ok || got != want {
			t.Fatalf("entry of %#x: %v %v, want %v", h, got, ok, want)
		}
	}
	inUse := 0
	for _, s := range sh.slots {
		if s.used {
			inUse++
			if _, ok := model[s.h]; !ok {
				t.Fatalf("a slot holds %#x, which was removed", s.h)
			}
		}
	}
	if inUse != len(model) || (len(sh.slots) > 0 && inUse*4 > len(sh.slots)*3) {
		t.Fatalf("%d slots in use of %d for %d entries", inUse, len(sh.slots), len(model))
	}
}

// TestIndexOutsideTheHeap: the index's tables are mapped memory of their own (and so is the list
// of what Open found, here more than one chunk of it), its size reported, and close gives it back.
func TestIndexOutsideTheHeap(t *testing.T) {
	const n = foundChunkLen + 4464
	var x index
	x.init()
	for i := range n {
		x.addOpen([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'x'}, parsed{sum: uint32(i)})
	}
	if len(x.found) != 2 || x.found[0].mem == nil {
		t.Fatalf("what Open found is in %d chunks (the first mapped: %v), want 2", len(x.found), x.found[0].mem != nil)
	}
	x.built()
	if got := x.len(); got != n {
		t.Fatalf("%d tenants indexed, want %d", got, n)
	}
	// 32 to 64 bytes a tenant, and each table's pages whole.
	if b := x.bytes(); b < n*indexSlotSize*4/3 || b > n*indexSlotSize*8/3+indexShards*syscall.Getpagesize() {
		t.Errorf("%d bytes for %d tenants", b, n)
	}
	// The slot bits are not the shard's: the entries of a shard spread over its table, a few
	// slots from home at most on average (about one at these loads).
	for i := range x.shards {
		sh := &x.shards[i]
		mask, moved := uint64(len(sh.slots)-1), 0
		for j, s := range sh.slots {
			if s.used {
				moved += int((uint64(j) - s.h) & mask)
			}
		}
		if sh.used == 0 || moved > 4*sh.used {
			t.Fatalf("shard %d: %d entries, %d slots from home in all", i, sh.used, moved)
		}
	}
	for i := range x.shards {
		if sh := &x.shards[i]; sh.slots != nil && sh.mem == nil {
			t.Fatalf("shard %d is on the Go heap", i)
		}
	}
	for _, i := range []int{7, n - 1} {
		if e, ok := x.lookup(string([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'x'})); !ok || e.sum != uint32(i) {
			t.Errorf("lookup of %d: %v %v", i, e, ok)
		}
	}
	x.close()
	if x.len() != 0 || x.bytes() != 0 {
		t.Errorf("after close: %d tenants, %d bytes", x.len(), x.bytes())
	}
	if _, ok := x.lookup(string([]byte{7, 0, 0, 'x'})); ok {
		t.Error("a closed index still knows a tenant")
	}
	// A commit that fails as the store closes reverts after the close: nothing is mapped again.
	prev := x.apply([]indexUpdate{{"late", 1}}, 9)
	x.revert(append(prev, indexPrev{h: maphash.String(x.seed, "other"), old: indexEntry{txid: 3}, had: true}))
	if x.len() != 0 || x.bytes() != 0 {
		t.Errorf("after a commit's apply and revert past close: %d tenants, %d bytes", x.len(), x.bytes())
	}
}

// TestIndexConcurrent: lookups beside commits that add entries (the tables growing under them)
// and revert some, then beside close, each see a tenant's entry as it was set or not at all; run
// with -race.
func TestIndexConcurrent(t *testing.T) {
	var x index
	x.init()
	defer x.close()
	const stable = 5000
	var updates []indexUpdate
	for i := range stable {
		updates = append(updates, indexUpdate{fmt.Sprint("stable-", i), uint32(i)})
	}
	x.apply(updates, 1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 4 {
		wg.Go(func() {
			for i := r; ; i = (i + 7) % stable {
				select {
				case <-stop:
					return
				default:
				}
				e, ok := x.lookup(fmt.Sprint("stable-", i))
				if closed := x.shards[0].closedForTest(); !ok && !closed || ok && (e.sum != uint32(i) || e.txid != 1) {
					t.Errorf("stable-%d: %v %v", i, e, ok)
					return
				}
			}
		})
	}
	for c := range 200 {
		var batch []indexUpdate
		for i := range 100 {
			batch = append(batch, indexUpdate{fmt.Sprint("new-", c, "-", i), uint32(i)})
		}
		prev := x.apply(batch, uint64(2+c))
		if c%3 == 0 {
			x.revert(prev)
		}
	}
	x.close()
	time.Sleep(10 * time.Millisecond) // lookups after the close
	close(stop)
	wg.Wait()
}

// closedForTest reports whether close has run on the shard.
func (sh *indexShard) closedForTest() bool {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.closed
}

// indexSlotSize is the bytes of a slot.
const indexSlotSize = int(unsafe.Sizeof(indexSlot{}))

// len returns the number of tenants indexed.
func (x *index) len() int {
	n := 0
	for i := range x.shards {
		sh := &x.shards[i]
		sh.mu.RLock()
		n += sh.used
		sh.mu.RUnlock()
	}
	return n
}

// bytes returns the memory the tables take: their mappings' whole pages.
func (x *index) bytes() int {
	n := 0
	for i := range x.shards {
		sh := &x.shards[i]
		sh.mu.RLock()
		if page := syscall.Getpagesize(); sh.mem != nil {
			n += (len(sh.mem) + page - 1) / page * page // the kernel maps whole pages
		} else {
			n += len(sh.slots) * indexSlotSize
		}
		sh.mu.RUnlock()
	}
	return n
}
