package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/remoteassist/remoteassist"
)

// These tests make real storage faults: a full tmpfs, an immutable file and a file system gone
// read-only on ext4 images. They mount file systems, so they need root; without it they fail
// (they never skip) and say so.

// logRecorder is a slog.Handler that keeps every record's message.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count returns how many messages start with prefix.
func (l *logRecorder) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted when the test ends.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount a tmpfs on %s (this test needs root): %v", dir, err)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

// mountExt4 makes an ext4 image of 16 MiB and mounts it (errors=remount-ro) on a new directory,
// unmounted and detached from its loop device when the test ends.
func mountExt4(t *testing.T) (dir, dev string) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "ext4.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 (e2fsprogs is needed): %v: %s", err, out)
	}
	dir = t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount an ext4 image on a loop device (this test needs root and loop devices): %v: %s", err, out)
	}
	t.Cleanup(func() { unmount(t, dir) })
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", dir).Output()
	if err != nil {
		t.Fatalf("findmnt %s: %v", dir, err)
	}
	return dir, filepath.Base(strings.TrimSpace(string(out)))
}

// unmount unmounts dir, lazily if it is still busy, so that no test leaves a mount behind.
func unmount(t *testing.T, dir string) {
	if err := syscall.Unmount(dir, 0); err != nil {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	}
}

// fill writes a file in dir until the file system is full, and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
}

// writeUntilFailure updates new tenants until an update fails (bbolt reuses free pages before it
// needs new ones) and returns the error; the test fails if none does within many updates.
func writeUntilFailure(t *testing.T, s *Store) error {
	t.Helper()
	for i := range 20000 {
		if _, err := s.UpdateSettings(t.Context(), fmt.Sprintf("fault-%06d", i), remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
			return err
		}
	}
	t.Fatal("20000 updates of new tenants succeeded: the storage fault never reached a write")
	return nil
}

// checkUnavailable checks a write error is EUNAVAILABLE with a Retry-After, caused by errno.
func checkUnavailable(t *testing.T, err error, errno syscall.Errno) {
	t.Helper()
	var e *remoteassist.Error
	if !errors.As(err, &e) || e.Code != remoteassist.EUNAVAILABLE || e.RetryAfter <= 0 {
		t.Fatalf("write error %v: want code %q with a Retry-After", err, remoteassist.EUNAVAILABLE)
	}
	if got, ok := storageFault(err); !ok || got != errno {
		t.Errorf("write error %v: want it caused by %v", err, errno)
	}
}

// waitReady calls Ping until it succeeds: readiness must come back through Ping's own probe
// write, without any update. Only a hang guard bounds it.
func waitReady(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := s.Ping(t.Context())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping still fails a minute after the storage recovered: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFullDisk fills the file system under an open store: writes answer EUNAVAILABLE with a
// Retry-After, reads go on, Ping reports the store not ready, the state change is logged once;
// once space is freed, Ping's probe write finds it and the store is ready again with no restart
// and no client write, and everything acknowledged is there after reopening.
func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, 4<<20)
	logs := &logRecorder{}
	path := filepath.Join(dir, "settings.db")
	s, err := Open(path, WithLogger(slog.New(logs)), WithProbeInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := populate(t, s, 100)
	filler := fill(t, dir)

	err = writeUntilFailure(t, s)
	checkUnavailable(t, err, syscall.ENOSPC)
	for i := range 20 {
		_, err := s.UpdateSettings(t.Context(), fmt.Sprintf("more-%d", i), remoteassist.Patch{BlockChat: ptr(true)})
		if err != nil {
			checkUnavailable(t, err, syscall.ENOSPC)
		}
	}
	checkReads(t, s, want, false)
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping reports ready while writes fail for a full disk")
	}
	if n := logs.count("writes fail"); n != 1 {
		t.Errorf("the failing writes were logged %d times, want once", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitReady(t, s)
	if n := logs.count("writes succeed again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once", n)
	}
	after, err := s.UpdateSettings(t.Context(), tenantName(1), remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.StateEnabled)})
	if err != nil {
		t.Fatalf("an update after the recovery: %v", err)
	}
	want[tenantName(1)] = after
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen after the full disk: %v", err)
	}
	defer s.Close()
	checkReads(t, s, want, false)
}

// TestImmutableFile makes the data file immutable (chattr +i) under an open store: every write
// fails with EPERM, which is EUNAVAILABLE; Ping recovers by itself once the flag is cleared.
func TestImmutableFile(t *testing.T) {
	dir, _ := mountExt4(t)
	path := filepath.Join(dir, "settings.db")
	logs := &logRecorder{}
	s, err := Open(path, WithLogger(slog.New(logs)), WithProbeInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := populate(t, s, 50)
	chattr(t, "+i", path)
	t.Cleanup(func() { exec.Command("chattr", "-i", path).Run() })

	_, err = s.UpdateSettings(t.Context(), tenantName(1), remoteassist.Patch{BlockChat: ptr(true)})
	checkUnavailable(t, err, syscall.EPERM)
	checkReads(t, s, want, false)
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping reports ready while the file is immutable")
	}
	chattr(t, "-i", path)
	waitReady(t, s)
	if _, err := s.UpdateSettings(t.Context(), tenantName(1), remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
		t.Errorf("an update once the file is writable again: %v", err)
	}
	if a, b := logs.count("writes fail"), logs.count("writes succeed again"); a != 1 || b != 1 {
		t.Errorf("logged the failure %d times and the recovery %d times, want once each", a, b)
	}
}

func chattr(t *testing.T, flag, path string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, path).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %s: %v: %s", flag, path, err, out)
	}
}

// TestReadOnlyFileSystem makes ext4 remount itself read-only under an open store (an error with
// errors=remount-ro, as a failing disk would cause): writes fail with EROFS, which is EUNAVAILABLE,
// reads go on, Ping reports the store not ready.
func TestReadOnlyFileSystem(t *testing.T) {
	dir, dev := mountExt4(t)
	s, err := Open(filepath.Join(dir, "settings.db"), WithProbeInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := populate(t, s, 50)
	trigger := filepath.Join("/sys/fs/ext4", dev, "trigger_fs_error")
	if err := os.WriteFile(trigger, []byte("remoteassist test\n"), 0); err != nil {
		t.Fatalf("make %s fail through %s: %v", dir, trigger, err)
	}
	_, err = s.UpdateSettings(t.Context(), tenantName(1), remoteassist.Patch{BlockChat: ptr(true)})
	checkUnavailable(t, err, syscall.EROFS)
	checkReads(t, s, want, false)
	for range 3 {
		if err := s.Ping(t.Context()); err == nil {
			t.Error("Ping reports ready on a read-only file system")
		}
	}
}

// TestOpenUnwritable opens a data file on a read-only file system: Open fails with the cause,
// it does not crash or create anything.
func TestOpenUnwritable(t *testing.T) {
	dir := mountTmpfs(t, 1<<20)
	path := filepath.Join(dir, "settings.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
	if _, err := Open(path); !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), path) {
		t.Errorf("Open on a read-only file system: %v, want an error naming the file and wrapping EROFS", err)
	}
}

func TestStorageFaultClassified(t *testing.T) {
	for _, errno := range storageFaults {
		for _, err := range []error{
			&fs.PathError{Op: "write", Path: "settings.db", Err: errno},
			fmt.Errorf("file resize error: %s", &fs.PathError{Op: "truncate", Path: "settings.db", Err: errno}), // bbolt's %s
		} {
			if got, ok := storageFault(err); !ok || got != errno {
				t.Errorf("storageFault(%v) = %v, %t; want %v", err, got, ok, errno)
			}
		}
	}
	for _, err := range []error{bbolt.ErrDatabaseNotOpen, errors.New("bolt: a bug"), &fs.PathError{Op: "write", Err: syscall.EBADF}} {
		if errno, ok := storageFault(err); ok {
			t.Errorf("storageFault(%v) = %v, want none", err, errno)
		}
	}
}

// TestPanicInTransactionFailsItsBatch makes the transaction function panic during a commit that
// carries queued updates: the batch fails, every follower is woken, nothing is written, and the
// next updates commit (bbolt rolled the transaction back cleanly).
func TestPanicInTransactionFailsItsBatch(t *testing.T) {
	s, _ := openTemp(t)
	batches, release := holdCommits(s)
	errs := make(chan error, 11)
	update := func(i int) {
		_, err := s.UpdateSettings(t.Context(), tenantName(i), remoteassist.Patch{BlockChat: ptr(true)})
		errs <- err
	}
	go update(0)
	<-batches
	for i := 1; i <= 10; i++ {
		go update(i)
	}
	waitQueued(t, s, 10)
	// The held commit carries update 0; the next one, the ten queued updates, panics.
	var commits sync.Map
	s.inTx = func(tx *bbolt.Tx) {
		if _, loaded := commits.LoadOrStore("first", true); loaded {
			panic("boom")
		}
	}
	release()
	failed := 0
	for range 11 {
		if err := <-errs; err != nil {
			if remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
				t.Errorf("an update of the panicking batch: %v, want EINTERNAL", err)
			}
			failed++
		}
	}
	if failed != 10 {
		t.Fatalf("%d updates failed, want the 10 of the panicking batch", failed)
	}
	s.inTx = nil
	for i := range 11 {
		got, err := s.UpdateSettings(t.Context(), tenantName(i), remoteassist.Patch{AllowSessionsToUnenrolledDevices: ptr(true)})
		if err != nil {
			t.Fatalf("an update after the panic: %v", err)
		}
		if got.BlockChat != (i == 0) {
			t.Errorf("%s reads blockChat %t: only update 0 committed", tenantName(i), got.BlockChat)
		}
	}
}

// TestPanicInPutFailsOnlyItsUpdate makes bbolt's Put panic for one tenant of a batch, as a
// damaged page would: that update fails, the others of the batch commit.
func TestPanicInPutFailsOnlyItsUpdate(t *testing.T) {
	s, _ := openTemp(t)
	batches, release := holdCommits(s)
	type result struct {
		i   int
		err error
	}
	errs := make(chan result, 11)
	update := func(i int) {
		_, err := s.UpdateSettings(t.Context(), tenantName(i), remoteassist.Patch{BlockChat: ptr(true)})
		errs <- result{i, err}
	}
	go update(0)
	<-batches
	for i := 1; i <= 10; i++ {
		go update(i)
	}
	waitQueued(t, s, 10)
	s.beforePut = func(tenant string) {
		if tenant == tenantName(5) {
			panic("damaged page")
		}
	}
	release()
	for range 11 {
		r := <-errs
		if r.i == 5 {
			if !errors.Is(r.err, ErrDamaged) {
				t.Errorf("the update whose Put panicked: %v, want an error wrapping ErrDamaged", r.err)
			}
		} else if r.err != nil {
			t.Errorf("update %d of the same batch failed with it: %v", r.i, r.err)
		}
	}
	s.beforePut = nil
	for i := range 11 {
		got, err := s.Settings(t.Context(), tenantName(i))
		if err != nil || got.BlockChat != (i != 5) {
			t.Errorf("%s reads %+v, %v", tenantName(i), got, err)
		}
	}
}

// TestPanicInCommitStopsWrites makes bbolt panic inside its commit, outside the transaction
// function, where its state is unknown: the batch fails, the followers are woken, later writes
// fail at once (they must not wait on a lock the panic may have left held), reads go on, and Ping
// reports the store not ready.
func TestPanicInCommitStopsWrites(t *testing.T) {
	s, _ := openTemp(t)
	for i := range 3 {
		if _, err := s.UpdateSettings(t.Context(), tenantName(i), remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
			t.Fatal(err)
		}
	}
	batches, release := holdCommits(s)
	errs := make(chan error, 6)
	update := func(i int) {
		_, err := s.UpdateSettings(t.Context(), tenantName(10+i), remoteassist.Patch{BlockChat: ptr(true)})
		errs <- err
	}
	go update(0)
	<-batches
	for i := 1; i <= 5; i++ {
		go update(i)
	}
	waitQueued(t, s, 5)
	s.inTx = func(tx *bbolt.Tx) { tx.OnCommit(func() { panic("boom in commit") }) }
	release()
	for range 6 {
		if err := <-errs; remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
			t.Errorf("an update when bbolt panicked in its commit: %v, want EINTERNAL", err)
		}
	}
	s.inTx = nil
	if _, err := s.UpdateSettings(t.Context(), tenantName(99), remoteassist.Patch{BlockChat: ptr(true)}); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
		t.Errorf("an update after the panic: %v, want EINTERNAL at once", err)
	}
	for i := range 3 {
		if got, err := s.Settings(t.Context(), tenantName(i)); err != nil || !got.BlockChat {
			t.Errorf("a read after the panic: %+v, %v", got, err)
		}
	}
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping reports ready after bbolt panicked in a commit")
	}
}

// TestCommitAheadOfTheStore makes the file hold a commit the store does not count as made: one
// whose fdatasync failed after its meta page reached the file (bbolt rolls back, but reads the
// file, and so that commit, from then on), or one the store finds it did not make. The update
// fails; the store stops writing and reports itself not ready rather than build on a commit the
// disk may not have; reads go on, the failed update's tenant included, with what the file holds
// and no damage reported; and the file opens again.
func TestCommitAheadOfTheStore(t *testing.T) {
	for _, c := range []struct {
		name string
		fail func(s *Store) // makes the next commit fail so
		code string         // of the update that fails
		in   bool           // whether the file holds that update
	}{
		{"fdatasync failed after the meta page was written", func(s *Store) {
			s.commitFailed = func() error { return fmt.Errorf("fdatasync: %w", syscall.EIO) }
		}, remoteassist.EUNAVAILABLE, true},
		{"the file is at a commit the store did not make", func(s *Store) {
			s.committed.Add(^uint64(0)) // one commit less than the file holds
		}, remoteassist.EINTERNAL, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, path := openTemp(t)
			for i := range 3 {
				if _, err := s.UpdateSettings(t.Context(), tenantName(i), remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
					t.Fatal(err)
				}
			}
			c.fail(s)
			failed := tenantName(10)
			if _, err := s.UpdateSettings(t.Context(), failed, remoteassist.Patch{BlockChat: ptr(true)}); remoteassist.ErrorCode(err) != c.code {
				t.Fatalf("the update: %v, want %s", err, c.code)
			}
			s.commitFailed = nil
			err := s.Ping(t.Context())
			if err == nil {
				t.Fatal("Ping reports ready with the file ahead of the store")
			}
			if errors.Is(err, ErrDamaged) {
				t.Errorf("Ping: %v; want no damage reported", err)
			}
			if _, err := s.UpdateSettings(t.Context(), tenantName(11), remoteassist.Patch{BlockChat: ptr(true)}); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
				t.Errorf("a later update: %v, want EINTERNAL at once", err)
			}
			for i := range 3 {
				if got, err := s.Settings(t.Context(), tenantName(i)); err != nil || !got.BlockChat {
					t.Errorf("a read of %s: %+v, %v", tenantName(i), got, err)
				}
			}
			if got, err := s.Settings(t.Context(), failed); err != nil || got.BlockChat != c.in {
				t.Errorf("a read of the failed update's tenant: %+v, %v; want BlockChat %v, what the file holds", got, err, c.in)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(path)
			if err != nil {
				t.Fatalf("the file after the failed commit: %v", err)
			}
			defer s.Close()
			if got, err := s.Settings(t.Context(), failed); err != nil || got.BlockChat != c.in {
				t.Errorf("after reopening, %s: %+v, %v; want BlockChat %v", failed, got, err, c.in)
			}
		})
	}
}

// TestPingReturnsWhenItsContextIsDone holds the commit of Ping's probe write, as a stalled fsync
// would: Ping returns once its context is done, later calls too, without a second probe; once
// the commit ends, the store is ready again.
func TestPingReturnsWhenItsContextIsDone(t *testing.T) {
	s, _ := openTemp(t)
	s.health.writeFailed(syscall.EIO, fmt.Errorf("write: %w", syscall.EIO)) // so that Ping probes
	batches, release := holdCommits(s)
	defer release()
	for i := range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		pinged := make(chan error, 1)
		go func() { pinged <- s.Ping(ctx) }()
		if i == 0 {
			<-batches // the probe's commit is held
		}
		cancel()
		select {
		case err := <-pinged:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Ping %d, its context cancelled during a held commit: %v, want context.Canceled", i, err)
			}
		case <-time.After(30 * time.Second): // a hang guard only
			t.Fatalf("Ping %d still waits 30s after its context was cancelled, behind a held commit", i)
		}
	}
	if n := queued(s); n != 0 {
		t.Errorf("%d more writes queued behind the held probe; want the Pings to share it", n)
	}
	release()
	waitReady(t, s)
}
