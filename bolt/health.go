package bolt

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/remoteassist/remoteassist"
)

// storageRetryAfter is the Retry-After of a write refused because the storage cannot take it.
const storageRetryAfter = 5 * time.Second

// storageFaults are the errors of a write that mean the storage cannot take writes now (full,
// over quota, read-only, not writable, failing), as opposed to a bug: an update failing with one
// is EUNAVAILABLE, and the store is not ready until a write succeeds again.
var storageFaults = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EACCES, syscall.EPERM, syscall.EIO}

// storageFault returns the storage fault err is, if it is one.
func storageFault(err error) (syscall.Errno, bool) {
	for _, errno := range storageFaults {
		if errors.Is(err, errno) {
			return errno, true
		}
	}
	// bbolt formats some of its errors with %s ("file resize error: ..."), which drops the errno
	// from the chain and leaves only its text.
	msg := err.Error()
	for _, errno := range storageFaults {
		if strings.Contains(msg, errno.Error()) {
			return errno, true
		}
	}
	return 0, false
}

// damage returns the error a request gets for data this package cannot vouch for: EINTERNAL (the
// client sees only the generic message), its cause wrapping ErrDamaged.
func damage(format string, args ...any) *remoteassist.Error {
	return remoteassist.Internal(fmt.Errorf("bolt: %w: %s", ErrDamaged, fmt.Sprintf(format, args...)))
}

// health is what the store knows of its own state, for Ping and for logging each change once.
type health struct {
	log *slog.Logger
	// drop empties the read cache: when damage is first found, and when the store halts.
	drop func()
	bad  atomic.Bool // one of the fields below is set: the fast path of every request reads only this

	mu sync.Mutex
	// damage is the first damage found in the data: sticky until the process restarts on a file
	// that checks. Reads and writes of other tenants go on.
	damage  error
	damages int
	// haltAll stops every operation: bbolt panicked where its locks may still be held.
	haltAll error
	// haltWrites stops every write: bbolt panicked during a commit, or the file went back to an
	// older commit under the running process (a write would make the loss permanent).
	haltWrites error
	// writeFault is the storage fault of the last write, until a write succeeds (for a lack of
	// space: until the probe finds space again; see writeSucceeded).
	writeFault  error
	writeErrno  syscall.Errno
	writeFaults int
}

// spaceFault reports whether errno says the storage is out of space.
func spaceFault(errno syscall.Errno) bool { return errno == syscall.ENOSPC || errno == syscall.EDQUOT }

func (h *health) set() {
	h.bad.Store(h.damage != nil || h.haltAll != nil || h.haltWrites != nil || h.writeFault != nil)
}

// damaged records damage found in the data and returns err, the request's error.
func (h *health) damaged(err *remoteassist.Error) *remoteassist.Error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.damages++
	if h.damage == nil {
		h.damage = err.Err
		h.set()
		h.dropCache()
		h.log.Error("the data file is damaged: requests that need the damaged data fail, the others are served; "+
			"not ready until restarted on a file that checks (remoteassist check, remoteassist restore)", "error", err.Err)
	}
	return err
}

// dropCache empties the read cache, if the store has one: from a change of state on, every
// tenant is read from the file, and checked, before it is cached again.
func (h *health) dropCache() {
	if h.drop != nil {
		h.drop()
	}
}

// halt records a panic that leaves bbolt's state unknown: of every operation, or of writes.
func (h *health) halt(all bool, cause error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if all && h.haltAll == nil {
		h.haltAll = cause
		h.log.Error("the store stopped serving: bbolt panicked outside a transaction; restart the process", "error", cause)
		h.dropCache()
	} else if !all && h.haltWrites == nil && h.haltAll == nil {
		h.haltWrites = cause
		h.log.Error("the store stopped writing; reads go on; restart the process", "error", cause)
		h.dropCache()
	}
	h.set()
}

// writeFailed records a storage fault of a write and returns the request's error.
func (h *health) writeFailed(errno syscall.Errno, cause error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writeFaults++
	if h.writeFault == nil {
		h.writeFault, h.writeErrno = cause, errno
		h.set()
		h.log.Warn("writes fail: answering 503 and not ready until a write succeeds (a probe write is tried when readiness is checked)",
			"reason", errno.Error(), "error", cause)
	}
	return &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, Message: remoteassist.UnavailableMessage,
		RetryAfter: storageRetryAfter, Err: cause}
}

// writeSucceeded records a successful commit: a client's, or the probe's (which checked for
// free space first). When the storage was out of space, a client's commit proves little (it may
// have fit in free pages of the file while a growing one would still fail), so only the probe
// clears that.
func (h *health) writeSucceeded(probe bool) {
	if !h.bad.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.writeFault != nil && (probe || !spaceFault(h.writeErrno)) {
		h.log.Info("writes succeed again", "failed_writes", h.writeFaults)
		h.writeFault, h.writeFaults = nil, 0
		h.set()
	}
}

// readErr is the error every read gets now, if any.
func (h *health) readErr() error {
	if !h.bad.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.haltAll != nil {
		return remoteassist.Internal(h.haltAll)
	}
	return nil
}

// writeErr is the error every write gets now, if any.
func (h *health) writeErr() error {
	if !h.bad.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.haltAll != nil:
		return remoteassist.Internal(h.haltAll)
	case h.haltWrites != nil:
		return remoteassist.Internal(h.haltWrites)
	}
	return nil
}

// spaceLost reports whether the last write fault was a lack of space.
func (h *health) spaceLost() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.writeFault != nil && spaceFault(h.writeErrno)
}

// state returns why the store is not ready, and whether the reason is a storage fault that a
// successful write would clear.
func (h *health) state() (err error, writeFault bool) {
	if !h.bad.Load() {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.haltAll != nil:
		return h.haltAll, false
	case h.haltWrites != nil:
		return h.haltWrites, false
	case h.damage != nil:
		if h.damages > 1 {
			return fmt.Errorf("%w (and %d more times)", h.damage, h.damages-1), false
		}
		return h.damage, false
	case h.writeFault != nil:
		return h.writeFault, true
	}
	return nil, false
}
