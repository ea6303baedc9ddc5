// Package testcontainers runs the remoteassist container image for a test, with
// [Testcontainers for Go]: the real binary, as it ships, with its embedded store or PostgreSQL.
// Where an in-process emulator is enough, the main module's remoteassisttest package is
// cheaper; this module tests against the image itself, and the code that deploys it.
//
//	import ratc "github.com/remoteassist/remoteassist/testcontainers"
//
//	func TestMyTool(t *testing.T) {
//		ctr, err := ratc.Run(t.Context(), "remoteassist:dev", ratc.WithIntuneThrottle())
//		testcontainers.CleanupContainer(t, ctr)
//		if err != nil {
//			t.Fatal(err)
//		}
//		tok, err := ctr.Token("contoso") // GET and PATCH
//		// ... point any Graph client at ctr.BaseURL() with tok ...
//	}
//
// Run starts the container with host networking on a free loopback port of the machine and
// waits until its /readyz answers 200 there: the Docker daemon must run on the same machine as
// the test (a local or rootless Docker Engine on Linux). Without Ryuk (for instance
// TESTCONTAINERS_RYUK_DISABLED=true, needed where Ryuk's image cannot be pulled) nothing removes
// a container the test does not terminate: use testcontainers.CleanupContainer.
//
// Tokens are minted in the test process, with the development signing key the container
// created in its data directory (/data) on start and Run copied out through the Docker API;
// any tenant, any permissions, any claims ([Container.Mint]).
//
// Options of this package ([WithStore], [WithThrottle], [WithProfile], [WithTLS], ...) are
// [Option]s; every option of testcontainers-go (testcontainers.WithEnv, WithMounts, WithLogger,
// ...) works as well, after this package's own settings. [WithAdmin] serves the test control
// plane (seed and reset state, inject faults, read the journal) on a second loopback port,
// reached with [Container.AdminURL] and [Container.AdminToken], or [Container.AdminClient].
//
// [Testcontainers for Go]: https://golang.testcontainers.org
package testcontainers

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	dockerclient "github.com/moby/moby/client"
	tc "github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/gen/admin/apiclient"
	"github.com/remoteassist/remoteassist/jwtauth"
)

// Permissions, as Graph names them, for Token and AppToken.
const (
	// PermissionRead allows GET only.
	PermissionRead = "DeviceManagementServiceConfig.Read.All"
	// PermissionReadWrite allows GET and PATCH. Tokens carry it unless told otherwise.
	PermissionReadWrite = "DeviceManagementServiceConfig.ReadWrite.All"
)

// DefaultStartupTimeout bounds how long Run waits for readiness unless WithStartupTimeout says
// otherwise.
const DefaultStartupTimeout = 60 * time.Second

// dataDir is the image's data directory, the volume holding the signing key.
const dataDir = "/data"

// caFile is the development CA serve --tls makes in the data directory.
const caFile = "ca.pem"

// Container is a running remoteassist container.
type Container struct {
	*tc.DockerContainer
	addr       string // 127.0.0.1:PORT
	key        *jwtauth.Key
	profile    remoteassist.Profile
	adminAddr  string // "" without WithAdmin
	adminToken string
	pool       *x509.CertPool // nil without WithTLS
	http       *http.Client
}

// Addr returns the host:port the service listens on, on the machine's loopback.
func (c *Container) Addr() string { return c.addr }

// BaseURL returns the base URL of the API, with the /beta segment: what a Graph client is given
// in place of https://graph.microsoft.com/beta. It is https:// for a container run WithTLS.
func (c *Container) BaseURL() string { return c.scheme() + "://" + c.addr + "/beta" }

func (c *Container) scheme() string {
	if c.pool != nil {
		return "https"
	}
	return "http"
}

// Profile returns the fidelity profile the service answers in (WithProfile).
func (c *Container) Profile() remoteassist.Profile { return c.profile }

// CertPool returns a pool holding the development CA of a container run WithTLS (its
// /data/ca.pem), for other clients to verify the service with; nil without WithTLS.
func (c *Container) CertPool() *x509.CertPool { return c.pool }

// HTTPClient returns an HTTP client for the service: for a container run WithTLS it trusts the
// container's CA and speaks HTTP/2, as Graph does.
func (c *Container) HTTPClient() *http.Client { return c.http }

// AdminURL returns the base URL of the admin API (the test control plane: seed and reset state,
// inject faults, read the journal and findings; openapi/admin.yaml) of a container run
// WithAdmin, "" without. It is plain HTTP, as serve's --admin-addr is.
func (c *Container) AdminURL() string {
	if c.adminAddr == "" {
		return ""
	}
	return "http://" + c.adminAddr
}

// AdminToken returns the bearer token the admin API of a container run WithAdmin accepts,
// made for it by Run; "" without WithAdmin.
func (c *Container) AdminToken() string { return c.adminToken }

// AdminClient returns a client of the admin API (generated from its contract) with the admin
// token, for a container run WithAdmin.
func (c *Container) AdminClient() (*apiclient.ClientWithResponses, error) {
	if c.adminAddr == "" {
		return nil, errors.New("remoteassist container: no admin API: run it WithAdmin()")
	}
	token := c.adminToken
	return apiclient.NewClientWithResponses(c.AdminURL(), apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}))
}

// Token returns a delegated token for tenant, valid for an hour, holding permissions in its scp
// claim; none given means PermissionReadWrite.
func (c *Container) Token(tenant string, permissions ...string) (string, error) {
	if len(permissions) == 0 {
		permissions = []string{PermissionReadWrite}
	}
	return c.Mint(jwtauth.TokenSpec{Tenant: tenant, Subject: "user@" + tenant, Scopes: permissions, TTL: time.Hour})
}

// AppToken returns an application token for tenant, valid for an hour, holding roles in its
// roles claim; none given means PermissionReadWrite.
func (c *Container) AppToken(tenant string, roles ...string) (string, error) {
	if len(roles) == 0 {
		roles = []string{PermissionReadWrite}
	}
	return c.Mint(jwtauth.TokenSpec{Tenant: tenant, Subject: "app@" + tenant, Roles: roles, TTL: time.Hour})
}

// Mint signs a token as spec describes with the container's development key: expired tokens,
// other issuers or audiences, no tenant, for testing how code copes with a 401.
func (c *Container) Mint(spec jwtauth.TokenSpec) (string, error) {
	tok, err := c.key.Mint(spec)
	if err != nil {
		return "", fmt.Errorf("remoteassist container: minting a token: %w", err)
	}
	return tok, nil
}

// Client returns a client of the container acting for tenant with a read-write token, told the
// container's profile and trusting its CA (WithTLS). opts come after the module's own, so they
// can replace the token or the retry policy.
func (c *Container) Client(tenant string, opts ...client.Option) (*client.Client, error) {
	tok, err := c.Token(tenant)
	if err != nil {
		return nil, err
	}
	own := []client.Option{client.WithToken(tok)}
	if c.profile != "" {
		own = append(own, client.WithProfile(c.profile))
	}
	if c.pool != nil {
		own = append(own, client.WithRootCAs(c.pool))
	}
	return client.New(c.BaseURL(), append(own, opts...)...)
}

// Option configures the service in the container. It is a testcontainers.ContainerCustomizer,
// so it mixes with testcontainers-go's own options in Run's list.
type Option func(*options) error

// Customize does nothing: Run reads an Option's settings before it builds the request.
func (Option) Customize(*tc.GenericContainerRequest) error { return nil }

// options is what the Options set. A new option adds its fields here, turns them into the
// container's environment or files in request, and, if it changes how the service is reached,
// into Container's URLs and the readiness check.
type options struct {
	port           int    // 0: a free one
	store          string // REMOTEASSIST_STORE; "" the embedded store in /data
	throttle       string // REMOTEASSIST_THROTTLE
	profile        remoteassist.Profile
	admin          bool // REMOTEASSIST_ADMIN_ADDR on a free port, REMOTEASSIST_ADMIN_TOKEN
	prefer         bool // REMOTEASSIST_FAULT_PREFER
	tls            bool // REMOTEASSIST_TLS
	startupTimeout time.Duration
}

// request returns the module's part of the container request for a service on port, with its
// admin API (WithAdmin) on adminPort.
func (o *options) request(port, adminPort int, adminToken string) []tc.ContainerCustomizer {
	env := map[string]string{"REMOTEASSIST_ADDR": fmt.Sprintf("127.0.0.1:%d", port)}
	if o.store != "" {
		env["REMOTEASSIST_STORE"] = o.store
	}
	if o.throttle != "" {
		env["REMOTEASSIST_THROTTLE"] = o.throttle
	}
	if o.profile != "" {
		env["REMOTEASSIST_PROFILE"] = string(o.profile)
	}
	if o.admin {
		env["REMOTEASSIST_ADMIN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", adminPort)
		env["REMOTEASSIST_ADMIN_TOKEN"] = adminToken
	}
	if o.prefer {
		env["REMOTEASSIST_FAULT_PREFER"] = "true"
	}
	scheme := "http"
	if o.tls {
		env["REMOTEASSIST_TLS"] = "true"
		scheme = "https"
	}
	return []tc.ContainerCustomizer{
		tc.WithEnv(env),
		tc.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }),
		tc.WithWaitStrategy(&readiness{url: fmt.Sprintf("%s://127.0.0.1:%d/readyz", scheme, port), timeout: o.startupTimeout}),
	}
}

// WithStore sets where the service keeps settings: a postgres:// URL (reached from the host's
// network: 127.0.0.1 is the test machine), "memory", or "" for the embedded store in the
// container's /data, the default.
func WithStore(url string) Option {
	return func(o *options) error {
		if url != "" && url != "memory" && !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
			return fmt.Errorf(`WithStore(%q): want "", "memory" or a postgres:// URL`, url)
		}
		o.store = url
		return nil
	}
}

// WithThrottle limits each tenant to requests requests and writes PATCHes per window; beyond,
// the service answers 429 with Retry-After. Counts are at least 1 and the window at most an
// hour, as serve's --throttle takes them; leave the option out for no throttling.
func WithThrottle(requests, writes int, window time.Duration) Option {
	return func(o *options) error {
		if requests < 1 || writes < 1 || window <= 0 || window > time.Hour {
			return fmt.Errorf("WithThrottle(%d, %d, %v): want counts of at least 1 and a window of at most an hour", requests, writes, window)
		}
		o.throttle = fmt.Sprintf("%d,%d,%s", requests, writes, window)
		return nil
	}
}

// WithIntuneThrottle throttles as Intune does: 2,000 requests and 200 writes per 20 s per
// tenant.
func WithIntuneThrottle() Option {
	return func(o *options) error { o.throttle = "intune"; return nil }
}

// WithProfile serves a fidelity profile other than remoteassist.ProfileDocumented (env
// REMOTEASSIST_PROFILE): with remoteassist.ProfileGraph the service answers as today's Graph beta
// does (states disabled and enabled, PATCH 204, case-insensitive names), and Client is told so.
func WithProfile(p remoteassist.Profile) Option {
	return func(o *options) error {
		if _, err := remoteassist.ParseProfile(string(p)); err != nil {
			return fmt.Errorf("WithProfile: %w", err)
		}
		o.profile = p
		return nil
	}
}

// WithAdmin serves the admin API, the test control plane (serve --admin-addr), on a free port
// of the loopback beside the API's, with an admin token Run makes for the container:
// Container.AdminURL, AdminToken and AdminClient reach it.
func WithAdmin() Option {
	return func(o *options) error { o.admin = true; return nil }
}

// WithFaultPrefer lets a request ask for its own error with a Prefer header ("Prefer:
// code=503", with "retry-after=S" if wanted), as Prism does (serve --fault-prefer).
func WithFaultPrefer() Option {
	return func(o *options) error { o.prefer = true; return nil }
}

// WithTLS serves HTTPS and HTTP/2 with the development CA serve --tls makes in /data: BaseURL is
// https://127.0.0.1:PORT/beta, and Run copies the CA (/data/ca.pem) out of the container as it
// does the signing key, for CertPool, HTTPClient and Client to trust. The admin API stays plain
// HTTP.
func WithTLS() Option {
	return func(o *options) error { o.tls = true; return nil }
}

// WithPort serves on this port of the loopback instead of a free one.
func WithPort(port int) Option {
	return func(o *options) error {
		if port <= 0 || port > 65535 {
			return fmt.Errorf("WithPort(%d): want 1-65535", port)
		}
		o.port = port
		return nil
	}
}

// WithStartupTimeout bounds how long Run waits for the service to be ready; the default is
// DefaultStartupTimeout.
func WithStartupTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("WithStartupTimeout(%v): want a positive duration", d)
		}
		o.startupTimeout = d
		return nil
	}
}

// Run starts a container of image (remoteassist's, or one built from it) and waits until it is
// ready. On an error after the container was created it returns the container as well, for
// the caller to terminate (testcontainers.CleanupContainer does), and the error holds the end
// of its log.
func Run(ctx context.Context, image string, opts ...tc.ContainerCustomizer) (*Container, error) {
	o := options{startupTimeout: DefaultStartupTimeout}
	for _, opt := range opts {
		if opt, ok := opt.(Option); ok {
			if err := opt(&o); err != nil {
				return nil, fmt.Errorf("remoteassist container: %w", err)
			}
		}
	}
	var adminToken string
	if o.admin {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("remoteassist container: %w", err)
		}
		adminToken = base64.RawURLEncoding.EncodeToString(raw)
	}
	for attempt := 1; ; attempt++ {
		port := o.port
		if port == 0 {
			var err error
			if port, err = freePort(); err != nil {
				return nil, fmt.Errorf("remoteassist container: %w", err)
			}
		}
		adminPort := 0
		if o.admin {
			var err error
			for adminPort == 0 || adminPort == port {
				if adminPort, err = freePort(); err != nil {
					return nil, fmt.Errorf("remoteassist container: %w", err)
				}
			}
		}
		// As testcontainers.Run does: the module's settings, then the caller's options.
		req := tc.GenericContainerRequest{ContainerRequest: tc.ContainerRequest{Image: image}, Started: true}
		for _, opt := range append(o.request(port, adminPort, adminToken), opts...) {
			if err := opt.Customize(&req); err != nil {
				return nil, fmt.Errorf("remoteassist container: customize: %w", err)
			}
		}
		ctr, err := runContainer(ctx, req)
		if err != nil {
			logs := logTail(ctx, ctr)
			// Another process took a free port between the probe and the start: try others.
			if (o.port == 0 || o.admin) && attempt < 3 && strings.Contains(logs, "address already in use") {
				if ctr != nil {
					_ = ctr.Terminate(context.WithoutCancel(ctx))
				}
				continue
			}
			var c *Container
			if ctr != nil {
				c = &Container{DockerContainer: ctr, addr: fmt.Sprintf("127.0.0.1:%d", port)}
			}
			return c, fmt.Errorf("remoteassist container: %w\n%s", err, logs)
		}
		c := &Container{DockerContainer: ctr, addr: fmt.Sprintf("127.0.0.1:%d", port), profile: o.profile,
			http: &http.Client{Transport: &http.Transport{Proxy: nil, ForceAttemptHTTP2: true}}}
		if o.admin {
			c.adminAddr, c.adminToken = fmt.Sprintf("127.0.0.1:%d", adminPort), adminToken
		}
		if c.key, err = copyKey(ctx, ctr); err != nil {
			return c, fmt.Errorf("remoteassist container: the signing key: %w", err)
		}
		if o.tls {
			if err := c.trustCA(ctx); err != nil {
				return c, fmt.Errorf("remoteassist container: the TLS CA: %w", err)
			}
		}
		return c, nil
	}
}

// trustCA copies the development CA serve --tls made (before it listened) out of the container,
// and checks that the service's certificate verifies against it.
func (c *Container) trustCA(ctx context.Context) error {
	pem, err := copyFile(ctx, c.DockerContainer, caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+c.addr+"/healthz", nil)
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("the service's certificate against %s: %w", caFile, err)
	}
	res.Body.Close()
	c.pool, c.http = pool, hc
	return nil
}

// runContainer creates and starts the container of req. On a daemon with its default bridge
// network that is testcontainers.GenericContainer, Ryuk and all. On one without (dockerd
// --bridge=none, as scripts/docker.sh runs it), GenericContainer would create a bridge network
// of its own, reaper_default, and attach the container to it, though host networking needs
// none: there the container is created by a provider whose default network is "host", which
// creates nothing. Ryuk cannot run there (it needs a bridge): disable it.
func runContainer(ctx context.Context, req tc.GenericContainerRequest) (*tc.DockerContainer, error) {
	var provOpts []tc.DockerProviderOption
	if req.Logger != nil {
		provOpts = append(provOpts, tc.WithLogger(req.Logger))
	}
	p, err := tc.NewDockerProvider(provOpts...)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	networks, err := p.Client().NetworkList(ctx, dockerclient.NetworkListOptions{})
	if err != nil {
		return nil, fmt.Errorf("network list: %w", err)
	}
	if slices.ContainsFunc(networks.Items, func(n network.Summary) bool { return n.Name == tc.Bridge }) {
		ctr, err := tc.GenericContainer(ctx, req)
		c, _ := ctr.(*tc.DockerContainer)
		return c, err
	}
	if req.Reuse {
		return nil, errors.New("container reuse needs a daemon with a bridge network")
	}
	hp, err := tc.NewDockerProvider(append(provOpts, tc.WithDefaultBridgeNetwork(network.NetworkHost))...)
	if err != nil {
		return nil, err
	}
	defer hp.Close()
	ctr, err := hp.CreateContainer(ctx, req.ContainerRequest)
	c, _ := ctr.(*tc.DockerContainer)
	if err != nil {
		return c, fmt.Errorf("create container: %w", err)
	}
	if err := c.Start(ctx); err != nil {
		return c, fmt.Errorf("start container: %w", err)
	}
	return c, nil
}

// copyFile reads a file of the service's data directory (/data, or its REMOTEASSIST_DATA) out of
// the container, through the Docker API.
func copyFile(ctx context.Context, ctr *tc.DockerContainer, name string) ([]byte, error) {
	dir := dataDir
	if inspect, err := ctr.Inspect(ctx); err == nil && inspect.Config != nil {
		for _, kv := range inspect.Config.Env {
			if v, ok := strings.CutPrefix(kv, "REMOTEASSIST_DATA="); ok && v != "" {
				dir = v
			}
		}
	}
	r, err := ctr.CopyFileFromContainer(ctx, dir+"/"+name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 64<<10))
}

// copyKey reads the development signing key the service created in its data directory (serve
// creates it before it listens) out of the container.
func copyKey(ctx context.Context, ctr *tc.DockerContainer) (*jwtauth.Key, error) {
	pem, err := copyFile(ctx, ctr, jwtauth.KeyFile)
	if err != nil {
		return nil, err
	}
	// jwtauth loads keys from a directory; a private one, gone once the key is in memory.
	tmp, err := os.MkdirTemp("", "remoteassist-key-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, jwtauth.KeyFile), pem, 0o600); err != nil {
		return nil, err
	}
	return jwtauth.LoadOrCreateKey(tmp)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the end of the container's log, for an error message.
func logTail(ctx context.Context, ctr *tc.DockerContainer) string {
	if ctr == nil {
		return ""
	}
	r, err := ctr.Logs(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer r.Close()
	b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "container log:\n" + string(b)
}

// readiness waits until url answers 200, from the test's side of the loopback, and fails as
// soon as the container exits.
type readiness struct {
	url     string
	timeout time.Duration
}

var _ wait.StrategyTimeout = (*readiness)(nil)

func (r *readiness) Timeout() *time.Duration { return &r.timeout }

func (r *readiness) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	// The probe of a TLS service cannot verify it yet: its CA is copied out once it is ready,
	// and checked then (trustCA).
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: strings.HasPrefix(r.url, "https://")}}, Timeout: time.Second}
	var last error
	for polls := 0; ; polls++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
		if err != nil {
			return err
		}
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(res.Status)
		}
		last = err
		if polls%5 == 4 {
			state, err := target.State(ctx)
			if err != nil {
				return fmt.Errorf("container state: %w", err)
			}
			if !state.Running {
				return fmt.Errorf("the container exited (status %s, exit code %d) before %s answered 200", state.Status, state.ExitCode, r.url)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer 200 within %v (last: %v)", r.url, r.timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
