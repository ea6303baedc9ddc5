package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestMain(m *testing.M) { Main(m) }

// query runs a one-value query on a fresh connection.
func query[T any](t *testing.T, dsn, sql string) (T, error) {
	t.Helper()
	var v T
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return v, err
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(ctx, sql).Scan(&v)
	return v, err
}

func TestDSNGivesEachCallItsOwnDatabase(t *testing.T) {
	a, b := DSN(t), DSN(t)
	if a == b {
		t.Fatalf("two calls returned the same DSN %q", a)
	}
	dbA, err := query[string](t, a, "SELECT current_database()")
	if err != nil {
		t.Fatal(err)
	}
	dbB, err := query[string](t, b, "SELECT current_database()")
	if err != nil {
		t.Fatal(err)
	}
	if dbA == dbB {
		t.Fatalf("both DSNs connect to database %q", dbA)
	}
	if n, err := query[int](t, a, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"); err != nil || n != 0 {
		t.Errorf("a new database has %d tables (%v), want 0", n, err)
	}
}

// TestStartOnTakenPort: when the port freePort found is taken before postgres binds it (by
// another test binary, say), the server starts on another.
func TestStartOnTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	probe := freePort
	calls := 0
	freePort = func() (int, error) {
		calls++
		if calls == 1 {
			return takenPort, nil
		}
		return probe()
	}
	defer func() { freePort = probe }()

	s := StartServer(t)
	if calls != 2 || s.port == takenPort {
		t.Fatalf("freePort called %d times, server on port %d (taken: %d); want a second port", calls, s.port, takenPort)
	}
	if got, err := query[int](t, s.DSN("postgres"), "SELECT 1"); err != nil || got != 1 {
		t.Fatalf("SELECT 1 on the server started on the second port: %v, %v", got, err)
	}
}

func TestServerStopStart(t *testing.T) {
	s := StartServer(t)
	dsn := s.NewDatabase(t)
	if _, err := query[int](t, dsn, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	if _, err := query[int](t, dsn, "SELECT 1"); err == nil {
		t.Fatal("a stopped server answered")
	}
	s.Start(t)
	// Same port and data: the database made before the restart is still there.
	if _, err := query[int](t, dsn, "SELECT 1"); err != nil {
		t.Fatalf("after Start: %v", err)
	}
}

// TestURL converts keyword=value DSNs to URLs and checks that pgx reads both forms the same.
func TestURL(t *testing.T) {
	for _, dsn := range []string{
		"host=127.0.0.1 port=5432 user=postgres dbname=app sslmode=disable",
		"host = db.example  port=6543 user=app password='p w\\'d' dbname=remote connect_timeout=3 sslmode=disable",
		"host=/run/postgresql user=u dbname=app sslmode=disable application_name=ra",
		"host=h user=u password=p\\ q dbname=app dbname=other sslmode=disable",
		"postgres://u:p@h:5432/app?sslmode=disable",
	} {
		u, err := URL(dsn)
		if err != nil {
			t.Errorf("URL(%q): %v", dsn, err)
			continue
		}
		if !strings.HasPrefix(u, "postgres://") {
			t.Errorf("URL(%q) = %q, not a postgres:// URL", dsn, u)
		}
		want, err := pgconn.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgconn.ParseConfig(u)
		if err != nil {
			t.Errorf("pgx cannot parse URL(%q) = %q: %v", dsn, u, err)
			continue
		}
		if got.Host != want.Host || got.Port != want.Port || got.User != want.User || got.Password != want.Password ||
			got.Database != want.Database || got.ConnectTimeout != want.ConnectTimeout || (got.TLSConfig == nil) != (want.TLSConfig == nil) ||
			fmt.Sprint(got.RuntimeParams) != fmt.Sprint(want.RuntimeParams) {
			t.Errorf("URL(%q) = %q, which pgx reads as %s@%s:%d/%s %v, not %s@%s:%d/%s %v", dsn, u,
				got.User, got.Host, got.Port, got.Database, got.RuntimeParams, want.User, want.Host, want.Port, want.Database, want.RuntimeParams)
		}
	}
	for _, bad := range []string{"host", "host='unterminated", "=x"} {
		if u, err := URL(bad); err == nil {
			t.Errorf("URL(%q) = %q, want an error", bad, u)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5432/app?sslmode=disable": "postgres://u:p@h:5432/test_x?sslmode=disable",
		"postgresql://h/":          "postgresql://h/test_x",
		"host=h user=u dbname=app": "host=h user=u dbname=app dbname=test_x",
	} {
		if got := withDatabase(in, "test_x"); got != want {
			t.Errorf("withDatabase(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDSNFromEnvironment points DSN at a server through the environment variable, as CI with a
// PostgreSQL service would, and checks each test gets its own database that is dropped after it.
func TestDSNFromEnvironment(t *testing.T) {
	s := StartServer(t)
	admin := s.DSN("postgres")
	t.Setenv(EnvDSN, admin)
	var name string
	t.Run("user", func(t *testing.T) {
		var err error
		if name, err = query[string](t, DSN(t), "SELECT current_database()"); err != nil {
			t.Fatal(err)
		}
		if name == "postgres" {
			t.Fatal("DSN returned the server's own database, not a new one")
		}
	})
	n, err := query[int](t, admin, "SELECT count(*) FROM pg_database WHERE datname = '"+name+"'")
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s is still there after its test ended", name)
	}
	// The variable may hold keyword=value pairs too; DSN still returns a URL, on that server.
	t.Setenv(EnvDSN, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", s.port))
	dsn := DSN(t)
	if !strings.HasPrefix(dsn, "postgres://") {
		t.Errorf("DSN = %q with a keyword=value %s, want a URL", dsn, EnvDSN)
	}
	if _, err := query[int](t, dsn, "SELECT 1"); err != nil {
		t.Errorf("DSN %q from a keyword=value %s: %v", dsn, EnvDSN, err)
	}
}

// TestExternalDSNMustBeLoopback: a $REMOTEASSIST_TEST_POSTGRES_DSN that names a host off this
// machine (a CI service such as db:5432 or 10.0.0.5, one of several hosts, or $PGHOST's when the
// DSN names none) fails the test before anything connects; loopback, localhost and unix
// sockets pass, and a unix-socket DSN works end to end.
func TestExternalDSNMustBeLoopback(t *testing.T) {
	for _, dsn := range []string{
		"postgres://postgres@127.0.0.1:5432/x?sslmode=disable",
		"postgres://postgres@127.3.4.5/x",
		"postgres://postgres@[::1]:5432/x",
		"postgres://postgres@localhost/x",
		"postgres://postgres@LOCALHOST/x",
		"postgres://postgres@%2Frun%2Fpostgresql/x",
		"host=/tmp/pgsock port=5432 user=postgres dbname=x",
		"postgres://postgres@127.0.0.1,[::1]:5432/x",
	} {
		if err := loopbackOnly(dsn); err != nil {
			t.Errorf("loopbackOnly(%q): %v", dsn, err)
		}
	}
	for _, dsn := range []string{
		"postgres://postgres@10.0.0.5/x",
		"postgres://postgres@db:5432/x",
		"host=db.example port=5432 user=postgres",
		"postgres://postgres@[::ffff:10.0.0.5]/x",
		"postgres://postgres@[2001:db8::1]/x",
		"postgres://postgres@0.0.0.0/x",
		"postgres://postgres@127.0.0.1.example/x",
		"postgres://postgres@127.0.0.1,10.0.0.5/x",
	} {
		if err := loopbackOnly(dsn); err == nil {
			t.Errorf("loopbackOnly(%q) accepted it", dsn)
		}
	}
	t.Run("PGHOST", func(t *testing.T) {
		t.Setenv("PGHOST", "10.0.0.5")
		if err := loopbackOnly("user=postgres dbname=x"); err == nil {
			t.Error("loopbackOnly accepted a DSN with no host while $PGHOST=10.0.0.5")
		}
	})

	// Through DSN: the test fails, saying why.
	t.Setenv(EnvDSN, "postgres://postgres@10.0.0.5:5432/postgres?sslmode=disable&connect_timeout=1")
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		DSN(rec)
	}()
	<-done
	if !strings.Contains(rec.fatal, EnvDSN) || !strings.Contains(rec.fatal, `"10.0.0.5" is not on this machine`) {
		t.Errorf("DSN with %s on 10.0.0.5: fatal %q", EnvDSN, rec.fatal)
	}

	// A unix socket: the throwaway server's own.
	s := StartServer(t)
	t.Setenv(EnvDSN, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", s.dir, s.port))
	if _, err := query[int](t, DSN(t), "SELECT 1"); err != nil {
		t.Errorf("DSN through the unix socket in %s: %v", s.dir, err)
	}
}

// fatalRecorder is a testing.TB whose Fatal ends only the goroutine, recording the message.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestServerDSNIsURL(t *testing.T) {
	if dsn := DSN(t); !strings.HasPrefix(dsn, "postgres://") {
		t.Errorf("DSN = %q, want a postgres:// URL, the form remoteassist serve --store takes", dsn)
	}
}

// TestStartWithPrivateTempDir starts a server while $TMPDIR is a directory only its owner may
// enter, as a CI runner's may be. As root, the server runs as the postgres user, which must
// still reach its files; as any other user it runs as that user, who reaches them anyway.
func TestStartWithPrivateTempDir(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // mode 0700, under the test's own 0700 directory
	s := StartServer(t)
	if got, err := query[int](t, s.DSN("postgres"), "SELECT 1"); err != nil || got != 1 {
		t.Fatalf("SELECT 1 = %v, %v", got, err)
	}
}

// TestRoleLogsInWithSCRAM: a Role's password is stored as a SCRAM verifier and checked at
// login over TCP, so that a wrong one is refused with invalid_password (28P01), as a
// production server refuses it; the superuser's DSNs, which carry no password, still connect.
func TestRoleLogsInWithSCRAM(t *testing.T) {
	dsn := DSN(t)
	role, roleDSN := Role(t, dsn, "scram", "right")
	if got, err := query[string](t, roleDSN, "SELECT current_user"); err != nil || got != role {
		t.Fatalf("log in with the right password: %q, %v; want %q", got, err, role)
	}
	verifier, err := query[string](t, dsn, "SELECT rolpassword FROM pg_authid WHERE rolname = '"+role+"'")
	if err != nil || !strings.HasPrefix(verifier, "SCRAM-SHA-256$") {
		t.Errorf("the role's stored password is %q (%v), want a SCRAM-SHA-256 verifier", verifier, err)
	}
	wrong := strings.Replace(roleDSN, ":right@", ":wrong@", 1)
	_, err = query[int](t, wrong, "SELECT 1")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" || !strings.Contains(pgErr.Message, "password authentication failed") {
		t.Errorf("log in with a wrong password: %v, want SQLSTATE 28P01 (password authentication failed)", err)
	}
}
