package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The container tests drive the image with the docker CLI, so the main module takes no Docker
// client dependency. They need a daemon: $DOCKER_HOST's, else the one scripts/docker.sh uses or
// started (make test starts one and builds the image first). Without one they fail, saying how to
// get one; they never skip.
//
// The image under test is $REMOTEASSIST_TEST_IMAGE, else one built once per run with
// scripts/image.sh and removed at the end. Every container runs with --network host on its own
// free loopback port (REMOTEASSIST_ADDR=127.0.0.1:PORT), and every container and volume carries
// the label runLabel=runID, so TestMain removes whatever a failed test left behind.

const (
	runLabel       = "remoteassist.e2e.run"
	imageTimeout   = 10 * time.Minute // building the image: a Go build with a cold cache
	healthyTimeout = 60 * time.Second // Docker's health check to pass
)

var (
	runID = newRunID()

	dockerOnce sync.Once
	dockerEnv  []string // the environment docker runs with: ours, with DOCKER_HOST set
	dockerErr  error

	imageOnce  sync.Once
	imageName  string
	imageBuilt bool // built by this run, so removed at the end
	imageErr   error

	names atomic.Int64 // numbers container and volume names
)

func newRunID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// repoRoot is the checkout the tests run in: the e2e package's parent directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// needDocker fails the test unless a Docker daemon answers.
func needDocker(t *testing.T) {
	t.Helper()
	dockerOnce.Do(func() { dockerEnv, dockerErr = findDocker() })
	if dockerErr != nil {
		t.Fatalf("the container tests need Docker: %v\n"+
			"Start a daemon with `bash scripts/docker.sh start` (it prints the DOCKER_HOST to export; make test does it all).", dockerErr)
	}
}

func findDocker() ([]string, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, fmt.Errorf("no docker command: %w", err)
	}
	env := os.Environ()
	if os.Getenv("DOCKER_HOST") == "" {
		// The daemon scripts/docker.sh would use: the system one, else this checkout's own.
		out, err := exec.Command("bash", filepath.Join(repoRoot(), "scripts", "docker.sh"), "host").Output()
		if err != nil {
			return nil, fmt.Errorf("bash scripts/docker.sh host: %w", err)
		}
		env = append(env, "DOCKER_HOST="+strings.TrimSpace(string(out)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("docker version: %w: %s", err, bytes.TrimSpace(out))
	}
	return env, nil
}

// dockerCmd runs docker with args, bounded by timeout.
func dockerCmd(timeout time.Duration, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = dockerEnv
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("no result within %v", timeout)
	}
	return out.String(), errOut.String(), err
}

// docker runs docker with args and returns its trimmed output; the test fails if it fails.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	needDocker(t)
	out, errOut, err := dockerCmd(commandTimeout, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return strings.TrimSpace(out)
}

// needImage returns the image under test, building it on first use unless
// $REMOTEASSIST_TEST_IMAGE names one.
func needImage(t *testing.T) string {
	t.Helper()
	needDocker(t)
	imageOnce.Do(func() {
		if name := os.Getenv("REMOTEASSIST_TEST_IMAGE"); name != "" {
			imageName = name
			if _, errOut, err := dockerCmd(commandTimeout, "image", "inspect", name); err != nil {
				imageErr = fmt.Errorf("REMOTEASSIST_TEST_IMAGE=%s: %v: %s (build it with make image IMAGE=%s)", name, err, errOut, name)
			}
			return
		}
		imageName = "remoteassist:e2e-" + runID
		ctx, cancel := context.WithTimeout(context.Background(), imageTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(), "scripts", "image.sh"), imageName)
		cmd.Env = dockerEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("bash scripts/image.sh %s: %v\n%s", imageName, err, out)
			return
		}
		imageBuilt = true
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageName
}

// cleanupDocker removes what this run left: containers and volumes with its label (a test that
// passed removed its own already) and the image it built. TestMain calls it.
func cleanupDocker() {
	if dockerEnv == nil {
		return
	}
	filter := "label=" + runLabel + "=" + runID
	if out, _, err := dockerCmd(commandTimeout, "ps", "-aq", "--filter", filter); err == nil && strings.TrimSpace(out) != "" {
		dockerCmd(commandTimeout, append([]string{"rm", "-f", "-v"}, strings.Fields(out)...)...)
	}
	if out, _, err := dockerCmd(commandTimeout, "volume", "ls", "-q", "--filter", filter); err == nil && strings.TrimSpace(out) != "" {
		dockerCmd(commandTimeout, append([]string{"volume", "rm", "-f"}, strings.Fields(out)...)...)
	}
	if imageBuilt {
		dockerCmd(commandTimeout, "rmi", "-f", imageName)
	}
}

// newVolume creates a named volume for the test and removes it when the test ends, after the
// test's containers (cleanups run last registered first).
func newVolume(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("ra-e2e-%s-%d", runID, names.Add(1))
	docker(t, "volume", "create", "--label", runLabel+"="+runID, name)
	t.Cleanup(func() { dockerCmd(commandTimeout, "volume", "rm", "-f", name) })
	return name
}

// containerOpts is how to run one container of the image.
type containerOpts struct {
	volume   string   // a named volume for /data; empty: the image's anonymous volume
	store    string   // REMOTEASSIST_STORE
	readOnly bool     // --read-only
	addrFlag bool     // the command serve --addr with the port, REMOTEASSIST_ADDR one nothing listens on
	tlsFlag  bool     // with addrFlag, serve's --tls too
	extra    []string // more docker run flags
}

// ctr is one container of the image under test, serving on base.
type ctr struct {
	name string // a name of our own, unique in the run
	role string // what the test calls it, for messages
	opts containerOpts
	base string // http://127.0.0.1:PORT
}

// startContainer runs a container and waits until it answers /readyz on its port. It is
// removed when the test ends, and its log is shown if the test failed.
func startContainer(t *testing.T, role string, o containerOpts) *ctr {
	t.Helper()
	c := launchContainer(t, role, o)
	c.waitReady(t)
	return c
}

// launchContainer runs a container without waiting for it to serve; waitReady waits.
func launchContainer(t *testing.T, role string, o containerOpts) *ctr {
	t.Helper()
	c := &ctr{name: fmt.Sprintf("ra-e2e-%s-%d-%s", runID, names.Add(1), role), role: role, opts: o}
	t.Cleanup(func() {
		if t.Failed() {
			logs := c.logs()
			if len(logs) > 6000 {
				logs = logs[len(logs)-6000:]
			}
			t.Logf("log of container %s (%s):\n%s", c.role, c.name, logs)
		}
		dockerCmd(commandTimeout, "rm", "-f", "-v", c.name)
	})
	c.run(t)
	return c
}

// run picks a free loopback port and runs the container on it, host networking.
func (c *ctr) run(t *testing.T) {
	t.Helper()
	image := needImage(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	addrEnv := addr
	if c.opts.addrFlag {
		addrEnv = freeAddr(t) // as the image's 8080 is to docker run IMAGE serve --addr
	}
	args := []string{"run", "-d", "--name", c.name, "--label", runLabel + "=" + runID,
		"--network", "host", "-e", "REMOTEASSIST_ADDR=" + addrEnv}
	if c.opts.volume != "" {
		args = append(args, "-v", c.opts.volume+":/data")
	}
	if c.opts.store != "" {
		args = append(args, "-e", "REMOTEASSIST_STORE="+c.opts.store)
	}
	if c.opts.readOnly {
		args = append(args, "--read-only")
	}
	args = append(append(args, c.opts.extra...), image)
	if c.opts.addrFlag {
		args = append(args, "serve", "--addr", addr)
		if c.opts.tlsFlag {
			args = append(args, "--tls")
		}
	}
	docker(t, args...)
	c.base = "http://" + addr
}

// waitReady polls /readyz until it answers 200. A container that exits because another process
// took its port between the probe and the start is run again on another port.
func (c *ctr) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for attempt, polls := 1, 0; ; polls++ {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		res, err := do(ctx, http.MethodGet, c.base+"/readyz", "", "")
		cancel()
		if err == nil && res.status == http.StatusOK {
			return
		}
		if polls%10 == 9 && c.inspect(t, "{{.State.Running}}") != "true" {
			logs := c.logs()
			if strings.Contains(logs, "address already in use") && attempt < 3 {
				attempt++
				dockerCmd(commandTimeout, "rm", "-f", c.name)
				c.run(t)
				continue
			}
			t.Fatalf("container %s exited before it served (%s):\n%s", c.role, c.inspect(t, "{{.State.Status}} {{.State.ExitCode}}"), logs)
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s did not answer %s/readyz within %v (last: %d, %v)", c.role, c.base, startTimeout, res.status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logs returns the container's log: serve writes it to stderr, which docker logs replays on its
// own stderr.
func (c *ctr) logs() string {
	out, errOut, err := dockerCmd(commandTimeout, "logs", c.name)
	if err != nil {
		return fmt.Sprintf("(docker logs: %v: %s)", err, errOut)
	}
	return out + errOut
}

// inspect returns the container's docker inspect output for a Go template.
func (c *ctr) inspect(t *testing.T, format string) string {
	t.Helper()
	return docker(t, "inspect", "--format", format, c.name)
}

// token mints a token for tenant inside the container, with the key in its /data; extra are
// more `remoteassist token` flags.
func (c *ctr) token(t *testing.T, tenant string, extra ...string) string {
	t.Helper()
	tok := docker(t, append([]string{"exec", c.name, "/remoteassist", "token", "--tenant", tenant}, extra...)...)
	if tok == "" || strings.ContainsAny(tok, " \n") {
		t.Fatalf("remoteassist token in %s: %q", c.role, tok)
	}
	return tok
}

// exec runs the binary in the container and returns its exit code and combined output.
func (c *ctr) exec(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, errOut, err := dockerCmd(commandTimeout, append([]string{"exec", c.name, "/remoteassist"}, args...)...)
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), out + errOut
	case err != nil:
		t.Fatalf("docker exec %s /remoteassist %s: %v", c.role, strings.Join(args, " "), err)
	}
	return 0, out + errOut
}

// waitHealthy waits until Docker's own health check, the image's HEALTHCHECK, reports healthy.
func (c *ctr) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(healthyTimeout)
	for {
		status := c.inspect(t, "{{.State.Health.Status}}")
		if status == "healthy" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: health %q after %v: %s", c.role, status, healthyTimeout, c.inspect(t, "{{json .State.Health}}"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
