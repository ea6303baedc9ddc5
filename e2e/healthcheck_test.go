package e2e_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHealthcheckFollowsServeFlags: `remoteassist healthcheck` with no flag finds a serve on this
// machine whose address (and --tls) came from its flags, with REMOTEASSIST_ADDR unset for both,
// as a user runs them: both use the default data directory, where serve records the URL it
// listens on. Once serve has stopped, healthcheck exits 1.
func TestHealthcheckFollowsServeFlags(t *testing.T) {
	for _, flags := range [][]string{nil, {"--tls"}} {
		t.Run(strings.TrimSpace("serve --addr 127.0.0.1:PORT "+strings.Join(flags, " ")), func(t *testing.T) {
			home := t.TempDir()
			env := []string{"HOME=" + home, "XDG_DATA_HOME=" + filepath.Join(home, "data")}
			p := launchServeEnv(t, "healthcheck", env, append([]string{"--store=memory"}, flags...)...) // serve --addr 127.0.0.1:PORT, a flag
			p.waitForLog(t, `msg=serving`, 1)
			// serve writes its record just after that line: ask until it answers 0, or the hang
			// guard is reached.
			deadline := time.Now().Add(startTimeout)
			for {
				r := runEnv(t, commandTimeout, env, "healthcheck")
				if r.exitCode == 0 && r.stdout == "" && r.stderr == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("healthcheck of a serve at %s (%v): exit %d, stdout %q, stderr %q; want 0", p.base, flags, r.exitCode, r.stdout, r.stderr)
				}
				time.Sleep(50 * time.Millisecond)
			}

			p.stop()
			if r := runEnv(t, commandTimeout, env, "healthcheck"); r.exitCode != 1 || !strings.HasPrefix(r.stderr, "unhealthy: ") {
				t.Errorf("healthcheck once serve stopped: exit %d, stderr %q; want 1, unhealthy", r.exitCode, r.stderr)
			}
		})
	}
}
