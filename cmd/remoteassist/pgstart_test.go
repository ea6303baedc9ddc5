package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/pgtest"
	"github.com/remoteassist/remoteassist/postgres"
)

// closedPort returns a port of 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestServePostgresUnreachable: a serve whose PostgreSQL does not answer ends with one line for
// the operator saying what failed, where and why, not the Graph message the store's error
// carries for the API's clients, and never the password. The store's own error, which the API
// answers with, stays what it was.
func TestServePostgresUnreachable(t *testing.T) {
	port := closedPort(t)
	for _, query := range []string{"sslmode=disable", "connect_timeout=2"} { // the second tries TLS, then without (sslmode=prefer)
		t.Run(query, func(t *testing.T) {
			clearServeEnv(t)
			dsn := fmt.Sprintf("postgres://ra:s3cret@127.0.0.1:%d/radb?%s", port, query)
			asked := fakeListen(t)
			code, stdout, stderr := runCLI(t.Context(), "serve", "--store", dsn, "--data", t.TempDir(), "--addr", "127.0.0.1:0")
			want := fmt.Sprintf(`remoteassist serve: connecting to PostgreSQL at 127.0.0.1:%d (database "radb", user "ra"): dial error: dial tcp 127.0.0.1:%d: connect: connection refused`+"\n", port, port)
			if code != 1 || stdout != "" || stderr != want {
				t.Errorf("exit %d, stdout %q, stderr\n%q\nwant exit 1 and\n%q", code, stdout, stderr, want)
			}
			for _, hide := range []string{remoteassist.UnavailableMessage, "remoteassist unavailable", "s3cret"} {
				if strings.Contains(stderr, hide) {
					t.Errorf("stderr %q holds %q", stderr, hide)
				}
			}
			if len(*asked) != 0 {
				t.Errorf("serve went on to listen on %q", *asked)
			}
		})
	}

	t.Run("the store's error", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), fmt.Sprintf("postgres://ra@127.0.0.1:%d/radb?sslmode=disable", port))
		if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || remoteassist.ErrorMessage(err) != remoteassist.UnavailableMessage {
			t.Errorf("postgres.Open: %v, want the API's %q", err, remoteassist.UnavailableMessage)
		}
	})
}

// TestPostgresStartErrorReasons: the other shapes of a start-up failure, as postgres.Open
// wraps them: a host that does not resolve (tried twice under sslmode=prefer, said once), a
// migration the database refuses, and one that gave up waiting for a lock.
func TestPostgresStartErrorReasons(t *testing.T) {
	const dsn = "postgres://u:pw@db.example:5432/d"
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LookupFunc = func(context.Context, string) ([]string, error) {
		return nil, errors.New("lookup db.example: no such host")
	}
	_, connErr := pgconn.ConnectConfig(t.Context(), cfg)
	if !errors.As(connErr, new(*pgconn.ConnectError)) {
		t.Fatalf("ConnectConfig: %v, want a *pgconn.ConnectError", connErr)
	}
	refused := &pgconn.PgError{Severity: "ERROR", Message: "permission denied for schema public", Code: "42501"}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"unresolved", fmt.Errorf("postgres: migrate the schema: %w", remoteassist.Unavailable(connErr)),
			`connecting to PostgreSQL at db.example:5432 (database "d", user "u"): hostname resolving error: lookup db.example: no such host`},
		{"migration refused", fmt.Errorf("postgres: migrate the schema: %w", remoteassist.Internal(fmt.Errorf("migration 1: %w", refused))),
			`PostgreSQL at db.example:5432 (database "d", user "u"): migrating the schema: migration 1: ERROR: permission denied for schema public (SQLSTATE 42501)`},
		{"lock held", fmt.Errorf("postgres: migrate the schema: %w", remoteassist.Unavailable(&postgres.LockWaitError{Table: "remoteassist_schema_migrations", Waited: time.Minute,
			Err: &pgconn.PgError{Severity: "ERROR", Message: "canceling statement due to lock timeout", Code: "55P03"}})),
			`PostgreSQL at db.example:5432 (database "d", user "u"): migrating the schema: gave up after 1m0s waiting for a lock on table remoteassist_schema_migrations that another session holds ` +
				`(another replica migrating, or a transaction left open on the table); check pg_locks and pg_stat_activity for the session holding it, and end it if it is stuck (pg_terminate_backend)`},
		{"other", errors.New("postgres: something else"), `PostgreSQL at db.example:5432 (database "d", user "u"): something else`},
	} {
		if got := postgresStartError(dsn, c.err).Error(); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// TestServePostgresLoginRefused: a serve whose PostgreSQL refuses the login (a wrong password,
// checked by scram-sha-256; a role that does not exist; a role made NOLOGIN; a database that does
// not exist) ends at once, exit 1, with one line for the operator saying where and why in the
// server's words, with its SQLSTATE, and never the password nor the API's message.
func TestServePostgresLoginRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	role, roleDSN := pgtest.Role(t, dsn, "serve", "right-pw", `GRANT CREATE ON SCHEMA public TO {role}`)
	nologin, nologinDSN := pgtest.Role(t, dsn, "nologin", "nologin-pw")
	admin, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(t.Context(), `ALTER ROLE `+nologin+` NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(roleDSN)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	with := func(user, password, database string) string {
		v := *u
		v.User, v.Path = url.UserPassword(user, password), "/"+database
		return v.String()
	}
	for _, c := range []struct {
		name, dsn, user, db, password, want string
	}{
		{"wrong password", with(role, "wr0ng-s3cret", db), role, db, "wr0ng-s3cret",
			`password authentication failed for user "` + role + `" (SQLSTATE 28P01)`},
		{"no such role", with("nobody_"+db, "n0body-s3cret", db), "nobody_" + db, db, "n0body-s3cret",
			`password authentication failed for user "nobody_` + db + `" (SQLSTATE 28P01)`},
		{"role NOLOGIN", nologinDSN, nologin, db, "nologin-pw",
			`role "` + nologin + `" is not permitted to log in (SQLSTATE 28000)`},
		{"no such database", with(role, "right-pw", db+"_gone"), role, db + "_gone", "right-pw",
			`database "` + db + `_gone" does not exist (SQLSTATE 3D000)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			clearServeEnv(t)
			asked := fakeListen(t)
			// A hang guard only: a refused login must end serve long before it.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			code, stdout, stderr := runCLI(ctx, "serve", "--store", c.dsn, "--data", t.TempDir(), "--addr", "127.0.0.1:0")
			if ctx.Err() != nil {
				t.Fatal("serve with the login refused ran until the hang guard")
			}
			prefix := fmt.Sprintf(`remoteassist serve: connecting to PostgreSQL at %s (database %q, user %q): `, u.Host, c.db, c.user)
			if code != 1 || stdout != "" || !strings.HasPrefix(stderr, prefix) || !strings.HasSuffix(stderr, c.want+"\n") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr\n%q\nwant exit 1 and one line starting\n%q\nand ending %q", code, stdout, stderr, prefix, c.want)
			}
			for _, hide := range []string{remoteassist.UnavailableMessage, c.password} {
				if strings.Contains(stderr, hide) {
					t.Errorf("stderr %q holds %q", stderr, hide)
				}
			}
			if len(*asked) != 0 {
				t.Errorf("serve went on to listen on %q", *asked)
			}
		})
	}
}

// TestServePostgresURLRefused: a --store URL pgx cannot parse ends serve with one line giving
// the URL with its passwords hidden, whatever they hold (an unescaped '@' defeated pgx's own
// masking, and its line quoted the end of the password; an '@' in the query's password defeated
// redact's), and pgx's reason.
func TestServePostgresURLRefused(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://u:pa@ss-w0rd-tail@127.0.0.1/db?sslmode=bogus",
			"remoteassist serve: PostgreSQL URL postgres://u:xxxxx@127.0.0.1/db?sslmode=bogus: failed to configure TLS (sslmode is invalid)\n"},
		{"postgres://u:pa%zzss-w0rd-tail@127.0.0.1/db",
			"remoteassist serve: PostgreSQL URL postgres://u:xxxxx@127.0.0.1/db: failed to parse as URL (invalid percent-encoded token in password)\n"},
		// The '@' in the query's passwords makes the user-info seem to run up to it: hidden too.
		{"postgres://u@127.0.0.1:notaport/db?password=pa@ss-w0rd-tail&sslpassword=pa@ss-w0rd-tail",
			"remoteassist serve: PostgreSQL URL postgres://u@127.0.0.1:xxxxx: invalid port\n"},
	} {
		clearServeEnv(t)
		asked := fakeListen(t)
		code, stdout, stderr := runCLI(t.Context(), "serve", "--store", c.dsn, "--data", t.TempDir(), "--addr", "127.0.0.1:0")
		if code != 1 || stdout != "" || stderr != c.want {
			t.Errorf("--store %s: exit %d, stdout %q, stderr\n%q\nwant exit 1 and\n%q", c.dsn, code, stdout, stderr, c.want)
		}
		for _, hide := range []string{"w0rd-tail", "pa@ss", "pa%zzss"} {
			if strings.Contains(stderr, hide) {
				t.Errorf("--store %s: stderr %q holds %q", c.dsn, stderr, hide)
			}
		}
		if len(*asked) != 0 {
			t.Errorf("serve went on to listen on %q", *asked)
		}
	}
}
