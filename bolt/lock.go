package bolt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// How bbolt's lock works, and how this package uses it: bbolt takes flock(2) on the file it
// opens, exclusive for a writer and shared for a reader, and waits for it up to its timeout.
// flock locks belong to an open file description, so a lock this package takes on the very file
// it hands bbolt (through bbolt's OpenFile option) is the lock bbolt then asks for again and gets
// at once. That lets Open lock the file, check it with plain reads and only then let bbolt map
// it; and it lets Verify, BackupFile and Restore take the same lock a server takes. While a
// server holds its exclusive lock no other process can open the file with bbolt, read-only or
// not: check and backup of a live server go through the server itself (see cmd/remoteassist).

// lockRetry is how often a lock held by another process is tried again: bbolt's own interval.
const lockRetry = 50 * time.Millisecond

// errLocked is returned by openLocked when another process holds the lock past the timeout.
var errLocked = errors.New("locked")

// openLocked opens the file at path with flag and takes its lock, exclusive or shared, waiting at
// most timeout for another process to release it. With os.O_CREATE in flag it reports whether
// this call created the file. If the path names another file once the lock is held (a restore
// renamed a new file in while this waited), it starts again with the new file, so that the lock
// held is always the lock of the file the path names.
func openLocked(path string, flag int, perm fs.FileMode, exclusive bool, timeout time.Duration) (f *os.File, created bool, err error) {
	deadline := time.Now().Add(timeout)
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		created = false
		if flag&os.O_CREATE != 0 {
			f, err = os.OpenFile(path, flag|os.O_EXCL, perm)
			created = err == nil
			if errors.Is(err, fs.ErrExist) {
				f, err = os.OpenFile(path, flag&^os.O_CREATE, perm)
				if errors.Is(err, fs.ErrNotExist) {
					continue // removed between the two opens
				}
			}
		} else {
			f, err = os.OpenFile(path, flag, perm)
		}
		if err != nil {
			return nil, false, err
		}
		for {
			err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
			if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
				break
			}
			time.Sleep(lockRetry)
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, false, errLocked
		}
		if err != nil {
			f.Close()
			return nil, false, fmt.Errorf("lock: %w", err)
		}
		same, err := sameFile(path, f)
		if err != nil {
			f.Close()
			return nil, false, err
		}
		if same {
			return f, created, nil
		}
		f.Close()
	}
}

// sameFile reports whether path still names the open file f.
func sameFile(path string, f *os.File) (bool, error) {
	pi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	return os.SameFile(pi, fi), nil
}

// syncDir fsyncs a directory, making a rename or a removal in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// syncParent fsyncs the directory holding path.
func syncParent(path string) error { return syncDir(filepath.Dir(path)) }
