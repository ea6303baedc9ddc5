// Package e2e_test drives real `remoteassist serve` processes over loopback HTTP: the binary is
// built once per test run, started on free ports, killed with SIGKILL and restarted, pointed at
// the embedded store and at PostgreSQL (a throwaway server from internal/pgtest, or the one named
// by $REMOTEASSIST_TEST_POSTGRES_DSN).
//
// The container tests (container_test.go) run the image with the docker CLI; docker_test.go
// says where the daemon and the image come from.
//
// These tests never skip: without the go tool, PostgreSQL or Docker they fail and say what is
// missing.
package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/remoteassist/remoteassist/internal/pgtest"
)

// binary is the remoteassist executable under test, built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "remoteassist-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "remoteassist")
	if err := build(binary); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := pgtest.Run(m)
	cleanupDocker()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the command with the go tool that runs the tests (go test puts its GOROOT/bin
// first on $PATH).
func build(out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go tool is needed to build the binary under test: %w", err)
	}
	cmd := exec.Command(goTool, "build", "-o", out, "github.com/remoteassist/remoteassist/cmd/remoteassist")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/remoteassist: %w\n%s", err, b)
	}
	return nil
}
