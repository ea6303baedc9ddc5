package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/internal/testutil"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	var paths []string
	var serverLog testutil.SyncBuffer
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		w.WriteHeader(status)
	}))
	ts.Config.ErrorLog = log.New(&serverLog, "", 0)
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		// The probes ask a plain port over https first, which it answers without a word.
		if l := serverLog.String(); l != "" {
			t.Errorf("the probes made the plain port log %q", l)
		}
	})
	addr := strings.TrimPrefix(ts.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)

	// A server that is gone: a port that was free a moment ago.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := l.Addr().String()
	l.Close()

	tests := []struct {
		name     string
		env      string // REMOTEASSIST_ADDR
		args     []string
		status   int
		wantCode int
		wantErr  string // in stderr
		usage    bool   // refused before any request
	}{
		{"ready, address from the environment", addr, nil, http.StatusOK, 0, "", false},
		{"all interfaces becomes loopback", "0.0.0.0:" + port, nil, http.StatusOK, 0, "", false},
		{"IPv6 any becomes loopback", "[::]:" + port, nil, http.StatusOK, 0, "", false},
		{"empty host becomes loopback", ":" + port, nil, http.StatusOK, 0, "", false},
		{"not ready", addr, nil, http.StatusServiceUnavailable, 1, "unhealthy: GET http://" + addr + "/readyz: 503 Service Unavailable", false},
		{"a 400 is not taken for a TLS port", addr, nil, http.StatusBadRequest, 1, "unhealthy: GET http://" + addr + "/readyz: 400 Bad Request", false},
		{"nothing listens", gone, nil, http.StatusOK, 1, "unhealthy: ", false},
		{"--url wins over the environment", gone, []string{"--url", ts.URL + "/readyz"}, http.StatusOK, 0, "", false},
		// Mistakes exit 1 too, not 2, which Docker reserves in a HEALTHCHECK.
		{"malformed address", "8080", nil, http.StatusOK, 1, "remoteassist healthcheck: REMOTEASSIST_ADDR \"8080\"", true},
		{"port a service name", "127.0.0.1:http", nil, http.StatusOK, 1, "REMOTEASSIST_ADDR \"127.0.0.1:http\": want HOST:PORT such as 127.0.0.1:8080, the port a number", true},
		{"port over 65535", "127.0.0.1:65536", nil, http.StatusOK, 1, "REMOTEASSIST_ADDR \"127.0.0.1:65536\"", true},
		{"bad timeout", addr, []string{"--timeout", "0s"}, http.StatusOK, 1, "remoteassist healthcheck: --timeout must be positive", true},
		{"timeout not a duration", addr, []string{"--timeout", "5"}, http.StatusOK, 1, `invalid value "5" for flag -timeout`, true},
		{"unknown flag", addr, []string{"--bogus"}, http.StatusOK, 1, "remoteassist healthcheck: flag provided but not defined: -bogus", true},
		{"unexpected argument", addr, []string{"extra"}, http.StatusOK, 1, `unexpected argument "extra"`, true},
		{"malformed url", addr, []string{"--url", "http://[::1/readyz"}, http.StatusOK, 1, "remoteassist healthcheck: --url: ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REMOTEASSIST_DATA", t.TempDir()) // no serve's record: the address is the variable's
			t.Setenv("REMOTEASSIST_ADDR", tt.env)
			status = tt.status
			paths = nil
			code, stdout, stderr := runCLI(t.Context(), append([]string{"healthcheck"}, tt.args...)...)
			if code != tt.wantCode || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and nothing on stdout", code, stdout, stderr, tt.wantCode)
			}
			if tt.wantErr == "" && stderr != "" || !strings.Contains(stderr, tt.wantErr) || strings.Count(stderr, "\n") > 1 {
				t.Errorf("stderr %q, want one line with %q", stderr, tt.wantErr)
			}
			switch {
			case tt.usage && len(paths) != 0:
				t.Errorf("requests %q, want none", paths)
			case !tt.usage && tt.env != gone && (len(paths) != 1 || paths[0] != "/readyz"):
				t.Errorf("requests %q, want one GET /readyz", paths)
			}
		})
	}
}

// TestHealthcheckTLS: with serve's TLS variables set, the default URL is https, and the probe of
// the local process does not need to trust its certificate. Without them (serve --tls given as
// a flag: docker run IMAGE serve --tls), the default http:// URL that a TLS port answers with
// net/http's 400 is asked again over https; a --url given is asked as it is.
func TestHealthcheckTLS(t *testing.T) {
	var readyz atomic.Int64
	var serverLog testutil.SyncBuffer
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		readyz.Add(1)
	}))
	ts.Config.ErrorLog = log.New(&serverLog, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "https://")
	t.Setenv("REMOTEASSIST_DATA", t.TempDir()) // no serve's record: the scheme is guessed
	for _, env := range []map[string]string{
		{"REMOTEASSIST_TLS": "true"},
		{"REMOTEASSIST_TLS_CERT": "/etc/remoteassist/cert.pem"},
	} {
		t.Setenv("REMOTEASSIST_ADDR", addr)
		t.Setenv("REMOTEASSIST_TLS", "")
		t.Setenv("REMOTEASSIST_TLS_CERT", "")
		for k, v := range env {
			t.Setenv(k, v)
		}
		if code, stdout, stderr := runCLI(t.Context(), "healthcheck"); code != 0 || stdout != "" || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0", env, code, stdout, stderr)
		}
	}
	t.Setenv("REMOTEASSIST_TLS", "")
	t.Setenv("REMOTEASSIST_TLS_CERT", "")
	readyz.Store(0)
	if code, stdout, stderr := runCLI(t.Context(), "healthcheck"); code != 0 || stdout != "" || stderr != "" || readyz.Load() != 1 {
		t.Errorf("without the TLS variables: exit %d, stdout %q, stderr %q, %d GET /readyz; want 0 after one over https", code, stdout, stderr, readyz.Load())
	}
	// Asked over https first, the TLS port has nothing to log (plain HTTP first made it log a
	// handshake error for every probe).
	if l := serverLog.String(); l != "" {
		t.Errorf("the probes of a TLS port without the TLS variables made it log %q", l)
	}
	url := "http://" + addr + "/readyz"
	if code, _, stderr := runCLI(t.Context(), "healthcheck", "--url", url); code != 1 || !strings.Contains(stderr, "GET "+url+": 400 Bad Request") {
		t.Errorf("--url %s: exit %d, stderr %q; want 1 with the 400", url, code, stderr)
	}
}

// TestHealthcheckFollowsServe: a serve whose address and scheme come from its flags (a port 0,
// --tls), not from the environment healthcheck shares with it (docker run IMAGE serve --addr
// 0.0.0.0:9090, where the image's REMOTEASSIST_ADDR says 8080), is found by healthcheck without
// --url through the record it writes in its data directory (REMOTEASSIST_DATA or --data), and the
// record goes when serve stops.
func TestHealthcheckFollowsServe(t *testing.T) {
	for _, flags := range [][]string{{"--addr", "127.0.0.1:0"}, {"--addr", "127.0.0.1:0", "--tls"}} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			dataDir := t.TempDir()
			p := startServe(t, append([]string{"--data", dataDir, "--store", "memory"}, flags...)...)
			base, _ := p.waitLog(t, "serving")["base_url"].(string)
			wantURL := strings.TrimSuffix(base, "/beta") + "/readyz"
			// serve writes its record just after it logs "serving"; startServe leaves every
			// REMOTEASSIST_ variable out of its environment, as this one is.
			for _, name := range []string{"REMOTEASSIST_ADDR", "REMOTEASSIST_TLS", "REMOTEASSIST_TLS_CERT"} {
				t.Setenv(name, "")
			}
			t.Setenv("REMOTEASSIST_DATA", dataDir)
			deadline := time.Now().Add(30 * time.Second) // a hang guard only
			for {
				rec, err := findServeRecord(dataDir, "")
				if err != nil {
					t.Fatal(err)
				}
				if rec != nil {
					if rec.URL != wantURL {
						t.Errorf("recorded %q, want %q", rec.URL, wantURL)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("serve recorded no URL in %s within 30s", dataDir)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if code, stdout, stderr := runCLI(t.Context(), "healthcheck"); code != 0 || stdout != "" || stderr != "" {
				t.Errorf("healthcheck of serve %v: exit %d, stdout %q, stderr %q; want 0", flags, code, stdout, stderr)
			}
			t.Setenv("REMOTEASSIST_DATA", t.TempDir()) // --data wins
			if code, stdout, stderr := runCLI(t.Context(), "healthcheck", "--data", dataDir); code != 0 || stdout != "" || stderr != "" {
				t.Errorf("healthcheck --data of serve %v: exit %d, stdout %q, stderr %q; want 0", flags, code, stdout, stderr)
			}

			p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.exited
			if entries, _ := os.ReadDir(dataDir); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), serveRecordPrefix) }) {
				t.Errorf("serve left its record in %s: %v", dataDir, entries)
			}
		})
	}
}

// TestServeRecordChoice: which record healthcheck takes from a data directory, and which a
// starting serve removes. Records are written as serve writes them, for this process (alive)
// or for processes that are gone or elsewhere.
func TestServeRecordChoice(t *testing.T) {
	boot, ns, err := thisPIDNamespace()
	if err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	started, err := processStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	const addrEnv = "0.0.0.0:8080" // the image's
	live := serveRecord{URL: "http://127.0.0.1:9090/readyz", PID: pid, PIDNamespace: ns, Started: started, Boot: boot, AddrEnv: addrEnv}
	dead := live
	dead.Started++ // the pid, reused by this process
	otherNS := live
	otherNS.PIDNamespace++ // another container's, sharing the volume
	// Another machine's, sharing the volume over the network: its kernel numbered its pid
	// namespace as this one's is, and its serve is pid PID too, started at the same tick or not.
	otherMachine := live
	otherMachine.Boot = "00000000-0000-4000-8000-000000000000"
	otherMachineLater := otherMachine
	otherMachineLater.Started++
	otherEnv := live
	otherEnv.AddrEnv = "" // a serve started without REMOTEASSIST_ADDR
	second := live
	second.URL = "http://127.0.0.1:9091/readyz"
	fromEnv := []string{"https://127.0.0.1:8080/readyz", "http://127.0.0.1:8080/readyz"}
	tests := []struct {
		name    string
		records []serveRecord
		want    []string // the URLs asked
		wantErr string
	}{
		{"no record", nil, fromEnv, ""},
		{"the live serve's", []serveRecord{dead, live, otherNS}, []string{live.URL}, ""},
		{"https as recorded", []serveRecord{{URL: "https://[::1]:8443/readyz", PID: pid, PIDNamespace: ns, Started: started, Boot: boot, AddrEnv: addrEnv}}, []string{"https://[::1]:8443/readyz"}, ""},
		{"a serve that is gone", []serveRecord{dead}, fromEnv, ""},
		{"another pid namespace's", []serveRecord{otherNS}, fromEnv, ""},
		{"another machine's, its pid namespace, pid and start as this serve's", []serveRecord{otherMachine}, fromEnv, ""},
		{"the live serve's beside another machine's", []serveRecord{otherMachine, live}, []string{live.URL}, ""},
		{"another REMOTEASSIST_ADDR: the variable wins", []serveRecord{otherEnv}, fromEnv, ""},
		{"two live serves", []serveRecord{live, second}, nil,
			"several serves use the data directory DIR: http://127.0.0.1:9090/readyz (pid PID), http://127.0.0.1:9091/readyz (pid PID); pass --url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("REMOTEASSIST_TLS", "")
			t.Setenv("REMOTEASSIST_TLS_CERT", "")
			dir := t.TempDir()
			for i, r := range tc.records {
				data, _ := json.Marshal(r)
				name := fmt.Sprintf("%s%d-%d-%d.json", serveRecordPrefix, r.PIDNamespace, r.PID, i)
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := defaultReadyURLs(dir, addrEnv, addrEnv)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			wantErr := strings.NewReplacer("DIR", dir, "PID", strconv.Itoa(pid)).Replace(tc.wantErr)
			if gotErr != wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("asks %q, error %q; want %q, error %q", got, gotErr, tc.want, wantErr)
			}
		})
	}

	// A starting serve removes the records of its pid namespace's processes that are gone, and
	// only those, not another machine's, whose process this kernel cannot see; it removes its own
	// when it stops.
	dir := t.TempDir()
	for name, r := range map[string]serveRecord{"dead": dead, "other": otherNS, "live": live, "machine": otherMachineLater} {
		data, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s%d-%d-%s.json", serveRecordPrefix, r.PIDNamespace, r.PID, name)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	remove, err := writeServeRecord(dir, second.URL)
	if err != nil {
		t.Fatal(err)
	}
	files := func() (names []string) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			names = append(names, strings.TrimSuffix(strings.TrimPrefix(e.Name(), fmt.Sprintf("%s%d-%d-", serveRecordPrefix, ns, pid)), ".json"))
		}
		return names
	}
	if got := files(); len(got) != 4 || !slices.Contains(got, "live") || !slices.Contains(got, "machine") || slices.Contains(got, "dead") {
		t.Errorf("after a serve started: %q; want live, machine, other's and the new one's", got)
	}
	remove()
	if got := files(); len(got) != 3 || !slices.Contains(got, "live") || !slices.Contains(got, "machine") {
		t.Errorf("after it stopped: %q; want live, machine and other's", got)
	}
}
