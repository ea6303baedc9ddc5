package bolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/storetest"
)

// len returns the number of entries.
func (c *readCache) len() int {
	if c == nil {
		return 0
	}
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.slots)
		sh.mu.RUnlock()
	}
	return n
}

// capacity returns the most entries the shards can hold.
func (c *readCache) capacity() int {
	n := 0
	for i := range c.shards {
		n += c.shards[i].max
	}
	return n
}

// peek returns the entry of tenant without marking it referenced.
func (c *readCache) peek(tenant string) (st remoteassist.Settings, txid uint64, ok bool) {
	if c == nil {
		return st, 0, false
	}
	h := c.hash(tenant)
	sh := &c.shards[h&c.mask]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if i, found := sh.m[h]; found && sh.slots[i].tenant == tenant {
		return sh.slots[i].st, sh.slots[i].txid, true
	}
	return st, 0, false
}

// openCache opens a store with a read cache of size entries in a fresh directory.
func openCache(t testing.TB, size int) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "settings.db"), WithReadCache(size))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReadCacheOption(t *testing.T) {
	if s := openCache(t, 0); s.cache != nil {
		t.Error("WithReadCache(0) left a cache")
	}
	if s, _ := openTemp(t); s.cache == nil || s.cache.capacity() != DefaultReadCache {
		t.Errorf("the default cache holds %d entries, want %d", s.cache.capacity(), DefaultReadCache)
	}
	if s, err := Open(filepath.Join(t.TempDir(), "settings.db"), WithReadCache(-1)); err == nil {
		s.Close()
		t.Error("Open accepted a negative cache size")
	}
	// TestContract runs the contract with the default cache; here without one, and with one so
	// small that it evicts all the time.
	for _, size := range []int{0, 2} {
		t.Run(fmt.Sprintf("contract/cache=%d", size), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) remoteassist.Store { return openCache(t, size) })
		})
	}
}

// TestReadCacheFillRace drives the race between a read that missed the cache and a write of the
// same tenant, with the store's hooks, at each point where the read's fill can come: the reader
// read commit n, and a write makes commit n+1. The fill must never leave commit n's value cached
// once the write has updated the index, and the reads after the write returned must return its
// value.
func TestReadCacheFillRace(t *testing.T) {
	const tenant = "racy"
	cases := []struct {
		name string
		fill string // when the reader fills: before the write updates the index, after, or after the commit
	}{
		{"a fill made before the write's index update is removed by it", "before"},
		{"a fill checked after the write's index update is refused", "after index"},
		{"a fill checked after the write's commit is refused", "after commit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openCache(t, DefaultReadCache)
			old, err := s.UpdateSettings(t.Context(), tenant, remoteassist.Patch{BlockChat: ptr(true)})
			if err != nil {
				t.Fatal(err)
			}
			n := s.committed.Load()
			s.cache.clear() // the next read misses

			type result struct {
				st  remoteassist.Settings
				err error
			}
			var (
				holdFill          atomic.Bool
				readDone, fillGo  = make(chan struct{}), make(chan struct{})
				applied, commitGo = make(chan struct{}), make(chan struct{})
				reader, writer    = make(chan result, 1), make(chan result, 1)
				checkNotCached    = func(when string) {
					t.Helper()
					if st, txid, ok := s.cache.peek(tenant); ok {
						t.Errorf("%s: the cache holds %+v as of commit %d, want nothing", when, st, txid)
					}
				}
				checkRead = func(when string, want remoteassist.Settings) {
					t.Helper()
					if got, err := s.Settings(t.Context(), tenant); err != nil || got != want {
						t.Errorf("%s: Settings = %+v, %v; want %+v", when, got, err, want)
					}
				}
			)
			s.beforeFill = func(string) {
				if holdFill.CompareAndSwap(true, false) {
					readDone <- struct{}{}
					<-fillGo
				}
			}
			s.afterApply = func() {
				applied <- struct{}{}
				<-commitGo
			}

			if c.fill == "before" {
				checkRead("the read that fills", old)
				if _, txid, ok := s.cache.peek(tenant); !ok || txid != n {
					t.Fatalf("the read did not fill the cache as of commit %d (ok %t, commit %d)", n, ok, txid)
				}
			} else {
				holdFill.Store(true)
				go func() {
					st, err := s.Settings(t.Context(), tenant)
					reader <- result{st, err}
				}()
				<-readDone // it read commit n, and waits to fill
			}
			go func() {
				st, err := s.UpdateSettings(t.Context(), tenant, remoteassist.Patch{BlockChat: ptr(false), RemoteAssistanceState: ptr(remoteassist.StateEnabled)})
				writer <- result{st, err}
			}()
			<-applied // the write's index update is made and its commit is not
			switch c.fill {
			case "before":
				checkNotCached("once the write updated the index")
			case "after index":
				close(fillGo)
				if r := <-reader; r.err != nil || r.st != old {
					t.Errorf("the held read returned %+v, %v; want %+v (the newest commit when it read)", r.st, r.err, old)
				}
				checkNotCached("after the held read's fill")
			}
			// While the commit is held, a read returns commit n's value and does not cache it.
			checkRead("while the commit is held", old)
			checkNotCached("while the commit is held")

			close(commitGo)
			w := <-writer
			if w.err != nil {
				t.Fatal(w.err)
			}
			if c.fill == "after commit" {
				close(fillGo)
				if r := <-reader; r.err != nil || r.st != old {
					t.Errorf("the held read returned %+v, %v; want %+v", r.st, r.err, old)
				}
			}
			if st, txid, ok := s.cache.peek(tenant); !ok || st != w.st || txid != n+1 {
				t.Errorf("after the write the cache holds %+v as of commit %d (ok %t), want %+v as of commit %d", st, txid, ok, w.st, n+1)
			}
			checkRead("after the write returned", w.st)
			s.cache.clear()
			checkRead("after the write returned, from the file", w.st)
		})
	}
}

// seqSettings is the value of the k-th write of the linearizability test: the three properties
// run through their 12 combinations, so a value tells k modulo 12.
func seqSettings(tenant string, k int) remoteassist.Settings {
	c := k % 12
	return remoteassist.Settings{
		ID:                               remoteassist.SettingsID(tenant),
		AllowSessionsToUnenrolledDevices: c&1 != 0,
		BlockChat:                        c&2 != 0,
		RemoteAssistanceState:            remoteassist.States()[c/4],
	}
}

func seqPatch(tenant string, k int) remoteassist.Patch {
	v := seqSettings(tenant, k)
	return remoteassist.Patch{AllowSessionsToUnenrolledDevices: &v.AllowSessionsToUnenrolledDevices,
		BlockChat: &v.BlockChat, RemoteAssistanceState: &v.RemoteAssistanceState}
}

// seqOf returns k modulo 12 of a value seqSettings made.
func seqOf(st remoteassist.Settings) int {
	c := 0
	if st.AllowSessionsToUnenrolledDevices {
		c |= 1
	}
	if st.BlockChat {
		c |= 2
	}
	for i, state := range remoteassist.States() {
		if st.RemoteAssistanceState == state {
			c += 4 * i
		}
	}
	return c
}

// TestReadCacheLinearizable runs writers and readers of the same tenants at once, with caches of
// several sizes (none, one that evicts all the time, the default). Each tenant has one writer,
// which writes its k-th value (seqSettings) after it records that write k started, and records it
// completed once UpdateSettings returned. Every read must return a write that was not completed
// before the read began nor older than any value another read returned before it began
// (which covers the reader's own previous reads): a value of writes lo..hi, where lo is the newest
// write completed or seen when the read began, and hi the newest started when it ended.
func TestReadCacheLinearizable(t *testing.T) {
	const (
		writers    = 3
		perWriter  = 3
		tenants    = writers * perWriter
		rounds     = 40
		readerRuns = 4
	)
	for _, size := range []int{0, 3, DefaultReadCache} {
		t.Run(fmt.Sprintf("cache=%d", size), func(t *testing.T) {
			s := openCache(t, size)
			var started, completed, seen [tenants]atomic.Int64
			name := func(j int) string { return fmt.Sprintf("lin-%d", j) }
			for j := range tenants {
				if _, err := s.UpdateSettings(t.Context(), name(j), seqPatch(name(j), 0)); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			var done atomic.Bool
			for w := range writers {
				wg.Go(func() {
					for k := 1; k <= rounds; k++ {
						for j := w * perWriter; j < (w+1)*perWriter; j++ {
							started[j].Store(int64(k))
							if _, err := s.UpdateSettings(t.Context(), name(j), seqPatch(name(j), k)); err != nil {
								t.Error(err)
								return
							}
							completed[j].Store(int64(k))
						}
					}
				})
			}
			var checked, ambiguous atomic.Int64
			var rg sync.WaitGroup
			for r := range readerRuns {
				rg.Go(func() {
					for i := r; !done.Load(); i++ {
						j := i % tenants
						lo := max(completed[j].Load(), seen[j].Load())
						st, err := s.Settings(t.Context(), name(j))
						hi := started[j].Load()
						if err != nil {
							t.Error(err)
							return
						}
						if hi-lo >= 12 {
							ambiguous.Add(1) // too many writes during the read to tell which it returned
							continue
						}
						k := int64(-1)
						for c := lo; c <= hi; c++ {
							if int(c%12) == seqOf(st) && seqSettings(name(j), int(c)) == st {
								k = c
							}
						}
						if k < 0 {
							t.Errorf("%s read %+v (write ≡ %d mod 12), but writes %d..%d are the only ones it may return", name(j), st, seqOf(st), lo, hi)
							return
						}
						checked.Add(1)
						runtime.Gosched() // a hit takes no time: leave the writers the CPUs too
						for {
							prev := seen[j].Load()
							if prev >= k || seen[j].CompareAndSwap(prev, k) {
								break
							}
						}
					}
				})
			}
			wg.Wait()
			done.Store(true)
			rg.Wait()
			t.Logf("%d reads checked, %d too ambiguous to check; %d entries cached", checked.Load(), ambiguous.Load(), s.cache.len())
			if checked.Load() < 100 || ambiguous.Load() > checked.Load()/10 {
				t.Errorf("%d reads checked and %d not: too few to tell", checked.Load(), ambiguous.Load())
			}
			for j := range tenants {
				if got, err := s.Settings(t.Context(), name(j)); err != nil || got != seqSettings(name(j), rounds) {
					t.Errorf("after the writes %s reads %+v, %v; want %+v", name(j), got, err, seqSettings(name(j), rounds))
				}
			}
		})
	}
}

// TestReadCacheBound reads many more distinct tenants than the cache holds, some written, most
// never: the cache holds no more than its size, and every read returns what it must.
func TestReadCacheBound(t *testing.T) {
	for _, size := range []int{1, 5, 64, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := openCache(t, size)
			if got := s.cache.capacity(); got > size || got < size-size/64 {
				t.Errorf("the cache holds up to %d entries, want %d (or a little less)", got, size)
			}
			const written = 20
			want := func(i int) remoteassist.Settings {
				tenant := fmt.Sprintf("bound-%d", i)
				if i < written {
					return seqSettings(tenant, i)
				}
				return remoteassist.DefaultSettings(tenant)
			}
			for i := range written {
				tenant := fmt.Sprintf("bound-%d", i)
				if _, err := s.UpdateSettings(t.Context(), tenant, seqPatch(tenant, i)); err != nil {
					t.Fatal(err)
				}
			}
			n := 10*size + 100
			for pass := range 2 {
				for i := range n {
					tenant := fmt.Sprintf("bound-%d", i)
					if got, err := s.Settings(t.Context(), tenant); err != nil || got != want(i) {
						t.Fatalf("pass %d: %s reads %+v, %v; want %+v", pass, tenant, got, err, want(i))
					}
				}
				if got := s.cache.len(); got != s.cache.capacity() {
					t.Errorf("pass %d: after reads of %d tenants the cache holds %d entries, want its capacity %d", pass, n, got, s.cache.capacity())
				}
			}
		})
	}
}

// TestReadCacheHitDoesNotAllocate: a read the cache answers allocates nothing.
func TestReadCacheHitDoesNotAllocate(t *testing.T) {
	s := openCache(t, DefaultReadCache)
	for _, tenant := range []string{"written", "never-written"} {
		if tenant == "written" {
			if _, err := s.UpdateSettings(t.Context(), tenant, remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Settings(t.Context(), tenant); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := s.cache.peek(tenant); !ok {
			t.Fatalf("%s is not cached after a read", tenant)
		}
		ctx := t.Context()
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := s.Settings(ctx, tenant); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("a cached read of %s allocates %.1f times, want 0", tenant, n)
		}
	}
}

// TestReadCacheReplace: ReplaceAllSettings empties the cache, and an update in the same commit
// before it leaves the replace's value cached, not its own.
func TestReadCacheReplace(t *testing.T) {
	s := openCache(t, DefaultReadCache)
	for _, tenant := range []string{"a", "b"} {
		if _, err := s.UpdateSettings(t.Context(), tenant, remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Settings(t.Context(), tenant); err != nil {
			t.Fatal(err)
		}
	}
	a := remoteassist.Settings{ID: remoteassist.SettingsID("a"), RemoteAssistanceState: remoteassist.StateDisabled}
	if err := s.ReplaceAllSettings(t.Context(), map[string]remoteassist.Settings{"a": a}); err != nil {
		t.Fatal(err)
	}
	for tenant, want := range map[string]remoteassist.Settings{"a": a, "b": remoteassist.DefaultSettings("b")} {
		if got, err := s.Settings(t.Context(), tenant); err != nil || got != want {
			t.Errorf("after the replace %s reads %+v, %v; want %+v", tenant, got, err, want)
		}
	}

	errs := make(chan error, 3)
	batches, release := holdBehindALeader(t, s, errs)
	defer release()
	go func() {
		_, err := s.UpdateSettings(t.Context(), "a", remoteassist.Patch{BlockChat: ptr(true)})
		errs <- err
	}()
	waitQueued(t, s, 1)
	enabled := remoteassist.Settings{ID: remoteassist.SettingsID("a"), RemoteAssistanceState: remoteassist.StateEnabled}
	go func() { errs <- s.ReplaceAllSettings(t.Context(), map[string]remoteassist.Settings{"a": enabled}) }()
	waitQueued(t, s, 2)
	release()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := <-batches; n != 2 {
		t.Fatalf("the update and the replace committed in a batch of %d, want 2", n)
	}
	if got, err := s.Settings(t.Context(), "a"); err != nil || got != enabled {
		t.Errorf("after an update and a replace in one commit, a reads %+v, %v; want the replace's %+v", got, err, enabled)
	}
}

// TestReadCacheHashCollision puts another tenant's entry under a tenant's hash, as a collision of
// the 64-bit hash would: the tenant's read misses and reads its own settings.
func TestReadCacheHashCollision(t *testing.T) {
	s := openCache(t, 64)
	if _, err := s.UpdateSettings(t.Context(), "b", remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Settings(t.Context(), "b")
	if err != nil {
		t.Fatal(err)
	}
	h := s.cache.hash("a")
	sh := &s.cache.shards[h&s.cache.mask]
	sh.mu.Lock()
	if sh.slots == nil {
		sh.slots, sh.m = make([]cacheSlot, 0, sh.max), map[uint64]int32{}
	}
	sh.m[h] = int32(len(sh.slots))
	sh.slots = append(sh.slots, cacheSlot{h: h, tenant: "b", st: b, txid: s.committed.Load()})
	sh.mu.Unlock()
	if st, ok := s.cache.get("a"); ok {
		t.Errorf("a hit for a on b's entry: %+v", st)
	}
	if got, err := s.Settings(t.Context(), "a"); err != nil || got != remoteassist.DefaultSettings("a") {
		t.Errorf("a reads %+v, %v; want its defaults", got, err)
	}
	if st, _, ok := s.cache.peek("a"); !ok || st != remoteassist.DefaultSettings("a") {
		t.Errorf("a's read did not take the slot: %+v, %t", st, ok)
	}
}

// TestReadCacheClosed: a closed store refuses even the reads its cache held.
func TestReadCacheClosed(t *testing.T) {
	s := openCache(t, DefaultReadCache)
	if _, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.cache.peek("tenant"); !ok {
		t.Fatal("the update's value is not cached")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Settings(t.Context(), "tenant"); remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE {
		t.Errorf("Settings after Close = %+v, %v; want code %q", st, err, remoteassist.EUNAVAILABLE)
	}
	if n := s.cache.len(); n != 0 {
		t.Errorf("%d entries cached after Close", n)
	}
}

// TestReadCacheDroppedOnHalt damages the file under an open store whose cache holds the damaged
// tenant. The cached value is one the store committed, and is served until the store halts;
// from then on the read goes to the file (which finds the damage), or, once every operation
// stopped, is refused.
func TestReadCacheDroppedOnHalt(t *testing.T) {
	t.Run("the file went back to an older commit", func(t *testing.T) {
		s, path, _, _, ps := openDamageable(t, 200)
		last := tenantName(9999)
		want, err := s.UpdateSettings(t.Context(), last, remoteassist.Patch{BlockChat: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		txid := s.committed.Load()
		flipAt(t, path, int64(txid%2)*int64(ps)+pageHeaderSize+metaSumOffset, 0x01)
		// No read of the file yet: the cache answers with the committed value.
		if got, err := s.Settings(t.Context(), last); err != nil || got != want {
			t.Errorf("the cached read before the store found the damage: %+v, %v; want %+v", got, err, want)
		}
		if err := s.Ping(t.Context()); err == nil {
			t.Fatal("Ping reports a rolled-back store ready")
		}
		if n := s.cache.len(); n != 0 {
			t.Errorf("%d entries cached after the store stopped writing", n)
		}
		if got, err := s.Settings(t.Context(), last); !errors.Is(err, ErrDamaged) {
			t.Errorf("the tenant of the lost commit reads %+v, %v; want an error wrapping ErrDamaged", got, err)
		}
		if _, _, ok := s.cache.peek(tenantName(1)); ok {
			t.Error("a read of a file gone back was cached")
		}
	})
	t.Run("damaged, then halted", func(t *testing.T) {
		s, path, want, _, _ := openDamageable(t, 200)
		victim, other := tenantName(123), tenantName(45)
		for _, tenant := range []string{victim, other} {
			if got, err := s.Settings(t.Context(), tenant); err != nil || got != want[tenant] {
				t.Fatalf("%s reads %+v, %v", tenant, got, err)
			}
		}
		pages, ps := reachableOpen(t, s)
		_, off := leafOf(t, pages, ps, victim)
		flipAt(t, path, off+1, 0x02) // blockChat's bit
		if got, err := s.Settings(t.Context(), victim); err != nil || got != want[victim] {
			t.Errorf("the cached read of the damaged record: %+v, %v; want the value read before, %+v", got, err, want[victim])
		}
		// The store stops writing (as when bbolt panics in a commit): the cache is dropped, and
		// the read goes to the file, which finds the damage.
		s.health.halt(false, errors.New("test: writes stopped"))
		if got, err := s.Settings(t.Context(), victim); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL || !errors.Is(err, ErrDamaged) {
			t.Errorf("the damaged tenant after the halt reads %+v, %v; want EINTERNAL wrapping ErrDamaged", got, err)
		}
		if got, err := s.Settings(t.Context(), other); err != nil || got != want[other] {
			t.Errorf("%s reads %+v, %v; want %+v", other, got, err, want[other])
		}
		if _, _, ok := s.cache.peek(other); !ok {
			t.Error("an intact tenant read after the damage was not cached")
		}
		// Every operation stops: even the cached tenant is refused.
		s.health.halt(true, errors.New("test: everything stopped"))
		if got, err := s.Settings(t.Context(), other); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
			t.Errorf("a cached tenant of a halted store reads %+v, %v; want EINTERNAL", got, err)
		}
	})
}

// TestReadCacheFailedCommit: bbolt panics in its commit after the commit is in the file, and the
// update fails. The read that follows must answer as a store without a cache does, never with the
// failed update's value from the cache.
func TestReadCacheFailedCommit(t *testing.T) {
	type outcome struct {
		st  remoteassist.Settings
		err bool
	}
	results := map[int]outcome{}
	for _, size := range []int{0, DefaultReadCache} {
		s := openCache(t, size)
		if _, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Settings(t.Context(), "tenant"); err != nil {
			t.Fatal(err)
		}
		s.inTx = func(tx *bbolt.Tx) { tx.OnCommit(func() { panic("boom in commit") }) }
		if _, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.StateEnabled)}); err == nil {
			t.Fatal("the update whose commit panicked succeeded")
		}
		s.inTx = nil
		st, err := s.Settings(t.Context(), "tenant")
		if cached, _, ok := s.cache.peek("tenant"); ok && cached.RemoteAssistanceState == remoteassist.StateEnabled {
			t.Errorf("cache %d: the failed update's value is cached", size)
		}
		results[size] = outcome{st, err != nil}
		t.Logf("cache %d: %+v, %v", size, st, err)
	}
	if results[0] != results[DefaultReadCache] {
		t.Errorf("after a failed commit the store reads %+v with its cache, %+v without", results[DefaultReadCache], results[0])
	}
}

// TestReadCacheFailedCommitRead: bbolt panics in its commit after the commit is in the file; a
// read made then, before the store halts and reverts the index, reads the failed update's value
// (as it would without a cache), and fills once the halt dropped the cache. The fill must be
// refused: the value is of a commit that did not succeed.
func TestReadCacheFailedCommitRead(t *testing.T) {
	s := openCache(t, DefaultReadCache)
	if _, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	var hold atomic.Bool
	hold.Store(true)
	readDone := make(chan struct{})
	late := make(chan remoteassist.Settings, 1)
	s.beforeFill = func(string) {
		if !hold.CompareAndSwap(true, false) {
			return
		}
		close(readDone)
		for { // until the halt dropped the cache
			if err, _ := s.health.state(); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	s.inTx = func(tx *bbolt.Tx) {
		tx.OnCommit(func() {
			go func() {
				st, _ := s.Settings(t.Context(), "tenant")
				late <- st
			}()
			<-readDone
			panic("boom in commit")
		})
	}
	if _, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.StateEnabled)}); err == nil {
		t.Fatal("the update whose commit panicked succeeded")
	}
	t.Logf("the read during the failed commit returned %+v", <-late)
	if st, txid, ok := s.cache.peek("tenant"); ok {
		t.Errorf("the cache holds %+v as of commit %d, a commit that failed (the newest that succeeded is %d)", st, txid, s.committed.Load())
	}
}

// BenchmarkSettingsCached compares a read the cache answers with the same read without a cache
// (WithReadCache(0)): one goroutine, and one per CPU.
func BenchmarkSettingsCached(b *testing.B) {
	for _, size := range []int{DefaultReadCache, 0} {
		b.Run(fmt.Sprintf("cache=%d", size), func(b *testing.B) {
			s := openCache(b, size)
			if _, err := s.UpdateSettings(b.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
				b.Fatal(err)
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				ctx := b.Context()
				for b.Loop() {
					if _, err := s.Settings(ctx, "tenant"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				ctx := b.Context()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Settings(ctx, "tenant"); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// TestReadCacheForgetsAFailedUpdate: once the store has found damage, an update that finds a
// cached tenant's record damaged too fails, and the tenant's reads then fail as the update did
// instead of answering the cached value (a GET 200 beside a PATCH 500).
func TestReadCacheForgetsAFailedUpdate(t *testing.T) {
	s, path, want, _, _ := openDamageable(t, 200)
	first, victim := tenantName(45), tenantName(123)
	pages, ps := reachableOpen(t, s) // while the file still checks
	damageRecord := func(tenant string) {
		t.Helper()
		_, off := leafOf(t, pages, ps, tenant)
		flipAt(t, path, off+1, 0x02) // blockChat's bit
	}
	damageRecord(first)
	if _, err := s.Settings(t.Context(), first); !errors.Is(err, ErrDamaged) {
		t.Fatalf("the first damaged tenant reads %v; want ErrDamaged", err)
	}
	if got, err := s.Settings(t.Context(), victim); err != nil || got != want[victim] {
		t.Fatalf("%s reads %+v, %v", victim, got, err)
	}
	if _, _, ok := s.cache.peek(victim); !ok {
		t.Fatal("the intact tenant read after the first damage was not cached")
	}
	damageRecord(victim)
	if _, err := s.UpdateSettings(t.Context(), victim, remoteassist.Patch{BlockChat: ptr(true)}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("the update of the damaged record: %v; want ErrDamaged", err)
	}
	if got, err := s.Settings(t.Context(), victim); !errors.Is(err, ErrDamaged) {
		t.Errorf("after the update failed on its damaged record, the tenant reads %+v, %v; want ErrDamaged", got, err)
	}
}

// TestUpdatesAfterAReplaceInOneCommit: updates that follow a replace in the same commit apply
// to what the replace wrote: a tenant it lists to its settings, one it does not (stored before)
// to the defaults, whatever the file held before the commit.
func TestUpdatesAfterAReplaceInOneCommit(t *testing.T) {
	s := openCache(t, DefaultReadCache)
	for _, tenant := range []string{"listed", "dropped"} {
		if _, err := s.UpdateSettings(t.Context(), tenant, remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 4)
	batches, release := holdBehindALeader(t, s, errs)
	defer release()
	listed := remoteassist.Settings{ID: remoteassist.SettingsID("listed"), RemoteAssistanceState: remoteassist.StateEnabled}
	go func() { errs <- s.ReplaceAllSettings(t.Context(), map[string]remoteassist.Settings{"listed": listed}) }()
	waitQueued(t, s, 1)
	allow := remoteassist.Patch{AllowSessionsToUnenrolledDevices: ptr(true)}
	got := make(map[string]remoteassist.Settings)
	var mu sync.Mutex
	for i, tenant := range []string{"listed", "dropped"} {
		go func() {
			v, err := s.UpdateSettings(t.Context(), tenant, allow)
			mu.Lock()
			got[tenant] = v
			mu.Unlock()
			errs <- err
		}()
		waitQueued(t, s, 2+i)
	}
	release()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := <-batches; n != 3 {
		t.Fatalf("the replace and the updates committed in a batch of %d, want 3", n)
	}
	want := map[string]remoteassist.Settings{
		"listed":  {ID: listed.ID, RemoteAssistanceState: remoteassist.StateEnabled, AllowSessionsToUnenrolledDevices: true},
		"dropped": allow.Apply(remoteassist.DefaultSettings("dropped")),
	}
	for tenant, w := range want {
		if got[tenant] != w {
			t.Errorf("the update of %s after the replace returned %+v, want %+v", tenant, got[tenant], w)
		}
		if read, err := s.Settings(t.Context(), tenant); err != nil || read != w {
			t.Errorf("%s reads %+v, %v after the commit; want %+v", tenant, read, err, w)
		}
	}
}

// holdBehindALeader holds the commits of s and starts one, of a lone update of tenant "leader"
// whose error goes to errs, so that what is submitted until release queues for the next commit,
// one batch.
func holdBehindALeader(t *testing.T, s *Store, errs chan<- error) (batches <-chan int, release func()) {
	batches, release = holdCommits(s)
	go func() {
		_, err := s.UpdateSettings(t.Context(), "leader", remoteassist.Patch{BlockChat: ptr(true)})
		errs <- err
	}()
	<-batches
	return batches, release
}
