package testcontainers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	tc "github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/internal/pgtest"
	"github.com/remoteassist/remoteassist/jwtauth"
	ratc "github.com/remoteassist/remoteassist/testcontainers"
)

// These tests run the module against the image under test: $REMOTEASSIST_TEST_IMAGE (make test
// builds it; it must exist, the tests never pull it), else one built with ../scripts/image.sh for
// the run and removed at the end. They
// need a Docker daemon ($DOCKER_HOST, else the one ../scripts/docker.sh uses) and fail, never
// skip, without one. Ryuk is off unless the environment says otherwise: its image cannot be
// pulled everywhere, and every test terminates its containers itself.

var image string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	if os.Getenv("DOCKER_HOST") == "" {
		out, err := exec.Command("bash", filepath.Join(root, "scripts", "docker.sh"), "host").Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bash scripts/docker.sh host:", err)
			return 1
		}
		os.Setenv("DOCKER_HOST", strings.TrimSpace(string(out)))
	}
	image = os.Getenv("REMOTEASSIST_TEST_IMAGE")
	if image != "" {
		// testcontainers-go pulls an image it does not find (v0.45 has no never-pull option),
		// from Docker Hub for a name like remoteassist:test: a typo or a stale environment
		// would send the run to a registry. The image must be the daemon's already.
		if out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", image).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "REMOTEASSIST_TEST_IMAGE=%s: docker image inspect: %v: %s\n"+
				"The tests never pull it: build it with `make image IMAGE=%s` (bash scripts/image.sh %s), "+
				"or unset REMOTEASSIST_TEST_IMAGE and the tests build one (make test does it all).\n",
				image, err, strings.TrimSpace(string(out)), image, image)
			return 1
		}
	} else {
		image = fmt.Sprintf("remoteassist:tc-%d", os.Getpid())
		if out, err := exec.Command("bash", filepath.Join(root, "scripts", "image.sh"), image).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "the tests need Docker and the image: bash scripts/image.sh %s: %v\n%s\n"+
				"Start a daemon with `bash scripts/docker.sh start` (make test does it all).\n", image, err, out)
			return 1
		}
		defer exec.Command("docker", "rmi", "-f", image).Run()
	}
	before, err := networks()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := pgtest.Run(m)
	// Host networking needs no network: testcontainers must not have made one (it creates a
	// bridge, reaper_default, on a daemon without one, unless told otherwise).
	after, err := networks()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, n := range after {
		if !slices.Contains(before, n) {
			fmt.Fprintf(os.Stderr, "the tests created Docker network %s; removing it\n", n)
			exec.Command("docker", "network", "rm", n).Run()
			code = 1
		}
	}
	return code
}

// networks lists the daemon's networks by name.
func networks() ([]string, error) {
	cmd := exec.Command("docker", "network", "ls", "--format", "{{.Name}}")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("the tests need Docker: docker network ls: %w: %s\n"+
			"Start a daemon with `bash scripts/docker.sh start` (it prints the DOCKER_HOST to export; make test does it all).", err, strings.TrimSpace(stderr.String()))
	}
	return strings.Fields(string(out)), nil
}

// start runs a container for the test and terminates it when the test ends.
func start(t *testing.T, opts ...tc.ContainerCustomizer) *ratc.Container {
	t.Helper()
	// testcontainers-go's log goes to the test's, shown when it fails or with -v.
	ctr, err := ratc.Run(t.Context(), image, append([]tc.ContainerCustomizer{tc.WithLogger(tclog.TestLogger(t))}, opts...)...)
	tc.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatal(err)
	}
	return ctr
}

// TestRun starts the image and drives it with the main module's client and with plain HTTP:
// the module's URLs, tokens for any tenant and permission set, host networking.
func TestRun(t *testing.T) {
	ctr := start(t)
	if !strings.HasPrefix(ctr.BaseURL(), "http://127.0.0.1:") || !strings.HasSuffix(ctr.BaseURL(), "/beta") || ctr.BaseURL() != "http://"+ctr.Addr()+"/beta" {
		t.Errorf("BaseURL %q, Addr %q", ctr.BaseURL(), ctr.Addr())
	}
	inspect, err := ctr.Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if inspect.HostConfig.NetworkMode != "host" {
		t.Errorf("network mode %q, want host", inspect.HostConfig.NetworkMode)
	}
	var attached []string
	for name := range inspect.NetworkSettings.Networks {
		attached = append(attached, name)
	}
	if !slices.Equal(attached, []string{"host"}) {
		t.Errorf("attached to networks %q, want host only", attached)
	}
	// Without the options, no admin API and no TLS.
	if _, err := ctr.AdminClient(); ctr.AdminURL() != "" || ctr.AdminToken() != "" || err == nil || ctr.CertPool() != nil {
		t.Errorf("AdminURL %q, AdminClient error %v, CertPool %v: want none of them", ctr.AdminURL(), err, ctr.CertPool())
	}

	ctx := t.Context()
	c, err := ctr.Client("contoso")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.RemoteAssistanceState != client.StateNotConfigured || s.BlockChat || s.AllowSessionsToUnenrolledDevices {
		t.Errorf("first GET: %+v, want the defaults", s)
	}
	s, err = c.Update(ctx, client.Patch{RemoteAssistanceState: client.Ptr(client.StateEnabled), BlockChat: client.Ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if s.RemoteAssistanceState != client.StateEnabled || !s.BlockChat {
		t.Errorf("PATCH: %+v", s)
	}

	// Another tenant sees its own settings, not contoso's.
	other, err := ctr.Client("fabrikam")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := other.Get(ctx); err != nil || s.RemoteAssistanceState != client.StateNotConfigured {
		t.Errorf("fabrikam: %+v, %v; want its defaults", s, err)
	}

	// A read-only token may GET, not PATCH; an application token with the role may.
	readTok, err := ctr.Token("contoso", ratc.PermissionRead)
	if err != nil {
		t.Fatal(err)
	}
	readOnly, err := client.New(ctr.BaseURL(), client.WithToken(readTok))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := readOnly.Get(ctx); err != nil || s.RemoteAssistanceState != client.StateEnabled {
		t.Errorf("read-only GET: %+v, %v", s, err)
	}
	if _, err := readOnly.Update(ctx, client.Patch{BlockChat: client.Ptr(false)}); !client.IsForbidden(err) {
		t.Errorf("read-only PATCH: %v, want 403", err)
	}
	appTok, err := ctr.AppToken("contoso")
	if err != nil {
		t.Fatal(err)
	}
	app, err := client.New(ctr.BaseURL(), client.WithToken(appTok))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := app.Update(ctx, client.Patch{BlockChat: client.Ptr(false)}); err != nil || s.BlockChat {
		t.Errorf("application token PATCH: %+v, %v", s, err)
	}

	// Mint: an expired token is a 401.
	expired, err := ctr.Mint(jwtauth.TokenSpec{Tenant: "contoso", Scopes: []string{ratc.PermissionReadWrite}, TTL: -time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res := get(t, ctr.BaseURL()+"/deviceManagement/remoteAssistanceSettings", expired); res != http.StatusUnauthorized {
		t.Errorf("expired token: %d, want 401", res)
	}
}

// get GETs url with a bearer token and returns the status.
func get(t *testing.T, url, tok string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestWithThrottle checks that the throttle option reaches the service: past the tenant's
// requests in the window, 429 with Retry-After.
func TestWithThrottle(t *testing.T) {
	ctr := start(t, ratc.WithThrottle(3, 1, time.Hour))
	tok, err := ctr.Token("throttled")
	if err != nil {
		t.Fatal(err)
	}
	url := ctr.BaseURL() + "/deviceManagement/remoteAssistanceSettings"
	var got []int
	for range 4 {
		got = append(got, get(t, url, tok))
	}
	if want := []int{200, 200, 200, 429}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("four GETs with 3 requests per hour: %v, want %v", got, want)
	}
	// Another tenant has its own budget.
	other, err := ctr.Token("unthrottled")
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, url, other); got != http.StatusOK {
		t.Errorf("another tenant: %d, want 200", got)
	}
}

// TestWithStorePostgres runs two containers on one PostgreSQL: what one writes, the other reads.
func TestWithStorePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := start(t, ratc.WithStore(dsn))
	b := start(t, ratc.WithStore(dsn))
	ctx := t.Context()
	// Each container made its own signing key: each client gets a token from its own.
	ca, err := a.Client("contoso")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Client("contoso")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Update(ctx, client.Patch{RemoteAssistanceState: client.Ptr(client.StateDisabled)}); err != nil {
		t.Fatal(err)
	}
	if s, err := cb.Get(ctx); err != nil || s.RemoteAssistanceState != client.StateDisabled {
		t.Errorf("through b after a PATCH through a: %+v, %v", s, err)
	}
	if _, err := cb.Update(ctx, client.Patch{AllowSessionsToUnenrolledDevices: client.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if s, err := ca.Get(ctx); err != nil || !s.AllowSessionsToUnenrolledDevices || s.RemoteAssistanceState != client.StateDisabled {
		t.Errorf("through a after a PATCH through b: %+v, %v", s, err)
	}
}

// TestRunRefusesBadOptions checks that a mistake in an option is an error before any container
// is created.
func TestRunRefusesBadOptions(t *testing.T) {
	for _, opt := range []ratc.Option{
		ratc.WithStore("mysql://db"),
		ratc.WithThrottle(-1, 1, time.Second),
		ratc.WithThrottle(1, 1, 0),
		ratc.WithThrottle(100, 0, time.Second), // serve refuses a zero count: the container would not start
		ratc.WithThrottle(1, 1, 2*time.Hour),
		ratc.WithPort(0),
		ratc.WithStartupTimeout(0),
		ratc.WithProfile("beta"),
	} {
		ctr, err := ratc.Run(t.Context(), image, opt)
		if err == nil || ctr != nil {
			tc.CleanupContainer(t, ctr)
			t.Errorf("Run with a bad option: %v, %v; want an error and no container", ctr, err)
		}
	}
}

// TestRunReportsExit checks that a service that cannot start (its database is unreachable, so
// serve exits 1) makes Run fail with the container's log because the container exited, not at
// the startup timeout: a timeout's error says "did not answer 200 within", never "exited". The
// startup timeout is long so that a slow machine cannot turn the exit into a timeout.
func TestRunReportsExit(t *testing.T) {
	ctr, err := ratc.Run(t.Context(), image, ratc.WithStartupTimeout(5*time.Minute),
		ratc.WithStore("postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"))
	tc.CleanupContainer(t, ctr)
	if err == nil {
		t.Fatal("Run with an unreachable database succeeded")
	}
	if !strings.Contains(err.Error(), "the container exited") || !strings.Contains(err.Error(), "container log:") {
		t.Errorf("error %q does not say the container exited and show its log", err)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		t.Errorf("unexpected exec error: %v", err)
	}
}

// TestVolumeOutlivesContainer checks what the README promises of a named volume at /data
// (testcontainers.WithMounts): the signing key and the embedded store outlive a container, so a
// new one reads the state and accepts the old one's tokens.
func TestVolumeOutlivesContainer(t *testing.T) {
	vol := fmt.Sprintf("remoteassist-tc-%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() { exec.Command("docker", "volume", "rm", "-f", vol).Run() })
	mount := tc.WithMounts(tc.VolumeMount(vol, "/data"))

	first := start(t, mount)
	tok, err := first.Token("contoso")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(first.BaseURL(), client.WithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(t.Context(), client.Patch{RemoteAssistanceState: client.Ptr(client.StateEnabled)}); err != nil {
		t.Fatal(err)
	}
	if err := first.Terminate(t.Context()); err != nil {
		t.Fatal(err)
	}

	second := start(t, mount)
	c, err = client.New(second.BaseURL(), client.WithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.Get(t.Context()); err != nil || s.RemoteAssistanceState != client.StateEnabled {
		t.Errorf("a new container on the volume, with the first one's token: %+v, %v", s, err)
	}
}
