package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/storetest"
)

func ptr[T any](v T) *T { return &v }

// openTemp opens a store in a fresh directory and closes it when the test ends.
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "remoteassist.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) remoteassist.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestFileMode(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("data file mode = %o, want 600: it holds every tenant's settings", perm)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	_, path := openTemp(t)
	done := make(chan error, 1)
	go func() {
		s, err := Open(path, WithLockTimeout(200*time.Millisecond))
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a second Open of a held file is still waiting: it must give up after its lock timeout")
	}
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: error = %v, want one wrapping ErrInUse", err)
	}
	if want := `data file "` + path + `" is in use by another remoteassist process`; err.Error() != want {
		t.Errorf("second Open: error = %q, want %q", err, want)
	}
}

func TestOpenRefusesNonPositiveOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"lock timeout": WithLockTimeout(0), // bbolt would wait forever
		"batch delay":  WithMaxBatchDelay(0),
		"batch size":   WithMaxBatchSize(0),
	} {
		if s, err := Open(filepath.Join(t.TempDir(), "remoteassist.db"), opt); err == nil {
			s.Close()
			t.Errorf("Open accepted a zero %s", name)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remoteassist.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.StateEnabled), BlockChat: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close released the lock: a new Open gets the file at once.
	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer s.Close()
	got, err := s.Settings(t.Context(), "tenant")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("after reopening: %+v, want %+v", got, want)
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Settings(t.Context(), "tenant"); remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE {
		t.Errorf("Settings after Close: error = %v, want code %q", err, remoteassist.EUNAVAILABLE)
	}
	if _, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)}); remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE {
		t.Errorf("UpdateSettings after Close: error = %v, want code %q", err, remoteassist.EUNAVAILABLE)
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remoteassist.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a file that is not a database")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

// TestCorruptRecord writes records this code would never write and checks that reading or
// updating them fails with EINTERNAL instead of passing a wrong value on.
func TestCorruptRecord(t *testing.T) {
	cases := map[string]string{
		"not JSON":        `{`,
		"empty":           ``,
		"unknown state":   `{"v":1,"allowSessionsToUnenrolledDevices":true,"remoteAssistanceState":"on","blockChat":false}`,
		"missing field":   `{"v":1,"allowSessionsToUnenrolledDevices":true,"remoteAssistanceState":"enabled"}`,
		"null field":      `{"v":1,"allowSessionsToUnenrolledDevices":true,"remoteAssistanceState":"enabled","blockChat":null}`,
		"unknown field":   `{"v":1,"allowSessionsToUnenrolledDevices":true,"remoteAssistanceState":"enabled","blockChat":false,"x":1}`,
		"other version":   `{"v":2,"allowSessionsToUnenrolledDevices":true,"remoteAssistanceState":"enabled","blockChat":false}`,
		"no version":      `{"allowSessionsToUnenrolledDevices":true,"remoteAssistanceState":"enabled","blockChat":false}`,
		"wrong type":      `{"v":1,"allowSessionsToUnenrolledDevices":"yes","remoteAssistanceState":"enabled","blockChat":false}`,
		"trailing data":   `{"v":1,"allowSessionsToUnenrolledDevices":true,"remoteAssistanceState":"enabled","blockChat":false} {}`,
		"array, not JSON": `[]`,
	}
	s, _ := openTemp(t)
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			tenant := "corrupt-" + name
			if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put([]byte(tenant), []byte(value)) }); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Settings(t.Context(), tenant); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
				t.Errorf("Settings = %+v, %v; want an error with code %q", got, err, remoteassist.EINTERNAL)
			}
			if got, err := s.UpdateSettings(t.Context(), tenant, remoteassist.Patch{BlockChat: ptr(true)}); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
				t.Errorf("UpdateSettings = %+v, %v; want an error with code %q", got, err, remoteassist.EINTERNAL)
			}
		})
	}
}

func TestEmptyTenantRefused(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.Settings(t.Context(), ""); err == nil {
		t.Error("Settings accepted an empty tenant")
	}
	if _, err := s.UpdateSettings(t.Context(), "", remoteassist.Patch{BlockChat: ptr(true)}); err == nil {
		t.Error("UpdateSettings accepted an empty tenant")
	}
}

// lastTxID returns the id of the last committed write transaction: it grows by one per commit,
// so the difference over a run counts the fsyncs.
func lastTxID(tb testing.TB, s *Store) int {
	var id int
	if err := s.db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return id
}

// TestGroupCommit checks that concurrent updates share commits: 200 updates released together
// must need far fewer than 200 commits.
func TestGroupCommit(t *testing.T) {
	s, _ := openTemp(t)
	const n = 200
	before := lastTxID(t, s)
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		go func() {
			<-start
			_, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(i%2 == 0)})
			errs <- err
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	commits := lastTxID(t, s) - before
	t.Logf("%d updates in %d commits", n, commits)
	if commits > n/4 {
		t.Errorf("%d concurrent updates took %d commits: group commit is not working", n, commits)
	}
}

func benchmarkUpdate(b *testing.B, parallelism int) {
	s, _ := openTemp(b)
	var i atomic.Int64
	before := lastTxID(b, s)
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := i.Add(1)
			tenant := fmt.Sprintf("tenant-%d", n%32)
			if _, err := s.UpdateSettings(b.Context(), tenant, remoteassist.Patch{BlockChat: ptr(n%2 == 0)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if commits := lastTxID(b, s) - before; commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "updates/fsync")
	}
}

// BenchmarkUpdateParallel measures durable updates from many concurrent callers (parallelism ×
// GOMAXPROCS goroutines), as concurrent PATCH requests would make them. updates/fsync shows how
// many updates group commit puts in one commit; compare ns/op with BenchmarkUpdateSerial, where
// every update pays for its own fsync.
func BenchmarkUpdateParallel(b *testing.B) {
	for _, p := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("callers=%dxGOMAXPROCS", p), func(b *testing.B) { benchmarkUpdate(b, p) })
	}
}

// BenchmarkUpdateSerial is the baseline: one caller, one commit and one fsync per update.
func BenchmarkUpdateSerial(b *testing.B) {
	s, _ := openTemp(b)
	for i := 0; b.Loop(); i++ {
		if _, err := s.UpdateSettings(b.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(i%2 == 0)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSettings(b *testing.B) {
	s, _ := openTemp(b)
	if _, err := s.UpdateSettings(b.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Settings(b.Context(), "tenant"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
