package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LockWaitError is Open's error when its deadline passed while the schema migration waited for
// a lock another session holds: another replica still migrating (or stuck doing so), or a
// transaction left open on one of the store's tables. Nothing of the migration was applied.
//
// Its text is one line for the operator, naming the sessions that held the lock as
// pg_stat_activity showed them while the migration waited, at most maxLockHolders of them.
type LockWaitError struct {
	Table   string        // the table the lock is on
	Waited  time.Duration // how long Open waited
	Holders []LockHolder  // the sessions seen holding the lock, oldest transaction first
	More    int           // how many more sessions held it than Holders lists
	// Lookup is why no holder could be looked up (no connection for the look-up, or a
	// database without pg_blocking_pids); nil when Holders is not empty, or when the look-up
	// ran and saw no session (each wait was over before it looked).
	Lookup error
	Err    error // the last wait's error: lock_not_available, or the deadline
}

// LockHolder is a session that held a lock a migration waited for, as pg_stat_activity showed
// it. Its query text is left out but for its first keyword: a statement's text may hold secrets
// (a password in ALTER ROLE, a token in an INSERT), and the error goes to logs that more people
// read than may read the database; the keyword says what kind of statement it was, and the
// operator who needs the rest reads pg_stat_activity.query with the database's own access rules.
type LockHolder struct {
	PID         uint32
	User        string // usename
	Application string // application_name, as the session set it (clipped to maxNameLen)
	// Hidden: the role Open connects as may not see the session's details (it is another role's
	// session, and this role lacks pg_read_all_stats). The fields below are then empty.
	Hidden     bool
	ClientAddr string        // client_addr; empty for a Unix socket
	State      string        // active, idle in transaction, …
	TxAge      time.Duration // how long its transaction had been open when the wait ended; 0 if it has none
	Command    string        // the first keyword of its current or last statement: LOCK, CREATE, …
}

const (
	// maxLockHolders bounds how many holders the error lists, so that it stays one readable line.
	maxLockHolders = 3
	// maxNameLen clips what a session names itself (PostgreSQL keeps 63 bytes of a name).
	maxNameLen = 64
	// maxCommandLen clips a statement's first keyword.
	maxCommandLen = 16
	// maxLookupErrLen clips the error of a failed look-up.
	maxLookupErrLen = 200
	// lockProbeInterval is how often the probe looks for the sessions a migration statement
	// waits behind, and how long a statement runs before the probe first looks (and so opens
	// its connection): a statement that is not held back ends well before, costing no look-up.
	lockProbeInterval = 25 * time.Millisecond
	// lockProbeQueryTimeout bounds one look-up, so that a database that stopped answering
	// does not hold the migration's next attempt.
	lockProbeQueryTimeout = time.Second
)

func (e *LockWaitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gave up after %s waiting for a lock on table %s that another session holds "+
		"(another replica migrating, or a transaction left open on the table)",
		e.Waited.Round(100*time.Millisecond), e.Table)
	if len(e.Holders) == 0 {
		if e.Lookup != nil {
			fmt.Fprintf(&b, "; the session could not be looked up (%s)", clip(e.Lookup.Error(), maxLookupErrLen))
		}
		b.WriteString("; check pg_locks and pg_stat_activity for the session holding it, and end it if it is stuck (pg_terminate_backend)")
		return b.String()
	}
	b.WriteString(": held by ")
	for i, h := range e.Holders {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(h.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, " and %d more (see pg_locks)", e.More)
	}
	if len(e.Holders) == 1 && e.More == 0 {
		fmt.Fprintf(&b, "; end it if it is stuck: SELECT pg_terminate_backend(%d)", e.Holders[0].PID)
	} else {
		b.WriteString("; end those that are stuck: SELECT pg_terminate_backend(PID)")
	}
	return b.String()
}

func (e *LockWaitError) Unwrap() error { return e.Err }

// String is the holder for the error's line: pid 4242 (user "ra", application "replica-b",
// client 10.0.0.7, idle in transaction, transaction open 5m3s, last statement LOCK).
func (h LockHolder) String() string {
	parts := []string{fmt.Sprintf("user %q", h.User), fmt.Sprintf("application %q", h.Application)}
	if h.Hidden {
		parts = append(parts, "other details hidden from this role (they need pg_read_all_stats)")
	} else {
		if h.ClientAddr != "" {
			parts = append(parts, "client "+h.ClientAddr)
		}
		if h.State != "" {
			parts = append(parts, h.State)
		}
		if h.TxAge > 0 {
			parts = append(parts, "transaction open "+h.TxAge.Round(100*time.Millisecond).String())
		}
		if h.Command != "" {
			parts = append(parts, "statement "+h.Command)
		}
	}
	return fmt.Sprintf("pid %d (%s)", h.PID, strings.Join(parts, ", "))
}

// lockHoldersQuery lists the sessions that backend $1 waits behind, oldest transaction first.
// pg_blocking_pids covers every kind of lock a migration can wait for: a table's, and a
// transaction's (a CREATE TABLE behind another session's uncommitted CREATE of the same name).
// A session of another role shows its details only to a role with pg_read_all_stats (or a
// superuser); visible says whether this one may see them.
const lockHoldersQuery = `
SELECT a.pid, COALESCE(a.usename, ''), COALESCE(a.application_name, ''),
	COALESCE(host(a.client_addr), ''), COALESCE(a.state, ''),
	COALESCE(extract(epoch FROM clock_timestamp() - a.xact_start)::float8, 0), COALESCE(a.query, ''),
	COALESCE(pg_has_role(a.usesysid, 'USAGE'), false) OR pg_has_role('pg_read_all_stats', 'USAGE')
FROM pg_stat_activity a
WHERE a.pid = ANY(pg_blocking_pids($1))
ORDER BY a.xact_start NULLS LAST, a.pid`

// lockProbe looks, from a connection of its own, for the sessions a migration statement waits
// behind, while it waits: once the wait has ended, pg_blocking_pids has nothing left to say. A
// connection of its own, outside the pool, so that a pool of one connection (pool_max_conns=1),
// held by the waiting statement, does not keep it from looking. It connects only when a
// statement has run for lockProbeInterval, so a start-up that waits for nothing opens no
// connection for it. Not safe for concurrent use: one statement is watched at a time.
type lockProbe struct {
	cfg     *pgx.ConnConfig
	conn    *pgx.Conn
	holders []LockHolder // the holders of the last wait that saw any
	more    int
	seenAt  time.Time // when holders were seen
	err     error     // why the last look-up failed, if it did
}

func newLockProbe(cfg *pgx.ConnConfig) *lockProbe { return &lockProbe{cfg: cfg} }

// watch looks every lockProbeInterval for the sessions backend pid waits behind, until it has
// seen some, a look-up failed, ctx is done or the returned stop is called. stop ends a look-up
// in flight and returns once the probe no longer uses its connection: the statement's
// transaction, and the locks it holds, end only after stop, so they must not wait for the
// probe's connecting (up to the DSN's connect_timeout) or its query (lockProbeQueryTimeout).
func (p *lockProbe) watch(ctx context.Context, pid uint32) (stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(lockProbeInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if p.look(ctx, pid) {
				return
			}
		}
	}()
	return func() {
		cancel(errWatchStopped)
		<-finished
	}
}

// errWatchStopped is the cause of a watch's context once its stop is called.
var errWatchStopped = errors.New("postgres: the statement watched no longer waits")

// look runs one look-up and reports whether the statement's watch is over: holders seen, or
// the look-up failed (the next statement's watch tries again).
func (p *lockProbe) look(ctx context.Context, pid uint32) bool {
	if p.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, p.cfg) // bounded by the DSN's connect_timeout, or connectTimeout
		if err != nil {
			p.failed(ctx, err)
			return true
		}
		p.conn = conn
	}
	ctx, cancel := context.WithTimeout(ctx, lockProbeQueryTimeout)
	defer cancel()
	rows, _ := p.conn.Query(ctx, lockHoldersQuery, int64(pid)) // an error comes out of rows.Err
	var holders []LockHolder
	var more int
	for rows.Next() {
		var (
			h       LockHolder
			pidOf   int64
			txAge   float64
			query   string
			visible bool
		)
		if err := rows.Scan(&pidOf, &h.User, &h.Application, &h.ClientAddr, &h.State, &txAge, &query, &visible); err != nil {
			rows.Close()
			p.failed(ctx, err)
			return true
		}
		if len(holders) == maxLockHolders {
			more++
			continue
		}
		h.PID = uint32(pidOf)
		h.User, h.Application = clip(h.User, maxNameLen), clip(h.Application, maxNameLen)
		if visible {
			h.State = clip(h.State, maxNameLen)
			h.TxAge = time.Duration(txAge * float64(time.Second))
			h.Command = firstKeyword(query)
		} else {
			h = LockHolder{PID: h.PID, User: h.User, Application: h.Application, Hidden: true}
		}
		holders = append(holders, h)
	}
	if err := rows.Err(); err != nil {
		p.failed(ctx, err)
		return true
	}
	if len(holders) == 0 {
		return false // the statement has not started waiting, or waits no more
	}
	p.holders, p.more, p.seenAt, p.err = holders, more, time.Now(), nil
	return true
}

// failed records a failed look-up of the watch whose context is ctx. An error the server sent (a
// function it lacks or refuses) leaves the connection as it was; any other (a deadline, a
// connection lost, the watch stopped) drops it, since its state is then unknown. A look-up the
// watch's stop ended is not recorded: it says nothing of whether a look-up can succeed.
func (p *lockProbe) failed(ctx context.Context, err error) {
	if !errors.As(err, new(*pgconn.PgError)) && p.conn != nil {
		p.conn.Close(context.Background())
		p.conn = nil
	}
	if !errors.Is(context.Cause(ctx), errWatchStopped) {
		p.err = err
	}
}

// describe puts what the probe saw into e: the holders, their transactions aged to now, or why
// none could be looked up.
func (p *lockProbe) describe(e *LockWaitError) {
	if len(p.holders) == 0 {
		e.Lookup = p.err
		return
	}
	since := time.Since(p.seenAt)
	for _, h := range p.holders {
		if h.TxAge > 0 {
			h.TxAge += since
		}
		e.Holders = append(e.Holders, h)
	}
	e.More = p.more
}

// close closes the probe's connection, if it opened one.
func (p *lockProbe) close() {
	if p.conn != nil {
		p.conn.Close(context.Background())
		p.conn = nil
	}
}

// firstKeyword is the leading word of a statement, upper-cased: never an argument, a literal or
// a name, which may be secret.
func firstKeyword(query string) string {
	query = strings.TrimLeft(query, " \t\r\n(")
	n := 0
	for n < len(query) && n < maxCommandLen && (query[n] >= 'a' && query[n] <= 'z' || query[n] >= 'A' && query[n] <= 'Z') {
		n++
	}
	return strings.ToUpper(query[:n])
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
