// Package bolt is the embedded, default remoteassist.Store: settings kept in one bbolt file on
// local disk.
//
// Why bbolt: it is pure Go (no cgo, so the binary stays static), the whole database is a single
// file that is easy to back up and to mount in a container, and every commit is fsynced before it
// returns. Writes are serialised by bbolt itself, which makes the read-modify-write of an update
// atomic without a lock of our own.
//
// Group commit, leader/follower: an update that finds no commit in progress commits at once, in
// its own goroutine, with no timer to wait for. Updates that arrive while a commit (and so its
// fsync) is in progress queue up; when that commit ends, the first of them leads the next one and
// commits the whole queue (up to the maximum batch size) in one transaction with one fsync, in
// arrival order. A lone update therefore costs one commit, and under load the number of commits
// per second stays near the disk's fsync rate while each one carries every update that waited.
// (bbolt's DB.Batch, used before, holds every batch for a fixed delay instead: 1ms of latency
// added to every lone update.)
//
// Durability: UpdateSettings returns only after the transaction holding its update is committed
// and fsynced. A crash loses no update that was answered.
//
// One process at a time: bbolt takes an exclusive flock on the file. A second process opening the
// same file waits at most the lock timeout (WithLockTimeout) and then fails with an error wrapping
// ErrInUse. The kernel drops the lock when a process dies, so a crash never leaves a stale lock.
//
// Stored format: bucket "settings", key = the tenant id as UTF-8, value = JSON of the record type
// below with explicit field names and a format version. The settings id is not stored: it is
// derived from the tenant (remoteassist.SettingsID). Records are validated when read; a record that
// does not decode to in-contract values yields an EINTERNAL error, never a wrong value.
package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/remoteassist/remoteassist"
)

// ErrInUse is wrapped by the error Open returns when another process holds the data file.
var ErrInUse = errors.New("in use by another remoteassist process")

// Defaults of the options. The batch size bounds how many queued updates one commit carries, and
// so the size of one transaction; updates beyond it wait for the next commit, which starts at once.
const (
	DefaultLockTimeout  = time.Second
	DefaultMaxBatchSize = 256
)

// An Option tunes Open. Without options Open uses the defaults above.
type Option func(*options)

type options struct {
	lockTimeout  time.Duration
	maxBatchSize int
}

// WithLockTimeout sets how long Open waits for another process to release the file.
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// WithMaxBatchSize sets how many updates commit together at most.
func WithMaxBatchSize(n int) Option { return func(o *options) { o.maxBatchSize = n } }

var bucket = []byte("settings")

// Store is a remoteassist.Store backed by a bbolt file. It is safe for concurrent use.
type Store struct {
	db           *bbolt.DB
	maxBatchSize int

	mu      sync.Mutex
	leading bool  // a goroutine is committing, or has been told to lead the next commit
	queue   []*op // updates waiting for the next commit, in arrival order

	// beforeCommit, when set by a test, runs in the leader before each commit, outside mu.
	beforeCommit func(batch int)
}

// op is one update waiting to be committed.
type op struct {
	tenant string
	patch  remoteassist.Patch
	out    remoteassist.Settings
	err    error
	// done receives true once the op is committed (or failed), false when its goroutine must
	// lead the next commit. Buffered, so that the sender never waits.
	done chan bool
}

var _ remoteassist.Store = (*Store)(nil)

// Open opens the data file at path, creating it (mode 0600) and its directory (mode 0700) if
// needed. Only one process can have the file open: if another holds it for longer than the lock
// timeout (1s by default), Open returns an error wrapping ErrInUse, which reads
// `data file "PATH" is in use by another remoteassist process`. Errors from Open are plain errors:
// they happen at start-up, not in a request.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{lockTimeout: DefaultLockTimeout, maxBatchSize: DefaultMaxBatchSize}
	for _, opt := range opts {
		opt(&o)
	}
	if o.lockTimeout <= 0 || o.maxBatchSize <= 0 {
		// A zero lock timeout would make bbolt wait forever for the other process.
		return nil, errors.New("bolt: lock timeout and batch size must be positive")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the directory of data file %q: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.lockTimeout})
	switch {
	case errors.Is(err, bberrors.ErrTimeout):
		return nil, fmt.Errorf("data file %q is %w", path, ErrInUse)
	case errors.Is(err, bberrors.ErrInvalid), errors.Is(err, bberrors.ErrVersionMismatch), errors.Is(err, bberrors.ErrChecksum):
		return nil, fmt.Errorf("data file %q is not a usable database file: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("open data file %q: %w", path, err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare data file %q: %w", path, err)
	}
	return &Store{db: db, maxBatchSize: o.maxBatchSize}, nil
}

// Close waits for running transactions and closes the file, releasing it for another process.
// Call it after the HTTP server has drained: requests after Close fail with EUNAVAILABLE.
// Closing twice is harmless.
func (s *Store) Close() error {
	return s.db.Close()
}

// Settings returns the tenant's settings, or the defaults for a tenant that never wrote.
func (s *Store) Settings(ctx context.Context, tenant string) (remoteassist.Settings, error) {
	if err := remoteassist.CheckRead(ctx, tenant); err != nil {
		return remoteassist.Settings{}, err
	}
	var out remoteassist.Settings
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		out, err = get(tx.Bucket(bucket), tenant)
		return err
	})
	if err != nil {
		return remoteassist.Settings{}, storageError(err)
	}
	return out, nil
}

// UpdateSettings merges p into the tenant's settings. The read and the write happen in the same
// write transaction, and it returns once that transaction is fsynced.
//
// The context is checked before the update is queued; once queued, the update is committed or
// fails with its batch, which takes at most the commit in progress plus its own.
func (s *Store) UpdateSettings(ctx context.Context, tenant string, p remoteassist.Patch) (remoteassist.Settings, error) {
	if err := remoteassist.CheckUpdate(ctx, tenant, p); err != nil {
		return remoteassist.Settings{}, err
	}
	o := &op{tenant: tenant, patch: p, done: make(chan bool, 1)}
	s.mu.Lock()
	s.queue = append(s.queue, o)
	if s.leading {
		s.mu.Unlock()
		if <-o.done {
			return o.out, o.err
		}
		// The previous leader handed over: o is first in the queue.
		s.mu.Lock()
	}
	s.leading = true
	n := min(len(s.queue), s.maxBatchSize)
	batch := s.queue[:n:n]
	s.queue = s.queue[n:]
	s.mu.Unlock()

	s.commit(batch)

	s.mu.Lock()
	var next *op
	if len(s.queue) > 0 {
		next = s.queue[0]
	} else {
		s.leading = false
		s.queue = nil // drop the backing array rather than let it grow by reslicing
	}
	s.mu.Unlock()
	if next != nil {
		next.done <- false // start the next commit before waking this one's followers
	}
	for _, f := range batch[1:] {
		f.done <- true
	}
	return o.out, o.err
}

// commit applies a batch of updates in one write transaction, in order, so that an update reads
// the result of the ones before it, and sets each op's result. An update that fails (a corrupt
// record, a key bbolt refuses) fails alone: it fails before it writes, and the others commit. If
// the commit itself fails, every update of the batch fails with it.
func (s *Store) commit(batch []*op) {
	if s.beforeCommit != nil {
		s.beforeCommit(len(batch))
	}
	err := func() (err error) {
		// A panic would leave the followers waiting forever; it fails the batch instead.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("bolt: panic in commit: %v", r)
			}
		}()
		return s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucket)
			for _, o := range batch {
				o.out, o.err = apply(b, o.tenant, o.patch)
			}
			return nil
		})
	}()
	for _, o := range batch {
		if err == nil && o.err == nil {
			continue
		}
		if err != nil {
			o.err = err
		}
		o.out, o.err = remoteassist.Settings{}, storageError(o.err)
	}
}

// apply merges p into the tenant's stored settings inside a write transaction. It writes nothing
// when it fails.
func apply(b *bbolt.Bucket, tenant string, p remoteassist.Patch) (remoteassist.Settings, error) {
	cur, err := get(b, tenant)
	if err != nil {
		return remoteassist.Settings{}, err
	}
	next := p.Apply(cur)
	v, err := encode(next)
	if err != nil {
		return remoteassist.Settings{}, err
	}
	if err := b.Put([]byte(tenant), v); err != nil {
		return remoteassist.Settings{}, err
	}
	return next, nil
}

// storageError gives a failed transaction its domain code. A closed database means the process
// is shutting down, which a client should retry elsewhere or later; anything else (a full disk,
// an I/O error, a corrupted record) is internal.
func storageError(err error) error {
	var e *remoteassist.Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, bberrors.ErrDatabaseNotOpen):
		return remoteassist.Unavailable(err)
	default:
		return remoteassist.Internal(err)
	}
}

// record is the stored form of a tenant's settings. Its field names are part of the file format:
// rename nothing; add fields with a new Version.
type record struct {
	Version                          int     `json:"v"`
	AllowSessionsToUnenrolledDevices *bool   `json:"allowSessionsToUnenrolledDevices"`
	RemoteAssistanceState            *string `json:"remoteAssistanceState"`
	BlockChat                        *bool   `json:"blockChat"`
}

// recordVersion is the only format this code reads and writes.
const recordVersion = 1

func encode(s remoteassist.Settings) ([]byte, error) {
	state := string(s.RemoteAssistanceState)
	return json.Marshal(record{
		Version:                          recordVersion,
		AllowSessionsToUnenrolledDevices: &s.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            &state,
		BlockChat:                        &s.BlockChat,
	})
}

// get reads a tenant's settings from the settings bucket of a transaction.
func get(b *bbolt.Bucket, tenant string) (remoteassist.Settings, error) {
	v := b.Get([]byte(tenant))
	if v == nil {
		return remoteassist.DefaultSettings(tenant), nil
	}
	s, err := decode(tenant, v)
	if err != nil {
		return remoteassist.Settings{}, remoteassist.Internal(fmt.Errorf("bolt: stored settings of tenant %q are corrupt: %w", tenant, err))
	}
	return s, nil
}

// decode accepts exactly what encode writes: every field present, nothing unknown, nothing after
// the object, a known version and an in-contract state.
func decode(tenant string, v []byte) (remoteassist.Settings, error) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	var r record
	if err := dec.Decode(&r); err != nil {
		return remoteassist.Settings{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return remoteassist.Settings{}, errors.New("data after the record")
	}
	if r.Version != recordVersion {
		return remoteassist.Settings{}, fmt.Errorf("unknown record version %d", r.Version)
	}
	if r.AllowSessionsToUnenrolledDevices == nil || r.RemoteAssistanceState == nil || r.BlockChat == nil {
		return remoteassist.Settings{}, errors.New("a field is missing")
	}
	s := remoteassist.Settings{
		ID:                               remoteassist.SettingsID(tenant),
		AllowSessionsToUnenrolledDevices: *r.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            remoteassist.State(*r.RemoteAssistanceState),
		BlockChat:                        *r.BlockChat,
	}
	if err := s.Validate(); err != nil {
		return remoteassist.Settings{}, err
	}
	return s, nil
}

var _ remoteassist.StateStore = (*Store)(nil)

// ResetSettings deletes the tenant's record, in a transaction of its own.
func (s *Store) ResetSettings(ctx context.Context, tenant string) error {
	if err := remoteassist.CheckRead(ctx, tenant); err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Delete([]byte(tenant)) }); err != nil {
		return storageError(err)
	}
	return nil
}

// AllSettings reads every record in one read transaction.
func (s *Store) AllSettings(ctx context.Context) (map[string]remoteassist.Settings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all := map[string]remoteassist.Settings{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			settings, err := decode(string(k), v)
			if err != nil {
				return remoteassist.Internal(fmt.Errorf("bolt: stored settings of tenant %q are corrupt: %w", k, err))
			}
			all[string(k)] = settings
			return nil
		})
	})
	if err != nil {
		return nil, storageError(err)
	}
	return all, nil
}

// ReplaceAllSettings rewrites the bucket in one write transaction: the old records or the new,
// never a mix, and fsynced before it returns.
func (s *Store) ReplaceAllSettings(ctx context.Context, all map[string]remoteassist.Settings) error {
	if err := remoteassist.CheckReplace(ctx, all); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucket); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bucket)
		if err != nil {
			return err
		}
		for tenant, v := range all {
			data, err := encode(v)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(tenant), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storageError(err)
	}
	return nil
}
