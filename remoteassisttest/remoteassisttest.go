// Package remoteassisttest runs the remote assistance settings service in process, for the
// tests of code that uses it. It is the real service (the same contract validation, Graph
// errors, permissions and throttling), with an in-memory store and a signing key made for
// the test, listening on a loopback port:
//
//	func TestMyTool(t *testing.T) {
//		srv := remoteassisttest.New(t)
//		c := srv.Client("contoso")
//		// ... exercise code that takes c, or srv.URL() and srv.Token("contoso") ...
//	}
//
// Each Server has its own store and key, so parallel tests and subtests do not see each
// other's settings or tokens. It is closed when the test ends.
//
// WithControl adds the test control plane a serve --admin-addr has, built of the same parts
// (package control, server.NewAdmin): fault rules that make the API answer errors, delays or
// dropped connections, a journal of the API's requests and findings about the clients that made
// them. A Go test drives it directly (Control); code under test that drives the admin API over
// HTTP gets one on a loopback port of its own (AdminURL, AdminToken):
//
//	srv := remoteassisttest.New(t, remoteassisttest.WithControl())
//	srv.Control().AddFault(models.FaultRuleSpec{Effect: models.FaultEffect{Status: &status503}, Times: &once})
//	// ... the code under test gets a 503 ...
//	n := srv.Control().Count(control.Filter{Tenant: &tenant})
package remoteassisttest

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/apiclient"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// Permissions, as Graph names them, for Token and AppToken.
const (
	// PermissionRead allows GET only.
	PermissionRead = "DeviceManagementServiceConfig.Read.All"
	// PermissionReadWrite allows GET and PATCH. Tokens carry it unless told otherwise.
	PermissionReadWrite = "DeviceManagementServiceConfig.ReadWrite.All"
)

// Server is a running emulator. Its methods are safe for concurrent use. Those that can fail
// (Seed, Settings, Reset, Control, AdminURL...) fail the test with t.Fatal, which stops only the
// goroutine that calls it: call them from the test's goroutine for a failure to stop the test.
type Server struct {
	t       testing.TB // nil for a Server from Start
	handler *server.Server
	ts      *httptest.Server
	key     *jwtauth.Key
	store   remoteassist.Store
	profile remoteassist.Profile
	logger  *slog.Logger

	control    *control.Control // nil without WithControl
	adminToken string
	adminMu    sync.Mutex
	admin      *httptest.Server // started by the first AdminURL
	closed     bool
}

// Option configures a Server.
type Option func(*config)

type config struct {
	profile  remoteassist.Profile
	throttle server.ThrottleConfig
	logger   *slog.Logger
	now      func() time.Time
	store    remoteassist.Store
	tls      bool
	control  *control.Options // nil: no control plane
}

// controlOptions turns the control plane on and returns its options.
func (cfg *config) controlOptions() *control.Options {
	if cfg.control == nil {
		cfg.control = &control.Options{}
	}
	return cfg.control
}

// WithControl adds the test control plane: fault rules (Control().AddFault), the journal of the
// API's requests (Control().Journal, Count) and its findings (Control().Findings), and the admin
// API over HTTP (AdminURL, AdminToken, AdminClient), as serve --admin-addr serves them. The
// journal keeps control.DefaultJournalSize requests unless WithJournalSize says otherwise.
// Without it a Server has none of them, and costs less to start.
func WithControl() Option { return func(cfg *config) { cfg.controlOptions() } }

// WithFaultPrefer lets a request ask for its own answer with a Prefer header ("Prefer:
// code=503", with "retry-after=S" if wanted), as Prism does and serve --fault-prefer allows.
// It implies WithControl.
func WithFaultPrefer() Option {
	return func(cfg *config) { cfg.controlOptions().AllowPrefer = true }
}

// WithJournalSize bounds the journal to n requests (at most control.MaxJournalSize), the oldest
// making room for new ones; n of 0 or less keeps control.DefaultJournalSize. It implies
// WithControl.
func WithJournalSize(n int) Option {
	return func(cfg *config) { cfg.controlOptions().JournalSize = n }
}

// WithThrottle limits each tenant's request rate, so that code can be tested against 429s;
// server.IntuneThrottle is Intune's published limit. By default nothing is throttled.
func WithThrottle(c server.ThrottleConfig) Option { return func(cfg *config) { cfg.throttle = c } }

// WithProfile serves a fidelity profile other than remoteassist.ProfileDocumented: with
// remoteassist.ProfileGraph the emulator answers as today's Graph does (states disabled and
// enabled, PATCH 204, case-insensitive names), and its Client is told so.
func WithProfile(p remoteassist.Profile) Option { return func(cfg *config) { cfg.profile = p } }

// WithTLS serves HTTPS, with HTTP/2 and HTTP/1.1 by ALPN, as Graph does, on a certificate for
// 127.0.0.1, ::1 and example.com made for the test (net/http/httptest's). URL starts with
// https://; Client trusts the certificate, and CertPool gives it to other clients (Microsoft's
// SDKs, an http.Transport's TLSClientConfig.RootCAs).
func WithTLS() Option { return func(cfg *config) { cfg.tls = true } }

// WithLogger receives the service's access log and errors, which are discarded by default.
func WithLogger(l *slog.Logger) Option { return func(cfg *config) { cfg.logger = l } }

// WithClock replaces the clock the throttle counts windows with, so that a test can end a
// window without waiting for it.
func WithClock(now func() time.Time) Option { return func(cfg *config) { cfg.now = now } }

// WithStore serves settings from s instead of a fresh in-memory store: a store that fails
// on purpose tests how code copes with 503s, for instance.
func WithStore(s remoteassist.Store) Option { return func(cfg *config) { cfg.store = s } }

// New starts an emulator for the test and closes it with t.Cleanup. It fails the test when
// the service cannot start. A nil Option is ignored, here and in Start.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	s.t = t
	t.Cleanup(s.Close)
	return s
}

// Start starts an emulator outside a test: in TestMain, to share one among a package's
// tests, or in an example. The caller must Close it. Methods of a Server from Start panic
// where those of one from New would fail the test.
func Start(opts ...Option) (*Server, error) {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.store == nil {
		cfg.store = memory.New()
	}
	// A key generated in memory: nothing touches the disk, and no other emulator or
	// developer key can sign tokens this one accepts.
	key, err := jwtauth.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("remoteassisttest: %w", err)
	}
	verifier, err := jwtauth.NewDevVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("remoteassisttest: %w", err)
	}
	var ctl *control.Control
	if cfg.control != nil {
		ctl = control.New(*cfg.control)
	}
	srv, err := server.New(server.Config{
		Profile:       cfg.profile,
		Store:         cfg.store,
		Authenticator: verifier,
		Logger:        cfg.logger,
		Throttle:      cfg.throttle,
		Now:           cfg.now,
		Control:       ctl,
	})
	if err != nil {
		return nil, fmt.Errorf("remoteassisttest: %w", err)
	}
	if cfg.profile == "" {
		cfg.profile = remoteassist.ProfileDocumented
	}
	ts := httptest.NewUnstartedServer(srv)
	if cfg.tls {
		ts.EnableHTTP2 = true
		ts.Listener = server.AnswerPlainHTTP(ts.Listener) // an http:// request gets its 400, not a reset
		ts.StartTLS()
	} else {
		ts.Start()
	}
	s := &Server{handler: srv, ts: ts, key: key, store: cfg.store, profile: cfg.profile, logger: cfg.logger, control: ctl}
	if ctl != nil {
		raw := make([]byte, 24)
		rand.Read(raw)
		s.adminToken = fmt.Sprintf("ra-admin-%x", raw)
	}
	return s, nil
}

// Certificate returns the certificate of a Server started WithTLS, nil for a plain HTTP one.
func (s *Server) Certificate() *x509.Certificate { return s.ts.Certificate() }

// CertPool returns a pool holding the certificate of a Server started WithTLS, for clients to
// verify it with; nil for a plain HTTP Server.
func (s *Server) CertPool() *x509.CertPool {
	cert := s.ts.Certificate()
	if cert == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// closeGrace bounds how long Close waits for the API's requests in flight: far longer than the
// emulator takes to answer one of itself, and shorter than the minute a fault rule's delay can
// hold one, or the 5 s after which httptest complains of a Close that blocks.
const closeGrace = 2 * time.Second

// Close stops the emulator, and its admin API if it serves one: it stops listening and waits
// for requests in flight, for up to closeGrace, then cuts those left, as serve does at the end
// of its --shutdown-grace: a request a fault rule's delay still holds gets no answer, and the
// journal records it as the 503 it was owed. New calls it when the test ends; calling it again
// does nothing.
func (s *Server) Close() {
	s.adminMu.Lock()
	admin := s.admin
	closed := s.closed
	s.closed = true
	s.adminMu.Unlock()
	if closed {
		return
	}
	if admin != nil {
		admin.Close()
	}
	// httptest's Close waits for every request in flight, however long a rule delays it: a
	// test that ended with one outstanding would end a minute later.
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ts.Close()
	}()
	grace := time.NewTimer(closeGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		s.handler.Cut(s.ts.Config)
		<-done
	}
}

// fail reports a failure of a helper method: on the test for a Server from New, as a panic
// for one from Start.
func (s *Server) fail(format string, args ...any) {
	if s.t != nil {
		s.t.Helper()
		s.t.Fatalf(format, args...)
	}
	panic(fmt.Sprintf(format, args...))
}

// URL returns the base URL of the API, with the /beta segment: what a Graph client is given
// in place of https://graph.microsoft.com/beta.
func (s *Server) URL() string { return s.ts.URL + server.BasePath }

// Handler returns the service's handler, for a test that needs to put something in front of
// it (a proxy that injects faults, for instance). Its routes start with /beta.
func (s *Server) Handler() http.Handler { return s.handler }

// Token returns a delegated token for tenant that this Server accepts for an hour, holding
// permissions in its scp claim; none given means PermissionReadWrite.
func (s *Server) Token(tenant string, permissions ...string) string {
	if s.t != nil {
		s.t.Helper()
	}
	if len(permissions) == 0 {
		permissions = []string{PermissionReadWrite}
	}
	return s.mint(jwtauth.TokenSpec{Tenant: tenant, Subject: "user@" + tenant, Scopes: permissions})
}

// AppToken returns an application token for tenant that this Server accepts for an hour,
// holding roles in its roles claim; none given means PermissionReadWrite.
func (s *Server) AppToken(tenant string, roles ...string) string {
	if s.t != nil {
		s.t.Helper()
	}
	if len(roles) == 0 {
		roles = []string{PermissionReadWrite}
	}
	return s.mint(jwtauth.TokenSpec{Tenant: tenant, Subject: "app@" + tenant, Roles: roles})
}

// Mint returns a token signed as spec describes, for what Token and AppToken do not make: a
// token naming its application (spec.App, which fault rules, the journal and the throttle tell
// apart), an expired one (a negative TTL), another issuer. A zero TTL means an hour.
func (s *Server) Mint(spec jwtauth.TokenSpec) string {
	if s.t != nil {
		s.t.Helper()
	}
	if spec.TTL == 0 {
		spec.TTL = time.Hour
	}
	return s.mint(spec)
}

func (s *Server) mint(spec jwtauth.TokenSpec) string {
	if s.t != nil {
		s.t.Helper()
	}
	if spec.TTL == 0 {
		spec.TTL = time.Hour
	}
	tok, err := s.key.Mint(spec)
	if err != nil {
		s.fail("remoteassisttest: minting a token: %v", err)
	}
	return tok
}

// Client returns a client of this Server acting for tenant with a read-write token. opts
// come after the emulator's own, so they can replace the token or the retry policy.
func (s *Server) Client(tenant string, opts ...client.Option) *client.Client {
	if s.t != nil {
		s.t.Helper()
	}
	all := append([]client.Option{
		client.WithToken(s.Token(tenant)),
		client.WithHTTPClient(s.ts.Client()),
		client.WithProfile(s.profile),
	}, opts...)
	c, err := client.New(s.URL(), all...)
	if err != nil {
		s.fail("remoteassisttest: %v", err)
	}
	return c
}

// Seed sets tenant's settings directly in the store, without a request: nothing is throttled
// or logged. The ID is ignored (the service derives it from the tenant) and an empty
// RemoteAssistanceState means StateNotConfigured.
func (s *Server) Seed(tenant string, settings client.Settings) {
	if s.t != nil {
		s.t.Helper()
	}
	if settings.RemoteAssistanceState == "" {
		settings.RemoteAssistanceState = client.StateNotConfigured
	}
	_, err := s.store.UpdateSettings(context.Background(), tenant, settings.Patch())
	if err != nil {
		s.fail("remoteassisttest: seeding %q: %v", tenant, err)
	}
}

// Settings returns tenant's settings straight from the store, to check what code under test
// changed.
func (s *Server) Settings(tenant string) client.Settings {
	if s.t != nil {
		s.t.Helper()
	}
	v, err := s.store.Settings(context.Background(), tenant)
	if err != nil {
		s.fail("remoteassisttest: reading %q: %v", tenant, err)
	}
	return v
}

// Control returns the Server's control plane, the one the API consults on every request: add
// fault rules, read the journal and the findings. It fails the test for a Server started
// without WithControl (or WithFaultPrefer, WithJournalSize).
func (s *Server) Control() *control.Control {
	if s.t != nil {
		s.t.Helper()
	}
	if s.control == nil {
		s.fail("remoteassisttest: this Server has no control plane: start it WithControl()")
	}
	return s.control
}

// stateStore is the store as the admin API and the resets need it.
func (s *Server) stateStore() remoteassist.StateStore {
	if s.t != nil {
		s.t.Helper()
	}
	st, ok := s.store.(remoteassist.StateStore)
	if !ok {
		s.fail("remoteassisttest: the store %T cannot reset tenants (it is no remoteassist.StateStore)", s.store)
	}
	return st
}

// Reset makes tenant read the defaults again, as if it had never written, directly in the store.
func (s *Server) Reset(tenant string) {
	if s.t != nil {
		s.t.Helper()
	}
	if err := s.stateStore().ResetSettings(context.Background(), tenant); err != nil {
		s.fail("remoteassisttest: resetting %q: %v", tenant, err)
	}
}

// ResetAll makes every tenant read the defaults again, directly in the store.
func (s *Server) ResetAll() {
	if s.t != nil {
		s.t.Helper()
	}
	if err := s.stateStore().ReplaceAllSettings(context.Background(), nil); err != nil {
		s.fail("remoteassisttest: resetting every tenant: %v", err)
	}
}

// AdminURL returns the base URL of the Server's admin API (the contract openapi/admin.yaml,
// served by server.NewAdmin over the same store and control plane), for code under test that
// drives it over HTTP: a second loopback listener, plain HTTP as serve's --admin-addr, started
// on the first call. Every request needs AdminToken as its bearer token. It fails the test for
// a Server without WithControl.
func (s *Server) AdminURL() string {
	if s.t != nil {
		s.t.Helper()
	}
	ctl := s.Control()
	store := s.stateStore()
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	if s.admin != nil {
		return s.admin.URL
	}
	if s.closed {
		s.fail("remoteassisttest: AdminURL of a closed Server")
	}
	adm, err := server.NewAdmin(server.AdminConfig{Store: store, Control: ctl, Token: s.adminToken, Logger: s.logger,
		APIBaseURL: s.URL()})
	if err != nil {
		s.fail("remoteassisttest: the admin API: %v", err)
	}
	s.admin = httptest.NewServer(adm)
	return s.admin.URL
}

// AdminToken returns the bearer token the Server's admin API accepts, made for this Server.
func (s *Server) AdminToken() string {
	if s.t != nil {
		s.t.Helper()
	}
	s.Control()
	return s.adminToken
}

// AdminClient returns a client of the Server's admin API (the one generated from its contract),
// with the admin token, for a Go test that wants to go through HTTP as other languages do.
func (s *Server) AdminClient() *apiclient.ClientWithResponses {
	if s.t != nil {
		s.t.Helper()
	}
	url, token := s.AdminURL(), s.adminToken
	c, err := apiclient.NewClientWithResponses(url, apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}))
	if err != nil {
		s.fail("remoteassisttest: %v", err)
	}
	return c
}
