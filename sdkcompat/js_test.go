package sdkcompat_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
)

// Microsoft's JavaScript clients, in js/ (its own package.json and lockfile), against a real
// "remoteassist serve --tls" in each profile: @microsoft/microsoft-graph-client sends tokens only
// to https URLs, and Graph itself is HTTPS. The test builds the command, starts it with its admin
// API (the test control plane, plain HTTP on loopback: the throttling tests add a fault rule that
// answers 429 with Retry-After and read the server's journal), mints tokens with "remoteassist
// token", and runs "node --test" with the base URL, the tokens, the admin API's URL and token and
// the server's CA (NODE_EXTRA_CA_CERTS) in the environment. It fails, with node's output, when a JS test fails,
// and when node is missing.
//
// It installs nothing: js/node_modules is the dependency step's to install (npm ci), and the test
// only checks that it was installed from the package-lock.json beside it, by the sha256 of that
// lock file recorded in node_modules/.remoteassist-lock.sha256, the stamp scripts/lint-npm-env.sh
// keeps for the root's tools. Missing or stale, the test fails naming the command that installs
// it, so that go test itself never reaches the npm registry.

// jsTenants are the tenants the JS tests use, one per test so that each starts from a tenant
// that never wrote; each gets a read-write and a read-only token.
var jsTenants = []string{
	"gc-fresh", "gc-patch", "gc-select", "gc-invalid", "gc-forbidden",
	"k-fresh", "k-patch", "k-select", "k-invalid", "k-forbidden", "k-hosts",
	"gc-retry-get", "gc-retry-patch", "k-retry-get", "k-retry-patch", "k-retry-patch-outside",
}

// jsTests is how many tests js/*.test.js hold: fewer in node's summary means some were lost.
const jsTests = 19

// Bounds that only keep a hang from stalling the run.
const (
	jsRunTimeout   = 3 * time.Minute
	jsStartTimeout = 60 * time.Second
)

func TestJavaScriptSDKs(t *testing.T) {
	node := lookTool(t, "node")
	checkJSInstalled(t)
	bin := buildRemoteassist(t)
	for _, p := range remoteassist.Profiles() {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			dataDir := t.TempDir()
			base, adminURL := startServeTLS(t, bin, dataDir, p)
			adminToken, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
			if err != nil {
				t.Fatalf("the admin token serve made: %v", err)
			}
			tokens := map[string]map[string]string{}
			for _, tenant := range jsTenants {
				tokens[tenant] = map[string]string{
					"readWrite": mintToken(t, bin, dataDir, tenant, "DeviceManagementServiceConfig.ReadWrite.All"),
					"read":      mintToken(t, bin, dataDir, tenant, "DeviceManagementServiceConfig.Read.All"),
				}
			}
			tokensJSON, err := json.Marshal(tokens)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), jsRunTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "graphclient.test.js", "kiota.test.js")
			cmd.Dir = "js"
			cmd.Env = append(os.Environ(),
				"REMOTEASSIST_BASE_URL="+base,
				"REMOTEASSIST_PROFILE="+string(p),
				"REMOTEASSIST_TOKENS="+string(tokensJSON),
				"REMOTEASSIST_ADMIN_URL="+adminURL,
				"REMOTEASSIST_ADMIN_TOKEN="+strings.TrimSpace(string(adminToken)),
				"NODE_EXTRA_CA_CERTS="+filepath.Join(dataDir, "ca.pem"),
				// The SDKs read Graph's zone-less innerError.date as local time: the same on
				// every machine under UTC. serve keeps the machine's zone, so the tests also
				// show that it writes UTC whatever that zone is.
				"TZ=UTC",
				"NO_COLOR=1", "FORCE_COLOR=0",
			)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("node --test did not finish within %v:\n%s", jsRunTimeout, out)
			}
			if err != nil {
				t.Fatalf("node --test against serve --tls --profile %s: %v\n%s", p, err, out)
			}
			// node --test exits 0 for zero tests too: make sure every test ran and passed.
			summary := regexp.MustCompile(`(?m)^ℹ (tests|pass|fail|skipped|todo|cancelled) (\d+)$`).FindAllStringSubmatch(string(out), -1)
			counts := map[string]string{}
			for _, m := range summary {
				counts[m[1]] = m[2]
			}
			if n := strconv.Itoa(jsTests); counts["tests"] != n || counts["pass"] != n || counts["fail"] != "0" || counts["skipped"] != "0" || counts["todo"] != "0" {
				t.Fatalf("node --test summary %v, want %d tests, all passed\n%s", counts, jsTests, out)
			}
			t.Logf("node --test against serve --tls --profile %s:\n%s", p, out)
		})
	}
}

// lookTool finds a command the JS tests need, failing with a hint when it is missing.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed to run Microsoft's JavaScript SDKs against the server (Node.js 20 or later): "+
			"bash scripts/install-deps.sh installs Debian's (apt-get install nodejs npm): %v", name, err)
	}
	return path
}

// jsLockStamp is where the install records the sha256 of the package-lock.json it installed
// from, as scripts/lint-npm-env.sh's npm_ensure_installed does for every npm directory.
const jsLockStamp = ".remoteassist-lock.sha256"

// jsInstallCommand installs js/node_modules from its lock file and stamps it, from the
// repository's root: what the dependency step runs (scripts/lint-npm-env.sh, the one installer
// of the project's npm directories), and what a developer runs by hand.
const jsInstallCommand = "bash scripts/lint-npm-env.sh install sdkcompat/js"

// checkJSInstalled fails the test unless js/node_modules was installed from the package-lock.json
// beside it: its stamp holds that lock file's sha256.
func checkJSInstalled(t *testing.T) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join("js", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	modules := filepath.Join("js", "node_modules")
	if fi, err := os.Stat(modules); err != nil || !fi.IsDir() {
		t.Fatalf("sdkcompat/js/node_modules is not installed (the dependency step installs it; go test does not). "+
			"From the repository's root, run:\n\t%s", jsInstallCommand)
	}
	stamp, err := os.ReadFile(filepath.Join(modules, jsLockStamp))
	if have := strings.TrimSpace(string(stamp)); err != nil || have != want {
		what := fmt.Sprintf("its stamp records the lock file sha256 %q", have)
		if err != nil {
			what = "it has no stamp of the lock file it was installed from (" + jsLockStamp + ")"
		}
		t.Fatalf("sdkcompat/js/node_modules is stale: %s, package-lock.json's is %s. "+
			"From the repository's root, run:\n\t%s", what, want, jsInstallCommand)
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// buildRemoteassist builds the command once per test binary, with the go tool that runs the
// tests, into a directory TestMain removes.
func buildRemoteassist(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go tool is needed to build remoteassist: %w", err)
			return
		}
		buildDir, err = os.MkdirTemp("", "sdkcompat-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(buildDir, "remoteassist")
		cmd := exec.Command(goTool, "build", "-o", builtBin, "github.com/remoteassist/remoteassist/cmd/remoteassist")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/remoteassist: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// mintToken runs "remoteassist token" for tenant with one delegated scope.
func mintToken(t *testing.T, bin, dataDir, tenant, scope string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), jsStartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "token", "--data", dataDir, "--tenant", tenant, "--scopes", scope)
	cmd.Env = serveEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("remoteassist token --tenant %s: %v", tenant, err)
	}
	return strings.TrimSpace(string(out))
}

// serveEnv is the test's environment without REMOTEASSIST_ variables.
func serveEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "REMOTEASSIST_") })
}

// startServeTLS starts "remoteassist serve --tls --profile p" on a port the kernel picks, with
// the admin API (the test control plane: fault rules, the journal) on another, and returns the
// API's base URL and the admin API's URL, read from its start-up log, once /healthz answers over
// HTTPS verified with the ca.pem it made. The admin token is DATA/admin-token, which serve makes.
// The process is stopped when the test ends; its log is shown if the test failed.
func startServeTLS(t *testing.T, bin, dataDir string, p remoteassist.Profile) (base, admin string) {
	t.Helper()
	var log syncBuffer
	cmd := exec.Command(bin, "serve", "--tls", "--profile", string(p), "--data", dataDir, "--store", "memory",
		"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	cmd.Env = serveEnv()
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the test binary
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("log of serve --profile %s:\n%s", p, log.String())
		}
	})
	baseURL := regexp.MustCompile(`base_url=(https://127\.0\.0\.1:\d+/beta)`)
	adminAddr := regexp.MustCompile(`msg="admin API" addr=(127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(jsStartTimeout)
	for {
		if m, a := baseURL.FindStringSubmatch(log.String()), adminAddr.FindStringSubmatch(log.String()); m != nil && a != nil {
			if pool := caPool(filepath.Join(dataDir, "ca.pem")); pool != nil && healthy(t, m[1], pool) {
				return m[1], "http://" + a[1]
			}
		}
		select {
		case <-exited:
			t.Fatalf("serve --tls --profile %s exited before it served:\n%s", p, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --tls --profile %s did not answer /healthz over HTTPS within %v:\n%s", p, jsStartTimeout, log.String())
		}
	}
}

func caPool(path string) *x509.CertPool {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil
	}
	return pool
}

func healthy(t *testing.T, base string, pool *x509.CertPool) bool {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: nil}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/beta")+"/healthz", nil)
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// syncBuffer is a bytes.Buffer safe for a process to write while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
