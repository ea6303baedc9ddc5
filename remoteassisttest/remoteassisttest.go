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
package remoteassisttest

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
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

// Server is a running emulator.
type Server struct {
	t       testing.TB // nil for a Server from Start
	handler http.Handler
	ts      *httptest.Server
	key     *jwtauth.Key
	store   remoteassist.Store
	profile remoteassist.Profile
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
// the service cannot start.
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
		o(&cfg)
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
	srv, err := server.New(server.Config{
		Profile:       cfg.profile,
		Store:         cfg.store,
		Authenticator: verifier,
		Logger:        cfg.logger,
		Throttle:      cfg.throttle,
		Now:           cfg.now,
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
		ts.StartTLS()
	} else {
		ts.Start()
	}
	return &Server{handler: srv, ts: ts, key: key, store: cfg.store, profile: cfg.profile}, nil
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

// Close stops the emulator: it stops listening and waits for requests in flight.
func (s *Server) Close() { s.ts.Close() }

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

func (s *Server) mint(spec jwtauth.TokenSpec) string {
	if s.t != nil {
		s.t.Helper()
	}
	spec.TTL = time.Hour
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
