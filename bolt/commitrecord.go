package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The commit record: a small file beside the data file (PATH.commit) holding the number of a
// commit the data file is known to have reached. bbolt keeps two meta pages and, when the newest
// fails its checksum, silently uses the other: the file then ends one commit earlier and every
// acknowledged change of the lost commit is gone without an error. Open refuses a damaged meta
// page outright (verify.go), and within a process every transaction is compared with the newest
// commit made; the commit record covers what neither can see: a data file that is intact but
// older than the one this directory held (a copy put back by hand, a file system snapshot of the
// file alone, a disk that lost writes). Open refuses a file whose newest commit is older than
// the record, and a missing file when a record exists.
//
// The record is written after the commits it names are durable, by a goroutine of its own, at
// most once per commitRecordInterval and once more at Close: it never costs a PATCH an fsync,
// and it lags the data file (it may name an older commit, never a newer one). So a rollback of
// the last interval's commits before a crash is the one kind it cannot see; the package
// documentation lists what is detected where.
//
// Format: 24 bytes, "RACOMMIT", the commit (uint64, big-endian), the CRC-32C of the 16 bytes
// before it, 4 zero bytes. Written in place with one pwrite and an fdatasync; it fits in one
// disk sector, so a crash leaves the old record or the new one.

const (
	commitRecordSize     = 24
	commitRecordInterval = 100 * time.Millisecond
)

var commitRecordMagic = []byte("RACOMMIT")

// CommitRecordPath is where the commit record of the data file at path lives.
func CommitRecordPath(path string) string { return path + ".commit" }

// readCommitRecord returns the commit the record at path names; ok is false when there is no
// record. A record that does not check is a *DamageError.
func readCommitRecord(path string) (txid uint64, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(b) != commitRecordSize || !bytes.Equal(b[:8], commitRecordMagic) ||
		binary.BigEndian.Uint32(b[16:]) != crc32.Checksum(b[:16], castagnoli) {
		return 0, false, &DamageError{Kind: "commit record", Path: path, Problem: "is damaged"}
	}
	return binary.BigEndian.Uint64(b[8:]), true, nil
}

func encodeCommitRecord(txid uint64) []byte {
	b := make([]byte, commitRecordSize)
	copy(b, commitRecordMagic)
	binary.BigEndian.PutUint64(b[8:], txid)
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	return b
}

// writeCommitRecord writes the record once, creating it if needed, and makes it durable.
func writeCommitRecord(path string, txid uint64) error {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(encodeCommitRecord(txid), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && errors.Is(statErr, fs.ErrNotExist) {
		err = syncParent(path)
	}
	return err
}

// commitRecorder keeps the commit record of an open store up to date.
type commitRecorder struct {
	path string
	log  *slog.Logger

	want    atomic.Uint64 // the newest durable commit
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	written uint64
	failing bool
}

func startCommitRecorder(path string, txid uint64, log *slog.Logger) *commitRecorder {
	r := &commitRecorder{path: path, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	r.want.Store(txid)
	r.written = txid
	go r.run()
	return r
}

// committed tells the recorder that txid is durable. It never waits.
func (r *commitRecorder) committed(txid uint64) {
	for {
		cur := r.want.Load()
		if txid <= cur || r.want.CompareAndSwap(cur, txid) {
			break
		}
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *commitRecorder) run() {
	defer close(r.done)
	for {
		select {
		case <-r.wake:
		case <-r.stop:
			r.flush()
			return
		}
		r.flush()
		select {
		case <-time.After(commitRecordInterval):
		case <-r.stop:
			r.flush()
			return
		}
	}
}

func (r *commitRecorder) flush() {
	txid := r.want.Load()
	if txid <= r.written {
		return
	}
	err := writeCommitRecord(r.path, txid)
	switch {
	case err != nil && !r.failing:
		r.failing = true
		r.log.Warn("cannot update the commit record; a rollback of the data file may go unnoticed", "path", r.path, "error", err)
	case err == nil && r.failing:
		r.failing = false
		r.log.Info("the commit record is written again", "path", r.path)
	}
	if err == nil {
		r.written = txid
	}
}

// close writes the newest commit and stops the recorder. Calling it again does nothing.
func (r *commitRecorder) close() {
	r.once.Do(func() {
		close(r.stop)
		<-r.done
	})
}
