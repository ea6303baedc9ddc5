package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/pgtest"
)

// TestReplicasOnPostgres runs two serve processes on one database and one data directory (the
// signing key is shared; the embedded store must not be opened, or the second would fail with
// "in use"). Concurrent PATCHes of different properties through both lose nothing, a write
// through one is read through the other at once, and killing one leaves the other serving.
func TestReplicasOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	data := t.TempDir()
	// Both start at once, so they also run the schema migrations concurrently.
	a := launchServe(t, "replica-a", data, dsn)
	b := launchServe(t, "replica-b", data, dsn)
	a.waitHealthy(t)
	b.waitHealthy(t)
	if _, err := os.Stat(filepath.Join(data, "settings.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("DATA/settings.db exists (%v): serve opened the embedded store although --store is PostgreSQL", err)
	}
	for _, p := range []*serveProc{a, b} {
		if res := call(t, http.MethodGet, p.base+"/readyz", "", ""); res.status != http.StatusOK {
			t.Fatalf("%s /readyz: %d %s", p.name, res.status, res.body)
		}
	}

	const n = 20
	tenants := make([]string, n)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("replica-%02d", i)
	}
	toks := tokens(t, data, append(tenants, "read-your-writes"))

	// Each tenant gets one PATCH per property, through alternating replicas, all released at
	// once: a lost update leaves a property at its default.
	writes := []struct {
		body string
		via  func(i int) *serveProc
	}{
		{`{"allowSessionsToUnenrolledDevices":true}`, func(int) *serveProc { return a }},
		{`{"remoteAssistanceState":"enabled"}`, func(int) *serveProc { return b }},
		{`{"blockChat":true}`, func(i int) *serveProc { return []*serveProc{a, b}[i%2] }},
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, tenant := range tenants {
		for _, w := range writes {
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
				defer cancel()
				p := w.via(i)
				res, err := do(ctx, http.MethodPatch, p.base+settingsPath, toks[tenant], w.body)
				if err != nil {
					t.Errorf("PATCH %s of %s through %s: %v", w.body, tenant, p.name, err)
				} else if res.status != http.StatusOK {
					t.Errorf("PATCH %s of %s through %s: %d %s", w.body, tenant, p.name, res.status, res.body)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	for _, tenant := range tenants {
		want := remoteassist.Settings{ID: remoteassist.SettingsID(tenant), AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: remoteassist.StateEnabled, BlockChat: true}
		for _, p := range []*serveProc{a, b} {
			if got := getSettings(t, p.base, toks[tenant], tenant); got != want {
				t.Errorf("lost update: %s reads %+v through %s, want %+v", tenant, got, p.name, want)
			}
		}
	}

	// A write through one replica is what the other reads next, with no delay: there is no
	// cache between a replica and the database.
	const rw = "read-your-writes"
	for k := range 12 {
		writer, reader := a, b
		if k%2 == 1 {
			writer, reader = b, a
		}
		state := remoteassist.States()[k%3]
		body := fmt.Sprintf(`{"remoteAssistanceState":%q,"blockChat":%t}`, state, k%4 < 2)
		wrote := patchSettings(t, writer.base, toks[rw], rw, body)
		if got := getSettings(t, reader.base, toks[rw], rw); got != wrote {
			t.Fatalf("PATCH %s through %s answered %+v, but %s then reads %+v", body, writer.name, wrote, reader.name, got)
		}
	}

	// One replica dies; the other goes on serving reads and writes of everything.
	a.kill(t)
	if _, err := do(t.Context(), http.MethodGet, a.base+"/healthz", "", ""); err == nil {
		t.Fatal("the killed replica still answers")
	}
	if res := call(t, http.MethodGet, b.base+"/readyz", "", ""); res.status != http.StatusOK {
		t.Errorf("%s /readyz after %s died: %d %s", b.name, a.name, res.status, res.body)
	}
	for _, tenant := range tenants {
		if got := getSettings(t, b.base, toks[tenant], tenant); !got.AllowSessionsToUnenrolledDevices || !got.BlockChat || got.RemoteAssistanceState != remoteassist.StateEnabled {
			t.Errorf("%s reads %+v through %s after %s died", tenant, got, b.name, a.name)
		}
	}
	if got := patchSettings(t, b.base, toks[tenants[0]], tenants[0], `{"blockChat":false}`); got.BlockChat {
		t.Errorf("PATCH through %s after %s died answered %+v", b.name, a.name, got)
	}
}

// TestPostgresDownThenUp stops PostgreSQL under a running serve: /readyz turns 503, GET and PATCH
// get the Graph 503 envelope with Retry-After, each promptly (the bound is the client's own
// request timeout, and reaching it fails the test as a hang) and never a 500. Once PostgreSQL is
// back, the same process serves again without a restart.
func TestPostgresDownThenUp(t *testing.T) {
	srv := pgtest.StartServer(t)
	dsn := srv.NewDatabase(t)
	data := t.TempDir()
	p := startServe(t, "pg", data, dsn)
	tok := token(t, data, "contoso")
	before := patchSettings(t, p.base, tok, "contoso", `{"allowSessionsToUnenrolledDevices":true}`)

	srv.Stop(t)
	for round := range 3 { // the first may meet a pooled connection that died, later ones dial
		checkUnavailable(t, fmt.Sprintf("round %d: GET /readyz", round), call(t, http.MethodGet, p.base+"/readyz", "", ""))
		checkUnavailable(t, fmt.Sprintf("round %d: GET", round), call(t, http.MethodGet, p.base+settingsPath, tok, ""))
		checkUnavailable(t, fmt.Sprintf("round %d: PATCH", round), call(t, http.MethodPatch, p.base+settingsPath, tok, `{"blockChat":true}`))
	}
	// Concurrent requests while it is down: each fails on its own; none waits behind another.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
			defer cancel()
			method, body := http.MethodGet, ""
			if i%2 == 1 {
				method, body = http.MethodPatch, `{"blockChat":true}`
			}
			res, err := do(ctx, method, p.base+settingsPath, tok, body)
			switch {
			case ctx.Err() != nil:
				t.Errorf("concurrent %s with PostgreSQL down: no answer within %v", method, requestTimeout)
			case err != nil:
				t.Errorf("concurrent %s with PostgreSQL down: %v", method, err)
			default:
				checkUnavailable(t, "concurrent "+method, res)
			}
		})
	}
	wg.Wait()
	if res := call(t, http.MethodGet, p.base+"/healthz", "", ""); res.status != http.StatusOK {
		t.Errorf("/healthz with PostgreSQL down: %d, want 200: the process itself is fine", res.status)
	}

	srv.Start(t)
	waitReady(t, p)
	if got := getSettings(t, p.base, tok, "contoso"); got != before {
		t.Errorf("once PostgreSQL is back: %+v, want %+v", got, before)
	}
	if got := patchSettings(t, p.base, tok, "contoso", `{"blockChat":true}`); !got.BlockChat || !got.AllowSessionsToUnenrolledDevices {
		t.Errorf("PATCH once PostgreSQL is back answered %+v", got)
	}
}

// waitReady polls /readyz until it answers 200; it may answer 503 meanwhile, nothing else.
func waitReady(t *testing.T, p *serveProc) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		res := call(t, http.MethodGet, p.base+"/readyz", "", "")
		switch res.status {
		case http.StatusOK:
			return
		case http.StatusServiceUnavailable:
		default:
			t.Fatalf("/readyz: %d %s, want 200 or 503", res.status, res.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still 503 %v after PostgreSQL came back: %s", startTimeout, res.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostgresRestartKeepsData stops serve and starts a new process on the same database: the
// schema is already there (migrations are skipped) and so is the data.
func TestPostgresRestartKeepsData(t *testing.T) {
	dsn := pgtest.DSN(t)
	data := t.TempDir()
	tok := token(t, data, "contoso")
	first := startServe(t, "first", data, dsn)
	want := patchSettings(t, first.base, tok, "contoso", `{"remoteAssistanceState":"disabled","blockChat":true}`)
	first.stop()
	second := startServe(t, "second", data, dsn)
	if got := getSettings(t, second.base, tok, "contoso"); got != want {
		t.Errorf("after a restart: %+v, want %+v", got, want)
	}
}

// TestPostgresLoginRefused has PostgreSQL refuse a running serve's role new logins, as an
// operator's ALTER ROLE … NOLOGIN (or a password rotated before the replicas' DSN) does:
// /readyz, GET and PATCH answer Graph's 503 with Retry-After, never a 500 nor anything of the
// database's own words, and the log has the request at ERROR with the SQLSTATE, for the operator
// to see why. Once the role may log in again, the same process serves again.
func TestPostgresLoginRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	sql := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(t.Context(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// serve migrates the database as the role
	role, roleDSN := pgtest.Role(t, dsn, "login", "rotate-me", `GRANT CREATE ON SCHEMA public TO {role}`)
	data := t.TempDir()
	p := startServe(t, "pg", data, roleDSN)
	tok := token(t, data, "contoso")
	before := patchSettings(t, p.base, tok, "contoso", `{"allowSessionsToUnenrolledDevices":true}`)

	sql(`ALTER ROLE ` + role + ` NOLOGIN`)
	// Sessions already open stay; end them, so that the pool has to log in again.
	sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '` + role + `'`)
	for round := range 3 { // the first may meet a pooled connection that was ended, later ones log in
		for _, r := range []struct{ what, method, path, tok, body string }{
			{"GET /readyz", http.MethodGet, "/readyz", "", ""},
			{"GET", http.MethodGet, settingsPath, tok, ""},
			{"PATCH", http.MethodPatch, settingsPath, tok, `{"blockChat":true}`},
		} {
			res := call(t, r.method, p.base+r.path, r.tok, r.body)
			what := fmt.Sprintf("round %d: %s with the login refused", round, r.what)
			checkUnavailable(t, what, res)
			for _, hide := range []string{"SQLSTATE", "28000", role, "log in"} {
				if strings.Contains(string(res.body), hide) {
					t.Errorf("%s: the body %s holds %q", what, res.body, hide)
				}
			}
		}
	}
	log := p.waitForLog(t, "SQLSTATE 28000", 1)
	logged := false
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, "SQLSTATE 28000") && strings.Contains(line, "level=ERROR") && strings.Contains(line, "status=503") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no line of the log has a 503 at level=ERROR with SQLSTATE 28000:\n%s", log)
	}

	sql(`ALTER ROLE ` + role + ` LOGIN`)
	waitReady(t, p)
	if got := getSettings(t, p.base, tok, "contoso"); got != before {
		t.Errorf("once the role may log in again: %+v, want %+v", got, before)
	}
	patchSettings(t, p.base, tok, "contoso", `{"blockChat":true}`)
}

// TestServeGivesUpOnAHeldLock starts serve with --store-open-timeout 2s on a database where
// another session, a replica of the same role stuck half-way through the first migration
// (application_name "replica-stuck-e2e"), holds the migration's lock: serve exits 1, long before
// the default minute, with one line on stderr naming that session (pid, application, state) and
// never the password of --store, and nothing of the migration applied. The bound of the wait is
// the hang guard's business only; the test never times serve.
func TestServeGivesUpOnAHeldLock(t *testing.T) {
	dsn := pgtest.DSN(t)
	const password = "pw-lockwait-e2e-5d0c"
	_, roleDSN := pgtest.Role(t, dsn, "lockwait", password, `GRANT CREATE ON SCHEMA public TO {role}`)
	holder, err := pgx.Connect(t.Context(), roleDSN+"&application_name=replica-stuck-e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	tx, err := holder.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `CREATE TABLE remoteassist_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO remoteassist_schema_migrations (version) VALUES (1)`); err != nil {
		t.Fatal(err)
	}

	// A hang guard, half the default bound: a serve that ignored the flag would wait a minute.
	r := runWithin(t, 30*time.Second, "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(),
		"--store", roleDSN, "--store-open-timeout", "2s")
	t.Logf("serve's stderr: %s", r.stderr)
	if r.exitCode != 1 {
		t.Errorf("serve with the migration's lock held: exit %d, want 1\nstderr: %s", r.exitCode, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("serve printed on stdout: %q", r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is %d lines, want one:\n%s", len(lines), r.stderr)
	}
	for _, want := range []string{
		"remoteassist serve: PostgreSQL at 127.0.0.1:", "migrating the schema: gave up after ",
		"waiting for a lock on table remoteassist_schema_migrations",
		fmt.Sprintf(`held by pid %d (user "lockwait_`, holder.PgConn().PID()),
		`application "replica-stuck-e2e", client 127.0.0.1, idle in transaction, transaction open `,
		fmt.Sprintf("SELECT pg_terminate_backend(%d)", holder.PgConn().PID()),
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q does not say %q", r.stderr, want)
		}
	}
	if strings.Contains(r.stderr, password) {
		t.Errorf("stderr %q shows the password of --store", r.stderr)
	}

	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	var settings, versions *string
	if err := holder.QueryRow(t.Context(), `SELECT to_regclass('remote_assistance_settings')::text, to_regclass('remoteassist_schema_migrations')::text`).Scan(&settings, &versions); err != nil {
		t.Fatal(err)
	}
	if settings != nil || versions != nil {
		t.Errorf("after serve gave up, tables %v and %v exist: the migration was half applied", settings, versions)
	}
}
