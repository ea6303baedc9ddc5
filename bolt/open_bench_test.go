package bolt

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/remoteassist/remoteassist"
)

// benchFile returns a closed data file of n tenants, made once and kept in
// $REMOTEASSIST_BENCH_DIR (default: the system's temporary directory) for later runs: making a
// million-tenant file takes a while. Tenant ids are GUIDs, as Entra's are, written in random
// order, as they would arrive; the records are this package's, with checksums.
func benchFile(b *testing.B, n int) string {
	b.Helper()
	dir := os.Getenv("REMOTEASSIST_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("remoteassist-bench-f%d-%d.db", recordVersion, n))
	if r, err := Verify(path, WithBboltCheck(false)); err == nil && r.OK() && r.Tenants == n {
		return path
	}
	os.Remove(path)
	os.Remove(CommitRecordPath(path))
	b.Logf("making %s (%d tenants)", path, n)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucket(bucketSettings); err != nil {
			return err
		}
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keyFormat, []byte{recordVersion})
	}); err != nil {
		b.Fatal(err)
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(n)
	for start := 0; start < n; start += 20000 {
		if err := db.Update(func(tx *bbolt.Tx) error {
			bk := tx.Bucket(bucketSettings)
			for _, i := range order[start:min(start+20000, n)] {
				tenant := remoteassist.SettingsID(fmt.Sprint(i))
				v, _ := encode(tenant, settingsFor(tenant, i))
				if err := bk.Put([]byte(tenant), v); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkOpen measures what a start costs at 1k, 100k and 1M tenants: bbolt's Open alone (what
// the store did before it checked anything), Open with this package's check of every page and
// record (and the index it builds), and Open with bbolt's tx.Check on top (the default). The
// file is in the page cache after the first run: these are CPU costs, not disk reads. Run
// bench/store-check.sh for the table in bench/STORE.md.
func BenchmarkOpen(b *testing.B) {
	sizes := []int{1000, 100000, 1000000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	for _, n := range sizes {
		path := benchFile(b, n)
		fi, _ := os.Stat(path)
		b.Run(fmt.Sprintf("tenants=%d/bbolt-only", n), func(b *testing.B) {
			for b.Loop() {
				db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: DefaultLockTimeout})
				if err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
		})
		b.Run(fmt.Sprintf("tenants=%d/bbolt-tx.Check-only", n), func(b *testing.B) {
			for b.Loop() {
				db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: DefaultLockTimeout, ReadOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := db.View(func(tx *bbolt.Tx) error {
					for err := range tx.Check() {
						return err
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
		})
		for _, c := range []struct {
			name  string
			bbolt bool
		}{{"check", false}, {"check+bbolt-check", true}} {
			b.Run(fmt.Sprintf("tenants=%d/%s", n, c.name), func(b *testing.B) {
				for b.Loop() {
					s, err := Open(path, WithBboltCheck(c.bbolt))
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					s.Close()
					b.StartTimer()
				}
				b.StopTimer()
				// What an open store keeps in memory: on the Go heap, and in the index's tables
				// outside it.
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s, err := Open(path, WithBboltCheck(false))
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap := after.HeapAlloc - min(before.HeapAlloc, after.HeapAlloc)
				index := s.index.bytes()
				runtime.KeepAlive(s)
				s.Close()
				b.ReportMetric(float64(heap)/float64(n), "heap-B/tenant")
				b.ReportMetric(float64(index)/float64(n), "index-B/tenant")
			})
		}
	}
}
