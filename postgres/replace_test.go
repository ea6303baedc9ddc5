package postgres

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/pgtest"
)

// write is a store call made while a ReplaceAllSettings is in flight, with its effect on a model
// of the table (tenant to settings, defaults left out) for checking the end state.
type write struct {
	name  string
	run   func(ctx context.Context, s *Store) (remoteassist.Settings, error)
	apply func(state map[string]remoteassist.Settings) remoteassist.Settings // what run returns when applied to state
}

// TestReplaceBesideWrites puts a write in the middle of a ReplaceAllSettings, without relying on
// timing: another connection holds a lock on a row of the table, so the replace stops at its
// first statement that needs it, and the write is made then. The replace and the write must both
// succeed, and end as if one ran wholly before the other: the table holds exactly the snapshot,
// with the write applied after it or overwritten by it. A write that returned while the replace
// was still held back (a reader then still sees the state before the replace) must be the one
// that ran first.
func TestReplaceBesideWrites(t *testing.T) {
	with := func(tenant string, p remoteassist.Patch) remoteassist.Settings {
		return p.Apply(remoteassist.DefaultSettings(tenant))
	}
	enabled := remoteassist.Patch{RemoteAssistanceState: ptr(remoteassist.StateEnabled)}
	initial := map[string]remoteassist.Settings{"held": with("held", remoteassist.Patch{AllowSessionsToUnenrolledDevices: ptr(true)})}
	snapshot := map[string]remoteassist.Settings{"held": with("held", enabled), "in": with("in", enabled)}

	blockChat := remoteassist.Patch{BlockChat: ptr(true)}
	update := func(name, tenant string) write {
		return write{
			name: name,
			run: func(ctx context.Context, s *Store) (remoteassist.Settings, error) {
				return s.UpdateSettings(ctx, tenant, blockChat)
			},
			apply: func(state map[string]remoteassist.Settings) remoteassist.Settings {
				v, ok := state[tenant]
				if !ok {
					v = remoteassist.DefaultSettings(tenant)
				}
				state[tenant] = blockChat.Apply(v)
				return state[tenant]
			},
		}
	}
	other := map[string]remoteassist.Settings{"held": with("held", blockChat), "other": with("other", blockChat)}
	writes := []write{
		update("UpdateInSnapshot", "in"),
		update("UpdateNotInSnapshot", "out"),
		{
			name: "AnotherReplace",
			run: func(ctx context.Context, s *Store) (remoteassist.Settings, error) {
				return remoteassist.Settings{}, s.ReplaceAllSettings(ctx, other)
			},
			apply: func(state map[string]remoteassist.Settings) remoteassist.Settings {
				clear(state)
				maps.Copy(state, other)
				return remoteassist.Settings{}
			},
		},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			dsn := pgtest.DSN(t)
			s := open(t, dsn)
			for tenant, v := range initial {
				if _, err := s.UpdateSettings(t.Context(), tenant, v.Patch()); err != nil {
					t.Fatal(err)
				}
			}
			holder, watch := connect(t, dsn), connect(t, dsn)
			tx, err := holder.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background())
			if _, err := tx.Exec(t.Context(), `SELECT 1 FROM remote_assistance_settings WHERE tenant = 'held' FOR UPDATE`); err != nil {
				t.Fatal(err)
			}

			replaced := make(chan error, 1)
			go func() { replaced <- s.ReplaceAllSettings(t.Context(), snapshot) }()
			waitForLockWaiters(t, watch, 1, nil)

			type result struct {
				v   remoteassist.Settings
				err error
			}
			wrote := make(chan result, 1)
			go func() {
				v, err := w.run(t.Context(), s)
				wrote <- result{v, err}
			}()
			// Either the write waits too, or it is done while the replace is held back.
			var early *result
			waitForLockWaiters(t, watch, 2, func() bool {
				select {
				case r := <-wrote:
					early = &r
					return true
				default:
					return false
				}
			})
			if got, err := s.Settings(t.Context(), "held"); err != nil || got != initial["held"] {
				t.Errorf("reading beside a replace held back: %+v, %v; want the state before it, %+v", got, err, initial["held"])
			}
			if err := tx.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}

			if err := <-replaced; err != nil {
				t.Errorf("ReplaceAllSettings beside %s: %v", w.name, err)
			}
			r := early
			if r == nil {
				r = new(<-wrote)
			}
			if r.err != nil {
				t.Errorf("%s beside ReplaceAllSettings: %v", w.name, r.err)
			}
			got, err := remoteassist.AllSettings(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}

			replace := func(state map[string]remoteassist.Settings) {
				clear(state)
				maps.Copy(state, snapshot)
			}
			writeFirst := maps.Clone(initial)
			returnedFirst := w.apply(writeFirst)
			replace(writeFirst)
			replaceFirst := maps.Clone(initial)
			replace(replaceFirst)
			returnedAfter := w.apply(replaceFirst)
			switch {
			case maps.Equal(got, writeFirst) && r.v == returnedFirst:
			case early == nil && maps.Equal(got, replaceFirst) && r.v == returnedAfter:
			default:
				t.Errorf("after a replace with %s beside it (returning %+v, %v, before the replace was let go: %t), the table holds\n%v\nwant the write then the replace (returning %+v):\n%v",
					w.name, r.v, r.err, early != nil, got, returnedFirst, writeFirst)
				if early == nil {
					t.Errorf("or the replace then the write (returning %+v):\n%v", returnedAfter, replaceFirst)
				}
			}
		})
	}
}

// connect opens a connection of the test's own, closed when the test ends.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// lockTable has a session of the test's own take mode's lock on the table, in a transaction it
// returns, rolled back when the test ends if it has not been already.
func lockTable(t *testing.T, dsn, mode string) pgx.Tx {
	t.Helper()
	tx, err := connect(t, dsn).Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	if _, err := tx.Exec(t.Context(), `LOCK TABLE remote_assistance_settings IN `+mode+` MODE`); err != nil {
		t.Fatal(err)
	}
	return tx
}

// waitForLockWaiters waits until n sessions of the database wait for a lock, or done reports true.
func waitForLockWaiters(t *testing.T, watch *pgx.Conn, n int, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if done != nil && done() {
			return
		}
		var waiting int
		if err := watch.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions wait for a lock after 10s, want %d", waiting, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReplaceGivesUpOnTheLock holds a lock on the table that ReplaceAllSettings must wait for, as
// an open write transaction outside the store does: the replace must fail as retryable, having
// changed nothing, once its lock timeout passes, and leave no wait behind that would hold back
// the updates that come after it.
func TestReplaceGivesUpOnTheLock(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	s.lockTimeout = 100 * time.Millisecond
	kept, err := s.UpdateSettings(t.Context(), "kept", remoteassist.Patch{BlockChat: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	watch := connect(t, dsn)
	tx := lockTable(t, dsn, "ROW EXCLUSIVE")

	err = s.ReplaceAllSettings(t.Context(), map[string]remoteassist.Settings{"new": remoteassist.DefaultSettings("new")})
	var pgErr *pgconn.PgError
	if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
		t.Fatalf("ReplaceAllSettings beside a lock held on: %v, want code %q from lock_not_available (55P03)", err, remoteassist.EUNAVAILABLE)
	}
	var waiting int
	if err := watch.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil || waiting != 0 {
		t.Fatalf("after the replace gave up, %d sessions wait for a lock (%v)", waiting, err)
	}
	// The holder's lock lets updates through; a wait for the replace's lock left queued would not.
	if _, err := s.UpdateSettings(t.Context(), "other", remoteassist.Patch{BlockChat: ptr(true)}); err != nil {
		t.Fatalf("UpdateSettings after the replace gave up: %v", err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	all, err := remoteassist.AllSettings(t.Context(), s)
	if err != nil || len(all) != 2 || all["kept"] != kept {
		t.Errorf("after the replace gave up: %v, %v; want kept and other as they were", all, err)
	}
}

// TestUpdateGivesUpOnALockBeforeItsDeadline: an update held back by a lock (a replace's, or any
// session's) is ended by the database itself (the session's lock_timeout) before the caller's
// deadline, with lock_not_available, and is never applied. Without the lock timeout it waited
// for the deadline, when only pgx's cancel request, sent on the side, stood between it and its
// being applied once the lock was released.
func TestUpdateGivesUpOnALockBeforeItsDeadline(t *testing.T) {
	defer func(d time.Duration) { sessionLockTimeout = d }(sessionLockTimeout)
	sessionLockTimeout = 200 * time.Millisecond
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	watch := connect(t, dsn)
	tx := lockTable(t, dsn, "EXCLUSIVE")
	// The caller has a deadline of its own, far past the lock timeout: the database must answer
	// first, with lock_not_available, and not the context (whose expiry is DeadlineExceeded).
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := s.UpdateSettings(ctx, "held", remoteassist.Patch{BlockChat: ptr(true)})
	var pgErr *pgconn.PgError
	if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || !errors.As(err, &pgErr) || pgErr.Code != "55P03" {
		t.Errorf("UpdateSettings behind a lock: %v, want code %q from lock_not_available (55P03)", err, remoteassist.EUNAVAILABLE)
	}
	// Nothing is left to apply the update once the lock is gone: while the lock is still held,
	// no session waits for one, and none but this watch runs a statement (a backend that ended
	// the update with an error reports itself idle before the client reads the error).
	var waiting, active int
	if err := watch.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'),
			count(*) FILTER (WHERE state = 'active' AND pid <> pg_backend_pid())
		FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'`).Scan(&waiting, &active); err != nil {
		t.Fatal(err)
	}
	if waiting != 0 || active != 0 {
		t.Fatalf("after the update gave up, with the lock still held: %d sessions wait for a lock, %d run a statement; want none", waiting, active)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Settings(t.Context(), "held"); err != nil || got != remoteassist.DefaultSettings("held") {
		t.Errorf("after the refused update: %+v, %v; want the defaults", got, err)
	}
}

// TestLockTimeoutOfTheDSNWins: a lock_timeout the DSN sets is the sessions', not the store's.
func TestLockTimeoutOfTheDSNWins(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := open(t, dsn+"&lock_timeout=1234")
	var got string
	if err := s.pool.QueryRow(t.Context(), `SHOW lock_timeout`).Scan(&got); err != nil || got != "1234ms" {
		t.Errorf("lock_timeout %q (%v), want the DSN's 1234ms", got, err)
	}
	// libpq's other way to set it, the options parameter, as PGOPTIONS would.
	s = open(t, dsn+"&options=-c%20lock_timeout%3D4321")
	if err := s.pool.QueryRow(t.Context(), `SHOW lock_timeout`).Scan(&got); err != nil || got != "4321ms" {
		t.Errorf("lock_timeout %q (%v), want the DSN's options' 4321ms", got, err)
	}
	s = open(t, dsn+"&options=--lock_timeout%3D4322")
	if err := s.pool.QueryRow(t.Context(), `SHOW lock_timeout`).Scan(&got); err != nil || got != "4322ms" {
		t.Errorf("lock_timeout %q (%v), want the DSN's options' 4322ms", got, err)
	}
	s = open(t, dsn+"&options=-c%20deadlock_timeout%3D2s") // another setting, which ends in lock_timeout
	if err := s.pool.QueryRow(t.Context(), `SHOW lock_timeout`).Scan(&got); err != nil || got != "3s" {
		t.Errorf("lock_timeout %q (%v) beside options setting deadlock_timeout, want the store's 3s", got, err)
	}
	s = open(t, dsn)
	if err := s.pool.QueryRow(t.Context(), `SHOW lock_timeout`).Scan(&got); err != nil || got != "3s" {
		t.Errorf("lock_timeout %q (%v), want the store's 3s", got, err)
	}
}
