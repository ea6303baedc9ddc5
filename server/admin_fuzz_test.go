package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// fuzzAdminPaths are the admin contract's paths; {} is where an input's segment goes.
var fuzzAdminPaths = []string{
	"/admin/tenants/{}/settings", "/admin/tenants", "/admin/snapshot", "/admin/faults",
	"/admin/faults/{}", "/admin/journal", "/admin/journal/count", "/admin/findings",
}

var fuzzAdminMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch}

// adminState is everything an admin request can change.
type adminState struct {
	settings map[string]remoteassist.Settings
	faults   string
	journal  int
}

// FuzzAdmin drives the admin API in process with arbitrary methods, path segments, queries and
// bodies on the paths of its contract, and checks that it never answers 5xx, that every answer
// is the contract's, and that a refused request changes nothing: not the store, not the fault
// rules, not the journal. (A snapshot naming an empty tenant once reached the store and came
// back a 500.)
func FuzzAdmin(f *testing.F) {
	for _, s := range []struct {
		method, path uint8
		segment      string
		query, body  string
	}{
		{0, 0, "contoso", "", ""},
		{1, 0, "contoso", "", `{"remoteAssistanceState":"enabled"}`},
		{1, 0, "", "", `{"blockChat":true}`},
		{3, 0, "contoso", "", ""},
		{3, 1, "", "", ""},
		{1, 2, "", "", `{"tenants":{"contoso":{"blockChat":true},"fabrikam":{}}}`},
		{1, 2, "", "", `{"tenants":{"":{"blockChat":true}}}`},
		{1, 2, "", "", `{"tenants":{"a":{"remoteAssistanceState":"Enabled"}}}`},
		{2, 3, "", "", `{"match":{"tenant":"contoso","method":"PATCH"},"effect":{"status":503,"retryAfter":7},"times":2}`},
		{2, 3, "", "", `{"effect":{"drop":true},"probability":0.5,"seed":42}`},
		{2, 3, "", "", `{"effect":{"status":500,"retryAfter":1}}`},
		{3, 4, "1", "", ""},
		{0, 5, "", "tenant=contoso&status=0&since=2026-01-01T00:00:00Z&limit=5", ""},
		{0, 6, "", "method=patch", ""},
		{0, 7, "", "tenant=contoso&app=x", ""},
		{3, 5, "", "", ""},
	} {
		f.Add(s.method, s.path, s.segment, s.query, []byte(s.body))
	}
	store := memory.New()
	ctl := control.New(control.Options{JournalSize: 16})
	adm, err := server.NewAdmin(server.AdminConfig{Store: store, Control: ctl, Token: adminTokenValue})
	if err != nil {
		f.Fatal(err)
	}
	state := func(t *testing.T) adminState {
		all, err := remoteassist.AllSettings(t.Context(), store)
		if err != nil {
			t.Fatal(err)
		}
		faults, _ := json.Marshal(ctl.Faults())
		return adminState{settings: all, faults: string(faults), journal: ctl.Count(control.Filter{})}
	}
	f.Fuzz(func(t *testing.T, method, path uint8, segment, query string, body []byte) {
		m := fuzzAdminMethods[int(method)%len(fuzzAdminMethods)]
		p := strings.ReplaceAll(fuzzAdminPaths[int(path)%len(fuzzAdminPaths)], "{}", url.PathEscape(segment))
		target := "http://localhost" + p
		if query != "" {
			target += "?" + query
		}
		// Not a request line a client could send: a raw space, control or non-ASCII byte.
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			return
		}
		req := httptest.NewRequest(m, target, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminTokenValue)
		if len(body) > 0 {
			req.Header.Set("Content-Type", "application/json")
		}
		// Kept small, so that every input costs about the same: what inputs add piles up.
		if len(ctl.Faults()) > 32 {
			ctl.ClearFaults()
		}
		if all, _ := remoteassist.AllSettings(t.Context(), store); len(all) > 32 {
			if err := store.ReplaceAllSettings(t.Context(), nil); err != nil {
				t.Fatal(err)
			}
		}
		before := state(t)
		rec := httptest.NewRecorder()
		adm.ServeHTTP(rec, req)
		after := state(t)

		if rec.Code >= 500 {
			t.Fatalf("%s %s → %d: %s", m, target, rec.Code, rec.Body)
		}
		if err := checkAdminResponse(req, rec.Result(), rec.Body.Bytes()); err != nil {
			t.Fatalf("%s %s → %d breaks the admin contract: %v\nbody: %s", m, target, rec.Code, err, rec.Body)
		}
		if rec.Code >= 400 && !reflect.DeepEqual(before, after) {
			t.Fatalf("%s %s → %d changed the state:\nbefore %+v\nafter  %+v", m, target, rec.Code, before, after)
		}
	})
}
