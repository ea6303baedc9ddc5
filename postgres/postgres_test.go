package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/pgtest"
	"github.com/remoteassist/remoteassist/openapi"
	"github.com/remoteassist/remoteassist/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ptr[T any](v T) *T { return &v }

// open opens a store on dsn and closes it when the test ends.
func open(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// exec runs SQL on its own connection, to look at or tamper with the database behind the store.
func exec(t *testing.T, dsn, sql string, args ...any) error {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(t.Context(), sql, args...)
	return err
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) remoteassist.Store { return open(t, pgtest.DSN(t)) })
}

// TestContractUnderALinguisticCollation runs the contract on a database whose text sorts as
// English does (ICU's en-US: "a" before "B"), as a managed PostgreSQL's often does, where the
// test server's sorts byte by byte: EachSettings must still list the tenants in byte order.
func TestContractUnderALinguisticCollation(t *testing.T) {
	const english = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
	storetest.Run(t, func(t *testing.T) remoteassist.Store { return open(t, pgtest.DSNWith(t, english)) })
}

// TestConcurrentMigrations starts four stores on one fresh database at the same moment, as
// replicas of a deployment do, several times over.
func TestConcurrentMigrations(t *testing.T) {
	for range 5 {
		dsn := pgtest.DSN(t)
		start := make(chan struct{})
		errs := make(chan error, 4)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				<-start
				s, err := Open(t.Context(), dsn)
				if err == nil {
					_, err = s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)})
					s.Close()
				}
				errs <- err
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("a replica failed to start beside others: %v", err)
			}
		}
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		var versions []int
		rows, _ := conn.Query(t.Context(), `SELECT version FROM remoteassist_schema_migrations ORDER BY version`)
		versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
		conn.Close(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(versions) != len(migrations) {
			t.Fatalf("remoteassist_schema_migrations holds %v, want the %d migrations once each", versions, len(migrations))
		}
	}
}

// TestReopenIsIdempotent opens a store on an already migrated database.
func TestReopenIsIdempotent(t *testing.T) {
	dsn := pgtest.DSN(t)
	want, err := open(t, dsn).UpdateSettings(t.Context(), "tenant", remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.StateDisabled)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := open(t, dsn).Settings(t.Context(), "tenant")
	if err != nil || got != want {
		t.Fatalf("after reopening: %+v, %v; want %+v", got, err, want)
	}
}

// TestDatabaseRefusesOutOfContractState checks the CHECK constraint: whatever writes the table,
// it cannot store a state the contract does not have.
func TestDatabaseRefusesOutOfContractState(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn)
	err := exec(t, dsn, `INSERT INTO remote_assistance_settings VALUES ('tenant', false, 'on', false, now())`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		t.Fatalf("inserting state 'on': error = %v, want check_violation (23514)", err)
	}
}

// TestOutOfContractValueReadBack drops the constraint, stores a bad state, and checks the store
// reports it instead of passing it on.
func TestOutOfContractValueReadBack(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	if err := exec(t, dsn, `ALTER TABLE remote_assistance_settings DROP CONSTRAINT remote_assistance_settings_state_check`); err != nil {
		t.Fatal(err)
	}
	if err := exec(t, dsn, `INSERT INTO remote_assistance_settings VALUES ('tenant', false, 'Enabled', false, now())`); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Settings(t.Context(), "tenant"); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
		t.Errorf("Settings = %+v, %v; want an error with code %q", got, err, remoteassist.EINTERNAL)
	}
	if got, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)}); remoteassist.ErrorCode(err) != remoteassist.EINTERNAL {
		t.Errorf("UpdateSettings = %+v, %v; want an error with code %q", got, err, remoteassist.EINTERNAL)
	}
}

func TestEmptyTenantRefused(t *testing.T) {
	s := open(t, pgtest.DSN(t))
	if _, err := s.Settings(t.Context(), ""); err == nil {
		t.Error("Settings accepted an empty tenant")
	}
	if _, err := s.UpdateSettings(t.Context(), "", remoteassist.Patch{BlockChat: ptr(true)}); err == nil {
		t.Error("UpdateSettings accepted an empty tenant")
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	s, err := Open(t.Context(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Settings(t.Context(), "tenant"); remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE {
		t.Errorf("Settings after Close: error = %v, want code %q", err, remoteassist.EUNAVAILABLE)
	}
}

// TestDatabaseDownThenUp stops the database under a running store: every call must fail with
// EUNAVAILABLE on its own, well before the caller's deadline, and succeed again once the database
// is back, on the same Store.
func TestDatabaseDownThenUp(t *testing.T) {
	srv := pgtest.StartServer(t)
	dsn := srv.NewDatabase(t)
	s := open(t, dsn)
	patch := remoteassist.Patch{AllowSessionsToUnenrolledDevices: ptr(true)}
	want, err := s.UpdateSettings(t.Context(), "tenant", patch)
	if err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	// The deadline only keeps a hang from stalling the test; the calls must fail before it.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	checkUnavailable := func(what string, err error) {
		t.Helper()
		if code := remoteassist.ErrorCode(err); code != remoteassist.EUNAVAILABLE {
			t.Errorf("%s with the database down: error = %v (code %q), want code %q", what, err, code, remoteassist.EUNAVAILABLE)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s with the database down waited for the caller's deadline instead of failing", what)
		}
	}
	for range 3 { // the first call may meet a pooled connection that died, later ones dial
		_, err := s.UpdateSettings(ctx, "tenant", remoteassist.Patch{BlockChat: ptr(true)})
		checkUnavailable("UpdateSettings", err)
		_, err = s.Settings(ctx, "tenant")
		checkUnavailable("Settings", err)
		checkUnavailable("Ping", s.Ping(ctx))
	}
	if _, err := Open(ctx, dsn); remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE {
		t.Errorf("Open with the database down: error = %v, want code %q", err, remoteassist.EUNAVAILABLE)
	}

	srv.Start(t)
	// Ping may still fail at once for what is left of the store's redial interval (redial.go),
	// then succeeds. The deadline is a hang guard again.
	back, cancelBack := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancelBack()
	for {
		err := s.Ping(back)
		if err == nil {
			break
		}
		if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || back.Err() != nil {
			t.Fatalf("Ping once the database is back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, err := s.Settings(t.Context(), "tenant"); err != nil || got != want {
		t.Fatalf("Settings once the database is back: %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
		t.Fatalf("UpdateSettings once the database is back: %v", err)
	}
}

// TestBulkCallsAreBounded holds a lock on the table that every statement on it waits for, as a
// database that stopped answering would hold a call: EachSettings and ReplaceAllSettings must give
// up by themselves once bulkTimeout passes, with EUNAVAILABLE, though the caller set no deadline.
func TestBulkCallsAreBounded(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	s.bulkTimeout = 200 * time.Millisecond // under the replace's lockTimeout, so this bound is the one met
	kept, err := s.UpdateSettings(t.Context(), "kept", remoteassist.Patch{BlockChat: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	tx := lockTable(t, dsn, "ACCESS EXCLUSIVE")
	calls := []struct {
		name string
		call func() error
	}{
		{"AllSettings", func() error { _, err := remoteassist.AllSettings(t.Context(), s); return err }},
		{"ReplaceAllSettings", func() error { return s.ReplaceAllSettings(t.Context(), nil) }},
	}
	for _, c := range calls {
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- c.call() }()
		select {
		case err := <-done:
			if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s beside a lock held on: %v, want code %q from the deadline", c.name, err, remoteassist.EUNAVAILABLE)
			}
			t.Logf("%s returned after %v", c.name, time.Since(start).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			t.Fatalf("%s beside a lock held on has not returned after 10s, its bound being %v", c.name, s.bulkTimeout)
		}
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	all, err := remoteassist.AllSettings(t.Context(), s)
	if err != nil || len(all) != 1 || all["kept"] != kept {
		t.Errorf("once the lock is let go: %v, %v; want kept alone, as it was", all, err)
	}
}

// TestStatementTimeoutIsUnavailable opens the store on a DSN that sets statement_timeout, as an
// operator may, and makes a statement outlast it: the database cancels the statement, and the
// store answers EUNAVAILABLE (retry later), not EINTERNAL.
func TestStatementTimeoutIsUnavailable(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn)
	s := open(t, dsn+"&options=-c%20statement_timeout%3D100")
	lockTable(t, dsn, "ACCESS EXCLUSIVE")
	_, err := s.Settings(t.Context(), "tenant")
	var pgErr *pgconn.PgError
	if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Errorf("Settings past statement_timeout: %v, want code %q from query_canceled (57014)", err, remoteassist.EUNAVAILABLE)
	}
}

func TestStoreError(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&pgconn.PgError{Code: "57P01"}, remoteassist.EUNAVAILABLE},
		{&pgconn.PgError{Code: "08006"}, remoteassist.EUNAVAILABLE},
		{&pgconn.PgError{Code: "53300"}, remoteassist.EUNAVAILABLE},
		{&pgconn.PgError{Code: "25006"}, remoteassist.EUNAVAILABLE},
		{&pgconn.PgError{Code: "55P03"}, remoteassist.EUNAVAILABLE},
		{&pgconn.PgError{Code: "57014"}, remoteassist.EUNAVAILABLE},
		{&pgconn.PgError{Code: "28P01"}, remoteassist.EUNAVAILABLE}, // invalid_password: a password rotated
		{&pgconn.PgError{Code: "28000"}, remoteassist.EUNAVAILABLE}, // invalid_authorization_specification: NOLOGIN
		{&pgconn.PgError{Code: "3D000"}, remoteassist.EUNAVAILABLE}, // invalid_catalog_name: the database dropped
		{&pgconn.PgError{Code: "23514"}, remoteassist.EINTERNAL},
		{&pgconn.PgError{Code: "42P01"}, remoteassist.EINTERNAL},
		{context.DeadlineExceeded, remoteassist.EUNAVAILABLE},
		{errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), remoteassist.EUNAVAILABLE},
	}
	for _, c := range cases {
		if got := remoteassist.ErrorCode(storeError(c.err)); got != c.want {
			t.Errorf("storeError(%v) has code %q, want %q", c.err, got, c.want)
		}
	}
	if err := storeError(context.Canceled); err != context.Canceled {
		t.Errorf("storeError(context.Canceled) = %v, want it unchanged", err)
	}
}

// TestStateCheckIsTheContract holds the database's own refusal of out-of-contract states to the
// contract: the CHECK constraint the migrations leave must list exactly the contract's
// remoteAssistanceState values. A value added to the contract needs a migration that widens
// the constraint; this test says so.
func TestStateCheckIsTheContract(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var def string
	if err := conn.QueryRow(t.Context(), `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conname = 'remote_assistance_settings_state_check'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`'([^']*)'::text`).FindAllStringSubmatch(def, -1) {
		got = append(got, m[1])
	}
	doc, err := openapi.Shared(remoteassist.ProfileDocumented)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, v := range doc.Components.Schemas["microsoft.graph.remoteAssistanceState"].Value.Enum {
		want = append(want, v.(string))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the state CHECK constraint allows %v (%s), the contract %v", got, def, want)
	}
}

// TestMigratedDatabaseNeedsNoCreate starts a replica with a role that may read and write the
// tables but not create any, on a database whose schema is up to date, as an operator does who
// migrates once with the owner and runs the replicas with least privilege: Open must not need
// CREATE then. (The README: the role needs CREATE on the schema the first time.)
func TestMigratedDatabaseNeedsNoCreate(t *testing.T) {
	dsn := pgtest.DSN(t)
	owner := open(t, dsn)
	want, err := owner.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := exec(t, dsn, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`); err != nil {
		t.Fatal(err)
	}
	_, roleDSN := dmlRole(t, dsn, "dml")
	s, err := Open(t.Context(), roleDSN)
	if err != nil {
		t.Fatalf("Open with a role without CREATE on a migrated database: %v", err)
	}
	defer s.Close()
	if got, err := s.Settings(t.Context(), "tenant"); err != nil || got != want {
		t.Errorf("Settings through the role: %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(false)}); err != nil {
		t.Errorf("UpdateSettings through the role: %v", err)
	}
}

// dmlRole creates a role for the test's database that may log in and read and write the tables,
// as a replica's least-privilege role (pgtest.Role).
func dmlRole(t *testing.T, dsn, prefix string) (role, roleDSN string) {
	t.Helper()
	return pgtest.Role(t, dsn, prefix, "dml",
		`GRANT SELECT, INSERT, UPDATE, DELETE ON remote_assistance_settings, remoteassist_schema_migrations TO {role}`)
}

// onDatabase returns dsn naming database db instead of its own.
func onDatabase(t *testing.T, dsn, db string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	return u.String()
}

// TestLoginRejectedIsUnavailable has the database refuse the running store's new logins, as an
// operator's change can at any time: the role made NOLOGIN (SQLSTATE 28000), its password rotated
// (28P01, from the throwaway server's scram-sha-256), or the database renamed away (3D000, as
// when it is dropped). Every call then fails with
// EUNAVAILABLE, what the API answers with 503 and Retry-After, the client-safe message only,
// and the cause, SQLSTATE included, for the log; once the change is undone the same Store serves
// again.
func TestLoginRejectedIsUnavailable(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn).Close() // migrates, and leaves no session of its own on the database
	role, roleDSN := dmlRole(t, dsn, "login")
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	admin := onDatabase(t, dsn, "postgres") // a session on the database would keep it from being renamed
	s := open(t, roleDSN)
	want, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	// A hang guard only: every call must fail or succeed long before it.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// terminate ends the store's sessions, so that its next call has to log in again.
	terminate := func() {
		t.Helper()
		if err := exec(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid()`, db); err != nil {
			t.Fatal(err)
		}
	}
	// retry runs sql until it stops failing with object_in_use (55006): the sessions
	// terminate ended may not have exited yet.
	retry := func(sql string) {
		t.Helper()
		for {
			err := exec(t, admin, sql)
			var pgErr *pgconn.PgError
			if err == nil {
				return
			}
			if !errors.As(err, &pgErr) || pgErr.Code != "55006" || ctx.Err() != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, c := range []struct {
		name, refuse, restore, state string
	}{
		{"role NOLOGIN", `ALTER ROLE ` + role + ` NOLOGIN`, `ALTER ROLE ` + role + ` LOGIN`, "28000"},
		{"password rotated", `ALTER ROLE ` + role + ` PASSWORD 'rotated'`, `ALTER ROLE ` + role + ` PASSWORD 'dml'`, "28P01"},
		{"database renamed", `ALTER DATABASE ` + db + ` RENAME TO ` + db + `_gone`, `ALTER DATABASE ` + db + `_gone RENAME TO ` + db, "3D000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			terminate()
			retry(c.refuse)
			// The first calls may meet pooled sessions that were ended; then the store logs in.
			var refused bool
			for i := 0; !refused && i < 20; i++ {
				_, err := s.Settings(ctx, "tenant")
				if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || remoteassist.ErrorMessage(err) != remoteassist.UnavailableMessage {
					t.Fatalf("Settings with the login refused: %v (code %q), want code %q and the message %q",
						err, remoteassist.ErrorCode(err), remoteassist.EUNAVAILABLE, remoteassist.UnavailableMessage)
				}
				var pgErr *pgconn.PgError
				refused = errors.As(err, &pgErr) && pgErr.Code == c.state
				if ctx.Err() != nil {
					t.Fatal("Settings with the login refused waited for the caller's deadline")
				}
			}
			if !refused {
				t.Fatalf("20 calls with the login refused, none failed with SQLSTATE %s", c.state)
			}
			if err := s.Ping(ctx); remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE {
				t.Errorf("Ping with the login refused: %v, want code %q", err, remoteassist.EUNAVAILABLE)
			}

			retry(c.restore)
			for {
				got, err := s.Settings(ctx, "tenant")
				if err == nil {
					if got != want {
						t.Errorf("Settings once the login is allowed again: %+v, want %+v", got, want)
					}
					break
				}
				if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || ctx.Err() != nil {
					t.Fatalf("Settings once the login is allowed again: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestOpenGivesUpOnAHeldLock: a session holding a lock the migration needs (a replica stuck
// half-way through its migration, a transaction left open on the versions table) keeps Open
// waiting until its deadline, not forever, even with lock_timeout=0 in the DSN (no bound from
// the server); it then fails with a *LockWaitError naming the table and the session holding the
// lock (pid, user, application_name; its state, transaction age and statement's first keyword
// to a role that may see them, never the rest of its statement), EUNAVAILABLE, with nothing of
// the migration applied. Once the session lets go, Open migrates.
func TestOpenGivesUpOnAHeldLock(t *testing.T) {
	defer func(d time.Duration) { migrationLockWait = d }(migrationLockWait)
	migrationLockWait = 100 * time.Millisecond
	const (
		app    = "lock-holder-7f3a" // the holder's application_name
		secret = "s3cret-in-query"  // in the holder's statement text, which the error must not show
	)
	for _, c := range []struct {
		name    string
		migrate bool   // migrate the database before the session takes its lock
		asRole  bool   // Open as a role of its own, which may not see the holder's details
		refuse  string // SQL that keeps the role from looking the holder up, if any
		hold    string // what the session does in its open transaction
		want    []string
	}{
		{"replica stuck migrating", false, false, "", `CREATE TABLE remoteassist_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
			INSERT INTO remoteassist_schema_migrations (version) VALUES (1) /* ` + secret + ` */`,
			[]string{`(user "postgres", application "` + app + `", client 127.0.0.1, idle in transaction, transaction open `, `, statement CREATE)`}},
		{"versions table locked", true, false, "", `LOCK TABLE remoteassist_schema_migrations IN ACCESS EXCLUSIVE MODE /* ` + secret + ` */`,
			[]string{`(user "postgres", application "` + app + `", client 127.0.0.1, idle in transaction, transaction open `, `, statement LOCK)`}},
		{"versions table locked, holder hidden from the role", true, true, "", `LOCK TABLE remoteassist_schema_migrations IN ACCESS EXCLUSIVE MODE /* ` + secret + ` */`,
			[]string{`(user "postgres", application "` + app + `", other details hidden from this role (they need pg_read_all_stats))`}},
		// As on a database without pg_blocking_pids: the error says why it names no one.
		{"look-up refused", true, true, `REVOKE EXECUTE ON FUNCTION pg_blocking_pids(integer) FROM PUBLIC`,
			`LOCK TABLE remoteassist_schema_migrations IN ACCESS EXCLUSIVE MODE`,
			[]string{"; the session could not be looked up (ERROR: permission denied for function pg_blocking_pids (SQLSTATE 42501)); check pg_locks and pg_stat_activity"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsn := pgtest.DSN(t)
			if c.migrate {
				open(t, dsn).Close()
			}
			openDSN := dsn
			if c.asRole {
				_, openDSN = dmlRole(t, dsn, "lockwait")
			}
			if c.refuse != "" {
				if err := exec(t, dsn, c.refuse); err != nil {
					t.Fatal(err)
				}
			}
			holder, err := pgx.Connect(t.Context(), dsn+"&application_name="+app)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close(context.Background())
			tx, err := holder.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(t.Context(), c.hold); err != nil {
				t.Fatal(err)
			}
			holderPID := holder.PgConn().PID()

			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			s, err := Open(ctx, openDSN+"&lock_timeout=0")
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded while another session held the lock")
			}
			var lw *LockWaitError
			if !errors.As(err, &lw) || lw.Table != "remoteassist_schema_migrations" || remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE {
				t.Fatalf("Open with the lock held: %v, want a *LockWaitError on remoteassist_schema_migrations with code %q", err, remoteassist.EUNAVAILABLE)
			}
			t.Logf("Open's error: %v", err)
			want := append([]string{"waiting for a lock on table remoteassist_schema_migrations"}, c.want...)
			if c.refuse != "" {
				if len(lw.Holders) != 0 || lw.Lookup == nil {
					t.Errorf("Open's error names holders %+v, look-up error %v; want none, the look-up refused", lw.Holders, lw.Lookup)
				}
			} else {
				if len(lw.Holders) != 1 || lw.Holders[0].PID != holderPID || lw.More != 0 {
					t.Errorf("Open's error names holders %+v (and %d more), want the one session, pid %d", lw.Holders, lw.More, holderPID)
				}
				want = append(want, fmt.Sprintf("held by pid %d (", holderPID), fmt.Sprintf("SELECT pg_terminate_backend(%d)", holderPID))
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open's error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Open's error %q shows the holder's statement beyond its first keyword", err)
			}
			var settings, versions *string
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if err := conn.QueryRow(t.Context(), `SELECT to_regclass('remote_assistance_settings')::text, to_regclass('remoteassist_schema_migrations')::text`).Scan(&settings, &versions); err != nil {
				t.Fatal(err)
			}
			if !c.migrate && (settings != nil || versions != nil) {
				t.Errorf("after the failed Open, tables %v and %v exist: half migrated", settings, versions)
			}
			// The failed Open leaves no session behind, the look-up's included; a backend
			// exits a moment after its client closes, hence the polling (a hang guard bounds it).
			for left, guard := -1, time.Now().Add(10*time.Second); left != 0; time.Sleep(20 * time.Millisecond) {
				if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1`, int64(holderPID)).Scan(&left); err != nil {
					t.Fatal(err)
				}
				if left != 0 && time.Now().After(guard) {
					t.Fatalf("10s after the failed Open, %d sessions of it are still open on the database", left)
				}
			}

			if err := tx.Rollback(t.Context()); err != nil {
				t.Fatal(err)
			}
			s = open(t, openDSN+"&lock_timeout=0")
			if _, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
				t.Errorf("UpdateSettings once the lock is released: %v", err)
			}
		})
	}
}

// TestLockWaitErrorText: the line stays bounded and one line whatever the holders set
// (application names are the client's own), lists at most maxLockHolders, and shows no more of
// a statement than its first keyword.
func TestLockWaitErrorText(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes, clipped on a rune boundary
	holder := func(pid uint32) LockHolder {
		return LockHolder{PID: pid, User: "ra", Application: "replica", ClientAddr: "10.0.0.7", State: "active", TxAge: 90 * time.Second, Command: "LOCK"}
	}
	for _, c := range []struct {
		name string
		err  LockWaitError
		want string
	}{
		{"two holders and more", LockWaitError{Table: "t", Waited: time.Minute, Holders: []LockHolder{holder(1), {PID: 2, User: "u", Application: "a\nb", Hidden: true}}, More: 2},
			`gave up after 1m0s waiting for a lock on table t that another session holds (another replica migrating, or a transaction left open on the table): ` +
				`held by pid 1 (user "ra", application "replica", client 10.0.0.7, active, transaction open 1m30s, statement LOCK), ` +
				`pid 2 (user "u", application "a\nb", other details hidden from this role (they need pg_read_all_stats)) and 2 more (see pg_locks); ` +
				`end those that are stuck: SELECT pg_terminate_backend(PID)`},
		{"no transaction, no client", LockWaitError{Table: "t", Waited: time.Second, Holders: []LockHolder{{PID: 3, User: "u", Application: "", State: "idle"}}},
			`gave up after 1s waiting for a lock on table t that another session holds (another replica migrating, or a transaction left open on the table): ` +
				`held by pid 3 (user "u", application "", idle); end it if it is stuck: SELECT pg_terminate_backend(3)`},
		{"look-up failed", LockWaitError{Table: "t", Waited: time.Second, Lookup: errors.New(strings.Repeat("x", 300))},
			`gave up after 1s waiting for a lock on table t that another session holds (another replica migrating, or a transaction left open on the table); ` +
				`the session could not be looked up (` + strings.Repeat("x", maxLookupErrLen) + `…); ` +
				`check pg_locks and pg_stat_activity for the session holding it, and end it if it is stuck (pg_terminate_backend)`},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
	if got, want := clip(long, maxNameLen), strings.Repeat("é", 32)+"…"; got != want {
		t.Errorf("clip(%q) = %q, want %q", long, got, want)
	}
	for query, want := range map[string]string{
		"ALTER ROLE app PASSWORD 'hunter2'":  "ALTER",
		"  (select 1)":                       "SELECT",
		"/* comment */ LOCK TABLE t":         "",
		"insert into secrets values ('tok')": "INSERT",
		strings.Repeat("A", 40):              strings.Repeat("A", maxCommandLen),
	} {
		if got := firstKeyword(query); got != want {
			t.Errorf("firstKeyword(%q) = %q, want %q", query, got, want)
		}
	}
}
