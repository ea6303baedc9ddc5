package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// errAcceptFailed is what a failingListener's Accept answers.
var errAcceptFailed = errors.New("test: accept failed")

// failingListener is a listener whose Accept fails for good at once, as one whose descriptor
// went bad would.
type failingListener struct{ addr net.Addr }

func (l failingListener) Accept() (net.Conn, error) { return nil, errAcceptFailed }
func (l failingListener) Close() error              { return nil }
func (l failingListener) Addr() net.Addr            { return l.addr }

// listenFailingOn replaces listen for the rest of the test: addr gets a failingListener, any
// other address a real listener (on loopback, as every test's).
func listenFailingOn(t *testing.T, addr string) {
	t.Helper()
	orig := listen
	listen = func(network, a string) (net.Listener, error) {
		if a == addr {
			tcp, err := net.ResolveTCPAddr(network, a)
			if err != nil {
				return nil, err
			}
			return failingListener{tcp}, nil
		}
		return orig(network, a)
	}
	t.Cleanup(func() { listen = orig })
}

// TestServeSideListenerFails: a side listener that stops serving on its own ends serve at once,
// exit 1, with a last line naming the listener and why, logged (as JSON with --log-format json,
// through serve's own logger) before the API is drained, not discovered at shutdown.
func TestServeSideListenerFails(t *testing.T) {
	tests := []struct {
		name string
		args []string
		fail string // the address whose listener fails
		want string // serve's last line
	}{
		{name: "operations listener", args: []string{"--ops-addr", "127.0.0.1:1"}, fail: "127.0.0.1:1",
			want: "remoteassist serve: the operations listener on 127.0.0.1:1 failed: " + errAcceptFailed.Error()},
		{name: "admin API", args: []string{"--admin-addr", "127.0.0.1:2"}, fail: "127.0.0.1:2",
			want: "remoteassist serve: the admin API on 127.0.0.1:2 failed: " + errAcceptFailed.Error()},
		{name: "admin API beside the operations listener", args: []string{"--ops-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:2"}, fail: "127.0.0.1:2",
			want: "remoteassist serve: the admin API on 127.0.0.1:2 failed: " + errAcceptFailed.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearServeEnv(t)
			listenFailingOn(t, tc.fail)
			// Without the failure noticed, serve would run until this context ends.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			args := append([]string{"serve", "--data", t.TempDir(), "--store", "memory", "--addr", "127.0.0.1:0",
				"--log-format", "json", "--shutdown-grace", "1s"}, tc.args...)
			start := time.Now()
			code, stdout, stderr := runCLI(ctx, args...)
			if ctx.Err() != nil {
				t.Fatalf("serve ran on for %v after its listener failed: exit %d, stderr:\n%s", time.Since(start), code, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if code != 1 || stdout != "" || lines[len(lines)-1] != tc.want {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and the last line %q", code, stdout, stderr, tc.want)
			}
			logged := false
			for _, line := range lines[:len(lines)-1] {
				var rec struct{ Level, Msg, Error string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("a log line that is not JSON, with --log-format json: %q", line)
					continue
				}
				logged = logged || rec.Level == "ERROR" && rec.Msg == "a listener failed: shutting down" && rec.Error == strings.TrimPrefix(tc.want, "remoteassist serve: ")
			}
			if !logged {
				t.Errorf("no ERROR line for the failure in the log:\n%s", stderr)
			}
		})
	}
}
