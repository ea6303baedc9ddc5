package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// TestRefusedBodiesOverHTTP2: over HTTP/2 the answer to a refused request waits for the rest of
// a small body, as net/http's does over HTTP/1.1 (so that an SDK retrying the request is done
// with the body: sdkcompat's finding 3), but not during a shutdown, whose refusals never wait on
// a client. The wait is made endless here, so that a refusal that waits hangs into the guard
// instead of passing after a bound; the client's body never comes until the answer has.
func TestRefusedBodiesOverHTTP2(t *testing.T) {
	for _, tc := range []struct {
		name     string
		draining bool
		want     int
	}{
		{"while serving, the 401 waits for the body", false, http.StatusUnauthorized},
		{"during a shutdown, the 503 does not", true, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, verifier := newDevKey(t)
			srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier})
			if err != nil {
				t.Fatal(err)
			}
			server.SetDrainTimeout(srv, time.Hour)
			ts := httptest.NewUnstartedServer(srv)
			ts.EnableHTTP2 = true
			ts.StartTLS()
			t.Cleanup(ts.Close)
			token := "not-a-token"
			if tc.draining {
				srv.Drain()
				if token, err = key.Mint(jwtauth.TokenSpec{Tenant: "t", Subject: "u", Scopes: []string{readWriteConfig}, TTL: time.Hour}); err != nil {
					t.Fatal(err)
				}
			}
			const body = `{"blockChat":true}`
			pr, pw := io.Pipe()
			t.Cleanup(func() { pw.Close() })
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPatch, ts.URL+settingsPath, pr)
			req.ContentLength = int64(len(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			answered := make(chan *http.Response, 1)
			failed := make(chan error, 1)
			go func() {
				res, err := ts.Client().Do(req)
				if err != nil {
					failed <- err
					return
				}
				res.Body.Close()
				answered <- res
			}()
			if tc.draining {
				// Answered with the body unsent; a refusal that waits for it hangs into the guard.
				select {
				case res := <-answered:
					if res.StatusCode != tc.want {
						t.Fatalf("answered %d, want %d", res.StatusCode, tc.want)
					}
				case err := <-failed:
					t.Fatal(err)
				case <-time.After(60 * time.Second): // a hang guard only
					t.Fatal("the shutdown's refusal still waits, 60 s on, for a body the client never sends")
				}
				return
			}
			// The refusal is decided and waits for the body: a goroutine of this process is
			// reading it in bound. An answer before then did not wait; one that waits comes only
			// once the body is sent, however slow the machine.
			guard := time.After(60 * time.Second) // a hang guard only
			for tick := time.Tick(5 * time.Millisecond); !goroutineIn("server.bound("); {
				select {
				case res := <-answered:
					t.Fatalf("answered %s %d before the body was sent; want %d after it", res.Proto, res.StatusCode, tc.want)
				case err := <-failed:
					t.Fatal(err)
				case <-tick:
				case <-guard:
					t.Fatal("60 s on, neither an answer nor a goroutine reading the body")
				}
			}
			select {
			case res := <-answered:
				t.Fatalf("answered %s %d while reading the body, before it was sent", res.Proto, res.StatusCode)
			default:
			}
			if _, err := io.WriteString(pw, body); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			select {
			case res := <-answered:
				if res.StatusCode != tc.want || res.ProtoMajor != 2 {
					t.Fatalf("answered %s %d, want HTTP/2 %d", res.Proto, res.StatusCode, tc.want)
				}
			case err := <-failed:
				t.Fatal(err)
			case <-time.After(60 * time.Second): // a hang guard only
				t.Fatal("no answer 60 s after the body was sent")
			}
		})
	}
}

// goroutineIn reports whether a goroutine of this process runs the function (its stack has
// name, such as "server.bound(").
func goroutineIn(name string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), name)
}
