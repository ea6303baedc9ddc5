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
// Long reads beside writes: bbolt reads the file through a memory map, and a commit that grows
// the file past the map must remap it, which waits for every read transaction to end (and holds
// back every transaction that begins meanwhile). The store has bbolt map 1 GiB at Open on a
// 64-bit system (address space, not memory: only the pages read are resident), so a backup or a
// live check, each one read transaction for as long as it takes, holds back no write while the
// file is smaller; past that, each commit that grows the map (by 1 GiB) waits for the read
// transactions open then.
//
// One process at a time: bbolt takes an exclusive flock on the file. A second process opening the
// same file waits at most the lock timeout (WithLockTimeout) and then fails with an error wrapping
// ErrInUse. The kernel drops the lock when a process dies, so a crash never leaves a stale lock.
//
// # Stored format (format 2)
//
// Bucket "settings": key = the tenant id as UTF-8, value = the record of record.go (flags, state,
// and a CRC-32C covering key and value). Bucket "meta": key "format" = the byte 2, and key "probe"
// (the readiness probe's write). The settings id is not stored: it is derived from the tenant
// (remoteassist.SettingsID). A file of format 1 (JSON records without checksum, no meta bucket) is
// upgraded in one transaction at its first Open, after it checked. Beside the file, PATH.commit is
// the commit record (commitrecord.go).
//
// # Never serving data it cannot vouch for
//
// At Open, before bbolt maps the file, the package's own reader (verify.go) checks all of it:
// both meta pages valid and consecutive (bbolt would silently fall back to the older one, losing
// the newest commit, when the newest is damaged), the file long enough for its newest commit,
// every page in use reachable once and in range, every other page in the freelist, key order
// within pages and against their parents, the buckets, and every record's checksum; then bbolt's
// own tx.Check. An empty existing file, a damaged one, or one older than its commit record is
// refused with a *DamageError (errors.Is ErrDamaged); only a missing file, with no commit record
// either, is created.
//
// While serving, every record read from the file is checked against its checksum and against an
// in-memory index of each tenant's newest record (built by the check at Open, updated by every
// commit; 32 to 64 bytes per tenant, and a page for each of its 64 tables in use, outside the Go
// heap: index.go): a record that fails, a record older than the newest one written, or a missing
// record of a tenant that has one is an EINTERNAL error for that request (its cause wraps
// ErrDamaged), never defaults or an older value. Each transaction is also compared with the
// newest commit made: if a damaged meta page makes bbolt fall back to an older commit under the
// running process, reads serve only what the index vouches for and writes stop, since the next
// commit would make the loss permanent.
//
// Reads of recently read or written tenants are answered without a transaction, from a bounded
// cache of decoded settings (cache.go; WithReadCache: by default 16384 tenants, about 3.7 MB for
// GUID tenant ids). It holds only values this process committed, or read from the file and
// checked as above, and is kept coherent with the commits: a read never returns a value older
// than one an update or another read already returned. So a record damaged after its tenant was
// cached is not seen by that tenant's cached reads: it is found by the tenant's next write (which
// reads the record in its transaction), by Verify, and by a read once the entry is evicted or
// dropped. The cache is dropped when the store first finds damage, when it stops writing or
// serving (its reads are refused before the cache is asked), and at Close; nothing is cached from
// a file gone back to an older commit.
//
// What stays undetectable: a rollback to an older, intact state of the whole file that is within
// the last commitRecordInterval before an unclean stop (the commit record lags by that much), or
// of the file and its commit record together (a snapshot of the whole directory); and, under a
// running process only, a record whose write is in flight while the record is damaged into an
// older valid one (a reader that began before the commit can check only the record's checksum).
//
// # Faults
//
// Every goroutine that touches bbolt's memory map does so with runtime/debug.SetPanicOnFault and
// a recover, so a damaged page that makes bbolt read outside the map, or past the end of a file
// truncated under it, fails that request (and marks the store damaged) instead of killing the
// process. A panic inside a transaction fails only the operation that hit it (bbolt rolls back).
// A panic bbolt raises outside our transaction function, where its locks may still be held,
// stops the store's writes (during a commit) or every operation (when a transaction begins);
// followers of a failed commit are always woken with its error. What no recover can catch is a
// walk that never ends: a page damaged into a cycle makes bbolt's descent recurse until Go's stack
// limit, a damaged overflow count has its commit free billions of pages. So before bbolt walks,
// the store checks the pages it will walk (path.go): the path of every lookup, and the freelist
// page of every commit.
//
// Storage faults of a write (ENOSPC, EDQUOT, EROFS, EACCES, EPERM, EIO) are EUNAVAILABLE with a
// Retry-After: the storage cannot take writes now. Ping then reports the store not ready, and
// tries a tiny write of its own at most once per probe interval, so that readiness comes back
// without client traffic once the storage does. Each change of state is logged once. A commit
// that fails after its meta page reached the file (the fdatasync after it failed) is in the file
// all the same, and bbolt reads it: then, and when the file holds a commit the store did not
// make, the store stops writing and is not ready until restarted, since the disk may not have
// what the file shows (failedCommitLanded); reads go on, of what the file holds.
package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sync/singleflight"

	"github.com/remoteassist/remoteassist"
)

// ErrInUse is wrapped by the error Open returns when another process holds the data file.
var ErrInUse = errors.New("in use by another remoteassist process")

// Defaults of the options. The batch size bounds how many queued updates one commit carries, and
// so the size of one transaction; updates beyond it wait for the next commit, which starts at once.
const (
	DefaultLockTimeout   = time.Second
	DefaultMaxBatchSize  = 256
	DefaultProbeInterval = time.Second
)

// An Option tunes Open. Without options Open uses the defaults above.
type Option func(*options)

type options struct {
	lockTimeout   time.Duration
	maxBatchSize  int
	probeInterval time.Duration
	logger        *slog.Logger
	bboltCheck    bool
	readCache     int
	mmapSize      int // bbolt's InitialMmapSize
}

// newOptions is the defaults with opts applied, as every function that takes options begins.
func newOptions(opts []Option) options {
	o := options{lockTimeout: DefaultLockTimeout, maxBatchSize: DefaultMaxBatchSize, probeInterval: DefaultProbeInterval,
		bboltCheck: true, readCache: DefaultReadCache, mmapSize: defaultMmapSize()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// mmapSize64 is how much of the data file bbolt maps at Open on a 64-bit system: 1 GiB, about six
// million tenants (bench/STORE.md: 157 MiB at a million). A read transaction holds bbolt's
// mmaplock shared, and a commit that grows the file past the map must remap it, which takes the
// lock exclusively: it waits for every read transaction to end, and every transaction that
// begins after it waits for the remap. A map past the file's size means no commit remaps, so a
// long read transaction (a backup, a live check) holds back no write. It is address space, not
// memory: the pages of the map beyond the file are never touched (TestMapCostsNoMemory). Once
// the file outgrows it, bbolt grows the map 1 GiB at a time, and each of those commits waits for
// the read transactions open then.
const mmapSize64 = 1 << 30

// defaultMmapSize is mmapSize64 where the address space has room for it: not on a 32-bit system
// (bbolt maps at most 2 GiB there), nor under a limit of the address space (ulimit -v) below
// eight times it. There it is 0: bbolt maps what the file needs, as before.
func defaultMmapSize() int {
	if bits.UintSize < 64 {
		return 0
	}
	var lim syscall.Rlimit // no limit is RLIM_INFINITY, the largest uint64
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err == nil && lim.Cur < 8*mmapSize64 {
		return 0
	}
	return mmapSize64
}

// WithLockTimeout sets how long Open waits for another process to release the file.
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// WithMaxBatchSize sets how many updates commit together at most.
func WithMaxBatchSize(n int) Option { return func(o *options) { o.maxBatchSize = n } }

// WithLogger sets where the store logs its changes of state (damage found, writes failing and
// succeeding again): once per change, never per request. Without it the store logs nothing.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithProbeInterval sets how often, at most, Ping tries a write while writes fail.
func WithProbeInterval(d time.Duration) Option { return func(o *options) { o.probeInterval = d } }

// WithBboltCheck sets whether Open, after its own check of the whole file, also runs bbolt's
// tx.Check (default true; see bench/STORE.md for what each costs).
func WithBboltCheck(on bool) Option { return func(o *options) { o.bboltCheck = on } }

// WithReadCache sets how many tenants' settings, at most, the store keeps decoded in memory for
// reads (default DefaultReadCache, about 230 bytes each; 0 turns the cache off). See readCache in
// cache.go for why it exists and why it never serves a value older than one already answered.
func WithReadCache(n int) Option { return func(o *options) { o.readCache = n } }

// Store is a remoteassist.Store backed by a bbolt file. It is safe for concurrent use.
type Store struct {
	db            *bbolt.DB
	file          *os.File // bbolt's own file, for Verify's reads
	path          string
	maxBatchSize  int
	probeInterval time.Duration

	mu      sync.Mutex
	leading bool  // a goroutine is committing, or has been told to lead the next commit
	queue   []*op // updates waiting for the next commit, in arrival order

	// committed is the newest commit this process made, or found at Open. Every transaction
	// must start at or after it.
	committed atomic.Uint64
	index     index
	cache     *readCache // nil when off
	health    health
	record    *commitRecorder

	probeMu   sync.Mutex
	lastProbe time.Time
	pings     singleflight.Group // Ping's checks: one at a time, shared by the calls meanwhile

	// beforeCommit, when set by a test, runs in the leader before each commit, outside mu.
	beforeCommit func(batch int)
	// inTx, when set by a test, runs inside each write transaction, after its updates.
	inTx func(tx *bbolt.Tx)
	// beforePut, when set by a test, runs before each record is put, where a damaged page
	// would make bbolt panic.
	beforePut func(tenant string)
	// afterApply, when set by a test, runs inside each write transaction that writes records,
	// after the index and the read cache know of them, before the commit.
	afterApply func()
	// commitFailed, when set by a test, makes each commit that bbolt made fail with its error,
	// as one whose fdatasync failed after its meta page reached the file.
	commitFailed func() error
	// beforeFill, when set by a test, runs in Settings after a read that missed the cache, before
	// its value is put in the cache.
	beforeFill func(tenant string)
}

// op is one update waiting to be committed.
type op struct {
	tenant string
	patch  remoteassist.Patch
	probe  bool // a readiness probe: it writes the meta bucket's probe key, no tenant
	// replace, when set, is ReplaceAllSettings: the tenants it lists get their settings and
	// every other tenant with a record the defaults, all in the op's transaction.
	replace map[string]remoteassist.Settings
	// fn, when set, is not an update: the leader runs it after its batch's commit, before it
	// hands the lead on, so that no commit runs meanwhile (Verify reads the meta pages so) and
	// none of the leader's follows it (see commit).
	fn  func()
	out remoteassist.Settings
	err error
	// done receives true once the op is committed (or failed), false when its goroutine must
	// lead the next commit. Buffered, so that the sender never waits.
	done chan bool
}

var (
	_ remoteassist.Store  = (*Store)(nil)
	_ remoteassist.Pinger = (*Store)(nil)
)

// Open opens the data file at path, creating it (mode 0600) and its directory (mode 0700) if
// neither it nor its commit record exists. Only one process can have the file open: if another
// holds it for longer than the lock timeout (1s by default), Open returns an error wrapping
// ErrInUse, which reads `data file "PATH" is in use by another remoteassist process`. A file it
// cannot vouch for is refused with a *DamageError (see the package documentation). Errors from
// Open are plain errors: they happen at start-up, not in a request.
func Open(path string, opts ...Option) (*Store, error) {
	o := newOptions(opts)
	if o.lockTimeout <= 0 || o.maxBatchSize <= 0 || o.probeInterval < 0 {
		// A zero lock timeout would make bbolt wait forever for the other process.
		return nil, errors.New("bolt: lock timeout and batch size must be positive")
	}
	if o.readCache < 0 {
		return nil, errors.New("bolt: the read cache's size must not be negative")
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the directory of data file %q: %w", path, err)
	}
	s := &Store{path: path, maxBatchSize: o.maxBatchSize, probeInterval: o.probeInterval}
	s.health.log = o.logger
	s.index.init()
	opened := false
	defer func() {
		if !opened {
			s.index.close() // its memory is outside the Go heap: the collector would not free it
		}
	}()
	s.cache = newReadCache(o.readCache, &s.index, &s.committed)
	s.health.drop = s.cache.clear

	recordPath := CommitRecordPath(path)
	recorded, haveRecord, err := readCommitRecord(recordPath)
	if err != nil {
		return nil, fmt.Errorf("%w: check the data file with remoteassist check; if it checks, remove the commit record", err)
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) && haveRecord {
		return nil, &DamageError{Path: path, Stale: true, Problem: fmt.Sprintf(
			"is missing, but its commit record %q says commit %d was made: it was deleted or moved", recordPath, recorded)}
	}

	var (
		report  *Report
		created bool
	)
	openFile := func(name string, flag int, perm fs.FileMode) (*os.File, error) {
		f, c, err := openLocked(name, flag, perm, true, o.lockTimeout)
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("data file %q is %w", path, ErrInUse)
		}
		if err != nil {
			return nil, err
		}
		created = c
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		if fi.Size() == 0 && created {
			s.file = f
			return f, nil // bbolt makes it a database
		}
		report = check(f, path, fi.Size(), s.index.addOpen)
		s.index.built()
		if err := report.Err(); err != nil {
			f.Close()
			return nil, err
		}
		if haveRecord && report.TxID < recorded {
			f.Close()
			return nil, &DamageError{Path: path, Report: report, Stale: true, Problem: fmt.Sprintf(
				"is older than its commit record: it ends at commit %d, but commit %d was made (it was replaced by an older copy, or the disk lost writes)",
				report.TxID, recorded)}
		}
		s.file = f
		return f, nil
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.lockTimeout, OpenFile: openFile, InitialMmapSize: o.mmapSize})
	if err != nil {
		if created {
			os.Remove(path) // never leave an empty file behind: the next Open would refuse it
		}
		var de *DamageError
		switch {
		case errors.As(err, &de), errors.Is(err, ErrInUse):
			return nil, err
		case errors.Is(err, bberrors.ErrInvalid), errors.Is(err, bberrors.ErrVersionMismatch), errors.Is(err, bberrors.ErrChecksum):
			return nil, fmt.Errorf("data file %q is not a usable database file: %w", path, err)
		}
		return nil, fmt.Errorf("open data file %q: %w", path, err)
	}
	s.db = db
	fail := func(err error) (*Store, error) {
		db.Close()
		if created {
			os.Remove(path)
		}
		return nil, err
	}
	switch {
	case created || report.Format == 0:
		if err := s.initBuckets(); err != nil {
			return fail(fmt.Errorf("prepare data file %q: %w", path, err))
		}
	case report.Format == 1:
		if err := s.migrate(); err != nil {
			return fail(fmt.Errorf("upgrade data file %q to format %d: %w", path, recordVersion, err))
		}
	}
	if o.bboltCheck && !created {
		if err := s.bboltCheck(report); err != nil {
			return fail(err)
		}
	}
	if err := db.View(func(tx *bbolt.Tx) error { s.committed.Store(uint64(tx.ID())); return nil }); err != nil {
		return fail(err)
	}
	if err := writeCommitRecord(recordPath, s.committed.Load()); err != nil {
		o.logger.Warn("cannot write the commit record; a rollback of the data file may go unnoticed", "path", recordPath, "error", err)
	}
	s.record = startCommitRecorder(recordPath, s.committed.Load(), o.logger)
	opened = true
	return s, nil
}

// initBuckets makes a new (or bucket-less) database a format-2 data file.
func (s *Store) initBuckets() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketSettings); err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keyFormat, []byte{recordVersion})
	})
}

// migrate upgrades a format-1 file, which check passed, to format 2 in one transaction.
func (s *Store) migrate() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		type kv struct{ k, v []byte }
		var all []kv
		if err := b.ForEach(func(k, v []byte) error {
			st, err := decodeV1(string(k), v)
			if err != nil {
				return fmt.Errorf("the record of tenant %q: %w", k, err)
			}
			nv, sum := encode(string(k), st)
			all = append(all, kv{append([]byte(nil), k...), nv})
			s.index.addOpen(k, parsed{sum: sum})
			return nil
		}); err != nil {
			return err
		}
		s.index.built()
		for _, r := range all {
			if err := b.Put(r.k, r.v); err != nil {
				return err
			}
		}
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keyFormat, []byte{recordVersion})
	})
}

// bboltCheck runs bbolt's tx.Check. Its walks would crash the process on some damage (it
// recurses without bound and reads through the map without checks, in a goroutine of its own),
// which is why it runs only on a file this package's check passed.
func (s *Store) bboltCheck(r *Report) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, "bbolt's check: "+err.Error())
		}
		if len(problems) == 0 {
			return nil
		}
		if r == nil {
			r = &Report{Path: s.path}
		}
		for _, p := range problems {
			r.problemf("%s", p)
		}
		return r.Err()
	})
}

// Close waits for running transactions and closes the file, releasing it for another process.
// Call it after the HTTP server has drained: requests after Close fail with EUNAVAILABLE.
// Closing twice is harmless.
func (s *Store) Close() error {
	s.cache.close()
	err := s.db.Close()
	s.index.close() // after bbolt's Close, which waits for every transaction
	if s.record != nil {
		s.record.committed(s.committed.Load())
		s.record.close()
	}
	return err
}

// Ping reports whether the store can serve now: not closed, no damage found, the file not gone
// back to an older commit, and writes succeeding. While writes fail for a storage fault it tries
// a write of its own (at most once per probe interval), so that readiness returns once the
// storage can take writes again, without waiting for a client's.
//
// It returns when ctx is done, with ctx's error, even if the check has not finished (its read
// transaction waits behind a remap, its probe write behind a stalled fsync): the check goes on
// and ends later. Concurrent calls share one check, so that probes of a stalled store never
// pile up more than one.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ch := s.pings.DoChan("", func() (_ any, err error) {
		// Not in the caller's goroutine: a panic would end the process (singleflight re-panics).
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("bolt: the readiness check panicked: %v", r)
			}
		}()
		return nil, s.ping()
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("bolt: the store did not answer the readiness check in time (a commit or its fsync may be stalled): %w", ctx.Err())
	}
}

// ping is Ping's check.
func (s *Store) ping() error {
	if err := s.checkCommit(); err != nil {
		return err
	}
	err, writeFault := s.health.state()
	if !writeFault {
		return err
	}
	return s.probe()
}

// checkCommit begins a read transaction and checks that it starts at or after the newest commit.
func (s *Store) checkCommit() error {
	want := s.committed.Load()
	err := s.mapped("checking the newest commit", true, func() error {
		return s.db.View(func(tx *bbolt.Tx) error {
			if got := uint64(tx.ID()); got < want {
				return s.rolledBack(got, want)
			}
			return nil
		})
	})
	if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
		return remoteassist.Unavailable(err)
	}
	return err
}

// rolledBack records that the file went back from commit want to commit got under the process.
func (s *Store) rolledBack(got, want uint64) error {
	err := damage("the file went back from commit %d to commit %d under the running process (a meta page was damaged): "+
		"serving only what the index vouches for, writing nothing", want, got)
	s.health.damaged(err)
	s.health.halt(false, err.Err)
	return err
}

// probe tries one write, at most once per probe interval, and returns the store's state after it.
func (s *Store) probe() error {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if err, writeFault := s.health.state(); !writeFault || time.Since(s.lastProbe) < s.probeInterval {
		return err
	}
	s.lastProbe = time.Now()
	if s.health.spaceLost() {
		if err := spaceFor(filepath.Dir(s.path), probeSpace); err != nil {
			cur, _ := s.health.state()
			return fmt.Errorf("%w; the probe found no free space: %v", cur, err)
		}
	}
	o := &op{probe: true, done: make(chan bool, 1)}
	s.submit(o)
	if o.err != nil {
		return o.err
	}
	s.health.writeSucceeded(true)
	err, _ := s.health.state()
	return err
}

// probeSpace is how much free space the probe asks for after writes failed for a lack of it:
// enough for several large commits.
const probeSpace = 1 << 20

// spaceFor reports whether the file system of dir can give n more bytes, quotas included: it
// allocates them in a file of its own, which it removes.
func spaceFor(dir string, n int64) error {
	f, err := os.CreateTemp(dir, ".space-probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	err = syscall.Fallocate(int(f.Fd()), 0, 0, n)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		_, err = f.Write(make([]byte, n))
	}
	return err
}

// mapped runs fn, which uses bbolt, with faults in the memory map made panics
// (debug.SetPanicOnFault), on the goroutine that touches the map. A panic that reaches mapped was
// raised by bbolt outside the transaction function (which recovers its own): beginning,
// committing or rolling back, where bbolt's locks may still be held. It fails the call and stops
// the store's writes, or every operation when all is set.
func (s *Store) mapped(what string, all bool, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			cause := fmt.Errorf("bolt: %s: bbolt panicked outside the transaction: %v", what, r)
			s.health.halt(all, cause)
			err = s.health.damaged(remoteassist.Internal(fmt.Errorf("%w: %w", ErrDamaged, cause)))
		}
	}()
	prev := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(prev)
	return fn()
}

// Settings returns the tenant's settings, or the defaults for a tenant that never wrote: from
// the read cache (cache.go) when it holds them, else read and checked in a read transaction, and
// then cached.
func (s *Store) Settings(ctx context.Context, tenant string) (remoteassist.Settings, error) {
	if err := remoteassist.CheckRead(ctx, tenant); err != nil {
		return remoteassist.Settings{}, err
	}
	if err := s.health.readErr(); err != nil {
		return remoteassist.Settings{}, err
	}
	if out, ok := s.cache.get(tenant); ok {
		return out, nil
	}
	out, at, rolledBack, err := s.read(tenant)
	if err != nil {
		return remoteassist.Settings{}, storageError(err)
	}
	if !rolledBack { // what a file gone back to an older commit holds is not cached
		if s.beforeFill != nil {
			s.beforeFill(tenant)
		}
		s.cache.put(tenant, out, at)
	}
	return out, nil
}

// read reads a tenant's settings in a read transaction, at commit at, and reports whether the
// file had gone back to a commit older than the newest one made.
func (s *Store) read(tenant string) (out remoteassist.Settings, at uint64, rolledBack bool, err error) {
	want := s.committed.Load()
	err = s.mapped("reading", true, func() error {
		return s.db.View(func(tx *bbolt.Tx) (err error) {
			defer s.recoverIn(&err, "reading the settings of tenant %q", tenant)
			at = uint64(tx.ID())
			rolledBack = at < want
			if rolledBack {
				s.rolledBack(at, want)
			}
			pc := newPathChecker(s.db, tx, false)
			hdr, err := pc.bucket(tx, bucketSettings)
			if err == nil {
				err = pc.key(hdr, []byte(tenant))
			}
			if err != nil {
				return s.health.damaged(damage("looking up tenant %q: %v", tenant, err))
			}
			out, _, err = s.get(tx.Bucket(bucketSettings), tenant, at, rolledBack)
			return err
		})
	})
	return out, at, rolledBack, err
}

// recoverIn is deferred inside transaction functions: a panic there (a fault in the map, a
// panic of bbolt on a damaged page) fails the operation, and bbolt rolls the transaction back.
func (s *Store) recoverIn(err *error, format string, args ...any) {
	if r := recover(); r != nil {
		*err = s.health.damaged(damage("%s: %v", fmt.Sprintf(format, args...), r))
	}
}

// get reads a tenant's settings in a transaction that starts at commit at, and vouches for them
// with the record's checksum and the index: the record must be the newest one written for the
// tenant, and a tenant with a record must not read as missing. A record newer than the
// transaction's commit (a write in flight) can only be checked by its own checksum, unless strict:
// the file went back to an older commit, and nothing newer than it can be vouched for.
func (s *Store) get(b *bbolt.Bucket, tenant string, at uint64, strict bool) (remoteassist.Settings, bool, error) {
	key := []byte(tenant)
	v := b.Get(key)
	e, known := s.index.lookup(tenant)
	if v == nil {
		if known && (e.txid <= at || strict) {
			return remoteassist.Settings{}, false, s.health.damaged(damage(
				"the record of tenant %q is missing, but commit %d wrote it", tenant, e.txid))
		}
		return remoteassist.DefaultSettings(tenant), false, nil
	}
	st, sum, err := decode(tenant, key, v)
	switch {
	case err != nil:
		return remoteassist.Settings{}, true, s.health.damaged(damage("the record of tenant %q: %v", tenant, err))
	case !known:
		return remoteassist.Settings{}, true, s.health.damaged(damage(
			"tenant %q has a record that no commit of this process wrote and the check at start did not find", tenant))
	case e.txid <= at && e.sum != sum:
		return remoteassist.Settings{}, true, s.health.damaged(damage(
			"the record of tenant %q is not the one commit %d wrote (an older copy, or another tenant's)", tenant, e.txid))
	case e.txid > at && strict:
		return remoteassist.Settings{}, true, s.health.damaged(damage(
			"the newest record of tenant %q (commit %d) is gone with the newest commits", tenant, e.txid))
	}
	return st, true, nil
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
	s.submit(o)
	return o.out, o.err
}

// submit queues o and returns once it is committed or failed, leading commits when its turn
// comes.
func (s *Store) submit(o *op) {
	s.mu.Lock()
	s.queue = append(s.queue, o)
	if s.leading {
		s.mu.Unlock()
		if <-o.done {
			return
		}
		// The previous leader handed over: o is first in the queue.
		s.mu.Lock()
	}
	s.leading = true
	s.mu.Unlock()
	// Let the goroutines that are ready run before the batch is taken, so that the requests
	// already received join this commit. With one P (GOMAXPROCS=1: one CPU, or a container
	// limited to one), nothing else runs while the commit's fsync holds the P, so without this
	// every commit carried a single update (bench/SCALE.md); a lone update pays one yield.
	runtime.Gosched()
	s.mu.Lock()
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
}

// commit applies a batch of updates in one write transaction, in order, so that an update reads
// the result of the ones before it, and sets each op's result. An update that fails (a damaged
// record, a key bbolt refuses, a panic on a damaged page) fails alone: the others commit, in a
// new transaction if the failure had already changed this one. If the commit itself fails, every
// update of the batch fails with it. commit always returns, whatever panics, so that no follower
// waits forever.
//
// The batch's fn ops run after its commit and before submit hands the lead on, so that no commit
// runs while they do. After the commit, not before: a fn may begin a read transaction that its
// submitter ends (Verify does), and a commit that grows the file past bbolt's memory map must
// remap it, which waits for every read transaction to end (bbolt's mmaplock). A transaction
// begun before this leader's commit could end only once the leader, after that commit, woke its
// submitter: the store would deadlock.
func (s *Store) commit(batch []*op) {
	if s.beforeCommit != nil {
		s.beforeCommit(len(batch))
	}
	updates, fns := splitFns(batch)
	for pending := updates; len(pending) > 0; {
		pending = s.commitOnce(pending)
	}
	for _, o := range updates {
		if o.err != nil {
			o.out, o.err = remoteassist.Settings{}, storageError(o.err)
		}
	}
	for _, o := range fns {
		o.fn()
	}
}

// splitFns returns the batch's updates and its fn ops, each in order.
func splitFns(batch []*op) (updates, fns []*op) {
	for i, o := range batch {
		if o.fn == nil {
			continue
		}
		updates = append([]*op(nil), batch[:i]...)
		for _, o := range batch[i:] {
			if o.fn != nil {
				fns = append(fns, o)
			} else {
				updates = append(updates, o)
			}
		}
		return updates, fns
	}
	return batch, nil
}

// errAbort is returned by a transaction function that must not commit: an update panicked while
// it changed the transaction.
var errAbort = errors.New("bolt: transaction aborted")

// commitOnce commits the batch once and returns the updates to try again in a new transaction:
// those that had succeeded in a transaction another update's panic aborted.
func (s *Store) commitOnce(batch []*op) (retry []*op) {
	if err := s.health.writeErr(); err != nil {
		for _, o := range batch {
			o.err = err
		}
		return nil
	}
	var (
		txid     uint64
		updates  []indexUpdate
		prev     []indexPrev
		culprit  *op
		replaced bool // a replace is in the batch: it may write every tenant
	)
	for _, o := range batch {
		o.out, o.err = remoteassist.Settings{}, nil
	}
	err := s.mapped("committing", false, func() error {
		return s.db.Update(func(tx *bbolt.Tx) (err error) {
			defer s.recoverIn(&err, "writing")
			txid = uint64(tx.ID())
			switch want := s.committed.Load() + 1; {
			case txid < want:
				return s.rolledBack(txid-1, want-1)
			case txid > want:
				// The file holds a commit this store does not know it made: its state is not
				// what the index and the commit record say.
				err := fmt.Errorf("bolt: commit %d follows commit %d, which this store did not make: writing nothing more; restart the process", txid, txid-1)
				s.health.halt(false, err)
				return err
			}
			pc := newPathChecker(s.db, tx, true)
			if err := pc.freelist(txid - 1); err != nil {
				return s.health.damaged(damage("%v", err))
			}
			hdr, err := pc.bucket(tx, bucketSettings)
			if err != nil {
				return s.health.damaged(damage("%v", err))
			}
			b := tx.Bucket(bucketSettings)
			// What this transaction wrote, for later updates of the batch: the updates' settings,
			// and a replace's map, which holds the settings of every tenant after it (a tenant it
			// does not list holds the defaults), rather than a copy of each.
			var written map[string]remoteassist.Settings
			var replacement map[string]remoteassist.Settings
			for _, o := range batch {
				if o.probe {
					o.err = s.putProbe(tx, pc)
					continue
				}
				if o.replace != nil {
					if err := s.replaceIn(b, o.replace, &updates); err != nil {
						// Part of the replace may be written: abort it all.
						culprit, o.err = o, err
						return errAbort
					}
					replaced, replacement = true, o.replace
					clear(written)
					continue
				}
				cur, ok := written[o.tenant]
				if !ok && replacement != nil {
					cur, ok = replacement[o.tenant]
					if !ok {
						cur, ok = remoteassist.DefaultSettings(o.tenant), true
					}
					cur.ID = remoteassist.SettingsID(o.tenant)
				}
				if !ok {
					if err := pc.key(hdr, []byte(o.tenant)); err != nil {
						o.err = s.health.damaged(damage("looking up tenant %q: %v", o.tenant, err))
						continue
					}
					if cur, o.err = s.getIn(b, o.tenant, txid-1); o.err != nil {
						continue
					}
				}
				next := o.patch.Apply(cur)
				v, sum := encode(o.tenant, next)
				if err, panicked := s.putIn(b, o.tenant, v); panicked {
					// The panic may have left the transaction half changed: abort it.
					culprit, o.err = o, err
					return errAbort
				} else if err != nil {
					o.err = err
					continue
				}
				o.out = next
				if len(batch) > 1 {
					if written == nil {
						written = make(map[string]remoteassist.Settings, len(batch))
					}
					written[o.tenant] = next
				}
				updates = append(updates, indexUpdate{o.tenant, sum})
			}
			if s.inTx != nil {
				s.inTx(tx)
			}
			// Before the commit is visible: a reader that sees the commit finds the index knows it.
			prev = s.index.apply(updates, txid)
			// And after the index, so that a fill of an older value is either removed here or,
			// checked after this, refused (cache.go). A failed commit leaves them removed.
			if replaced {
				s.cache.clear()
			} else {
				s.cache.invalidate(updates)
			}
			if s.afterApply != nil && len(updates) > 0 {
				s.afterApply()
			}
			return nil
		})
	})
	// An update that failed (on a damaged record, say) leaves no cached value of its tenant:
	// the tenant's reads go to the file and find what the update found.
	for _, o := range batch {
		if o.err != nil && !o.probe && o.replace == nil {
			s.cache.forget(o.tenant)
		}
	}
	if err == nil && s.commitFailed != nil {
		err = s.commitFailed()
	}
	if err == nil {
		s.committed.Store(txid)
		// What the commit wrote, for the reads that follow: in batch order, so that the last
		// update of a tenant is what stays. After a replace, which may have overwritten what an
		// update before it in the batch returned, the reads fill the cache again instead.
		for _, o := range batch {
			if !replaced && o.err == nil && !o.probe {
				s.cache.put(o.tenant, o.out, txid)
			}
		}
		s.health.writeSucceeded(false)
		s.record.committed(txid)
		return nil
	}
	if errors.Is(err, errAbort) {
		s.index.revert(prev)
		for _, o := range batch {
			if o != culprit && o.err == nil {
				o.out = remoteassist.Settings{}
				retry = append(retry, o)
			}
		}
		return retry
	}
	// The index stays as the commit made it when the commit is in the file all the same: it is
	// what the file holds, and what reads must vouch for.
	if txid == 0 || !s.failedCommitLanded(txid, err) {
		s.index.revert(prev)
	}
	if errno, ok := storageFault(err); ok {
		err = s.health.writeFailed(errno, err)
	}
	for _, o := range batch {
		o.out = remoteassist.Settings{}
		if o.err == nil {
			o.err = err
		}
	}
	return nil
}

// failedCommitLanded reports whether commit txid, which failed, is in the file all the same, and
// then stops the store's writes. That happens when bbolt's commit wrote the meta page (its
// pwrite succeeded) and the fdatasync after it failed: bbolt rolls back, but its map shows the
// file, whose newest meta page is now that commit's, so every later transaction begins at it.
// The store cannot tell whether the disk has that commit, and must not build on it: after a
// failed fdatasync the kernel may have dropped the dirty pages (marked them clean) without
// writing them, so a later commit whose fdatasync succeeds could make durable a meta page whose
// pages the disk never got. Nor can it go on at the older commit, which bbolt no longer shows.
// So it writes nothing more, and is not ready, until restarted: the check at Open then finds what
// the file holds. Reads go on, vouched for by the index as the commit left it. When it cannot
// tell (a read transaction fails), it stops writing too.
func (s *Store) failedCommitLanded(txid uint64, cause error) bool {
	var at uint64
	err := s.mapped("checking a failed commit", true, func() error {
		return s.db.View(func(tx *bbolt.Tx) error { at = uint64(tx.ID()); return nil })
	})
	switch {
	case err != nil:
		s.health.halt(false, fmt.Errorf("bolt: commit %d failed (%v), and whether it reached the file cannot be told (%v): "+
			"writing nothing more; restart the process", txid, cause, err))
		return false
	case at >= txid:
		s.health.halt(false, fmt.Errorf("bolt: commit %d failed (%v) after its meta page reached the file: the store reads it, "+
			"the disk may not have it; writing nothing more; restart the process", txid, cause))
		return true
	}
	return false
}

// getIn is get inside a write transaction, whose snapshot is the newest commit: a panic fails
// only this update, and the transaction goes on (a read changes nothing in it).
func (s *Store) getIn(b *bbolt.Bucket, tenant string, at uint64) (st remoteassist.Settings, err error) {
	defer s.recoverIn(&err, "reading the settings of tenant %q", tenant)
	st, _, err = s.get(b, tenant, at, false)
	return st, err
}

// putIn writes a record and reports whether it panicked.
func (s *Store) putIn(b *bbolt.Bucket, tenant string, v []byte) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = s.health.damaged(damage("writing the settings of tenant %q: %v", tenant, r)), true
		}
	}()
	if s.beforePut != nil {
		s.beforePut(tenant)
	}
	return b.Put([]byte(tenant), v), false
}

// putProbe is the readiness probe's write: a counter in the meta bucket.
func (s *Store) putProbe(tx *bbolt.Tx, pc pathChecker) error {
	hdr, err := pc.bucket(tx, bucketMeta)
	if err == nil {
		err = pc.key(hdr, keyProbe)
	}
	if err != nil {
		return s.health.damaged(damage("%v", err))
	}
	m := tx.Bucket(bucketMeta)
	var n uint64
	if v := m.Get(keyProbe); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	return m.Put(keyProbe, binary.BigEndian.AppendUint64(nil, n+1))
}

// storageError gives a failed transaction its domain code. A closed database means the process
// is shutting down, which a client should retry elsewhere or later; a storage fault was made
// EUNAVAILABLE by commitOnce; anything else (a damaged record, a bug) is internal.
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

// Backup writes a consistent copy of the data file to w, as of the newest commit, while the store
// serves: bbolt's tx.WriteTo in a read transaction. Writes go on meanwhile as long as the file
// fits in bbolt's memory map (1 GiB on a 64-bit system, mmapSize64); past it, a commit that grows
// the map waits for the copy to end, and every read and write that begins after that commit
// waits with it. So w must not stall for good: one that can (a reader at the other end of a
// socket) must fail its writes after a while, as the control socket's do. Before it writes, it
// calls start, if not nil, with the size it will write and the commit it copies (for a
// Content-Length, which lets a reader tell a cut copy from a whole one). It returns the number of
// bytes written.
func (s *Store) Backup(w io.Writer, start func(size int64, txid uint64)) (n int64, err error) {
	err = s.mapped("backing up", true, func() error {
		return s.db.View(func(tx *bbolt.Tx) (err error) {
			if start != nil {
				start(tx.Size(), uint64(tx.ID()))
			}
			n, err = tx.WriteTo(w)
			return err
		})
	})
	return n, err
}

var _ remoteassist.StateStore = (*Store)(nil)

// ResetSettings gives the tenant the defaults again, as an update that sets every property to its
// default: committed and fsynced like any other, and kept by the index like any other record.
func (s *Store) ResetSettings(ctx context.Context, tenant string) error {
	_, err := s.UpdateSettings(ctx, tenant, remoteassist.DefaultSettings(tenant).Patch())
	return err
}

// EachSettings reads every record in one read transaction, in key order, vouched for as
// Settings vouches for one, and calls fn with those that do not hold the defaults. fn runs inside
// the transaction: like Backup's writer, it must not stall for good (Backup says why).
func (s *Store) EachSettings(ctx context.Context, fn func(tenant string, v remoteassist.Settings) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.health.readErr(); err != nil {
		return err
	}
	want := s.committed.Load()
	var fnErr error // fn's, returned as it is
	var fnPanic any // fn's, raised again once the transaction is over: a caller's bug, not damage
	call := func(tenant string, v remoteassist.Settings) (err error) {
		defer func() {
			if r := recover(); r != nil {
				fnPanic, err = r, errFnPanicked
			}
		}()
		return fn(tenant, v)
	}
	err := s.mapped("reading", true, func() error {
		return s.db.View(func(tx *bbolt.Tx) (err error) {
			defer s.recoverIn(&err, "reading every tenant's settings")
			at := uint64(tx.ID())
			rolledBack := at < want
			if rolledBack {
				s.rolledBack(at, want)
			}
			b := tx.Bucket(bucketSettings)
			return b.ForEach(func(k, _ []byte) error {
				tenant := string(k)
				v, _, err := s.get(b, tenant, at, rolledBack)
				if err != nil {
					return err
				}
				if v != remoteassist.DefaultSettings(tenant) {
					if fnErr = call(tenant, v); fnErr != nil {
						return fnErr
					}
				}
				return nil
			})
		})
	})
	if fnPanic != nil {
		panic(fnPanic)
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return storageError(err)
	}
	return nil
}

// errFnPanicked stops EachSettings's walk when its fn panicked.
var errFnPanicked = errors.New("bolt: EachSettings's function panicked")

// ReplaceAllSettings queues one operation that, in a single transaction, writes all's settings
// and gives every other tenant with a record the defaults.
func (s *Store) ReplaceAllSettings(ctx context.Context, all map[string]remoteassist.Settings) error {
	if err := remoteassist.CheckReplace(ctx, all); err != nil {
		return err
	}
	if all == nil {
		all = map[string]remoteassist.Settings{}
	}
	o := &op{replace: all, done: make(chan bool, 1)}
	s.submit(o)
	return o.err
}

// replaceIn is a replace op inside a write transaction. It adds the records it writes to
// updates; a failure (a panic on a damaged page included) must abort the transaction.
func (s *Store) replaceIn(b *bbolt.Bucket, all map[string]remoteassist.Settings, updates *[]indexUpdate) (err error) {
	defer s.recoverIn(&err, "replacing every tenant's settings")
	var stale []string
	if err := b.ForEach(func(k, _ []byte) error {
		if _, keep := all[string(k)]; !keep {
			stale = append(stale, string(k))
		}
		return nil
	}); err != nil {
		return err
	}
	// Keys go in sorted: bbolt splits the nodes a transaction fills only at commit, so keys put
	// in random order make every put search and grow ever larger nodes, quadratic in the number
	// of new tenants (100,000 took 27 s; in order, 0.5 s).
	tenants := slices.Concat(stale, slices.Collect(maps.Keys(all)))
	slices.Sort(tenants)
	for _, tenant := range tenants {
		v, ok := all[tenant]
		if !ok {
			v = remoteassist.DefaultSettings(tenant)
		}
		data, sum := encode(tenant, v) // the record holds no id: it is the tenant's
		if err := b.Put([]byte(tenant), data); err != nil {
			return err
		}
		*updates = append(*updates, indexUpdate{tenant, sum})
	}
	return nil
}
