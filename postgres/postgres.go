// Package postgres is a remoteassist.Store on PostgreSQL, for running several replicas of the
// service against one database.
//
// What it relies on, kept small so that PostgreSQL-compatible databases (CockroachDB, YugabyteDB)
// can serve it too: plain tables with PRIMARY KEY and CHECK constraints; INSERT ... ON CONFLICT DO
// UPDATE ... RETURNING; COALESCE; now(); transactions around DDL where available (each migration
// is also idempotent on its own where they are not). It does not use advisory locks, LISTEN/NOTIFY,
// triggers, stored procedures or extensions. The one exception is ReplaceAllSettings, which takes
// LOCK TABLE ... IN EXCLUSIVE MODE under a lock_timeout so that a replace and concurrent updates
// never mix: CockroachDB has no LOCK TABLE, and YugabyteDB takes that mode only with its table
// locks turned on, so there every replace fails (EINTERNAL) and the admin API's reset of all
// tenants and snapshot import with it; the tenant API is unaffected.
//
// Schema migrations run in Open. Replicas starting together are safe without advisory locks: each
// migration is applied in a transaction that first inserts its version into
// remoteassist_schema_migrations, so a second replica blocks on that row and then fails with
// unique_violation; Open retries on that and on the other SQLSTATEs concurrent DDL raises (42P07,
// 42710, 40001, 40P01), and the retry finds the migration applied. Each statement of a migration
// waits for a lock at most migrationLockWait (SET LOCAL lock_timeout, whatever the DSN sets), and
// Open retries until its deadline, then fails with a *LockWaitError naming the table and the
// sessions holding the lock, which a second connection looks up with pg_blocking_pids and
// pg_stat_activity while a statement waits (lockwait.go; where they are missing, as on other
// databases, the error says the look-up failed). The table is prefixed so that it cannot collide
// with the schema_migrations of a migration tool in a shared database.
//
// Updates are one statement (an upsert whose SET keeps the stored value of every property the
// patch leaves out), so they are atomic per tenant with no read-then-write and no explicit
// transaction. The database refuses states outside the contract by a CHECK constraint, and values
// read back are validated again.
//
// Errors: when the database cannot be reached or cannot serve now (connection refused or lost,
// connect timeout, deadline, server shutting down, too many connections, a read-only standby, a
// serialization failure or deadlock, a lock not granted within lock_timeout, a statement cut off
// by statement_timeout, a login the database rejects: SQLSTATE class 28, as for a rotated
// password or a role made NOLOGIN, or 3D000 for a database dropped or renamed), methods return
// an *remoteassist.Error with code EUNAVAILABLE, which the HTTP layer answers with 503 and
// Retry-After (and logs at ERROR with the cause, SQLSTATE included). A cancelled context is
// returned as is. Anything else is EINTERNAL. The pool reconnects by itself when the database is
// back; no new Store is needed. After a failed connection attempt the store backs off: for a
// short interval, growing with each failure in a row up to a second, calls that need a new
// connection fail at once with that EUNAVAILABLE error, without dialling, and then one attempt at
// a time probes the database (redial.go).
//
// The DSN is anything pgx accepts (URL or keyword=value), including pool settings such as
// pool_max_conns. Behind PgBouncer in transaction mode, add default_query_exec_mode=exec, and
// configure PgBouncer with ignore_startup_parameters = lock_timeout: it refuses the connection
// otherwise, since the pool asks for sessionLockTimeout as a startup parameter (then give the
// role a lock_timeout with ALTER ROLE ... SET).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/remoteassist/remoteassist"
)

const (
	// connectTimeout bounds establishing a connection when the DSN sets none, so that requests
	// fail fast instead of waiting on an unreachable host.
	connectTimeout = 2 * time.Second
	// operationTimeout bounds each store call but the two of bulkTimeout, even when the
	// caller's context has no deadline: a database that accepted the connection and then
	// stopped answering must not hold a request forever.
	operationTimeout = 5 * time.Second
	// bulkTimeout is operationTimeout for EachSettings and ReplaceAllSettings, which read or
	// write the whole table and so need longer: against a local PostgreSQL 15 (fsync off, two
	// cores shared with the test), replacing 1M tenants took 8-13 s and exporting them 2.5-3.3 s.
	// A minute leaves room for a real disk and network, and still frees the admin request and
	// its pool connection when the database hangs.
	bulkTimeout = time.Minute
	// replaceLockTimeout bounds how long ReplaceAllSettings waits for its lock on the table,
	// that is for the writes in flight, each one statement of milliseconds, unless a session
	// outside the store holds a conflicting lock. Every write that arrives meanwhile waits too,
	// so the bound is kept well under operationTimeout.
	replaceLockTimeout = 2 * time.Second
)

// DefaultOpenTimeout bounds Open when its context has no deadline: a migration waiting for a
// lock another session holds would otherwise keep a replica from starting, silently, for as
// long as that session lives. It is serve's --store-open-timeout by default.
const DefaultOpenTimeout = time.Minute

// migrationLockWait is the lock_timeout of each statement of a migration: a wait for a lock ends
// on the server's side after it, and the attempt is tried again until Open's deadline, so that no
// wait is left queued on the server when Open gives up, whatever lock_timeout the DSN or the role
// sets (0, no bound, included). A variable, so that tests can shorten it.
var migrationLockWait = time.Second

// sessionLockTimeout is the lock_timeout of the pool's sessions when the DSN sets none: a
// statement waiting for a lock (an update behind a replace, say) is ended by the database itself,
// before operationTimeout ends it from this side. The outcome is then certain: the statement
// failed and will never apply. From this side, at the deadline, pgx only asks the server to
// cancel it, on a connection of its own and at its best, before it closes the connection. A
// variable, so that tests can shorten it.
var sessionLockTimeout = 3 * time.Second

// optionsLockTimeout finds a lock_timeout set in the options startup parameter (the DSN's
// options, or PGOPTIONS): "-c lock_timeout=…", "-clock_timeout=…" or "--lock_timeout=…". A
// startup parameter of its own would override it, so the store then sets none.
var optionsLockTimeout = regexp.MustCompile(`(?i)(?:^|[^a-z0-9_]|-c)lock_timeout=`)

// Store is a remoteassist.Store backed by a PostgreSQL connection pool. It is safe for
// concurrent use.
type Store struct {
	pool        *pgxpool.Pool
	lockTimeout time.Duration // replaceLockTimeout; tests shorten it
	bulkTimeout time.Duration // bulkTimeout; tests shorten it
}

var (
	_ remoteassist.Store  = (*Store)(nil)
	_ remoteassist.Pinger = (*Store)(nil)
)

// Open connects to the database at dsn and brings its schema up to date. The database must be
// reachable: if it is not, Open fails (with an error whose code is EUNAVAILABLE) rather than start
// a replica that cannot serve; ctx bounds how long it tries, and DefaultOpenTimeout does when
// ctx has no deadline. A migration held back by a lock another session holds (a replica migrating, a
// transaction left open on the tables) is waited for until then, and then fails with a
// *LockWaitError naming that session, never half applied.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	_, set := cfg.ConnConfig.RuntimeParams["lock_timeout"]
	if !set && !optionsLockTimeout.MatchString(cfg.ConnConfig.RuntimeParams["options"]) {
		cfg.ConnConfig.RuntimeParams["lock_timeout"] = strconv.FormatInt(sessionLockTimeout.Milliseconds(), 10)
	}
	cfg.BeforeConnect = new(redialGate).beforeConnect // redial.go says why
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultOpenTimeout)
		defer cancel()
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate the schema: %w", storeError(err))
	}
	return &Store{pool: pool, lockTimeout: replaceLockTimeout, bulkTimeout: bulkTimeout}, nil
}

// Close closes the pool. It waits for connections in use to be returned, so call it after the
// HTTP server has drained; calls after Close fail with EUNAVAILABLE.
func (s *Store) Close() {
	s.pool.Close()
}

// Ping reports whether the database answers now, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, operationTimeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return storeError(err)
	}
	return nil
}

// Settings returns the tenant's settings, or the defaults for a tenant that never wrote.
func (s *Store) Settings(ctx context.Context, tenant string) (remoteassist.Settings, error) {
	if err := remoteassist.CheckRead(ctx, tenant); err != nil {
		return remoteassist.Settings{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, operationTimeout)
	defer cancel()
	row := s.pool.QueryRow(ctx,
		`SELECT allow_unenrolled, state, block_chat FROM remote_assistance_settings WHERE tenant = $1`,
		tenant)
	out, err := scan(tenant, row)
	if errors.Is(err, pgx.ErrNoRows) {
		return remoteassist.DefaultSettings(tenant), nil
	}
	return out, err
}

// upsert inserts a tenant's first settings or merges a patch into the stored ones, in one
// statement. $2..$4 are the full settings for a tenant that has no row yet (the defaults with the
// patch applied, computed in Go so the defaults live in one place); $5..$7 are the patch, NULL for
// a property it leaves out, so COALESCE keeps the stored value.
const upsert = `
INSERT INTO remote_assistance_settings AS s (tenant, allow_unenrolled, state, block_chat, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (tenant) DO UPDATE SET
	allow_unenrolled = COALESCE($5, s.allow_unenrolled),
	state            = COALESCE($6, s.state),
	block_chat       = COALESCE($7, s.block_chat),
	updated_at       = now()
RETURNING allow_unenrolled, state, block_chat`

// UpdateSettings merges p into the tenant's settings atomically and returns the result. It
// returns once the database has committed the statement.
func (s *Store) UpdateSettings(ctx context.Context, tenant string, p remoteassist.Patch) (remoteassist.Settings, error) {
	if err := remoteassist.CheckUpdate(ctx, tenant, p); err != nil {
		return remoteassist.Settings{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, operationTimeout)
	defer cancel()
	first := p.Apply(remoteassist.DefaultSettings(tenant))
	var state *string
	if p.RemoteAssistanceState != nil {
		state = new(string(*p.RemoteAssistanceState))
	}
	row := s.pool.QueryRow(ctx, upsert,
		tenant, first.AllowSessionsToUnenrolledDevices, string(first.RemoteAssistanceState), first.BlockChat,
		p.AllowSessionsToUnenrolledDevices, state, p.BlockChat)
	return scan(tenant, row)
}

// scan reads a settings row and validates it: a value outside the contract means the table was
// changed behind the store's back, and is reported rather than passed on.
func scan(tenant string, row pgx.Row) (remoteassist.Settings, error) {
	var (
		out   = remoteassist.Settings{ID: remoteassist.SettingsID(tenant)}
		state string
	)
	if err := row.Scan(&out.AllowSessionsToUnenrolledDevices, &state, &out.BlockChat); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return remoteassist.Settings{}, err
		}
		return remoteassist.Settings{}, storeError(err)
	}
	out.RemoteAssistanceState = remoteassist.State(state)
	if err := out.Validate(); err != nil {
		return remoteassist.Settings{}, remoteassist.Internal(fmt.Errorf("postgres: stored settings of tenant %q: %w", tenant, err))
	}
	return out, nil
}

// storeError gives a failed database call its domain code.
//
// An error the server sent (*pgconn.PgError) is EUNAVAILABLE only for SQLSTATEs that mean "not
// now": the connection classes, shutdown, resource limits, conflicts worth retrying and a
// read-only server during a failover. Every other error did not come from the server: failing to
// dial, a connection lost, a connect or acquire timeout, a deadline, a closed pool. Those mean the
// database is out of reach. A cancelled context is returned unchanged: the caller gave up, the
// database did nothing wrong.
func storeError(err error) error {
	var e *remoteassist.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &pgErr) && !unavailableState(pgErr.Code):
		return remoteassist.Internal(err)
	default:
		return remoteassist.Unavailable(err)
	}
}

// unavailableState reports whether a SQLSTATE means the database cannot serve now but may soon.
func unavailableState(code string) bool {
	switch code {
	case "57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now: starting up or in recovery
		"40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03", // lock_not_available: lock_timeout passed, as when a replace waits for its lock
		"57014", // query_canceled: statement_timeout passed (one the DSN, role or server sets), or an operator cancelled the query
		"25006", // read_only_sql_transaction: a standby, or a primary being demoted
		"3D000": // invalid_catalog_name: the database was dropped or renamed under a running store
		return true
	}
	switch code[:2] {
	case "08", // connection exception
		"53", // insufficient resources: too many connections, disk full, out of memory
		// invalid authorization: the database refuses the login (password rotated, role
		// disabled with NOLOGIN or dropped). For a client the service is unavailable, not
		// broken; the access log's ERROR line carries the SQLSTATE for the operator.
		"28":
		return true
	}
	return false
}

// migration is one step of the schema. Applied steps never change: a change is a new step.
// Each statement is idempotent on its own so that a database without transactional DDL can
// re-run a step that failed half-way.
type migration struct {
	version    int
	statements []string
}

var migrations = []migration{
	{1, []string{`
CREATE TABLE IF NOT EXISTS remote_assistance_settings (
	tenant           text        PRIMARY KEY CHECK (tenant <> ''),
	allow_unenrolled boolean     NOT NULL,
	state            text        NOT NULL
		CONSTRAINT remote_assistance_settings_state_check CHECK (state IN ('notConfigured', 'disabled', 'enabled')),
	block_chat       boolean     NOT NULL,
	updated_at       timestamptz NOT NULL
)`}},
}

// lockedError is an error of a migration statement, with the table whose lock it waits for.
type lockedError struct {
	table string
	err   error
}

func (e *lockedError) Error() string { return e.err.Error() }
func (e *lockedError) Unwrap() error { return e.err }

// migrate applies the migrations the database lacks, retrying when a replica starting at the same
// time got there first, or a lock was not granted within migrationLockWait, until ctx is done.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	start := time.Now()
	probe := newLockProbe(pool.Config().ConnConfig)
	defer probe.close()
	var waitedOn string // the table of the last attempt that waited for a lock in vain
	for attempt := 1; ; attempt++ {
		err := migrateOnce(ctx, pool, probe)
		if err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		var locked *lockedError
		lockWait := errors.As(err, &pgErr) && pgErr.Code == "55P03" && errors.As(err, &locked)
		if lockWait {
			waitedOn = locked.table
		}
		if ctx.Err() != nil || lockWait && lockWaitLeft(ctx) <= 0 {
			if waitedOn != "" && (lockWait || errors.Is(err, context.DeadlineExceeded)) {
				lw := &LockWaitError{Table: waitedOn, Waited: time.Since(start), Err: err}
				probe.describe(lw)
				return lw
			}
			return err
		}
		if lockWait {
			continue // the wait was the back-off
		}
		if pgErr == nil || !concurrentDDLState(pgErr.Code) || attempt == 20 {
			return err
		}
		// Back off with jitter so replicas that collided do not collide again in lockstep.
		select {
		case <-time.After(time.Duration(attempt)*10*time.Millisecond + rand.N(20*time.Millisecond)):
		case <-ctx.Done():
			return err
		}
	}
}

// lockWaitLeft is the lock_timeout of a migration statement: migrationLockWait, or, near ctx's
// deadline, half the time left, so that the server ends the wait before the deadline cuts the
// statement off from this side.
func lockWaitLeft(ctx context.Context) time.Duration {
	wait := migrationLockWait
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d) / 2; left < wait {
			wait = left
		}
	}
	if wait < time.Millisecond {
		return 0
	}
	return wait
}

// concurrentDDLState reports whether a SQLSTATE is what concurrent schema changes raise.
func concurrentDDLState(code string) bool {
	switch code {
	case "23505", // unique_violation: the version row, or a catalog row such as the table's type
		"42P07", // duplicate_table
		"42710", // duplicate_object
		"40001", // serialization_failure (CockroachDB reports conflicts so)
		"40P01": // deadlock_detected
		return true
	}
	return false
}

// inMigrationTx runs f in a transaction whose statements wait for a lock at most lockWaitLeft,
// with probe watching for the sessions they wait behind, and gives its errors the table whose
// lock they may wait for.
func inMigrationTx(ctx context.Context, pool *pgxpool.Pool, probe *lockProbe, table string, f func(pgx.Tx) error) error {
	wait := lockWaitLeft(ctx)
	if wait <= 0 {
		wait = time.Millisecond
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, wait.Milliseconds())); err != nil {
			return err
		}
		defer probe.watch(ctx, tx.Conn().PgConn().PID())()
		return f(tx)
	})
	if err != nil && !errors.As(err, new(*lockedError)) {
		return &lockedError{table, err}
	}
	return err
}

// migrateOnce applies the migrations the database lacks. A database whose schema is up to date
// gets no DDL at all, not even CREATE TABLE IF NOT EXISTS, which PostgreSQL refuses to a role
// without CREATE on the schema even when the table exists: the role needs CREATE only while a
// step is to be applied.
func migrateOnce(ctx context.Context, pool *pgxpool.Pool, probe *lockProbe) error {
	var versions []int
	err := inMigrationTx(ctx, pool, probe, "remoteassist_schema_migrations", func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT version FROM remoteassist_schema_migrations`)
		var err error
		versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
		return err
	})
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table: a new database
		if err := inMigrationTx(ctx, pool, probe, "remoteassist_schema_migrations", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS remoteassist_schema_migrations (
	version    integer     PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`)
			return err
		}); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	applied := map[int]bool{}
	for _, v := range versions {
		applied[v] = true
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		err := inMigrationTx(ctx, pool, probe, "remoteassist_schema_migrations", func(tx pgx.Tx) error {
			// Claim the version first: a replica doing the same waits here until this
			// transaction ends, then fails with unique_violation and finds the step applied.
			if _, err := tx.Exec(ctx, `INSERT INTO remoteassist_schema_migrations (version) VALUES ($1)`, m.version); err != nil {
				return err
			}
			for _, stmt := range m.statements {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return &lockedError{"remote_assistance_settings", err}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", m.version, err)
		}
	}
	return nil
}

var _ remoteassist.StateStore = (*Store)(nil)

// ResetSettings deletes the tenant's row: it reads the defaults again.
func (s *Store) ResetSettings(ctx context.Context, tenant string) error {
	if err := remoteassist.CheckRead(ctx, tenant); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, operationTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM remote_assistance_settings WHERE tenant = $1`, tenant); err != nil {
		return storeError(err)
	}
	return nil
}

// EachSettings reads every row in one query (one snapshot of the table), in the byte order of
// the tenants (COLLATE "C"), and calls fn with those that do not hold the defaults. It is bounded
// by bulkTimeout rather than operationTimeout, fn's time included.
func (s *Store) EachSettings(ctx context.Context, fn func(tenant string, v remoteassist.Settings) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.bulkTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT tenant, allow_unenrolled, state, block_chat FROM remote_assistance_settings ORDER BY tenant COLLATE "C"`)
	if err != nil {
		return storeError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tenant, state string
		var v remoteassist.Settings
		if err := rows.Scan(&tenant, &v.AllowSessionsToUnenrolledDevices, &state, &v.BlockChat); err != nil {
			return storeError(err)
		}
		v.ID, v.RemoteAssistanceState = remoteassist.SettingsID(tenant), remoteassist.State(state)
		if err := v.Validate(); err != nil {
			return remoteassist.Internal(fmt.Errorf("postgres: stored settings of tenant %q: %w", tenant, err))
		}
		if v != remoteassist.DefaultSettings(tenant) {
			if err := fn(tenant, v); err != nil {
				cancel() // before rows.Close, which would otherwise read the rest of the rows
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return storeError(err)
	}
	return nil
}

// ReplaceAllSettings empties the table and writes all's rows in one transaction, so every
// replica sees the old state or the new one.
//
// The transaction first locks the table in EXCLUSIVE mode, which waits for the writes in flight
// and holds back new ones (updates, resets, another replace) until it commits, while reads go on
// and see the old state. Every write is so ordered wholly before the replace or wholly after
// it. Without the lock, under READ COMMITTED, the DELETE misses a row another session inserts
// after it began: the COPY then fails on that row's key, or the row outlives the replace.
// A write held back longer than operationTimeout, as by a replace of many tenants, fails with
// EUNAVAILABLE (503 with Retry-After).
//
// It is bounded by bulkTimeout rather than operationTimeout.
func (s *Store) ReplaceAllSettings(ctx context.Context, all map[string]remoteassist.Settings) error {
	if err := remoteassist.CheckReplace(ctx, all); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.bulkTimeout)
	defer cancel()
	now := time.Now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// While the replace waits for the lock, every new write waits behind it, so the wait
		// is short, and the server ends it by itself (lock_timeout): a wait only the client gave
		// up on would stay queued, holding back every write, since pgx closes the connection
		// on a deadline and a backend waiting for a lock does not notice.
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d; LOCK TABLE remote_assistance_settings IN EXCLUSIVE MODE`,
			s.lockTimeout.Milliseconds())); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM remote_assistance_settings`); err != nil {
			return err
		}
		// The rows are made one at a time as COPY sends them (pgx encodes each before it asks
		// for the next, so one row's slice serves all): made first, those of a million tenants
		// took ~200 MB.
		next, stop := iter.Pull2(maps.All(all))
		defer stop()
		row := make([]any, 5)
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"remote_assistance_settings"},
			[]string{"tenant", "allow_unenrolled", "state", "block_chat", "updated_at"},
			pgx.CopyFromFunc(func() ([]any, error) {
				tenant, v, ok := next()
				if !ok {
					return nil, nil
				}
				row[0], row[1], row[2], row[3], row[4] = tenant, v.AllowSessionsToUnenrolledDevices, string(v.RemoteAssistanceState), v.BlockChat, now
				return row, nil
			}))
		return err
	})
	if err != nil {
		return storeError(err)
	}
	return nil
}
