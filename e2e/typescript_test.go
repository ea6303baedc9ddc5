package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
)

// The generated TypeScript client: for each fidelity profile, openapi-typescript generates the
// types from the document a running `remoteassist serve` serves (what users get), tsc --strict
// compiles the test programs of clients/typescript against them, and node runs them against
// that server through openapi-fetch, with no serializer configured. The programs' compile-time
// checks make the generated types the judge (the profile's enumeration exactly, the PATCH
// echo's settings required, GET's optional, the error envelope typed); their runtime checks
// cover GET, PATCH, a 400, a 403, $select and client-request-id (clients/typescript/src). The
// TypeScript example of the README's "Generate a client" section is compiled with the documented
// program.
//
// Node.js is needed, and the pinned packages installed in clients/typescript (scripts/test.sh's
// dependency step runs `bash scripts/lint-npm-env.sh install`); without either the test fails and
// names the command that installs it. It installs nothing itself.

// Bounds that only stop a hang; none is a measure of speed.
const (
	generateHangBound  = 2 * time.Minute // openapi-typescript
	compileHangBound   = 5 * time.Minute // tsc
	tsProgramHangBound = 2 * time.Minute // node running a test program
)

// Permissions the tokens carry.
const (
	permReadWrite = "DeviceManagementServiceConfig.ReadWrite.All"
	permRead      = "DeviceManagementServiceConfig.Read.All"
)

func TestTypeScriptClient(t *testing.T) {
	node := nodeTool(t)
	project, err := filepath.Abs(filepath.Join("..", "clients", "typescript"))
	if err != nil {
		t.Fatal(err)
	}
	needNodeModules(t, project)

	for _, tc := range []struct {
		profile  string
		document string // where the generator reads the served document
		// minChecks is how many runtime checks the profile's program passes at least: as many as
		// it had when this was written (raise it with the program's), so that a program whose
		// checks were deleted or skipped fails.
		minChecks int
	}{
		{"documented", "/openapi.yaml", 57},
		{"graph", "/openapi.json", 54},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			dataDir := t.TempDir()
			p := startServeArgs(t, "ts-"+tc.profile, "--data", dataDir, "--store=memory", "--profile", tc.profile)
			tenant := "typescript-" + tc.profile

			work := tsWorkDir(t, project, tc.profile)
			generateTypes(t, node, project, work, p.base+tc.document, filepath.Join(work, "src", "schema.ts"))
			if tc.profile == "documented" {
				readmeSnippet(t, work)
			}
			tsc(t, node, project, work)

			out := runTool(t, work, tsProgramHangBound, []string{
				"RA_BASE_URL=" + p.base + "/beta",
				"RA_TOKEN=" + mintToken(t, dataDir, tenant, permReadWrite),
				"RA_TOKEN_READ=" + mintToken(t, dataDir, tenant, permRead),
				"RA_SETTINGS_ID=" + remoteassist.SettingsID(tenant),
			}, node, filepath.Join(work, "out", tc.profile+".js"))
			last := strings.TrimSpace(out[strings.LastIndexByte(strings.TrimSpace(out), '\n')+1:])
			var passed int
			if _, err := fmt.Sscanf(last, "PASS %d checks", &passed); err != nil || last != fmt.Sprintf("PASS %d checks", passed) {
				t.Fatalf("the %s program exited 0 without saying PASS N checks:\n%s", tc.profile, out)
			}
			if passed < tc.minChecks {
				t.Fatalf("the %s program passed %d checks, want at least %d (were checks deleted or skipped?):\n%s", tc.profile, passed, tc.minChecks, out)
			}
			// check() prints "ok N what" for each: the count is of checks that ran.
			for i := 1; i <= passed; i++ {
				if !strings.Contains(out, fmt.Sprintf("\nok %d ", i)) && !strings.HasPrefix(out, fmt.Sprintf("ok %d ", i)) {
					t.Fatalf("the %s program says PASS %d checks but printed no \"ok %d\" line:\n%s", tc.profile, passed, i, out)
				}
			}
			t.Logf("%s program: %s", tc.profile, last)

			if tc.profile == "documented" {
				checksBite(t, node, project, p.base)
			}
		})
	}
}

// checksBite proves that the documented program's compile-time checks fail when the generated
// types are wrong: with the PATCH answer's required list taken out of the served document, the
// echo's settings become optional and tsc must refuse the program.
func checksBite(t *testing.T, node, project, base string) {
	t.Helper()
	res := call(t, http.MethodGet, base+"/openapi.json", "", "")
	var doc map[string]any
	if res.status != http.StatusOK || json.Unmarshal(res.body, &doc) != nil {
		t.Fatalf("GET /openapi.json: %d %.200s", res.status, res.body)
	}
	entity := doc
	for _, key := range []string{"components", "schemas", "microsoft.graph.remoteAssistanceSettings"} {
		entity, _ = entity[key].(map[string]any)
	}
	if _, ok := entity["required"]; !ok {
		t.Fatalf("the served document's entity schema has no required list: %v", entity)
	}
	delete(entity, "required")
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	work := tsWorkDir(t, project, "documented")
	broken := filepath.Join(work, "broken.json")
	if err := os.WriteFile(broken, b, 0o644); err != nil {
		t.Fatal(err)
	}
	generateTypes(t, node, project, work, broken, filepath.Join(work, "src", "schema.ts"))
	out, err := runToolErr(t, work, compileHangBound, nil, node, filepath.Join(project, "node_modules", "typescript", "bin", "tsc"), "-p", work)
	if err == nil {
		t.Fatalf("tsc compiled the documented program against types whose PATCH answer has optional settings: its checks do not bite\n%s", out)
	}
	if !strings.Contains(out, "src/documented.ts") || !strings.Contains(out, "'boolean | undefined' is not assignable to type 'boolean'") {
		t.Fatalf("tsc refused the program, but not for the PATCH answer's optional settings:\n%s", out)
	}
}

// readmeSnippet puts the TypeScript of the README's "Generate a client" section in the work
// directory, compiled with the program (not run): the README's example keeps compiling against
// the generated types. It imports them as ./remoteassist.js, the file the README generates.
func readmeSnippet(t *testing.T, work string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Generate a client\n")
	_, code, ok2 := strings.Cut(section, "\n```ts\n")
	code, _, ok3 := strings.Cut(code, "\n```\n")
	if !ok || !ok2 || !ok3 {
		t.Fatal(`README.md has no "## Generate a client" section with a ts code block`)
	}
	schema, err := os.ReadFile(filepath.Join(work, "src", "schema.ts"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"remoteassist.ts": string(schema),
		"readme.ts":       "declare const token: string; // the README's reader has one\n" + code + "\n",
	} {
		if err := os.WriteFile(filepath.Join(work, "src", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// nodeTool returns the node executable, failing with a hint when it is missing or too old.
func nodeTool(t *testing.T) string {
	t.Helper()
	const hint = "install Node.js (20 or later) and npm: bash scripts/install-deps.sh (Debian: apt-get install -y nodejs npm)"
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed to compile and run the generated TypeScript client: %s (%v)", hint, err)
	}
	out := runTool(t, "", commandTimeout, nil, node, "--version")
	major, err := strconv.Atoi(strings.TrimPrefix(strings.SplitN(strings.TrimSpace(out), ".", 2)[0], "v"))
	if err != nil || major < 20 {
		t.Fatalf("node %s: Node.js 20 or later is needed: %s", strings.TrimSpace(out), hint)
	}
	return node
}

// needNodeModules fails the test unless the project's node_modules was installed from its
// package-lock.json as it is now: the stamp file that scripts/lint-npm-env.sh writes there
// records the lock file's sha256. The test installs nothing (go test reaches no registry):
// scripts/test.sh's dependency step does, and so does the command the failure names.
func needNodeModules(t *testing.T, project string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(project, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	const install = "bash scripts/lint-npm-env.sh install clients/typescript"
	stamp := filepath.Join(project, "node_modules", ".remoteassist-lock.sha256")
	have, err := os.ReadFile(stamp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.Fatalf("clients/typescript/node_modules is not installed (no %s): run %s (make test's dependency step does)", stamp, install)
	case err != nil:
		t.Fatal(err)
	case strings.TrimSpace(string(have)) != want:
		t.Fatalf("clients/typescript/node_modules was installed from another package-lock.json (stamp %s, lock file sha256 %s): run %s (make test's dependency step does)",
			strings.TrimSpace(string(have)), want, install)
	}
}

// tsWorkDir makes a directory to compile one profile's program in: the project's tsconfig and
// package.json, the shared sources and the profile's own, and node_modules linked to the
// project's. The generated types go to src/schema.ts.
func tsWorkDir(t *testing.T, project, profile string) string {
	t.Helper()
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tsconfig.json", "package.json", "src/check.ts", "src/common.ts", "src/" + profile + ".ts"} {
		b, err := os.ReadFile(filepath.Join(project, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(project, "node_modules"), filepath.Join(work, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return work
}

// generateTypes runs openapi-typescript, with no option but the output, on a document (a URL or
// a file). It runs in the work directory, so that no configuration of this repository's
// (redocly.yaml) is picked up, and fails on any warning it prints.
func generateTypes(t *testing.T, node, project, work, document, output string) {
	t.Helper()
	out := runTool(t, work, generateHangBound, nil, node, filepath.Join(project, "node_modules", "openapi-typescript", "bin", "cli.js"), document, "-o", output)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "⚠") || strings.Contains(strings.ToLower(line), "warn") {
			t.Fatalf("openapi-typescript warned on %s:\n%s", document, out)
		}
	}
}

// tsc compiles the work directory's program (tsconfig.json: strict).
func tsc(t *testing.T, node, project, work string) {
	t.Helper()
	runTool(t, work, compileHangBound, nil, node, filepath.Join(project, "node_modules", "typescript", "bin", "tsc"), "-p", work)
}

// mintToken mints a delegated token for tenant carrying the scopes, signed by dataDir's key.
func mintToken(t *testing.T, dataDir, tenant, scopes string) string {
	t.Helper()
	r := run(t, "token", "--data", dataDir, "--tenant", tenant, "--scopes", scopes)
	tok := strings.TrimSpace(r.stdout)
	if r.exitCode != 0 || tok == "" {
		t.Fatalf("remoteassist token --tenant %s --scopes %q: exit %d, stderr %q", tenant, scopes, r.exitCode, r.stderr)
	}
	return tok
}

// runTool runs a command in dir with extra environment variables and returns its output
// (stdout and stderr together); the test fails, with the output, unless it exits 0 within
// bound.
func runTool(t *testing.T, dir string, bound time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runToolErr(t, dir, bound, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// runToolErr is runTool returning the command's failure instead of failing the test; a hang
// still fails it.
func runToolErr(t *testing.T, dir string, bound time.Duration, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	// No telemetry, update checks or install scripts (as scripts/lint-npm-env.sh sets for the
	// npm tools); colourless output.
	cmd.Env = append(cleanEnv(), "NPM_CONFIG_FUND=false", "NPM_CONFIG_AUDIT=false", "NPM_CONFIG_UPDATE_NOTIFIER=false",
		"NPM_CONFIG_IGNORE_SCRIPTS=true", "REDOCLY_TELEMETRY=off", "DO_NOT_TRACK=1", "NO_COLOR=1", "FORCE_COLOR=0")
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// If the test binary dies, the tool must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil && t.Context().Err() == nil {
		t.Fatalf("%s %s did not exit within %v (a hang bound):\n%s", filepath.Base(name), strings.Join(args, " "), bound, out.String())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out.String(), err
}
