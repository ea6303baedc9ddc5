package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// TestDelayOutlastsTheTimeouts: a fault rule's delay may be longer than the server's write
// timeout (a rule allows up to 60 s, the API listener writes for 30 s) and its read timeout
// (15 s); the delayed request is still answered, and journalled with the status it got, over
// HTTP/1.1 and HTTP/2.
//
// The timeouts are 1 s and the delay 2 s: the delay outlasts them by a margin no scheduler stall
// closes, and they are not so short that a stall on a loaded machine trips them where the test
// does not mean it to (the TLS handshake runs under ReadHeaderTimeout). Each request has a
// connection of its own: on a reused one, a PATCH written as the server closed the idle
// connection would get EOF, which the client does not replay.
func TestDelayOutlastsTheTimeouts(t *testing.T) {
	const timeout, delay = time.Second, 2 * time.Second
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			key, verifier := newDevKey(t)
			ctl := control.New(control.Options{})
			srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier, Control: ctl})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewUnstartedServer(srv)
			ts.Config = server.NewHTTPServer(srv, server.Limits{ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout}, nil)
			if h2 {
				ts.EnableHTTP2 = true
				ts.StartTLS()
			} else {
				ts.Start()
			}
			t.Cleanup(ts.Close)
			var spec models.FaultRuleSpec
			if err := json.Unmarshal([]byte(`{"effect":{"delayMs":{"min":`+strconv.Itoa(int(delay.Milliseconds()))+`}}}`), &spec); err != nil {
				t.Fatal(err)
			}
			if _, err := ctl.AddFault(spec); err != nil {
				t.Fatal(err)
			}
			tok, err := key.Mint(jwtauth.TokenSpec{Tenant: "slow", Subject: "u", Scopes: []string{readWriteConfig}, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			tr := ts.Client().Transport.(*http.Transport).Clone()
			tr.DisableKeepAlives = true
			t.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr}
			for _, tc := range []struct{ method, body string }{{http.MethodGet, ""}, {http.MethodPatch, `{"blockChat":true}`}} {
				req, _ := http.NewRequest(tc.method, ts.URL+settingsPath, strings.NewReader(tc.body))
				req.Header.Set("Authorization", "Bearer "+tok)
				if tc.body != "" {
					req.Header.Set("Content-Type", "application/json")
				} else {
					req.Body = http.NoBody
				}
				start := time.Now()
				res, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s delayed %v past the %v timeouts: %v", tc.method, delay, timeout, err)
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != http.StatusOK || res.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
					t.Fatalf("%s: %s %d %q %v", tc.method, res.Proto, res.StatusCode, body, err)
				}
				if took := time.Since(start); took < delay {
					t.Errorf("%s answered after %v, before the delay of %v", tc.method, took, delay)
				}
			}
			entries := ctl.Journal(control.Filter{}, 0)
			if len(entries) != 2 || entries[0].Status != http.StatusOK || entries[1].Status != http.StatusOK {
				t.Errorf("journal: %+v", entries)
			}
		})
	}
}

// TestDelayWithoutDeadlines: a delayed request whose ResponseWriter cannot set deadlines (a
// recorder), under a server that has a WriteTimeout, is answered after its delay all the same.
func TestDelayWithoutDeadlines(t *testing.T) {
	key, verifier := newDevKey(t)
	ctl := control.New(control.Options{})
	srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier, Control: ctl})
	if err != nil {
		t.Fatal(err)
	}
	var spec models.FaultRuleSpec
	if err := json.Unmarshal([]byte(`{"effect":{"delayMs":{"min":50}}}`), &spec); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.AddFault(spec); err != nil {
		t.Fatal(err)
	}
	tok, err := key.Mint(jwtauth.TokenSpec{Tenant: "slow", Subject: "u", Scopes: []string{readConfig}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, settingsPath, nil)
	req = req.WithContext(context.WithValue(req.Context(), http.ServerContextKey, &http.Server{WriteTimeout: time.Millisecond}))
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	start := time.Now()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || time.Since(start) < 50*time.Millisecond {
		t.Errorf("%d after %v: %s", rec.Code, time.Since(start), rec.Body)
	}
}
