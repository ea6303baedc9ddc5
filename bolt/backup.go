package bolt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// Verify checks the data file (or backup) at path without changing it: the package's own check
// of every page and record, then bbolt's tx.Check, and, for a data file with a commit record
// beside it, that the file is not older than the record. It takes the file's lock shared, so it
// fails with an error wrapping ErrInUse while a server holds the file: check a running server's
// file with Store.Verify, inside that server. The error is for what stopped the check (no such
// file, in use); what the check found is in the report.
func Verify(path string, opts ...Option) (*Report, error) {
	o := newOptions(opts)
	f, err := openAtRest(path, o.lockTimeout)
	if err != nil {
		return nil, err
	}
	r, err := verifyOpen(f, path, o.bboltCheck)
	if err != nil {
		return nil, err
	}
	if txid, ok, err := readCommitRecord(CommitRecordPath(path)); err != nil {
		r.problemf("%v", err)
	} else if ok && r.OK() && r.TxID < txid {
		r.problemf("the file ends at commit %d, but its commit record says commit %d was made: it was replaced by an older copy, or the disk lost writes", r.TxID, txid)
	}
	return r, nil
}

// openAtRest opens the data file at path read-only with its lock shared, as Verify and BackupFile
// read a file no server holds: one that a server holds is an error wrapping ErrInUse.
func openAtRest(path string, lockTimeout time.Duration) (*os.File, error) {
	f, _, err := openLocked(path, os.O_RDONLY, 0, false, lockTimeout)
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("data file %q is %w", path, ErrInUse)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// verifyOpen checks the locked file f and closes it.
func verifyOpen(f *os.File, path string, bboltCheck bool) (*Report, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r := check(f, path, fi.Size(), nil)
	if !r.OK() || !bboltCheck {
		f.Close()
		return r, nil
	}
	db, err := openChecked(f, path)
	if err != nil {
		r.problemf("bbolt cannot open it: %v", err)
		return r, nil
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			r.problemf("bbolt's check: %v", err)
		}
		return nil
	})
	return r, err
}

// openChecked opens a file that check passed read-only with bbolt, which takes over f (and
// closes it with the DB).
func openChecked(f *os.File, path string) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, OpenFile: func(string, int, fs.FileMode) (*os.File, error) { return f, nil }})
	if err != nil {
		f.Close()
	}
	return db, err
}

// Verify checks the store's file while it serves, as Verify does a file at rest, except bbolt's
// tx.Check (which is not safe beside writers in a read transaction, and would hold back every
// write in a write one). It reads the file as of the newest commit, in a read transaction, which
// keeps every page of that commit in place while later commits go on (a commit that grows the
// file past bbolt's memory map waits for it to end: see Backup).
func (s *Store) Verify() (*Report, error) {
	var (
		tx   *bbolt.Tx
		c    *checker
		m    meta
		ok   bool
		berr error
		want uint64
	)
	// The meta pages are read between two commits, so that none is being written meanwhile, and
	// the transaction begins there too, at the commit they hold: after the leader's commit, so
	// that it is never open across a commit that waits for it to end (see Store.commit).
	s.submit(&op{fn: func() {
		berr = s.mapped("beginning a check", true, func() (err error) {
			tx, err = s.db.Begin(false)
			return err
		})
		if berr != nil {
			return
		}
		var fi os.FileInfo
		if fi, berr = s.file.Stat(); berr != nil {
			return
		}
		c = &checker{r: s.file, report: &Report{Path: s.path, Size: fi.Size(), Live: true}}
		m, ok = c.metas()
		want = s.committed.Load()
	}, done: make(chan bool, 1)})
	if berr != nil {
		if tx != nil {
			tx.Rollback()
		}
		return nil, storageError(berr)
	}
	defer tx.Rollback()
	if ok && m.txid != uint64(tx.ID()) {
		c.problemf("the newest meta page holds commit %d, but bbolt reads commit %d", m.txid, tx.ID())
		ok = false
	}
	if ok {
		c.walk(m)
	}
	if c.report.TxID < want && c.report.OK() {
		c.problemf("the file ends at commit %d, but this process made commit %d", c.report.TxID, want)
	}
	if err, _ := s.health.state(); err != nil {
		c.problemf("the store is not ready: %v", err)
	}
	return c.report, nil
}

// BackupFile writes a verified copy of the data file at path, which no server may hold, to dst:
// see WriteBackup. The data file must check first: a copy of a damaged file is no backup.
func BackupFile(path, dst string, opts ...Option) (*Report, error) {
	o := newOptions(opts)
	f, err := openAtRest(path, o.lockTimeout)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if r := check(f, path, fi.Size(), nil); !r.OK() {
		f.Close()
		return r, r.Err()
	}
	db, err := openChecked(f, path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return WriteBackup(dst, func(w io.Writer) error {
		return db.View(func(tx *bbolt.Tx) error {
			_, err := tx.WriteTo(w)
			return err
		})
	}, opts...)
}

// WriteBackup makes dst a verified backup: write writes the copy (bbolt's tx.WriteTo, here or in
// a server) to a temporary file beside dst, which is fsynced and then checked as Verify checks a
// file (bbolt's tx.Check included); only a copy that checks is renamed to dst, atomically, so dst
// is either its old self or a whole, checked backup. It refuses a dst that a server holds.
func WriteBackup(dst string, write func(io.Writer) error, opts ...Option) (*Report, error) {
	if held, err := isHeld(dst); err != nil {
		return nil, err
	} else if held {
		return nil, fmt.Errorf("%q is a data file %w: a backup must go elsewhere", dst, ErrInUse)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(w); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	r, err := Verify(tmp.Name(), opts...)
	if err != nil {
		return nil, err
	}
	r.Path = dst
	if !r.OK() {
		return r, r.Err()
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return nil, err
	}
	done = true
	return r, syncParent(dst)
}

// isHeld reports whether a process holds the lock of the file at path (false if there is none).
func isHeld(path string) (bool, error) {
	f, _, err := openLocked(path, os.O_RDONLY, 0, false, time.Millisecond)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case errors.Is(err, errLocked):
		return true, nil
	case err != nil:
		return false, err
	}
	f.Close()
	return false, nil
}

// Restore installs the backup src as the data file at path. It refuses to while a server holds
// the data file (an error wrapping ErrInUse), and refuses a backup that does not check (a
// *DamageError). Otherwise it copies src beside the data file, checks the copy, keeps the file it
// replaces as PATH.before-restore-TIME (if there was one and it was not empty), renames the copy
// over the data file atomically and sets the commit record to the backup's newest commit, so that
// the older state it restores is not refused as a rollback. It holds the data file's lock
// throughout, so that no server starts on the file meanwhile.
func Restore(path, src string, opts ...Option) (*Report, error) {
	o := newOptions(opts)
	r, err := Verify(src, opts...)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if !r.OK() {
		return r, r.Err()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	lock, created, err := openLocked(path, os.O_RDWR|os.O_CREATE, 0o600, true, o.lockTimeout)
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("data file %q is %w: stop the server before restoring", path, ErrInUse)
	}
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	installed := false
	defer func() {
		if created && !installed {
			os.Remove(path)
		}
	}()
	fi, err := lock.Stat()
	if err != nil {
		return nil, err
	}
	tmp, err := copyBeside(path, src)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp) // gone once renamed
	cr, err := Verify(tmp, opts...)
	if err != nil {
		return nil, err
	}
	if !cr.OK() {
		cr.Path = src + " (as copied)"
		return cr, cr.Err()
	}
	if !created && fi.Size() > 0 {
		keep := path + ".before-restore-" + time.Now().UTC().Format("20060102T150405.000Z")
		if err := os.Link(path, keep); err != nil {
			return nil, fmt.Errorf("keep the replaced data file: %w", err)
		}
	}
	// Without a record first: a crash before the rename leaves the old file and no record, which
	// opens; a record of the backup's commit beside the old file could refuse it.
	if err := os.Remove(CommitRecordPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := syncParent(path); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	installed = true
	if err := syncParent(path); err != nil {
		return nil, err
	}
	if err := writeCommitRecord(CommitRecordPath(path), r.TxID); err != nil {
		return nil, err
	}
	r.Path = path
	return r, nil
}

// copyBeside copies src to a new file in path's directory, fsynced, and returns its name.
func copyBeside(path, src string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".restore-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(0o600)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}
