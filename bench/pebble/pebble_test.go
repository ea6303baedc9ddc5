// Package pebble measures Pebble (github.com/cockroachdb/pebble/v2) doing the embedded store's
// work, with the same durability as bolt/: every update fsynced (pebble.Sync, whose commit
// pipeline group-commits concurrent writers into one WAL fsync) before it returns, the
// read-modify-write of an update atomic per tenant (a striped lock; Pebble has no read-write
// transactions), the same record bytes. It is a measurement, not a store: bench/STORE.md has the
// numbers next to bolt's and the decision. A module of its own, so that the service does not
// depend on Pebble.
//
//	cd bench/pebble && go test -run '^$' -bench . -benchtime 2s
package pebble

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// settings are a tenant's three properties, as bolt/ stores them (flags byte, state).
type settings struct {
	allow, block bool
	state        string
}

func encode(s settings) []byte {
	v := []byte{2, 0, byte(len(s.state))}
	if s.allow {
		v[1] |= 1
	}
	if s.block {
		v[1] |= 2
	}
	return append(v, s.state...)
}

func decode(v []byte) (settings, error) {
	if len(v) < 3 || int(v[2]) != len(v)-3 {
		return settings{}, fmt.Errorf("bad record")
	}
	return settings{allow: v[1]&1 != 0, block: v[1]&2 != 0, state: string(v[3:])}, nil
}

type store struct {
	db    *pebble.DB
	seed  maphash.Seed
	locks [256]sync.Mutex
}

// quiet drops Pebble's informational logging.
type quiet struct{}

func (quiet) Infof(string, ...any)              {}
func (quiet) Errorf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (quiet) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func open(tb testing.TB, dir string) *store {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
	if err != nil {
		tb.Fatal(err)
	}
	return &store{db: db, seed: maphash.MakeSeed()}
}

func (s *store) get(tenant string) (settings, error) {
	v, closer, err := s.db.Get([]byte(tenant))
	if err == pebble.ErrNotFound {
		return settings{state: "notConfigured"}, nil
	}
	if err != nil {
		return settings{}, err
	}
	defer closer.Close()
	return decode(v)
}

func (s *store) update(tenant string, block bool) (settings, error) {
	l := &s.locks[maphash.String(s.seed, tenant)%uint64(len(s.locks))]
	l.Lock()
	defer l.Unlock()
	cur, err := s.get(tenant)
	if err != nil {
		return settings{}, err
	}
	cur.block = block
	return cur, s.db.Set([]byte(tenant), encode(cur), pebble.Sync)
}

func benchmarkUpdate(b *testing.B, parallelism int) {
	s := open(b, b.TempDir())
	defer s.db.Close()
	var i atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := i.Add(1)
			if _, err := s.update(fmt.Sprintf("tenant-%d", n%32), n%2 == 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUpdateParallel and BenchmarkUpdateSerial are bolt's benchmarks of the same names.
func BenchmarkUpdateParallel(b *testing.B) {
	for _, p := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("callers=%dxGOMAXPROCS", p), func(b *testing.B) { benchmarkUpdate(b, p) })
	}
}

func BenchmarkUpdateSerial(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.db.Close()
	for i := 0; b.Loop(); i++ {
		if _, err := s.update("tenant", i%2 == 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSettings(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.db.Close()
	if _, err := s.update("tenant", true); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.get("tenant"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOpen opens a store of a million tenants (GUID-like keys written in random order and
// compacted), alone and followed by a read of every record, which verifies every block's
// checksum: the counterpart of bolt's check at Open.
func BenchmarkOpen(b *testing.B) {
	const n = 1000000
	dir := filepath.Join(os.TempDir(), "remoteassist-bench-pebble-1000000")
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		os.RemoveAll(dir)
		s := open(b, dir)
		order := rand.New(rand.NewPCG(1, 2)).Perm(n)
		for start := 0; start < n; start += 20000 {
			batch := s.db.NewBatch()
			for _, i := range order[start:min(start+20000, n)] {
				batch.Set([]byte(fmt.Sprintf("%08x-%04x-5%03x-8%03x-%012x", i, i%65536, i%4096, i%4096, i)), encode(settings{state: "enabled"}), nil)
			}
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.db.Compact(b.Context(), []byte{0}, []byte{0xff}, true); err != nil {
			b.Fatal(err)
		}
		s.db.Close()
		os.WriteFile(filepath.Join(dir, "done"), nil, 0o600)
	}
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			s := open(b, dir)
			s.db.Close()
		}
	})
	b.Run("open+read-all", func(b *testing.B) {
		for b.Loop() {
			s := open(b, dir)
			it, err := s.db.NewIter(nil)
			if err != nil {
				b.Fatal(err)
			}
			count := 0
			for it.First(); it.Valid(); it.Next() {
				if _, err := decode(it.Value()); err != nil {
					b.Fatal(err)
				}
				count++
			}
			if err := it.Close(); err != nil || count != n {
				b.Fatal(err, count)
			}
			s.db.Close()
		}
	})
}
