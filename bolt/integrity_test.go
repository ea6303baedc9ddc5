package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/remoteassist/remoteassist"
)

// settingsFor is what populate writes for tenant i: every combination of the three properties.
func settingsFor(tenant string, i int) remoteassist.Settings {
	return remoteassist.Settings{
		ID:                               remoteassist.SettingsID(tenant),
		AllowSessionsToUnenrolledDevices: i%2 == 0,
		RemoteAssistanceState:            remoteassist.States()[i%3],
		BlockChat:                        i%5 < 2,
	}
}

func tenantName(i int) string { return fmt.Sprintf("tenant-%05d", i) }

// populate writes n tenants through the store, 32 writers at a time (so that group commit makes
// it quick), and returns what each must read.
func populate(t testing.TB, s *Store, n int) map[string]remoteassist.Settings {
	t.Helper()
	want := make(map[string]remoteassist.Settings, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				tenant := tenantName(i)
				w := settingsFor(tenant, i)
				got, err := s.UpdateSettings(t.Context(), tenant, remoteassist.Patch{
					AllowSessionsToUnenrolledDevices: &w.AllowSessionsToUnenrolledDevices,
					RemoteAssistanceState:            &w.RemoteAssistanceState,
					BlockChat:                        &w.BlockChat,
				})
				if err != nil || got != w {
					t.Errorf("UpdateSettings(%q) = %+v, %v; want %+v", tenant, got, err, w)
				}
				mu.Lock()
				want[tenant] = w
				mu.Unlock()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return want
}

// populated makes a closed data file with n tenants and returns its path and what it holds.
func populated(t testing.TB, n int) (string, map[string]remoteassist.Settings) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "settings.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := populate(t, s, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, want
}

// copyData copies a data file (without its commit record) into a new directory.
func copyData(t testing.TB, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "settings.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// reachablePages returns the bytes of each page in use of a closed data file, by page id.
func reachablePages(t testing.TB, path string) (map[uint64][]byte, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	pages := map[uint64][]byte{}
	c := &checker{r: f, report: &Report{Path: path, Size: fi.Size()}, page: func(id uint64, b []byte) { pages[id] = bytes.Clone(b) }}
	c.run()
	if !c.report.OK() {
		t.Fatalf("the file does not check: %v", c.report.Err())
	}
	return pages, c.ps
}

// checkReads reads every tenant of want: each must read its value, or fail with EINTERNAL
// (wrapping ErrDamaged) when damaged is set. It returns how many failed. It empties the read
// cache first, so that every read is one from the file, checked, which is what the tests that
// damage the file or its storage prove; then it reads every tenant again, from the cache where
// the first read filled it, which must answer the same.
func checkReads(t *testing.T, s *Store, want map[string]remoteassist.Settings, damaged bool) int {
	t.Helper()
	s.cache.clear()
	failed := 0
	first := make(map[string]error, len(want))
	for tenant, w := range want {
		got, err := s.Settings(t.Context(), tenant)
		first[tenant] = err
		switch {
		case err == nil && got == w:
		case err != nil && damaged && remoteassist.ErrorCode(err) == remoteassist.EINTERNAL && errors.Is(err, ErrDamaged):
			failed++
		default:
			t.Errorf("Settings(%q) = %+v, %v; want %+v (or, if damaged, an EINTERNAL error wrapping ErrDamaged)", tenant, got, err, w)
		}
	}
	for tenant, w := range want {
		got, err := s.Settings(t.Context(), tenant)
		if (err == nil) != (first[tenant] == nil) || err == nil && got != w {
			t.Errorf("Settings(%q) read again = %+v, %v; the first read returned error %v (want %+v)", tenant, got, err, first[tenant], w)
		}
	}
	return failed
}

// TestReaderAgreesWithBbolt checks clean files of several shapes (an inline bucket, one leaf,
// branches) with the package's reader, bbolt's tx.Check and a plain read of every record.
func TestReaderAgreesWithBbolt(t *testing.T) {
	for _, n := range []int{0, 1, 20, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			path, want := populated(t, n)
			r, err := Verify(path)
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() {
				t.Fatalf("a clean file does not check:\n%s", r)
			}
			if r.Tenants != n || r.Format != recordVersion {
				t.Errorf("report counts %d tenants in format %d, want %d in format %d", r.Tenants, r.Format, n, recordVersion)
			}
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.View(func(tx *bbolt.Tx) error {
				if uint64(tx.ID()) != r.TxID {
					t.Errorf("report says commit %d, bbolt reads commit %d", r.TxID, tx.ID())
				}
				if got := tx.Size() / int64(r.PageSize); uint64(got) != r.Pages {
					t.Errorf("report says %d pages, bbolt %d", r.Pages, got)
				}
				seen := 0
				return tx.Bucket(bucketSettings).ForEach(func(k, v []byte) error {
					seen++
					got, _, err := decode(string(k), k, v)
					if err != nil || got != want[string(k)] {
						t.Errorf("record %q decodes to %+v, %v; want %+v", k, got, err, want[string(k)])
					}
					return nil
				})
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenRefusesEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted an empty file: it would silently be a new, empty database")
	}
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("error %v does not wrap ErrDamaged", err)
	}
	if want := fmt.Sprintf("data file %q is damaged: the file is empty (0 bytes)", path); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("Open changed the refused file: %v, %v", fi, err)
	}
}

// TestOpenCreatesOnlyAMissingFile: a missing file with no commit record is created; a missing
// file whose commit record says commits were made is refused.
func TestOpenCreatesOnlyAMissingFile(t *testing.T) {
	path, _ := populated(t, 3)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open created a new file in place of a deleted one")
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "is missing, but its commit record") {
		t.Errorf("error %v, want a DamageError saying the file is missing", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused Open created the file: %v", err)
	}
	// Without the record, a missing file is a new store.
	if err := os.Remove(CommitRecordPath(path)); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestOpenRefusesTruncatedFile(t *testing.T) {
	path, _ := populated(t, 3000)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt grows the file ahead of its use: cutting what lies past the last page in use is
	// harmless, and is accepted. Every size here cuts pages in use.
	inUse := int(r.Pages) * r.PageSize
	for _, size := range []int{1, 100, 4096, 8192, 3 * 4096, inUse / 2, inUse - r.PageSize, inUse - 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "settings.db")
			if err := os.WriteFile(p, full[:size], 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(p)
			if err == nil {
				s.Close()
				t.Fatalf("Open accepted the file cut to %d of its %d bytes", size, len(full))
			}
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %v, want a DamageError naming the file", err)
			}
			t.Log(err)
		})
	}
}

// TestOpenRefusesDamagedMeta damages each meta page in turn: bbolt would fall back to the other,
// which for the newest page silently loses the newest commit.
func TestOpenRefusesDamagedMeta(t *testing.T) {
	path, _ := populated(t, 50)
	r, err := Verify(path)
	if err != nil || !r.OK() {
		t.Fatal(r, err)
	}
	for page := range 2 {
		for _, off := range []int{16 + 4, 16 + 40, 16 + 48, 16 + 56} { // version, pgid, txid, checksum
			t.Run(fmt.Sprintf("page%d+%d", page, off), func(t *testing.T) {
				p := copyData(t, path)
				flipAt(t, p, int64(page*r.PageSize+off), 1)
				s, err := Open(p)
				if err == nil {
					s.Close()
					t.Fatal("Open accepted a damaged meta page")
				}
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), fmt.Sprintf("meta page %d", page)) {
					t.Errorf("error %v, want a DamageError naming meta page %d", err, page)
				}
			})
		}
	}
}

// flipAt flips the bits of mask in the byte at off of the file.
func flipAt(t testing.TB, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestBitFlipsAtOpen flips 8 random bits in the data pages (past the meta pages) of copies of a
// file, for many seeds, once anywhere in those pages and once only in pages in use. Each copy
// must be refused at Open or, if every flip fell where nothing is read (a free page, the unused
// end of a page), read exactly what was written. Never a wrong value, never the defaults of a
// tenant that wrote, never a crash.
func TestBitFlipsAtOpen(t *testing.T) {
	path, want := populated(t, 1500)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages, ps := reachablePages(t, path)
	var inUse []uint64
	for id := range pages {
		inUse = append(inUse, id)
	}
	for _, where := range []string{"anywhere", "in use"} {
		refused, opened := 0, 0
		for seed := range 60 {
			rng := rand.New(rand.NewPCG(uint64(seed), 17))
			b := bytes.Clone(full)
			for range 8 {
				var off int
				if where == "anywhere" {
					off = 2*ps + rng.IntN(len(b)-2*ps)
				} else {
					id := inUse[rng.IntN(len(inUse))]
					off = int(id)*ps + rng.IntN(len(pages[id]))
				}
				b[off] ^= 1 << rng.IntN(8)
			}
			p := filepath.Join(t.TempDir(), "settings.db")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(p)
			if err != nil {
				if !errors.Is(err, ErrDamaged) {
					t.Errorf("%s, seed %d: Open: %v, want a DamageError", where, seed, err)
				}
				refused++
				continue
			}
			opened++
			checkReads(t, s, want, false)
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("%s, seed %d: Ping of a store that reads all its data: %v", where, seed, err)
			}
			s.Close()
		}
		t.Logf("8 flips %s: %d copies refused at Open, %d opened and read exactly", where, refused, opened)
		if refused == 0 {
			t.Errorf("8 flips %s: no copy was refused", where)
		}
	}
}

// TestOlderCopyRefused puts an intact older copy of the file back: Open must refuse it, since
// the commit record beside it says newer commits were made.
func TestOlderCopyRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	populate(t, s, 10)
	old, _ := os.ReadFile(path) // torn copies would be refused too: this one is taken between commits
	populate(t, s, 20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted an older copy of the file")
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "older than its commit record") {
		t.Errorf("error %v, want a DamageError saying the file is older than its commit record", err)
	}
}

// TestUpgradeFormat1 opens a file of the earlier format (JSON records, no checksum, no meta
// bucket): it is upgraded, reads the same, and checks as format 2.
func TestUpgradeFormat1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]remoteassist.Settings{}
	if err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bucketSettings)
		if err != nil {
			return err
		}
		for i := range 100 {
			tenant := tenantName(i)
			w := settingsFor(tenant, i)
			want[tenant] = w
			v := fmt.Sprintf(`{"v":1,"allowSessionsToUnenrolledDevices":%t,"remoteAssistanceState":%q,"blockChat":%t}`,
				w.AllowSessionsToUnenrolledDevices, w.RemoteAssistanceState, w.BlockChat)
			if err := b.Put([]byte(tenant), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if r, err := Verify(path); err != nil || !r.OK() || r.Format != 1 {
		t.Fatalf("a format-1 file: %v, %v", r, err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	checkReads(t, s, want, false)
	s.Close()
	if r, err := Verify(path); err != nil || !r.OK() || r.Format != recordVersion || r.Tenants != 100 {
		t.Fatalf("after the upgrade: %v, %v", r, err)
	}
}

// openDamageable opens a store on a file of n tenants, and returns the file's pages in use (as
// they were at Open) for the test to damage under the open store.
func openDamageable(t *testing.T, n int) (*Store, string, map[string]remoteassist.Settings, map[uint64][]byte, int) {
	t.Helper()
	path, want := populated(t, n)
	pages, ps := reachablePages(t, path)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path, want, pages, ps
}

// writeAt writes b at off in the file, behind the open store's back, as a failing disk would.
func writeAt(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// leafOf returns the id of the leaf page in use that holds tenant's record, and the offset of
// the record's value in the file.
func leafOf(t testing.TB, pages map[uint64][]byte, ps int, tenant string) (uint64, int64) {
	t.Helper()
	for id, b := range pages {
		if ne.Uint16(b[8:]) != flagLeaf {
			continue
		}
		count := int(ne.Uint16(b[10:]))
		for i := range count {
			k, _, _, err := element(b, i, count)
			if err == nil && string(k) == tenant {
				e := pageHeaderSize + i*elementSize
				value := e + int(ne.Uint32(b[e+4:])) + int(ne.Uint32(b[e+8:]))
				return id, int64(id)*int64(ps) + int64(value)
			}
		}
	}
	t.Fatalf("no leaf page holds %q", tenant)
	return 0, 0
}

// TestDamageUnderOpenStore damages the file under an open store, as a failing disk would, in
// the ways that crashed or misled it before: a record's value, a record's key (the tenant would
// read as never written), a branch page's child pointer (bbolt would read outside its map), a
// branch page pointing at itself (bbolt would recurse until the process dies), the file cut short
// (bbolt would read past the end of the file). Each time the tenants whose data is damaged fail
// with EINTERNAL, the others read exactly, Ping reports the damage, and the process lives.
func TestDamageUnderOpenStore(t *testing.T) {
	const n = 3000
	victim := tenantName(1234)
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, pages map[uint64][]byte, ps int)
		// exact is set when only the victim may fail; else any tenant may (damage above the leaves,
		// or keys out of order in a leaf, which misleads the binary search for its neighbours).
		exact bool
	}{
		{"value", func(t *testing.T, path string, pages map[uint64][]byte, ps int) {
			_, off := leafOf(t, pages, ps, victim)
			flipAt(t, path, off+1, 0x02) // blockChat's bit
		}, true},
		{"key", func(t *testing.T, path string, pages map[uint64][]byte, ps int) {
			_, off := leafOf(t, pages, ps, victim)
			flipAt(t, path, off-1, 0x40) // the key's last byte: tenant-01234 becomes tenant-0123t
		}, false},
		{"child pointer out of the map", func(t *testing.T, path string, pages map[uint64][]byte, ps int) {
			id := branchPage(t, pages)
			writeAt(t, path, int64(id)*int64(ps)+pageHeaderSize+8, ne.AppendUint64(nil, 1<<40))
		}, false},
		{"child pointer to itself", func(t *testing.T, path string, pages map[uint64][]byte, ps int) {
			id := branchPage(t, pages)
			count := int(ne.Uint16(pages[id][10:]))
			for i := range count {
				writeAt(t, path, int64(id)*int64(ps)+pageHeaderSize+int64(i)*elementSize+8, ne.AppendUint64(nil, id))
			}
		}, false},
		{"file cut short", func(t *testing.T, path string, pages map[uint64][]byte, ps int) {
			if err := os.Truncate(path, 8192); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, path, want, pages, ps := openDamageable(t, n)
			c.damage(t, path, pages, ps)
			failed := checkReads(t, s, want, true)
			if failed == 0 {
				t.Fatal("no read failed after the damage")
			}
			if c.exact && failed != 1 {
				t.Errorf("%d tenants failed, want only the damaged one", failed)
			}
			if err := s.Ping(t.Context()); err == nil {
				t.Error("Ping reports a damaged store ready")
			}
			if c.exact {
				// Other tenants can still be written; the damaged one cannot.
				if _, err := s.UpdateSettings(t.Context(), tenantName(7), remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
					t.Errorf("updating an intact tenant: %v", err)
				}
				if _, err := s.UpdateSettings(t.Context(), victim, remoteassist.Patch{BlockChat: ptr(true)}); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
					t.Errorf("updating the damaged tenant: %v, want EINTERNAL", err)
				}
			} else {
				// Whatever the writes do, they return.
				s.UpdateSettings(t.Context(), tenantName(7), remoteassist.Patch{BlockChat: ptr(true)})
			}
			t.Logf("%d of %d tenants fail", failed, n)
		})
	}
}

// branchPage returns the id of a branch page of the settings bucket.
func branchPage(t testing.TB, pages map[uint64][]byte) uint64 {
	t.Helper()
	for id, b := range pages {
		if ne.Uint16(b[8:]) == flagBranch {
			return id
		}
	}
	t.Fatal("no branch page in use")
	return 0
}

// TestMetaDamagedUnderOpenStore damages the newest meta page under an open store, which makes
// bbolt read the commit before: reads of what that commit changed must fail, the rest must read,
// no write may go through (it would make the loss permanent), and Ping must say so.
func TestMetaDamagedUnderOpenStore(t *testing.T) {
	s, path, want, _, ps := openDamageable(t, 200)
	last := tenantName(9999)
	if _, err := s.UpdateSettings(t.Context(), last, remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	// The update cached what it wrote: empty the cache, so that the read below is one from the
	// file, which this test proves (TestReadCacheDroppedOnHalt reads the cached value).
	s.cache.clear()
	txid := s.committed.Load()
	// The newest meta page is page txid%2: damage its checksum.
	flipAt(t, path, int64(txid%2)*int64(ps)+pageHeaderSize+metaSumOffset, 0x01)
	if got, err := s.Settings(t.Context(), last); err == nil {
		t.Errorf("the tenant of the lost commit reads %+v, want an error", got)
	}
	checkReads(t, s, want, false) // written before: vouched for by the index
	if _, err := s.UpdateSettings(t.Context(), tenantName(1), remoteassist.Patch{BlockChat: ptr(true)}); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
		t.Errorf("an update after the rollback: %v, want EINTERNAL", err)
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping reports a rolled-back store ready")
	}
}

// TestBitFlipsUnderOpenStore flips 8 random bits in pages in use of a file under an open store,
// for many seeds: every read returns the written value or an error, never another value, and the
// process lives; Ping reports any damage a read found.
func TestBitFlipsUnderOpenStore(t *testing.T) {
	path, want := populated(t, 1500)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages, ps := reachablePages(t, path)
	var inUse []uint64
	for id := range pages {
		inUse = append(inUse, id)
	}
	damaged := 0
	for seed := range 40 {
		p := filepath.Join(t.TempDir(), "settings.db")
		if err := os.WriteFile(p, full, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(seed), 29))
		for range 8 {
			id := inUse[rng.IntN(len(inUse))]
			flipAt(t, p, int64(id)*int64(ps)+int64(rng.IntN(len(pages[id]))), 1<<rng.IntN(8))
		}
		failed := checkReads(t, s, want, true)
		if failed > 0 {
			damaged++
			if err := s.Ping(t.Context()); err == nil {
				t.Errorf("seed %d: %d reads failed, but Ping reports the store ready", seed, failed)
			}
		}
		s.Close()
	}
	t.Logf("%d of 40 damaged files had reads fail; none returned a wrong value", damaged)
}

// TestVerifyLive checks a serving store's file from inside it while writes go on: clean, then
// damaged.
func TestVerifyLive(t *testing.T) {
	s, path, _, _, _ := openDamageable(t, 500)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.UpdateSettings(t.Context(), tenantName(i%700), remoteassist.Patch{BlockChat: ptr(i%2 == 0)}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 20 {
		r, err := s.Verify()
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() || !r.Live {
			t.Fatalf("a live check of a clean file while writing:\n%s", r)
		}
	}
	halt()
	// The writer rewrote many leaves: find a record where it is now and damage it.
	pages, ps := reachableOpen(t, s)
	_, off := leafOf(t, pages, ps, tenantName(499))
	flipAt(t, path, off, 0x10)
	r, err := s.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() {
		t.Fatal("a live check missed a damaged record")
	}
	t.Log(r.Err())
}

// TestVerifyBesideGrowingCommit queues a live check in one batch with a replace that grows the
// file far past bbolt's memory map (opened with a map of what the file needs, as a file that
// outgrew the default map has), so that its commit must remap the file, which waits for every
// read transaction to end. The check's read transaction must not be open across that commit:
// its submitter, who ends it, is woken only after the commit, and every operation of the store
// would wait behind the remap for good.
func TestVerifyBesideGrowingCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "remoteassist.db")
	s, err := Open(path, withMmapSize(0))
	if err != nil {
		t.Fatal(err)
	}
	batches, release := holdCommits(s)
	defer release()
	first := make(chan error, 1)
	go func() {
		_, err := s.UpdateSettings(t.Context(), tenantName(0), remoteassist.Patch{BlockChat: ptr(true)})
		first <- err
	}()
	<-batches
	type verified struct {
		r   *Report
		err error
	}
	check := make(chan verified, 1)
	go func() {
		r, err := s.Verify()
		check <- verified{r, err}
	}()
	waitQueued(t, s, 1)
	all := make(map[string]remoteassist.Settings, 20000)
	for i := range 20000 {
		all[tenantName(i)] = remoteassist.Settings{BlockChat: true, RemoteAssistanceState: remoteassist.StateEnabled}
	}
	replaced := make(chan error, 1)
	go func() { replaced <- s.ReplaceAllSettings(t.Context(), all) }()
	waitQueued(t, s, 2) // the check and the replace: one batch
	release()

	// A hang guard only. The store is not closed when it trips: Close would wait for the remap.
	hang := time.After(30 * time.Second)
	for _, ch := range []<-chan error{first, replaced} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-hang:
			t.Fatal("an update still waits after 30s: the live check's read transaction holds back the remap of a commit made by the leader that must wake it")
		}
	}
	select {
	case v := <-check:
		if v.err != nil || !v.r.OK() {
			t.Fatalf("the live check: %v, %v", v.r, v.err)
		}
	case <-hang:
		t.Fatal("the live check still waits after 30s")
	}
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if fi.Size() < 1<<20 {
		t.Fatalf("the data file is %d bytes after the replace; want it past 1 MiB, far past the map of a new file, so that the commit remapped", fi.Size())
	}
	if _, err := s.Settings(t.Context(), tenantName(19999)); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
}

// reachableOpen returns the pages in use of an open store's file.
func reachableOpen(t testing.TB, s *Store) (map[uint64][]byte, int) {
	t.Helper()
	pages := map[uint64][]byte{}
	var c *checker
	var m meta
	var ok bool
	s.submit(&op{fn: func() {
		fi, _ := s.file.Stat()
		c = &checker{r: s.file, report: &Report{Size: fi.Size()}, page: func(id uint64, b []byte) { pages[id] = bytes.Clone(b) }}
		m, ok = c.metas()
		if ok {
			c.walk(m)
		}
	}, done: make(chan bool, 1)})
	if !ok || !c.report.OK() {
		t.Fatalf("the open file does not check: %v", c.report.Err())
	}
	return pages, c.ps
}

// stalledWriter is a backup's consumer that takes nothing until gate is closed.
type stalledWriter struct {
	gate <-chan struct{}
	buf  *bytes.Buffer
}

func (w stalledWriter) Write(p []byte) (int, error) {
	<-w.gate
	return w.buf.Write(p)
}

// TestBackupHoldsBackNoWrite stalls a backup's consumer while a replace grows the file from a
// new file's few pages past 1 MiB, which with a map of what the file needs would make its commit
// remap the file and wait for the backup's read transaction to end: the replace commits, and a
// read that misses the cache answers, while the backup still waits; the backup is then the file
// as of its start.
func TestBackupHoldsBackNoWrite(t *testing.T) {
	s, path := openTemp(t)
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	defer release()
	var copied bytes.Buffer
	started := make(chan struct{})
	backedUp := make(chan error, 1)
	go func() {
		_, err := s.Backup(stalledWriter{gate, &copied}, func(int64, uint64) { close(started) })
		backedUp <- err
	}()
	<-started // the backup's read transaction is open; its first write waits for the gate

	done := make(chan error, 1)
	go func() {
		all := make(map[string]remoteassist.Settings, 20000)
		for i := range 20000 {
			all[tenantName(i)] = remoteassist.Settings{BlockChat: true, RemoteAssistanceState: remoteassist.StateEnabled}
		}
		err := s.ReplaceAllSettings(t.Context(), all)
		if err == nil {
			var got remoteassist.Settings
			got, err = s.Settings(t.Context(), tenantName(12345)) // the replace emptied the cache
			if err == nil && !got.BlockChat {
				err = fmt.Errorf("read %+v after the replace", got)
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // a hang guard only
		release()
		t.Fatal("a replace and a read still wait after 30s behind a backup whose consumer takes nothing")
	}
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if fi.Size() < 1<<20 {
		t.Fatalf("the data file is %d bytes after the replace; want it past 1 MiB, far past the map of a new file", fi.Size())
	}
	release()
	if err := <-backedUp; err != nil {
		t.Fatal(err)
	}
	r := check(bytes.NewReader(copied.Bytes()), "backup", int64(copied.Len()), nil)
	if !r.OK() || r.Tenants != 0 {
		t.Fatalf("the backup, begun before the replace:\n%s", r)
	}
}

// TestMapCostsNoMemory checks that bbolt's memory map past the file costs address space only:
// after every record was read through it, no more of the map is resident than the file's pages
// in use.
func TestMapCostsNoMemory(t *testing.T) {
	if defaultMmapSize() != mmapSize64 {
		t.Fatalf("the default map is %d bytes, want %d (a 64-bit system without a limit of its address space)", defaultMmapSize(), mmapSize64)
	}
	s, path, want, _, _ := openDamageable(t, 5000)
	checkReads(t, s, want, false)
	if _, err := remoteassist.AllSettings(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	var used int64 // the file's pages up to its high-water mark: what bbolt reads
	if err := s.db.View(func(tx *bbolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	size, rss := mapping(t, path)
	t.Logf("%d bytes of the file in use, map %d bytes, %d of them resident; the process's VmRSS %d bytes", used, size, rss, vmRSS(t))
	if size < mmapSize64 {
		t.Errorf("the map of the data file is %d bytes, want at least %d", size, mmapSize64)
	}
	if rss > used {
		t.Errorf("%d bytes of the map are resident, more than the %d bytes of the file in use", rss, used)
	}
}

// mapping returns the size, and how much is resident, of the memory maps of the file at path
// (/proc/self/smaps).
func mapping(t *testing.T, path string) (size, rss int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false // the lines are of a mapping of path
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && !strings.HasSuffix(f[0], ":"): // a mapping's first line
			in = len(f) == 6 && f[5] == path
		case in && len(f) == 3 && f[0] == "Size:":
			size += kB(t, f[1])
		case in && len(f) == 3 && f[0] == "Rss:":
			rss += kB(t, f[1])
		}
	}
	if size == 0 {
		t.Fatalf("no map of %s in /proc/self/smaps", path)
	}
	return size, rss
}

// vmRSS returns the process's resident memory (/proc/self/status).
func vmRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			return kB(t, f[1])
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func kB(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n << 10
}

// TestBackupWhileServing copies a serving store while writes go on, restores the copy elsewhere
// and reads it back; a restore over a file a store holds is refused, and so is a damaged backup.
func TestBackupWhileServing(t *testing.T) {
	s, path, want, _, _ := openDamageable(t, 800)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt()
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Tenants 1000 and up: what want holds stays as it is.
			if _, err := s.UpdateSettings(t.Context(), tenantName(1000+i%300), remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	backup := filepath.Join(t.TempDir(), "backup.db")
	r, err := WriteBackup(backup, func(w io.Writer) error { _, err := s.Backup(w, nil); return err })
	halt()
	if err != nil {
		t.Fatalf("backup while serving: %v", err)
	}
	if !r.OK() || r.Tenants < len(want) {
		t.Fatalf("backup report: %s", r)
	}
	if _, err := Restore(path, backup); !errors.Is(err, ErrInUse) {
		t.Errorf("restore over a held file: %v, want an error wrapping ErrInUse", err)
	}
	if _, err := Verify(path); !errors.Is(err, ErrInUse) {
		t.Errorf("Verify of a held file: %v, want an error wrapping ErrInUse", err)
	}
	if _, err := BackupFile(path, filepath.Join(t.TempDir(), "x.db")); !errors.Is(err, ErrInUse) {
		t.Errorf("BackupFile of a held file: %v, want an error wrapping ErrInUse", err)
	}
	if _, err := WriteBackup(path, func(io.Writer) error { return nil }); !errors.Is(err, ErrInUse) {
		t.Errorf("a backup written over a held data file: %v, want an error wrapping ErrInUse", err)
	}

	// Restore into a new directory, and over an old file there, which is kept.
	dir := t.TempDir()
	target := filepath.Join(dir, "settings.db")
	first, err := Open(target)
	if err != nil {
		t.Fatal(err)
	}
	populate(t, first, 2000)
	first.Close()
	if _, err := Restore(target, backup); err != nil {
		t.Fatalf("restore: %v", err)
	}
	kept, _ := filepath.Glob(target + ".before-restore-*")
	if len(kept) != 1 {
		t.Errorf("restore kept %v, want one copy of the replaced file", kept)
	}
	restored, err := Open(target) // the commit record was set back to the backup's commit
	if err != nil {
		t.Fatalf("open the restored file: %v", err)
	}
	checkReads(t, restored, want, false)
	if got, err := restored.Settings(t.Context(), tenantName(1999)); err != nil || got != remoteassist.DefaultSettings(tenantName(1999)) {
		t.Errorf("a tenant only the replaced file held reads %+v, %v", got, err)
	}
	restored.Close()

	// A damaged backup is refused, and the data file stays as it was.
	bad := copyData(t, backup)
	bpages, bps := reachablePages(t, bad)
	_, off := leafOf(t, bpages, bps, tenantName(3))
	flipAt(t, bad, off, 0x01)
	before, _ := os.ReadFile(target)
	if _, err := Restore(target, bad); !errors.Is(err, ErrDamaged) {
		t.Errorf("restore of a damaged backup: %v, want a DamageError", err)
	}
	if after, _ := os.ReadFile(target); !bytes.Equal(before, after) {
		t.Error("a refused restore changed the data file")
	}
	// Offline backup of a closed file.
	if r, err := BackupFile(target, filepath.Join(t.TempDir(), "offline.db")); err != nil || !r.OK() {
		t.Errorf("offline backup: %v, %v", r, err)
	}
}

// TestFreelistDamagedUnderOpenStore damages the overflow count of the freelist page under an
// open store: bbolt's next commit would free billions of pages. The update fails instead, reads
// go on, and Ping reports the damage.
func TestFreelistDamagedUnderOpenStore(t *testing.T) {
	s, path, want, _, ps := openDamageable(t, 300)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var newest meta
	for page := range uint64(2) {
		if m, err := parseMeta(b[page*uint64(ps):(page+1)*uint64(ps)], page); err == nil && m.txid > newest.txid {
			newest = m
		}
	}
	writeAt(t, path, int64(newest.freelist)*int64(ps)+12, ne.AppendUint32(nil, 0xFFFFFFF0))
	if _, err := s.UpdateSettings(t.Context(), tenantName(1), remoteassist.Patch{BlockChat: ptr(true)}); !errors.Is(err, ErrDamaged) {
		t.Errorf("an update with a damaged freelist page: %v, want an error wrapping ErrDamaged", err)
	}
	checkReads(t, s, want, false)
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping reports ready with a damaged freelist page")
	}
}
