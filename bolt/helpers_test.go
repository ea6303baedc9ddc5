package bolt

import (
	"testing"

	"go.etcd.io/bbolt"
)

// rawPut stores value under tenant behind the store's back, as damage or another program would,
// and keeps the store's count of commits in step so that the next commit is not taken for a
// rollback.
func rawPut(t testing.TB, s *Store, tenant, value string) {
	t.Helper()
	rawUpdate(t, s, func(b *bbolt.Bucket) error { return b.Put([]byte(tenant), []byte(value)) })
}

// rawDelete removes a tenant's record behind the store's back.
func rawDelete(t testing.TB, s *Store, tenant string) {
	t.Helper()
	rawUpdate(t, s, func(b *bbolt.Bucket) error { return b.Delete([]byte(tenant)) })
}

func rawUpdate(t testing.TB, s *Store, fn func(b *bbolt.Bucket) error) {
	t.Helper()
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := fn(tx.Bucket(bucketSettings)); err != nil {
			return err
		}
		id := uint64(tx.ID())
		tx.OnCommit(func() { s.committed.Store(id) })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// withMmapSize sets the size of bbolt's memory map at Open. 0 maps only what the file needs, so
// that a commit growing the file must remap it, as one growing a file past the default map does.
func withMmapSize(n int) Option { return func(o *options) { o.mmapSize = n } }
