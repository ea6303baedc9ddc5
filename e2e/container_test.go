package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/pgtest"
)

// The image's contract with whoever runs it.
const (
	imageUser    = "65532:65532"
	maxImageSize = 25_000_000 // bytes
	// docker stop -t for a stop that must end gracefully: far past serve's --shutdown-grace (8 s
	// by default), so that only a hang meets the SIGKILL at its end.
	stopGrace = 2 * time.Minute
)

// TestImageConfig checks what the image declares: the non-root numeric user, serve on all
// interfaces with /data as the volume, the health check, the OCI labels matching the binary's
// own version, and its size.
func TestImageConfig(t *testing.T) {
	image := needImage(t)
	var img struct {
		Size   int64
		Config struct {
			User         string
			Env          []string
			Entrypoint   []string
			Cmd          []string
			Volumes      map[string]struct{}
			ExposedPorts map[string]struct{}
			Labels       map[string]string
			StopSignal   string
			Healthcheck  struct{ Test []string }
		}
	}
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", "--format", "{{json .}}", image)), &img); err != nil {
		t.Fatal(err)
	}
	c := img.Config
	if c.User != imageUser {
		t.Errorf("User %q, want %q", c.User, imageUser)
	}
	for _, env := range []string{"REMOTEASSIST_ADDR=0.0.0.0:8080", "REMOTEASSIST_DATA=/data"} {
		if !slices.Contains(c.Env, env) {
			t.Errorf("Env %q lacks %s", c.Env, env)
		}
	}
	if !slices.Equal(c.Entrypoint, []string{"/remoteassist"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
		t.Errorf("Entrypoint %q, Cmd %q; want /remoteassist serve", c.Entrypoint, c.Cmd)
	}
	if _, ok := c.Volumes["/data"]; !ok || len(c.Volumes) != 1 {
		t.Errorf("Volumes %v, want /data only", c.Volumes)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts %v, want 8080/tcp", c.ExposedPorts)
	}
	if want := []string{"CMD", "/remoteassist", "healthcheck"}; !slices.Equal(c.Healthcheck.Test, want) {
		t.Errorf("Healthcheck %q, want %q", c.Healthcheck.Test, want)
	}
	if c.StopSignal != "SIGTERM" {
		t.Errorf("StopSignal %q, want SIGTERM", c.StopSignal)
	}
	if img.Size > maxImageSize {
		t.Errorf("image size %d bytes, want at most %d", img.Size, maxImageSize)
	}
	t.Logf("image %s: %d bytes", image, img.Size)

	// The binary's own idea of its version, for the labels to match.
	out := docker(t, "run", "--rm", "--network", "none", image, "version")
	m := regexp.MustCompile(`^remoteassist (\S+)\ncommit ([0-9a-f]{40})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("remoteassist version in the image: %q, want a version and a 40-digit commit", out)
	}
	for label, want := range map[string]string{
		"org.opencontainers.image.source":   "https://github.com/remoteassist/remoteassist",
		"org.opencontainers.image.licenses": "MIT",
		"org.opencontainers.image.version":  m[1],
		"org.opencontainers.image.revision": m[2],
	} {
		if got := c.Labels[label]; got != want {
			t.Errorf("label %s = %q, want %q", label, got, want)
		}
	}
}

// TestContainerServes runs the image as a user would (its own command, its health check) and
// checks that it serves GET and PATCH, reports healthy, and never runs as root.
func TestContainerServes(t *testing.T) {
	c := startContainer(t, "serves", containerOpts{volume: newVolume(t), extra: []string{"--health-interval", "1s"}})
	const tenant = "contoso"
	tok := c.token(t, tenant)

	if got := getSettings(t, c.base, tok, tenant); got != remoteassist.DefaultSettings(tenant) {
		t.Errorf("first GET: %+v, want the defaults", got)
	}
	want := remoteassist.Settings{ID: remoteassist.SettingsID(tenant), RemoteAssistanceState: remoteassist.StateEnabled, BlockChat: true}
	if got := patchSettings(t, c.base, tok, tenant, `{"remoteAssistanceState":"enabled","blockChat":true}`); got != want {
		t.Errorf("PATCH: %+v, want %+v", got, want)
	}
	if got := getSettings(t, c.base, tok, tenant); got != want {
		t.Errorf("GET after PATCH: %+v, want %+v", got, want)
	}
	if res := call(t, http.MethodGet, c.base+settingsPath, "", ""); res.status != http.StatusUnauthorized {
		t.Errorf("GET without a token: %d %s, want 401", res.status, res.body)
	}
	readOnly := c.token(t, tenant, "--scopes", "DeviceManagementServiceConfig.Read.All")
	if res := call(t, http.MethodPatch, c.base+settingsPath, readOnly, `{"blockChat":false}`); res.status != http.StatusForbidden {
		t.Errorf("PATCH with a read-only token: %d %s, want 403", res.status, res.body)
	}

	c.waitHealthy(t)
	if code, out := c.exec(t, "healthcheck"); code != 0 {
		t.Errorf("remoteassist healthcheck in the container: exit %d: %s", code, out)
	}
	if code, out := c.exec(t, "healthcheck", "--url", "http://127.0.0.1:1/readyz"); code != 1 || !strings.HasPrefix(out, "unhealthy: ") {
		t.Errorf("healthcheck of a port nothing listens on: exit %d: %q, want 1 and unhealthy", code, out)
	}
	checkNotRoot(t, c)
}

// checkNotRoot checks every id of the container's process (real, effective, saved, file
// system) and its capabilities, from the host's /proc.
func checkNotRoot(t *testing.T, c *ctr) {
	t.Helper()
	pid := c.inspect(t, "{{.State.Pid}}")
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("the container's process %s: %v (the daemon must run on this machine)", pid, err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	for key, want := range map[string]string{"Uid": "65532 65532 65532 65532", "Gid": "65532 65532 65532 65532", "CapEff": "0000000000000000"} {
		if fields[key] != want {
			t.Errorf("process %s in container %s: %s %q, want %q", pid, c.role, key, fields[key], want)
		}
	}
	// And as docker top shows it to an operator.
	top := docker(t, "top", c.name, "-o", "pid,uid,args")
	if !strings.Contains(top, "65532") || !strings.Contains(top, "/remoteassist serve") {
		t.Errorf("docker top: %q, want /remoteassist serve as uid 65532", top)
	}
}

// TestContainerReadOnlyRootFS runs the image with a read-only root file system: only /data,
// the image's anonymous volume here, is written (the signing key, the embedded store).
func TestContainerReadOnlyRootFS(t *testing.T) {
	c := startContainer(t, "read-only", containerOpts{readOnly: true})
	if got := c.inspect(t, "{{.HostConfig.ReadonlyRootfs}}"); got != "true" {
		t.Fatalf("ReadonlyRootfs %s", got)
	}
	const tenant = "fabrikam"
	tok := c.token(t, tenant)
	want := remoteassist.Settings{ID: remoteassist.SettingsID(tenant), AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: remoteassist.StateNotConfigured}
	if got := patchSettings(t, c.base, tok, tenant, `{"allowSessionsToUnenrolledDevices":true}`); got != want {
		t.Errorf("PATCH: %+v, want %+v", got, want)
	}
	if got := getSettings(t, c.base, tok, tenant); got != want {
		t.Errorf("GET: %+v, want %+v", got, want)
	}
	checkNotRoot(t, c)
}

// TestContainerHealthcheckFollowsServeFlags runs the image as docker run IMAGE serve --addr
// 127.0.0.1:PORT [--tls]: the address and the scheme are serve's flags, while the environment the
// HEALTHCHECK shares with it names another port (the image's 8080, here one nothing listens on).
// Two such containers share one /data volume, one of them with a read-only root file system:
// each is healthy by its own serve's record, and stays so when the other stops.
func TestContainerHealthcheckFollowsServeFlags(t *testing.T) {
	volume := newVolume(t)
	health := []string{"--health-interval", "1s"}
	plain := launchContainer(t, "addr-flag", containerOpts{volume: volume, store: "memory", addrFlag: true, extra: health})
	plain.waitReady(t) // first, so that the signing key on the shared volume is made once
	tls := launchContainer(t, "addr-flag-tls", containerOpts{volume: volume, store: "memory", addrFlag: true, tlsFlag: true, readOnly: true, extra: health})
	for _, c := range []*ctr{plain, tls} {
		c.waitHealthy(t)
		if code, out := c.exec(t, "healthcheck"); code != 0 {
			t.Errorf("remoteassist healthcheck in %s: exit %d: %s", c.role, code, out)
		}
	}
	docker(t, "stop", "-t", strconv.Itoa(int(stopGrace/time.Second)), tls.name)
	if code, out := plain.exec(t, "healthcheck"); code != 0 {
		t.Errorf("remoteassist healthcheck in %s once %s stopped: exit %d: %s", plain.role, tls.role, code, out)
	}
}

// TestContainerStateSurvivesKill writes through one container, kills it (SIGKILL: no shutdown at
// all) and reads everything back through a new container on the same volume, with tokens the
// first one's key signed.
func TestContainerStateSurvivesKill(t *testing.T) {
	vol := newVolume(t)
	first := startContainer(t, "before-kill", containerOpts{volume: vol})
	tenants := []string{"kill-0", "kill-1", "kill-2", "kill-3"}
	toks := map[string]string{}
	want := map[string]remoteassist.Settings{}
	for i, tenant := range tenants {
		toks[tenant] = first.token(t, tenant)
		want[tenant] = remoteassist.Settings{
			ID:                               remoteassist.SettingsID(tenant),
			AllowSessionsToUnenrolledDevices: i%2 == 0,
			RemoteAssistanceState:            []remoteassist.State{remoteassist.StateEnabled, remoteassist.StateDisabled}[i%2],
			BlockChat:                        i%2 == 1,
		}
		s := want[tenant]
		body := fmt.Sprintf(`{"allowSessionsToUnenrolledDevices":%t,"remoteAssistanceState":%q,"blockChat":%t}`, s.AllowSessionsToUnenrolledDevices, s.RemoteAssistanceState, s.BlockChat)
		if got := patchSettings(t, first.base, toks[tenant], tenant, body); got != s {
			t.Fatalf("PATCH %s: %+v, want %+v", tenant, got, s)
		}
	}
	docker(t, "kill", first.name)
	if got := first.inspect(t, "{{.State.Running}} {{.State.ExitCode}}"); got != "false 137" {
		t.Fatalf("after docker kill: running, exit code = %s, want false 137 (SIGKILL)", got)
	}

	second := startContainer(t, "after-kill", containerOpts{volume: vol})
	for _, tenant := range tenants {
		if got := getSettings(t, second.base, toks[tenant], tenant); got != want[tenant] {
			t.Errorf("%s after the kill, new container: %+v, want %+v", tenant, got, want[tenant])
		}
	}
}

// TestContainersOnPostgres runs two containers on one PostgreSQL (on the host's loopback, which
// host networking reaches) and one volume, whose signing key they share: concurrent PATCHes of
// different properties through both lose nothing, and a write through one is read through the
// other at once.
func TestContainersOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	vol := newVolume(t)
	// Both start at once: they create the key and run the migrations concurrently.
	a := launchContainer(t, "pg-a", containerOpts{volume: vol, store: dsn})
	b := launchContainer(t, "pg-b", containerOpts{volume: vol, store: dsn})
	a.waitReady(t)
	b.waitReady(t)

	tenants := []string{"pg-0", "pg-1", "pg-2", "pg-3", "pg-4", "pg-5"}
	toks := map[string]string{}
	for i, tenant := range tenants {
		toks[tenant] = []*ctr{a, b}[i%2].token(t, tenant)
	}
	bodies := []string{`{"allowSessionsToUnenrolledDevices":true}`, `{"remoteAssistanceState":"enabled"}`, `{"blockChat":true}`}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, tenant := range tenants {
		for j, body := range bodies {
			via := []*ctr{a, b}[(i+j)%2]
			wg.Go(func() {
				<-start
				ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
				defer cancel()
				res, err := do(ctx, http.MethodPatch, via.base+settingsPath, toks[tenant], body)
				if err != nil || res.status != http.StatusOK {
					t.Errorf("PATCH %s of %s through %s: %v %d %s", body, tenant, via.role, err, res.status, res.body)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	for _, tenant := range tenants {
		want := remoteassist.Settings{ID: remoteassist.SettingsID(tenant), AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: remoteassist.StateEnabled, BlockChat: true}
		for _, c := range []*ctr{a, b} {
			if got := getSettings(t, c.base, toks[tenant], tenant); got != want {
				t.Errorf("%s through %s: %+v, want %+v (a concurrent PATCH was lost)", tenant, c.role, got, want)
			}
		}
	}
	// Read your writes across replicas, both ways.
	const tenant = "pg-ryw"
	tok := a.token(t, tenant)
	for i, pair := range [][2]*ctr{{a, b}, {b, a}, {a, b}} {
		state := []remoteassist.State{remoteassist.StateDisabled, remoteassist.StateEnabled, remoteassist.StateNotConfigured}[i]
		patchSettings(t, pair[0].base, tok, tenant, fmt.Sprintf(`{"remoteAssistanceState":%q}`, state))
		if got := getSettings(t, pair[1].base, tok, tenant); got.RemoteAssistanceState != state {
			t.Errorf("PATCH through %s then GET through %s: %s, want %s", pair[0].role, pair[1].role, got.RemoteAssistanceState, state)
		}
	}
}

// TestContainerStopLosesNoAcknowledgedPatch PATCHes in a loop, one writer per tenant, while
// docker stop shuts the container down: it must exit 0 (a graceful exit, not the SIGKILL that
// ends docker stop's grace period, stopGrace, whose exit code is 137), and every PATCH it
// answered 200 must be in the store a new container on the same volume reads. A writer's one
// request in flight when the server stopped may or may not have been applied; nothing older may
// be missing. No duration is asserted: the bounds only stop a hang.
func TestContainerStopLosesNoAcknowledgedPatch(t *testing.T) {
	vol := newVolume(t)
	c := startContainer(t, "stopping", containerOpts{volume: vol})

	// Twelve states, all three properties set in each, so that a tenant's stored state names the
	// last write applied: consecutive writes always differ.
	var states []remoteassist.Settings
	for _, state := range []remoteassist.State{remoteassist.StateNotConfigured, remoteassist.StateDisabled, remoteassist.StateEnabled} {
		for _, allow := range []bool{false, true} {
			for _, block := range []bool{true, false} {
				states = append(states, remoteassist.Settings{AllowSessionsToUnenrolledDevices: allow, RemoteAssistanceState: state, BlockChat: block})
			}
		}
	}
	body := func(s remoteassist.Settings) string {
		return fmt.Sprintf(`{"allowSessionsToUnenrolledDevices":%t,"remoteAssistanceState":%q,"blockChat":%t}`, s.AllowSessionsToUnenrolledDevices, s.RemoteAssistanceState, s.BlockChat)
	}

	const writers = 8
	type lane struct {
		tenant, tok string
		acked       int // writes answered 200: states[0..acked-1]; states[acked] may be in flight
		last        string
	}
	lanes := make([]*lane, writers)
	for i := range lanes {
		tenant := "stop-" + strconv.Itoa(i)
		lanes[i] = &lane{tenant: tenant, tok: c.token(t, tenant)}
	}
	var total atomic.Int64
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	// Hang bounds: for the 200 PATCHes to be answered, and for the writers, which the stop
	// ends long before this.
	const enoughBound, writeBound = 5 * time.Minute, 15 * time.Minute
	deadline := time.Now().Add(writeBound)
	for _, l := range lanes {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				res, err := do(ctx, http.MethodPatch, c.base+settingsPath, l.tok, body(states[i%len(states)]))
				cancel()
				if err != nil || res.status != http.StatusOK {
					// The server is going or gone: this write is the one in flight.
					l.last = fmt.Sprintf("%v %d %s", err, res.status, res.body)
					return
				}
				l.acked = i + 1
				if total.Add(1) == 200 {
					once.Do(func() { close(enough) })
				}
			}
			l.last = "the loop's time bound ran out"
		})
	}
	select {
	case <-enough:
	case <-time.After(enoughBound):
		t.Fatalf("fewer than 200 PATCHes answered within %v (a hang bound)", enoughBound)
	}
	began := time.Now()
	if out, errOut, err := dockerCmd(stopGrace+commandTimeout, "stop", "-t", strconv.Itoa(int(stopGrace/time.Second)), c.name); err != nil {
		t.Fatalf("docker stop -t %d %s: %v\n%s%s", int(stopGrace/time.Second), c.name, err, out, errOut)
	}
	took := time.Since(began)
	wg.Wait()

	if got := c.inspect(t, "{{.State.ExitCode}} {{.State.OOMKilled}}"); got != "0 false" {
		t.Errorf("after docker stop: exit code, OOM-killed = %s, want 0 false (a graceful exit, not a SIGKILL at the end of the %v grace period)", got, stopGrace)
	}
	if logs := c.logs(); !strings.Contains(logs, "shutting down") {
		t.Errorf("the log does not say it shut down gracefully:\n%s", logs)
	}
	t.Logf("docker stop took %v; %d PATCHes answered 200", took, total.Load())

	next := startContainer(t, "after-stop", containerOpts{volume: vol})
	for _, l := range lanes {
		if l.acked == 0 {
			t.Errorf("%s: no PATCH answered before the stop (%s)", l.tenant, l.last)
			continue
		}
		got := getSettings(t, next.base, l.tok, l.tenant)
		got.ID = ""
		acked, inFlight := states[(l.acked-1)%len(states)], states[l.acked%len(states)]
		if got != acked && got != inFlight {
			t.Errorf("%s: stored %+v after %d acknowledged PATCHes, want the last acknowledged %+v (or the one in flight, %+v); the writer stopped on: %s",
				l.tenant, got, l.acked, acked, inFlight, l.last)
		}
	}
}

// TestContainerDataDirNotWritable bind-mounts a host directory the image's user cannot write
// at /data, as `docker run -v "$PWD/data:/data"` does in a CI job: serve exits 1 at once with
// one line that says the directory must be writable by 65532:65532 and how to make it so,
// rather than only the permission denied of whichever file it tried first.
func TestContainerDataDirNotWritable(t *testing.T) {
	image := needImage(t)
	dir := t.TempDir() // 0700, the test's own user's: not 65532's
	for _, mode := range []struct{ name, env string }{{"embedded store", ""}, {"--tls", "REMOTEASSIST_TLS=true"}} {
		t.Run(mode.name, func(t *testing.T) {
			args := []string{"run", "--rm", "--label", runLabel + "=" + runID, "--network", "host",
				"-e", "REMOTEASSIST_ADDR=127.0.0.1:0", "-v", dir + ":/data"}
			if mode.env != "" {
				args = append(args, "-e", mode.env)
			}
			_, stderr, err := dockerCmd(commandTimeout, append(args, image)...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("docker run: %v, want exit status 1; stderr:\n%s", err, stderr)
			}
			want := "permission denied; the data directory /data must be writable by uid 65532, gid 65532, which serve runs as: chown 65532:65532 the directory"
			if !strings.HasPrefix(stderr, "remoteassist serve: ") || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line with %q", stderr, want)
			}
		})
	}
}
