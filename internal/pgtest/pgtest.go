// Package pgtest gives tests a real PostgreSQL: a throwaway server started from the installed
// binaries, or the server named by $REMOTEASSIST_TEST_POSTGRES_DSN.
//
// A package whose tests use it wires it in from TestMain, so the shared server is stopped when the
// test binary ends:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.DSN(t) // a fresh, empty database of its own
//		...
//	}
//
// A TestMain that has work of its own to undo after the tests calls Run instead, which returns the
// exit code rather than exiting.
//
// Every DSN it returns is a postgres:// URL, the form `remoteassist serve --store` takes, so tests
// can hand it to the binary as it is.
//
// Tests that need PostgreSQL fail, never skip, when it cannot be had: a skipped test reads as a
// passed one in CI. The failure says what to install or set.
//
// The throwaway server runs with fsync off (its data dies with it anyway), listens on 127.0.0.1 on a
// free port and keeps its unix socket in its own temporary directory, so it never collides with a
// system PostgreSQL. As root, which initdb refuses, it runs as the "postgres" user. The kernel
// stops it if the test binary dies before Main could (the parent-death signal); its directory,
// /tmp/remoteassist-pgtest-*, is then left behind.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvDSN names the environment variable that points the tests at an existing server instead of a
// throwaway one. Its role needs the CREATEDB privilege: every DSN call creates a database (and
// CREATEROLE for the postgres package's test of a replica's least-privilege role). The
// server must be on this machine (loopback, localhost or a unix socket); DSN refuses any other.
const EnvDSN = "REMOTEASSIST_TEST_POSTGRES_DSN"

var (
	mainRunning atomic.Bool

	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Main runs the tests, stops the shared throwaway server, if one was started, and exits. Call it
// (or Run) from TestMain in every package that uses DSN; DSN fails a test of a package that does
// not, since its server would outlive the test binary.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main without the exit: it runs the tests, stops the shared server and returns the exit
// code, for a TestMain that cleans up after itself before exiting.
func Run(m *testing.M) int {
	mainRunning.Store(true)
	defer mainRunning.Store(false)
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stopping PostgreSQL: %v\n", err)
		}
		shared.remove()
	}
	return code
}

// Role creates a role for the database of dsn (a DSN's URL), named prefix_DATABASE (DSN's names
// need no quoting) so that tests on one server never share it, that may log in with password, and runs each of grants on that
// database with "{role}" replaced by its name ("GRANT CREATE ON SCHEMA public TO {role}"). It
// drops the role, and what it owns, when the test ends, and returns the role and a DSN of dsn's
// database that logs in as it. The throwaway server checks its password by scram-sha-256 (see
// hba), so a DSN with another password is refused with SQLSTATE 28P01. On an external server
// ($REMOTEASSIST_TEST_POSTGRES_DSN) the variable's role needs CREATEROLE, and the server's
// pg_hba.conf decides how the password is checked (under trust, not at all).
func Role(t testing.TB, dsn, prefix, password string, grants ...string) (role, roleDSN string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	role = prefix + "_" + strings.TrimPrefix(u.Path, "/")
	run := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	create := `CREATE ROLE ` + role + ` LOGIN PASSWORD '` + strings.ReplaceAll(password, "'", "''") + `'`
	if err := run(t.Context(), create); err != nil {
		t.Fatalf("pgtest: %s: %v", create, err)
	}
	// Dropped even if a grant below fails the test, so that a server of $REMOTEASSIST_TEST_POSTGRES_DSN
	// is not left with it.
	t.Cleanup(func() {
		_ = run(context.Background(), `DROP OWNED BY `+role)
		_ = run(context.Background(), `DROP ROLE `+role)
	})
	for _, sql := range grants {
		if err := run(t.Context(), strings.ReplaceAll(sql, "{role}", role)); err != nil {
			t.Fatalf("pgtest: %s: %v", sql, err)
		}
	}
	u.User = url.UserPassword(role, password)
	return role, u.String()
}

// DSN returns the connection URL of a new, empty database that only the calling test uses, on
// the server of $REMOTEASSIST_TEST_POSTGRES_DSN if it is set and on the test binary's shared
// throwaway server otherwise. A database on an external server is dropped when the test ends.
//
// The variable may hold a URL or keyword=value pairs; the DSN returned is a URL either way.
func DSN(t testing.TB) string {
	t.Helper()
	return DSNWith(t, "")
}

// DSNWith is DSN for a database created with options: what CREATE DATABASE takes after the
// database's name, such as "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
// for a database whose text sorts as English does rather than byte by byte (the throwaway
// server's databases are of the C locale).
func DSNWith(t testing.TB, options string) string {
	t.Helper()
	if env := os.Getenv(EnvDSN); env != "" {
		u, err := URL(env)
		if err != nil {
			t.Fatalf("pgtest: $%s: %v", EnvDSN, err)
		}
		if err := loopbackOnly(u); err != nil {
			t.Fatalf("pgtest: $%s: %v", EnvDSN, err)
		}
		name := newDatabase(t, u, options)
		t.Cleanup(func() { dropDatabase(u, name) })
		return withDatabase(u, name)
	}
	if !mainRunning.Load() {
		t.Fatal("pgtest: the package's tests must run through pgtest.Main: add `func TestMain(m *testing.M) { pgtest.Main(m) }`")
	}
	sharedOnce.Do(func() { shared, sharedErr = start() })
	if sharedErr != nil {
		fail(t, sharedErr)
	}
	return shared.DSN(newDatabase(t, shared.DSN("postgres"), options))
}

// loopbackOnly fails unless every host that pgx would connect to for dsn (its defaults and
// $PGHOST included, and every fallback: a DSN may name several hosts) is on 127.0.0.0/8 or ::1,
// is localhost, or is a unix-socket directory. Test traffic stays on the machine, and the DSN
// goes on to the binary under test and to host-networked containers as it is.
func loopbackOnly(dsn string) error {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return err
	}
	hosts := []string{cfg.Host}
	for _, f := range cfg.Fallbacks {
		hosts = append(hosts, f.Host)
	}
	for _, h := range hosts {
		if !loopbackHost(h) {
			return fmt.Errorf("host %q is not on this machine: the tests reach only 127.0.0.0/8, ::1, localhost "+
				"and unix sockets. Point it at a PostgreSQL here, or unset it and the tests start a throwaway one", h)
		}
	}
	return nil
}

// loopbackHost reports whether a host of a pgx config is a loopback address, localhost, or a
// unix-socket directory (an absolute path, as pgx tells them apart).
func loopbackHost(h string) bool {
	if strings.HasPrefix(h, "/") || strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// fail ends a test that cannot have its PostgreSQL, saying how to give it one.
func fail(t testing.TB, err error) {
	t.Helper()
	t.Fatalf("pgtest: cannot start a throwaway PostgreSQL: %v\n"+
		"Install the server binaries (Debian: apt-get install postgresql) or set %s to a server whose role may CREATE DATABASE.", err, EnvDSN)
}

// Server is a throwaway PostgreSQL that a test can stop and start again, on the same port and
// data directory, to see how code behaves while the database is down.
type Server struct {
	bin     string // directory of initdb and postgres
	dir     string // everything the server writes: data, socket, log
	port    int
	cred    *syscall.Credential // who the server runs as; nil for the current user
	running *exec.Cmd
	exited  chan struct{} // closed when running has exited
}

// StartServer starts a dedicated throwaway server for the calling test and stops it when the
// test ends. Use it only to stop and start a server; DSN is cheaper for everything else.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		fail(t, err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("pgtest: stopping PostgreSQL: %v", err)
		}
		s.remove()
	})
	return s
}

// DSN returns the connection URL of database db on the server.
func (s *Server) DSN(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// NewDatabase creates an empty database on the server and returns its connection URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	return s.DSN(newDatabase(t, s.DSN("postgres"), ""))
}

// Stop shuts the server down (fast shutdown: open connections are ended) and waits until it has.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("pgtest: stopping PostgreSQL: %v", err)
	}
}

// Start starts a stopped server again, on the same port and data, and waits until it accepts
// connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.run(); err != nil {
		t.Fatalf("pgtest: restarting PostgreSQL: %v", err)
	}
}

// start creates a cluster in a new temporary directory and runs it. Not t.TempDir: its parent
// directory is private to the current user, so the postgres user could not reach the data.
func start() (_ *Server, err error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	base := os.TempDir()
	if os.Geteuid() == 0 {
		// initdb refuses to run as root; the server runs as the account packages create for it.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The postgres user must be able to enter every directory above its own: $TMPDIR
		// may be private to root (a CI runner's), and then /tmp is used.
		if !othersMayEnter(base) {
			if !othersMayEnter("/tmp") {
				return nil, fmt.Errorf("running as root, the server runs as the postgres user, who cannot enter $TMPDIR (%s) nor /tmp: "+
					"point TMPDIR at a directory every user may enter", base)
			}
			base = "/tmp"
		}
	}
	dir, err := os.MkdirTemp(base, "remoteassist-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, cred: cred}
	defer func() {
		if err != nil {
			s.remove()
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := s.command("initdb", "-D", s.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if err := s.writeHBA(); err != nil {
		return nil, err
	}
	// freePort's port is free when it returns, but another process (another package's test
	// binary, probing for ports at the same time) may take it before postgres binds it: then
	// postgres exits at once, and another port is tried.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		err = s.run()
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			return nil, err
		}
		os.Remove(s.logPath()) // so that the next attempt's log says why it failed, if it does
	}
}

// hba is the throwaway server's pg_hba.conf: the superuser, whose DSNs carry no password, is
// trusted; every other role logs in over TCP with its password, by scram-sha-256 as a production
// server asks for it, so that tests of a wrong password (SQLSTATE 28P01) meet the real exchange.
const hba = `local all all                 trust
host  all postgres 127.0.0.1/32 trust
host  all all      127.0.0.1/32 scram-sha-256
`

// writeHBA replaces initdb's pg_hba.conf with hba, readable by the server's user.
func (s *Server) writeHBA() error {
	path := filepath.Join(s.dataDir(), "pg_hba.conf")
	if err := os.WriteFile(path, []byte(hba), 0o600); err != nil {
		return err
	}
	if s.cred != nil {
		return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
	}
	return nil
}

// othersMayEnter reports whether any user may enter dir and every directory above it.
func othersMayEnter(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// errPortTaken is why postgres exited at start-up when its port was taken.
var errPortTaken = errors.New("port in use")

// findBinaries returns the bin directory of the newest installed PostgreSQL, looking where
// Debian and Ubuntu install it and then on $PATH.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb under /usr/lib/postgresql/*/bin or on $PATH")
}

// version reads the major version from /usr/lib/postgresql/VERSION/bin, so 15 sorts above 9.6.
func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// freePort returns a loopback port nobody listens on; a variable so that a test can hand out a
// taken one.
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.dir, "postgres.log") }

// command prepares one of the server's programs to run as the server's user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir // the server's user may not be able to read the current directory
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: s.cred,
		// If the test binary dies without stopping the server, the kernel asks for an immediate
		// shutdown, so no server is left running on the machine.
		Pdeathsig: syscall.SIGQUIT,
	}
	return cmd
}

// run starts the postgres process and waits until it accepts connections.
func (s *Server) run() error {
	if s.running != nil {
		return errors.New("already running")
	}
	log, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := s.command("postgres", "-D", s.dataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(s.port),
		"-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "password_encryption=scram-sha-256",
	)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.running, s.exited = cmd, exited

	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			s.running = nil
			if tail := s.logTail(); strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("postgres exited at start-up, port %d %w:\n%s", s.port, errPortTaken, tail)
			}
			return fmt.Errorf("postgres exited at start-up:\n%s", s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("postgres did not accept connections within a minute: %w\n%s", err, s.logTail())
		}
	}
}

// stop asks for a fast shutdown and waits for it. Stopping a stopped server does nothing.
func (s *Server) stop() error {
	if s.running == nil {
		return nil
	}
	defer func() { s.running = nil }()
	if err := s.running.Process.Signal(syscall.SIGINT); err != nil {
		return err
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(30 * time.Second):
		s.running.Process.Kill()
		<-s.exited
		return fmt.Errorf("postgres did not stop within 30s; killed:\n%s", s.logTail())
	}
}

// remove deletes the server's files.
func (s *Server) remove() { os.RemoveAll(s.dir) }

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// newDatabase creates a database with a random name on the server of adminDSN and returns the
// name. Random rather than counted, so that test binaries sharing an external server never pick
// the same one.
func newDatabase(t testing.TB, adminDSN, options string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		t.Fatalf("pgtest: connect to create a database: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, strings.TrimSpace("CREATE DATABASE "+name+" "+options)); err != nil {
		t.Fatalf("pgtest: CREATE DATABASE %s %s: %v", name, options, err)
	}
	return name
}

// dropDatabase removes a test's database from an external server, best effort: a left-over
// database is harmless and has a name that says what it is.
func dropDatabase(adminDSN, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

// withDatabase returns dsn with its database replaced by name. It handles both forms a DSN can
// take: a URL, and keyword=value pairs, where a later keyword overrides an earlier one.
func withDatabase(dsn, name string) string {
	if isURL(dsn) {
		if u, err := url.Parse(dsn); err == nil {
			u.Path = "/" + name
			return u.String()
		}
	}
	return dsn + " dbname=" + name
}

func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// URL returns a DSN as a postgres:// URL. A URL is returned as it is; keyword=value pairs (libpq's
// other form: values optionally in single quotes, with backslash escapes) become a URL whose host,
// port, user, password and database come from their keywords and whose query holds the rest (and
// the host and port when the host is a unix-socket directory), which pgx reads back the same way.
func URL(dsn string) (string, error) {
	if isURL(dsn) {
		if _, err := url.Parse(dsn); err != nil {
			return "", err
		}
		return dsn, nil
	}
	kv, err := parseKeywords(dsn)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "postgres"}
	q := url.Values{}
	if host := kv["host"]; strings.HasPrefix(host, "/") {
		// A unix-socket directory goes in the query, where pgx and libpq read it too: Go's
		// url.Parse refuses the %2F it would need in the URL's host.
		q.Set("host", host)
		if p, ok := kv["port"]; ok {
			q.Set("port", p)
		}
	} else if p, ok := kv["port"]; ok {
		u.Host = net.JoinHostPort(host, p)
	} else {
		u.Host = host
	}
	if user, ok := kv["user"]; ok {
		if pw, ok := kv["password"]; ok {
			u.User = url.UserPassword(user, pw)
		} else {
			u.User = url.User(user)
		}
	}
	if db, ok := kv["dbname"]; ok {
		u.Path = "/" + db
	}
	for k, v := range kv {
		switch k {
		case "host", "port", "user", "password", "dbname":
		default:
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// parseKeywords reads keyword=value pairs; a later keyword overrides an earlier one.
func parseKeywords(dsn string) (map[string]string, error) {
	kv := map[string]string{}
	s := strings.TrimSpace(dsn)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("malformed DSN: %q is not keyword=value", s)
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t\n")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for len(s) > 0 {
				c := s[0]
				s = s[1:]
				if c == '\\' && len(s) > 0 {
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("malformed DSN: unterminated quoted value of %q", key)
			}
		} else {
			for len(s) > 0 && !strings.ContainsRune(" \t\n", rune(s[0])) {
				if s[0] == '\\' && len(s) > 1 {
					s = s[1:]
				}
				val.WriteByte(s[0])
				s = s[1:]
			}
		}
		kv[key] = val.String()
		s = strings.TrimLeft(s, " \t\n")
	}
	return kv, nil
}
