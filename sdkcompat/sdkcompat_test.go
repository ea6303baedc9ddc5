package sdkcompat_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	khttp "github.com/microsoft/kiota-http-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"golang.org/x/mod/modfile"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/remoteassisttest"
	"github.com/remoteassist/remoteassist/server"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// forEachFlavour runs test, in parallel, against a server of each fidelity profile and a client
// of each flavour: PROFILE/FLAVOUR.
func forEachFlavour(t *testing.T, test func(t *testing.T, f flavour, p remoteassist.Profile)) {
	t.Helper()
	for _, p := range remoteassist.Profiles() {
		for _, f := range flavours {
			t.Run(string(p)+"/"+string(f), func(t *testing.T) {
				t.Parallel()
				test(t, f, p)
			})
		}
	}
}

// over is how clients reach the server: plain HTTP/1.1 on loopback, or HTTPS with HTTP/2 chosen
// by ALPN, as Graph and every real user are.
type over struct {
	name string
	opts []remoteassisttest.Option
}

var transports = []over{{"HTTP1.1", nil}, {"HTTPS2", []remoteassisttest.Option{remoteassisttest.WithTLS()}}}

// forEachFlavourOver runs test as forEachFlavour does, over each transport: PROFILE/FLAVOUR/OVER.
// The transport's options go to newServer.
func forEachFlavourOver(t *testing.T, test func(t *testing.T, f flavour, p remoteassist.Profile, opts []remoteassisttest.Option)) {
	t.Helper()
	for _, p := range remoteassist.Profiles() {
		for _, f := range flavours {
			for _, tr := range transports {
				t.Run(string(p)+"/"+string(f)+"/"+tr.name, func(t *testing.T) {
					t.Parallel()
					test(t, f, p, tr.opts)
				})
			}
		}
	}
}

// newServer starts the emulator in profile p, with opts, behind the recorder's server end
// (testServer): over HTTPS with HTTP/2 when opts hold remoteassisttest.WithTLS().
func newServer(t *testing.T, p remoteassist.Profile, opts ...remoteassisttest.Option) *testServer {
	t.Helper()
	return startServer(t, remoteassisttest.New(t, append([]remoteassisttest.Option{remoteassisttest.WithProfile(p)}, opts...)...))
}

// unwrittenState is what a tenant that never wrote reads under the profile: the seed's
// notConfigured, or today's Graph's disabled, a value of today's SDK enum (disabled, enabled).
func unwrittenState(p remoteassist.Profile) RemoteAssistanceState {
	if p == remoteassist.ProfileGraph {
		return DISABLED_REMOTEASSISTANCESTATE
	}
	return NOTCONFIGURED_REMOTEASSISTANCESTATE
}

// patchAnswered checks how a successful PATCH came back under the profile and returns the model
// it answered with, if any: 200 with the entity (documented), or 204 with no body, for which the
// SDK returns a nil model and no error (graph).
func patchAnswered(t *testing.T, c *client, p remoteassist.Profile, m RemoteAssistanceSettingsable) (RemoteAssistanceSettingsable, bool) {
	t.Helper()
	last := c.wire.since(c.wire.count() - 1)[0]
	if p == remoteassist.ProfileGraph {
		if last.status != http.StatusNoContent || len(last.respBody) != 0 || m != nil {
			t.Errorf("PATCH answered %d with %d bytes, the SDK returned %v; want 204, no body, nil\n%s", last.status, len(last.respBody), m, c.wire.dump())
		}
		return nil, false
	}
	if last.status != http.StatusOK || m == nil {
		t.Fatalf("PATCH answered %d, the SDK returned %v; want 200 and the entity\n%s", last.status, m, c.wire.dump())
	}
	return m, true
}

// checkWire fails the test when an exchange breaks what every SDK call must see: the server
// received each request the client sent, and the client the answer the service wrote; the service
// answers with its id headers, never asks for an uncompressed body (415), and every PATCH left
// the SDK gzip-compressed by kiota's compression handler.
func checkWire(t *testing.T, c *client) {
	t.Helper()
	if sent, got := c.wire.count(), len(c.wire.server.received()); sent != got {
		t.Errorf("the client sent %d requests, the server received %d\n%s", sent, got, c.wire.dump())
	}
	for i, ex := range c.wire.since(0) {
		if ex.in != nil && ex.in.proto != c.srv.proto {
			t.Errorf("#%d the server received %s, want %s\n%s", i+1, ex.in.proto, c.srv.proto, c.wire.dump())
		}
		if ex.err != nil {
			t.Errorf("#%d transport error: %v", i+1, ex.err)
			continue
		}
		if ex.proto != c.srv.proto {
			t.Errorf("#%d the client got a %s answer, want %s\n%s", i+1, ex.proto, c.srv.proto, c.wire.dump())
		}
		if ex.in != nil && ex.in.status != ex.status {
			t.Errorf("#%d the service answered %d, the client got %d\n%s", i+1, ex.in.status, ex.status, c.wire.dump())
		}
		if ex.status == http.StatusUnsupportedMediaType {
			t.Errorf("#%d the server refused the SDK's body with 415\n%s", i+1, c.wire.dump())
		}
		if ex.method == http.MethodPatch && !strings.EqualFold(ex.reqHeader.Get("Content-Encoding"), "gzip") {
			t.Errorf("#%d PATCH left the SDK without Content-Encoding: gzip\n%s", i+1, c.wire.dump())
		}
		if !uuidPattern.MatchString(ex.respHeader.Get("request-id")) {
			t.Errorf("#%d response request-id %q is not a UUID", i+1, ex.respHeader.Get("request-id"))
		}
		sent, echoed := ex.reqHeader.Get("client-request-id"), ex.respHeader.Get("client-request-id")
		if sent == "" {
			sent = ex.respHeader.Get("request-id")
		}
		if echoed != sent {
			t.Errorf("#%d response client-request-id %q, want %q", i+1, echoed, sent)
		}
		if len(ex.respBody) > 0 && !strings.HasPrefix(ex.respHeader.Get("Content-Type"), "application/json") {
			t.Errorf("#%d response Content-Type %q", i+1, ex.respHeader.Get("Content-Type"))
		}
	}
}

// TestVersions pins the Microsoft modules the suite exercises, so that a go.mod change that
// moves them is noticed here, and checks the versions the SDK reports on the wire.
func TestVersions(t *testing.T) {
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range mod.Require {
		got[r.Mod.Path] = r.Mod.Version
	}
	for _, r := range mod.Replace {
		if _, ok := sdkModules[r.Old.Path]; ok {
			t.Errorf("%s is replaced in go.mod", r.Old.Path)
		}
	}
	for path, want := range sdkModules {
		if got[path] != want {
			t.Errorf("go.mod requires %s %q, the suite was written against %s", path, got[path], want)
		}
	}
	if core.CoreVersion != "1.4.0" {
		t.Errorf("msgraph-sdk-go-core reports %s", core.CoreVersion)
	}
	if v := khttp.NewUserAgentHandlerOptions().ProductVersion; v != "1.5.4" {
		t.Errorf("kiota-http-go reports %s", v)
	}
}

func TestGetDefaults(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f flavour, p remoteassist.Profile) {
		srv := newServer(t, p)
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionRead), clientConfig{})
		inspect := khttp.NewHeadersInspectionOptions()
		inspect.InspectResponseHeaders = true

		m, err := c.get(t.Context(), &RemoteAssistanceSettingsRequestBuilderGetRequestConfiguration{
			Options: []abs.RequestOption{inspect},
		})
		if err != nil {
			t.Fatalf("GET: %s\n%s", describe(err), c.wire.dump())
		}
		if got, want := deref(m.GetId()), remoteassist.SettingsID("contoso"); got != want {
			t.Errorf("id %q, want %q", got, want)
		}
		if got := deref(m.GetOdataType()); got != odataType {
			t.Errorf("@odata.type %q, want %q", got, odataType)
		}
		state := m.GetRemoteAssistanceState()
		if want := unwrittenState(p); state == nil || *state != want {
			t.Errorf("remoteAssistanceState %v, want %v parsed into the enum", state, want)
		}
		if p == remoteassist.ProfileGraph && (state == nil || !slices.Contains([]string{"disabled", "enabled"}, state.String())) {
			t.Errorf("remoteAssistanceState %v is not in today's SDK enum (disabled, enabled): it would read as nil", state)
		}
		if v := m.GetAllowSessionsToUnenrolledDevices(); v == nil || *v {
			t.Errorf("allowSessionsToUnenrolledDevices %v, want false", v)
		}
		if v := m.GetBlockChat(); v == nil || *v {
			t.Errorf("blockChat %v, want false", v)
		}
		// Unknown keys are kept aside, not dropped and not failed on.
		extra := m.GetAdditionalData()
		if got := keys(extra); !slices.Equal(got, []string{"@odata.context"}) {
			t.Errorf("additional data keys %v, want [@odata.context]", got)
		}
		wantContext := srv.URL() + "/$metadata#deviceManagement/remoteAssistanceSettings/$entity"
		if got, _ := extra["@odata.context"].(*string); deref(got) != wantContext {
			t.Errorf("@odata.context %q, want %q", deref(got), wantContext)
		}

		ex := c.wire.one(t, 0)
		if ex.method != http.MethodGet || ex.url.Path != settingsPath || ex.url.RawQuery != "" {
			t.Errorf("request %s %s, want GET %s", ex.method, ex.url, settingsPath)
		}
		if got := ex.reqHeader.Get("Accept"); got != "application/json" {
			t.Errorf("Accept %q", got)
		}
		if got := ex.reqHeader.Get("Authorization"); !strings.HasPrefix(got, "Bearer ey") {
			t.Errorf("Authorization %q, want the minted bearer token", got)
		}
		if n := c.tokens.issued.Load(); n != 1 {
			t.Errorf("token provider asked %d times, want 1", n)
		}
		if got := ex.reqHeader.Get("User-Agent"); !strings.Contains(got, "kiota-go/1.5.4") {
			t.Errorf("User-Agent %q lacks kiota-go/1.5.4", got)
		}
		switch f {
		case graphSDK:
			if got := ex.reqHeader.Get("SdkVersion"); !strings.HasPrefix(got, c.sdkVersion) {
				t.Errorf("SdkVersion %q, want prefix %q", got, c.sdkVersion)
			}
			if got := ex.reqHeader.Get("client-request-id"); !uuidPattern.MatchString(got) {
				t.Errorf("client-request-id %q is not the fresh UUID Graph's telemetry handler sends", got)
			}
		case plainKiota:
			if got := ex.reqHeader.Get("client-request-id"); got != "" {
				t.Errorf("plain kiota sent client-request-id %q", got)
			}
		}
		// The headers inspection handler hands the response headers to the caller.
		if got, want := first(inspect.GetResponseHeaders().Get("request-id")), ex.respHeader.Get("request-id"); got == "" || got != want {
			t.Errorf("inspected request-id %q, wire %q", got, want)
		}
		if got := first(inspect.GetResponseHeaders().Get("cache-control")); got != "private" {
			t.Errorf("inspected Cache-Control %q, want private", got)
		}
		checkWire(t, c)
	})
}

func TestGetSelect(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f flavour, p remoteassist.Profile) {
		srv := newServer(t, p)
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionRead), clientConfig{})
		for _, tc := range []struct {
			selected  []string
			template  string // the query the URL template expands to
			wireQuery string // the query after kiota's parameters-name decoding handler
		}{
			{[]string{"blockChat"}, "%24select=blockChat", "$select=blockChat"},
			{[]string{"id", "blockChat"}, "%24select=id,blockChat", "$select=id,blockChat"},
		} {
			config := &RemoteAssistanceSettingsRequestBuilderGetRequestConfiguration{
				QueryParameters: &RemoteAssistanceSettingsRequestBuilderGetQueryParameters{Select: tc.selected},
			}
			info, err := c.settings.ToGetRequestInformation(t.Context(), config)
			if err != nil {
				t.Fatal(err)
			}
			uri, err := info.GetUri()
			if err != nil {
				t.Fatal(err)
			}
			if uri.RawQuery != tc.template {
				t.Errorf("URL template expands the query to %q, want %q", uri.RawQuery, tc.template)
			}

			n := c.wire.count()
			m, err := c.get(t.Context(), config)
			if err != nil {
				t.Fatalf("GET $select=%v: %s\n%s", tc.selected, describe(err), c.wire.dump())
			}
			if ex := c.wire.one(t, n); ex.url.RawQuery != tc.wireQuery {
				t.Errorf("query on the wire %q, want %q", ex.url.RawQuery, tc.wireQuery)
			}
			if v := m.GetBlockChat(); v == nil || *v {
				t.Errorf("blockChat %v, want false", v)
			}
			if m.GetRemoteAssistanceState() != nil || m.GetAllowSessionsToUnenrolledDevices() != nil {
				t.Errorf("unselected properties came back: state %v, allow %v", m.GetRemoteAssistanceState(), m.GetAllowSessionsToUnenrolledDevices())
			}
			if deref(m.GetId()) != remoteassist.SettingsID("contoso") || deref(m.GetOdataType()) != odataType {
				t.Errorf("id %q and @odata.type %q must always come back", deref(m.GetId()), deref(m.GetOdataType()))
			}
			ctx, _ := m.GetAdditionalData()["@odata.context"].(*string)
			if want := "remoteAssistanceSettings(" + strings.Join(tc.selected, ",") + ")/$entity"; !strings.HasSuffix(deref(ctx), want) {
				t.Errorf("@odata.context %q, want suffix %q", deref(ctx), want)
			}
		}
		checkWire(t, c)
	})
}

func TestPatchChangedPropertiesGzip(t *testing.T) {
	forEachFlavourOver(t, func(t *testing.T, f flavour, p remoteassist.Profile, opts []remoteassisttest.Option) {
		srv := newServer(t, p, opts...)
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionReadWrite), clientConfig{})

		body := NewRemoteAssistanceSettings()
		body.SetRemoteAssistanceState(ptr(ENABLED_REMOTEASSISTANCESTATE))
		body.SetBlockChat(ptr(true))
		m, err := c.patch(t.Context(), body)
		if err != nil {
			t.Fatalf("PATCH: %s\n%s", describe(err), c.wire.dump())
		}

		ex := c.wire.one(t, 0)
		if ex.method != http.MethodPatch || ex.url.Path != settingsPath {
			t.Errorf("request %s %s", ex.method, ex.url)
		}
		if got := ex.reqHeader.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type %q", got)
		}
		if got := ex.reqHeader.Get("Content-Encoding"); got != "gzip" {
			t.Errorf("Content-Encoding %q, want gzip", got)
		}
		if !bytes.HasPrefix(ex.reqBody, []byte{0x1f, 0x8b}) {
			t.Errorf("body on the wire is not gzip: % x", ex.reqBody)
		}
		if ex.reqLength != int64(len(ex.reqBody)) || ex.in.length != ex.reqLength {
			t.Errorf("Content-Length %d sent, %d received, compressed body %d bytes", ex.reqLength, ex.in.length, len(ex.reqBody))
		}
		want := map[string]any{"remoteAssistanceState": "enabled", "blockChat": true}
		if got := ex.jsonBody(t); !reflect.DeepEqual(got, want) {
			t.Errorf("decompressed body %v, want only the changed properties %v", got, want)
		}

		if m, ok := patchAnswered(t, c, p, m); ok &&
			(deref(m.GetRemoteAssistanceState()) != ENABLED_REMOTEASSISTANCESTATE || !deref(m.GetBlockChat()) || deref(m.GetAllowSessionsToUnenrolledDevices())) {
			t.Errorf("PATCH answered state %v, blockChat %v, allow %v", m.GetRemoteAssistanceState(), m.GetBlockChat(), m.GetAllowSessionsToUnenrolledDevices())
		}
		stored := srv.Settings("contoso")
		if stored.RemoteAssistanceState != remoteassist.StateEnabled || !stored.BlockChat || stored.AllowSessionsToUnenrolledDevices {
			t.Errorf("stored %+v", stored)
		}
		again := c.mustGet(t)
		if deref(again.GetRemoteAssistanceState()) != ENABLED_REMOTEASSISTANCESTATE || !deref(again.GetBlockChat()) || deref(again.GetAllowSessionsToUnenrolledDevices()) {
			t.Errorf("GET after PATCH: state %v, blockChat %v, allow %v", again.GetRemoteAssistanceState(), again.GetBlockChat(), again.GetAllowSessionsToUnenrolledDevices())
		}
		checkWire(t, c)
	})
}

// TestReadModifyWrite changes a model GET returned and PATCHes it back.
//
// Known SDK defect, not fixable by the server (see the report in the commit): in
// kiota-abstractions-go v1.9.3, ParseNodeProxyFactory's after-deserialization hook calls the
// before-hook, so with the backing store on (the Graph SDK) a model GET returned keeps
// InitializationCompleted=false, and later changes to it are not tracked: the PATCH carries
// only the additional data, and the service rightly refuses it as changing nothing.
func TestReadModifyWrite(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f flavour, p remoteassist.Profile) {
		srv := newServer(t, p)
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionReadWrite), clientConfig{})

		// Change one property of the model GET returned and PATCH that model back.
		m := c.mustGet(t)
		if got, want := m.GetBackingStore().GetInitializationCompleted(), f != graphSDK; got != want {
			t.Errorf("kiota behaviour changed: the GET model's backing store has InitializationCompleted=%v; "+
				"update this characterization", got)
		}
		m.SetBlockChat(ptr(true))
		n := c.wire.count()
		_, err := c.patch(t.Context(), m)
		sent := keys(c.wire.one(t, n).jsonBody(t))
		switch f {
		case graphSDK:
			if !slices.Equal(sent, []string{"@odata.context"}) {
				t.Errorf("PATCH body keys %v, want [@odata.context] (the change is lost by the SDK)\n%s", sent, c.wire.dump())
			}
			oe := asODataError(t, c, err, http.StatusBadRequest, "BadRequest")
			if !strings.Contains(oe.Error(), "at least 1 property must be changed") {
				t.Errorf("message %q", oe.Error())
			}
			if s := remoteassist.Settings(srv.Settings("contoso")); s != remoteassist.DefaultSettings("contoso") {
				t.Errorf("stored %+v", s)
			}
			t.Logf("known SDK defect reproduced:\n%s", c.wire.dump())

			// The workaround: mark the model initialized before changing it. Then only the
			// change goes out (plus the additional data map, which the model counts as
			// changed since construction), and the service takes it.
			m = c.mustGet(t)
			m.GetBackingStore().SetInitializationCompleted(true)
			m.SetBlockChat(ptr(true))
			n = c.wire.count()
			if _, err := c.patch(t.Context(), m); err != nil {
				t.Fatalf("PATCH of the GET model after the workaround: %s\n%s", describe(err), c.wire.dump())
			}
			if got, want := c.wire.one(t, n).jsonBody(t), map[string]any{
				"@odata.context": deref(m.GetAdditionalData()["@odata.context"].(*string)),
				"blockChat":      true,
			}; !reflect.DeepEqual(got, want) {
				t.Errorf("PATCH body %v, want %v", got, want)
			}
		case plainKiota:
			// Without the backing store the whole model goes out, read-only id, @odata.type
			// and @odata.context included, and the service takes it.
			if err != nil {
				t.Fatalf("PATCH of the GET model: %s\n%s", describe(err), c.wire.dump())
			}
			want := []string{"@odata.context", "@odata.type", "allowSessionsToUnenrolledDevices", "blockChat", "id", "remoteAssistanceState"}
			if !slices.Equal(sent, want) {
				t.Errorf("PATCH body keys %v, want %v\n%s", sent, want, c.wire.dump())
			}
		}
		// Without the backing store the whole GET model went back, the state GET showed included:
		// under the graph profile that is disabled, which is then stored.
		wantState := remoteassist.StateNotConfigured
		if f == plainKiota && p == remoteassist.ProfileGraph {
			wantState = remoteassist.StateDisabled
		}
		if s := srv.Settings("contoso"); !s.BlockChat || s.RemoteAssistanceState != wantState || s.AllowSessionsToUnenrolledDevices {
			t.Errorf("stored %+v, want blockChat and state %s", s, wantState)
		}

		// Copy everything GET returned into a new model, change it and PATCH it: the whole
		// body GET returned goes out, whatever the flavour, and the service takes it.
		m = c.mustGet(t)
		whole := NewRemoteAssistanceSettings()
		whole.SetId(m.GetId())
		whole.SetOdataType(m.GetOdataType())
		whole.SetAdditionalData(m.GetAdditionalData())
		whole.SetAllowSessionsToUnenrolledDevices(ptr(true))
		whole.SetBlockChat(m.GetBlockChat())
		whole.SetRemoteAssistanceState(ptr(DISABLED_REMOTEASSISTANCESTATE))
		n = c.wire.count()
		res, err := c.patch(t.Context(), whole)
		if err != nil {
			t.Fatalf("PATCH of the whole body: %s\n%s", describe(err), c.wire.dump())
		}
		body := c.wire.one(t, n).jsonBody(t)
		wantBody := map[string]any{
			"@odata.context":                   deref(m.GetAdditionalData()["@odata.context"].(*string)),
			"@odata.type":                      odataType,
			"id":                               remoteassist.SettingsID("contoso"),
			"allowSessionsToUnenrolledDevices": true,
			"blockChat":                        true,
			"remoteAssistanceState":            "disabled",
		}
		if !reflect.DeepEqual(body, wantBody) {
			t.Errorf("whole-body PATCH sent %v, want %v", body, wantBody)
		}
		if res, ok := patchAnswered(t, c, p, res); ok &&
			(deref(res.GetRemoteAssistanceState()) != DISABLED_REMOTEASSISTANCESTATE || !deref(res.GetAllowSessionsToUnenrolledDevices()) || !deref(res.GetBlockChat())) {
			t.Errorf("PATCH answered state %v, allow %v, blockChat %v", res.GetRemoteAssistanceState(), res.GetAllowSessionsToUnenrolledDevices(), res.GetBlockChat())
		}
		s := remoteassist.Settings(srv.Settings("contoso"))
		if s != (remoteassist.Settings{ID: remoteassist.SettingsID("contoso"), AllowSessionsToUnenrolledDevices: true, BlockChat: true, RemoteAssistanceState: remoteassist.StateDisabled}) {
			t.Errorf("stored %+v", s)
		}
		checkWire(t, c)
	})
}

func TestInvalidValuesAreTypedBadRequests(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f flavour, p remoteassist.Profile) {
		srv := newServer(t, p)
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionReadWrite), clientConfig{})

		// Raw JSON through the adapter: the path a caller takes when the model cannot express
		// the value. It still goes through every middleware (so it is gzip'd) and the XXX
		// error mapping.
		t.Run("raw JSON enum", func(t *testing.T) {
			info := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.PATCH, remoteAssistanceSettingsURLTemplate, map[string]string{})
			info.Headers.TryAdd("Accept", "application/json")
			info.SetStreamContentAndContentType([]byte(`{"remoteAssistanceState":"on"}`), "application/json")
			n := c.wire.count()
			_, err := c.adapter.Send(t.Context(), info, CreateRemoteAssistanceSettingsFromDiscriminatorValue, odataErrorMapping())
			oe := asODataError(t, c, err, http.StatusBadRequest, "BadRequest")
			if got := deref(oe.GetErrorEscaped().GetTarget()); got != "remoteAssistanceState" {
				t.Errorf("error.target %q", got)
			}
			msg := oe.Error()
			allowed := make([]string, 0, 3)
			for _, s := range p.States() {
				allowed = append(allowed, string(s))
			}
			for _, s := range []string{"'remoteAssistanceState'", `"on"`, "Allowed values: " + strings.Join(allowed, ", ") + "."} {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not mention %s", msg, s)
				}
			}
			if body := c.wire.one(t, n).body(t); string(body) != `{"remoteAssistanceState":"on"}` {
				t.Errorf("body on the wire %s", body)
			}
		})

		// The typed model's additional data is the SDK's escape hatch for values and
		// properties the model lacks; the service must refuse them with a typed error.
		for _, tc := range []struct {
			name, key string
			value     any
			mentions  []string
		}{
			{"enum through additional data", "remoteAssistanceState", "on", []string{"'remoteAssistanceState'", "Allowed values"}},
			{"unknown property", "remoteHelpEnabled", true, []string{"'remoteHelpEnabled'", "does not exist"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := NewRemoteAssistanceSettings()
				body.SetAdditionalData(map[string]any{tc.key: tc.value})
				n := c.wire.count()
				_, err := c.patch(t.Context(), body)
				oe := asODataError(t, c, err, http.StatusBadRequest, "BadRequest")
				if got := deref(oe.GetErrorEscaped().GetTarget()); got != tc.key {
					t.Errorf("error.target %q, want %q", got, tc.key)
				}
				for _, s := range tc.mentions {
					if !strings.Contains(oe.Error(), s) {
						t.Errorf("message %q does not mention %s", oe.Error(), s)
					}
				}
				if got := c.wire.one(t, n).jsonBody(t); !reflect.DeepEqual(got, map[string]any{tc.key: tc.value}) {
					t.Errorf("body on the wire %v", got)
				}
			})
		}
		if s := remoteassist.Settings(srv.Settings("contoso")); s != remoteassist.DefaultSettings("contoso") {
			t.Errorf("a refused PATCH changed the store: %+v", s)
		}
		checkWire(t, c)
	})
}

// TestExplicitNull sets a property to nil. The Graph SDK's backing store writes it as an
// explicit null, which the service refuses naming the property; without the backing store Kiota
// leaves the property out.
func TestExplicitNull(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f flavour, p remoteassist.Profile) {
		srv := newServer(t, p)
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionReadWrite), clientConfig{})

		if f == plainKiota {
			body := NewRemoteAssistanceSettings()
			body.SetAllowSessionsToUnenrolledDevices(nil)
			body.SetBlockChat(ptr(true))
			if _, err := c.patch(t.Context(), body); err != nil {
				t.Fatalf("PATCH: %s\n%s", describe(err), c.wire.dump())
			}
			if got := c.wire.one(t, 0).jsonBody(t); !reflect.DeepEqual(got, map[string]any{"blockChat": true}) {
				t.Errorf("body %v, want the nil property left out", got)
			}
			checkWire(t, c)
			return
		}

		for _, tc := range []struct {
			name     string
			body     func() RemoteAssistanceSettingsable
			property string
		}{
			{"property of a new model set to nil", func() RemoteAssistanceSettingsable {
				m := NewRemoteAssistanceSettings()
				m.SetAllowSessionsToUnenrolledDevices(nil)
				m.SetBlockChat(ptr(true))
				return m
			}, "allowSessionsToUnenrolledDevices"},
			{"property of the GET model set to nil", func() RemoteAssistanceSettingsable {
				m := c.mustGet(t)
				// The workaround TestReadModifyWrite explains; without it the nil is not sent.
				m.GetBackingStore().SetInitializationCompleted(true)
				m.SetBlockChat(nil)
				return m
			}, "blockChat"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := tc.body()
				n := c.wire.count()
				_, err := c.patch(t.Context(), body)
				sent := c.wire.one(t, n).jsonBody(t)
				if v, ok := sent[tc.property]; !ok || v != nil {
					t.Fatalf("body %v lacks %q: null\n%s", sent, tc.property, c.wire.dump())
				}
				oe := asODataError(t, c, err, http.StatusBadRequest, "BadRequest")
				if got := deref(oe.GetErrorEscaped().GetTarget()); got != tc.property {
					t.Errorf("error.target %q, want %q", got, tc.property)
				}
				if !strings.Contains(oe.Error(), "'"+tc.property+"'") || !strings.Contains(oe.Error(), "null") {
					t.Errorf("message %q does not name the property and null", oe.Error())
				}
			})
		}
		if s := remoteassist.Settings(srv.Settings("contoso")); s != remoteassist.DefaultSettings("contoso") {
			t.Errorf("a refused PATCH changed the store: %+v", s)
		}
		checkWire(t, c)
	})
}

func TestReadOnlyTokenIsForbidden(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f flavour, p remoteassist.Profile) {
		srv := newServer(t, p)
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionRead), clientConfig{})
		c.mustGet(t)

		body := NewRemoteAssistanceSettings()
		body.SetRemoteAssistanceState(ptr(ENABLED_REMOTEASSISTANCESTATE))
		n := c.wire.count()
		_, err := c.patch(t.Context(), body)
		oe := asODataError(t, c, err, http.StatusForbidden, "Forbidden")
		if !strings.Contains(oe.Error(), remoteassisttest.PermissionReadWrite) {
			t.Errorf("403 message %q does not name the permission needed", oe.Error())
		}
		c.wire.one(t, n) // no retry of a 403
		if s := remoteassist.Settings(srv.Settings("contoso")); s != remoteassist.DefaultSettings("contoso") {
			t.Errorf("a forbidden PATCH changed the store: %+v", s)
		}
		checkWire(t, c)
	})
}

// TestTokenWithheldFromUnlistedHost shows what happens when the token provider's allowed hosts
// are Graph's defaults: the SDK sends no token to the emulator, and the 401 comes back as a
// typed error without a CAE retry loop.
func TestTokenWithheldFromUnlistedHost(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f flavour, p remoteassist.Profile) {
		srv := newServer(t, p)
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionRead), clientConfig{allowedHosts: graphAllowedHosts})
		_, err := c.get(t.Context(), nil)
		asODataError(t, c, err, http.StatusUnauthorized, "InvalidAuthenticationToken")
		ex := c.wire.one(t, 0)
		if got := ex.reqHeader.Get("Authorization"); got != "" {
			t.Errorf("Authorization %q sent to a host outside the allowed hosts", got)
		}
		if n := c.tokens.issued.Load(); n != 0 {
			t.Errorf("token provider issued %d tokens", n)
		}
		if got := ex.respHeader.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
			t.Errorf("WWW-Authenticate %q", got)
		}
		checkWire(t, c)
	})
}

// TestThrottledRequestIsRetried: a tenant over its rate gets 429 with Retry-After: 1; kiota's
// retry handler waits that second and retries once; the new window admits it. The emulator's
// clock is a throttleClock: on the real one, a machine slow enough to take a second between
// the two GETs would end the window before the second, and nothing would be throttled.
func TestThrottledRequestIsRetried(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f flavour, p remoteassist.Profile) {
		clk := newThrottleClock(time.Second)
		srv := newServer(t, p,
			remoteassisttest.WithThrottle(server.ThrottleConfig{Window: clk.window, Requests: 1}),
			remoteassisttest.WithClock(clk.Now))
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionRead), clientConfig{})
		c.mustGet(t) // uses the window's only request

		start := time.Now()
		m, err := c.get(t.Context(), &RemoteAssistanceSettingsRequestBuilderGetRequestConfiguration{Options: []abs.RequestOption{clk.retryOptions()}})
		elapsed := time.Since(start)
		if err != nil || m == nil {
			t.Fatalf("throttled GET through the SDK: %v, %v\n%s", m, describe(err), c.wire.dump())
		}
		if deref(m.GetId()) != remoteassist.SettingsID("contoso") {
			t.Errorf("id %q", deref(m.GetId()))
		}
		tries := c.wire.since(1)
		if len(tries) != 2 {
			t.Fatalf("%d requests for the throttled GET, want 2 (429, then 200)\n%s", len(tries), c.wire.dump())
		}
		if tries[0].status != http.StatusTooManyRequests || tries[0].respHeader.Get("Retry-After") != "1" {
			t.Errorf("first try %d Retry-After %q, want 429 Retry-After 1", tries[0].status, tries[0].respHeader.Get("Retry-After"))
		}
		if tries[1].status != http.StatusOK {
			t.Errorf("retry answered %d, want 200", tries[1].status)
		}
		if got := tries[0].reqHeader.Get("Retry-Attempt"); got != "" {
			t.Errorf("first try carries Retry-Attempt %q", got)
		}
		if got := tries[1].reqHeader.Get("Retry-Attempt"); got != "1" {
			t.Errorf("retry carries Retry-Attempt %q, want 1", got)
		}
		// Retry-After honoured: the retry did not leave before the second it asked for. How much
		// later it left depends on the machine's load, so no upper bound is asserted.
		if gap := tries[1].sent.Sub(tries[0].sent); gap < time.Second {
			t.Errorf("retry %v after the 429, before Retry-After's 1s", gap)
		}
		if f == graphSDK && tries[0].reqHeader.Get("client-request-id") != tries[1].reqHeader.Get("client-request-id") {
			t.Errorf("the retry changed client-request-id")
		}
		// Finding 4: kiota's retry handler leaves the 429's body open, so the HTTP/1.1 connection it
		// came on is never free again, and the retry goes out on a new one.
		if tries[0].in == nil || tries[1].in == nil || tries[0].in.remoteAddr == tries[1].in.remoteAddr {
			t.Errorf("kiota behaviour changed: the retry came on the 429's connection, so kiota closed that body; "+
				"update this characterization and README.md's finding 4\n%s", c.wire.dump())
		}
		t.Logf("%s: throttled GET took %v over %d requests", f, elapsed.Round(time.Millisecond), len(tries))
		checkWire(t, c)
	})
}

// TestThrottlingOutlastsRetries: with the server's clock stopped the window never ends; kiota
// retries three times, a second apart, and then surfaces the 429 as a typed error.
//
// That kiota waits Retry-After's second, not its own back-off (3 s, then 6 s, plus jitter), is
// read from kiota itself rather than from a wall clock that a loaded machine stretches: the retry
// handler passes its cumulative delay so far to the ShouldRetry callback of its options, which
// this test supplies per request (the defaults otherwise: 3 retries, always retry).
func TestThrottlingOutlastsRetries(t *testing.T) {
	forEachFlavour(t, func(t *testing.T, f flavour, p remoteassist.Profile) {
		frozen := time.Now()
		srv := newServer(t, p,
			remoteassisttest.WithThrottle(server.ThrottleConfig{Window: time.Second, Requests: 1}),
			remoteassisttest.WithClock(func() time.Time { return frozen }))
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionRead), clientConfig{})
		c.mustGet(t)

		var delays []time.Duration // kiota's cumulative delay before each retry it decides on
		options := &khttp.RetryHandlerOptions{ShouldRetry: func(delay time.Duration, executionCount int, _ *http.Request, _ *http.Response) bool {
			delays = append(delays, delay)
			return true
		}}
		// A hang guard only, far above the 3 s the retries take: without it a client that
		// never gave up would hold the test until go test's timeout.
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.get(ctx, &RemoteAssistanceSettingsRequestBuilderGetRequestConfiguration{Options: []abs.RequestOption{options}})
		elapsed := time.Since(start)
		oe := asODataError(t, c, err, http.StatusTooManyRequests, "TooManyRequests")
		if got := first(oe.GetResponseHeaders().Get("retry-after")); got != "1" {
			t.Errorf("Retry-After on the surfaced error %q, want 1", got)
		}
		tries := c.wire.since(1)
		if len(tries) != 4 {
			t.Fatalf("%d requests, want 4 (the call and kiota's 3 default retries)\n%s", len(tries), c.wire.dump())
		}
		for i, ex := range tries {
			want := ""
			if i > 0 {
				want = string(rune('0' + i))
			}
			if ex.status != http.StatusTooManyRequests || ex.reqHeader.Get("Retry-Attempt") != want {
				t.Errorf("try %d: %d with Retry-Attempt %q, want 429 with %q", i, ex.status, ex.reqHeader.Get("Retry-Attempt"), want)
			}
			if got := ex.respHeader.Get("Retry-After"); got != "1" {
				t.Errorf("try %d: Retry-After %q, want 1", i, got)
			}
			// Retry-After honoured on the wire: no retry left before the second it was told.
			if i > 0 {
				if gap := ex.sent.Sub(tries[i-1].sent); gap < time.Second {
					t.Errorf("try %d left %v after the 429 before it, before Retry-After's 1s", i, gap)
				}
			}
		}
		// Finding 4: no 429's body is closed, so each retry takes a connection of its own.
		conns := map[string]bool{}
		for _, ex := range tries {
			if ex.in != nil {
				conns[ex.in.remoteAddr] = true
			}
		}
		if len(conns) != len(tries) {
			t.Errorf("kiota behaviour changed: %d connections for %d requests, so a 429's body was closed; "+
				"update this characterization and README.md's finding 4\n%s", len(conns), len(tries), c.wire.dump())
		}
		// Retry-After honoured by kiota: each retry's delay was the header's 1 s (the callback is
		// asked before retries 1, 2 and 3; the fourth 429 ends the retries before it is asked).
		if want := []time.Duration{0, time.Second, 2 * time.Second}; !slices.Equal(delays, want) {
			t.Errorf("kiota's cumulative retry delays %v, want %v (Retry-After's 1 s each)", delays, want)
		}
		t.Logf("%s: gave up after %v and %d requests", f, elapsed.Round(time.Millisecond), len(tries))
		checkWire(t, c)
	})
}

// TestThrottledPatchRetry: a throttled PATCH is retried by kiota after Retry-After. What the
// retry carries depends on where the compression handler sits relative to the retry handler,
// and kiota-http-go v1.5.4 picks that order at random per client (its default middleware list
// comes out of a map), so both orders are pinned here.
//
// Known SDK defect (kiota-http-go#183, only fixed for compression-before-retry): with retry
// outside compression, the compression handler works on a shallow copy of the request, so the
// retry handler rewinds and resends the original, uncompressed body while the shared header map
// still says Content-Encoding: gzip. The service answers 400 "not valid gzip", as Graph does.
// The recommended server change (see the commit's report) would turn this case into a success.
func TestThrottledPatchRetry(t *testing.T) {
	for _, p := range remoteassist.Profiles() {
		for _, f := range flavours {
			for _, order := range []pipelineOrder{orderCompressionFirst, orderRetryFirst} {
				for _, tr := range transports {
					name := map[pipelineOrder]string{orderCompressionFirst: "compression before retry", orderRetryFirst: "retry before compression"}[order]
					testThrottledPatchRetry(t, p, f, order, name+"/"+tr.name, tr.opts)
				}
			}
		}
	}
}

// gzipOf is data compressed as kiota's compression handler compresses it (compress/gzip at the
// default level, no header fields): the same bytes.
func gzipOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testThrottledPatchRetry(t *testing.T, p remoteassist.Profile, f flavour, order pipelineOrder, name string, opts []remoteassisttest.Option) {
	t.Run(string(p)+"/"+string(f)+"/"+name, func(t *testing.T) {
		t.Parallel()
		// Both PATCHes in one window and the retry in the next, however slow the machine: see
		// throttleClock.
		clk := newThrottleClock(time.Second)
		srv := newServer(t, p, append([]remoteassisttest.Option{
			remoteassisttest.WithThrottle(server.ThrottleConfig{Window: clk.window, Writes: 1}),
			remoteassisttest.WithClock(clk.Now)}, opts...)...)
		c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionReadWrite), clientConfig{order: order})

		first := NewRemoteAssistanceSettings()
		first.SetBlockChat(ptr(true))
		if _, err := c.patch(t.Context(), first); err != nil {
			t.Fatalf("first PATCH: %s\n%s", describe(err), c.wire.dump())
		}
		second := NewRemoteAssistanceSettings()
		second.SetRemoteAssistanceState(ptr(ENABLED_REMOTEASSISTANCESTATE))
		m, err := c.patch(t.Context(), second, clk.retryOptions())
		tries := c.wire.since(1)
		if len(tries) != 2 || tries[0].status != http.StatusTooManyRequests || tries[0].respHeader.Get("Retry-After") != "1" {
			t.Fatalf("want a 429 with Retry-After: 1, then one retry\n%s", c.wire.dump())
		}
		if got := tries[1].reqHeader.Get("Retry-Attempt"); got != "1" {
			t.Errorf("retry carries Retry-Attempt %q", got)
		}
		for i, ex := range tries {
			if got := ex.reqHeader.Get("Content-Encoding"); got != "gzip" {
				t.Errorf("try %d: Content-Encoding %q", i, got)
			}
			if order == orderCompressionFirst && i == 1 && ex.err != nil {
				// Kiota's rewind broke the retry in the transport (finding 3): it never reached the
				// wire, or its headers did and then no body (ContentLength=59 with Body length 0).
				// classifyRetry judges the outcome; what reached the server came over its protocol.
				if ex.in != nil && ex.in.proto != srv.proto {
					t.Errorf("try %d: the server received it over %s, not %s\n%s", i, ex.in.proto, srv.proto, c.wire.dump())
				}
				continue
			}
			if ex.proto != srv.proto || ex.in == nil || ex.in.proto != srv.proto {
				t.Errorf("try %d: not %s on both ends\n%s", i, srv.proto, c.wire.dump())
			}
		}
		// The server received the 429's body before it answered, over either protocol (net/http
		// reads it over HTTP/1.1, the service over HTTP/2: finding 3).
		if !tries[0].in.whole {
			t.Errorf("the server answered the 429 over %s without the whole body of its request\n%s", srv.proto, c.wire.dump())
		} else if got := tries[0].jsonBody(t); !reflect.DeepEqual(got, map[string]any{"remoteAssistanceState": "enabled"}) {
			t.Errorf("first try's body %v", got)
		}
		stored := srv.Settings("contoso")
		compressed := gzipOf(t, []byte(`{"remoteAssistanceState":"enabled"}`))

		if order == orderCompressionFirst {
			// Kiota rewinds the body the transport read for the 429 (finding 3). The server
			// answered only once the body was in (asserted above). Over HTTP/2 that leaves the
			// client's writer done with the body before the answer, so the retry must be whole.
			// Over HTTP/1.1 the writer sends the body before its last read of it, which a
			// preempted writer makes after kiota's rewind (2 retries in ~2,000 on a loaded
			// machine; TestRetryRewindRacesTheHTTP1Writer forces it): no server can prevent it,
			// so there the outcome is checked for consistency (classifyRetry) and logged.
			changed := stored.RemoteAssistanceState == remoteassist.StateEnabled
			if outcome := classifyRetry(t, c, tries, err, changed, compressed); outcome != retryWhole {
				if srv.proto != "HTTP/1.1" {
					t.Fatalf("over %s, where the service reads the whole body before the 429, the retry was not whole: %s\n%s", srv.proto, outcome, c.wire.dump())
				}
				t.Logf("finding 3 reproduced over %s: %s\n%s", srv.proto, outcome, c.wire.dump())
				return
			}
			if err != nil {
				t.Fatalf("throttled PATCH: %s\n%s", describe(err), c.wire.dump())
			}
			if tries[0].in.whole && !bytes.Equal(tries[0].reqBody, tries[1].reqBody) {
				t.Errorf("the retry sent a different body: % x, then % x", tries[0].reqBody, tries[1].reqBody)
			}
			if !bytes.Equal(tries[1].reqBody, compressed) || tries[1].reqLength != int64(len(compressed)) {
				t.Errorf("the retry sent % x (ContentLength %d), not the compression handler's % x", tries[1].reqBody, tries[1].reqLength, compressed)
			}
			if m, ok := patchAnswered(t, c, p, m); ok && (deref(m.GetRemoteAssistanceState()) != ENABLED_REMOTEASSISTANCESTATE || !deref(m.GetBlockChat())) {
				t.Errorf("PATCH answered state %v, blockChat %v", m.GetRemoteAssistanceState(), m.GetBlockChat())
			}
			if stored.RemoteAssistanceState != remoteassist.StateEnabled || !stored.BlockChat {
				t.Errorf("stored %+v", stored)
			}
			checkWire(t, c)
			return
		}

		// Retry before compression: the defect, characterized.
		if bytes.HasPrefix(tries[1].reqBody, []byte{0x1f, 0x8b}) {
			t.Errorf("kiota behaviour changed: the retry is gzip now; update this characterization\n%s", c.wire.dump())
		}
		if string(tries[1].reqBody) != `{"remoteAssistanceState":"enabled"}` {
			t.Errorf("retry body % x, want the uncompressed JSON", tries[1].reqBody)
		}
		oe := asODataError(t, c, err, http.StatusBadRequest, "BadRequest")
		if !strings.Contains(oe.Error(), "not valid gzip") {
			t.Errorf("message %q", oe.Error())
		}
		if stored.RemoteAssistanceState != remoteassist.StateNotConfigured || !stored.BlockChat {
			t.Errorf("stored %+v", stored)
		}
		t.Logf("known incompatibility reproduced (%s):\n%s", f, c.wire.dump())
	})
}

// TestRetryRewindsTheBodyInUse characterizes finding 3 of README.md: kiota's retry handler
// rewinds (Seek(0)) and resends a request body as soon as the previous attempt's RoundTrip
// returned, while the transport may still be reading it. The compression handler sits outside the
// retry handler here, so the body rewound is the one the transport reads. Several throttled
// PATCHes run at once per transport, each on a server and client of its own, and what each
// became is classified from both ends of the wire (classifyRetry).
//
// Against this service the outcome is the whole body in all but about one retry in 1,800, over
// either protocol, because the service reads a refused request's body before it answers:
// net/http does so over HTTP/1.1 (up to 256 KiB), and the service itself over HTTP/2
// (server/middleware.go, bound). So the client's transport has almost always finished with the
// body before the 429 comes back. A server that answers an HTTP/2 request before its body is in
// lets the client's stream writer, which flushed the headers first, read the body after kiota
// rewound it: the retry then reaches the server short of its Content-Length (commonly with
// nothing), and the SDK reports a 400 for a PATCH that was only throttled (6 retries in 40
// against this service before it read such bodies). Once, over HTTP/1.1 on a loaded machine, the
// retry's transport found the body at its end and sent nothing. The server's part, the whole body
// read before the 429, is asserted; kiota's race is checked for consistency (classifyRetry) and
// logged. The profile makes no difference to the transport: documented only.
func TestRetryRewindsTheBodyInUse(t *testing.T) {
	const attempts = 6
	for _, f := range flavours {
		for _, tr := range transports {
			t.Run(string(f)+"/"+tr.name, func(t *testing.T) {
				t.Parallel()
				type attempt struct {
					srv      *testServer
					c        *client
					clk      *throttleClock
					firstErr error
					err      error
				}
				runs := make([]*attempt, attempts)
				for i := range runs {
					clk := newThrottleClock(time.Second)
					srv := newServer(t, remoteassist.ProfileDocumented, append([]remoteassisttest.Option{
						remoteassisttest.WithThrottle(server.ThrottleConfig{Window: clk.window, Writes: 1}),
						remoteassisttest.WithClock(clk.Now)}, tr.opts...)...)
					c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionReadWrite), clientConfig{order: orderCompressionFirst})
					runs[i] = &attempt{srv: srv, c: c, clk: clk}
				}
				var wg sync.WaitGroup
				for _, a := range runs {
					wg.Go(func() {
						first := NewRemoteAssistanceSettings()
						first.SetBlockChat(ptr(true)) // the window's one write
						if _, a.firstErr = a.c.patch(t.Context(), first); a.firstErr != nil {
							return
						}
						second := NewRemoteAssistanceSettings()
						second.SetRemoteAssistanceState(ptr(ENABLED_REMOTEASSISTANCESTATE))
						_, a.err = a.c.patch(t.Context(), second, a.clk.retryOptions())
					})
				}
				wg.Wait()

				compressed := gzipOf(t, []byte(`{"remoteAssistanceState":"enabled"}`))
				counts := map[retryOutcome]int{}
				for i, a := range runs {
					if a.firstErr != nil {
						t.Errorf("attempt %d: first PATCH: %s\n%s", i, describe(a.firstErr), a.c.wire.dump())
						continue
					}
					tries := a.c.wire.since(1)
					if len(tries) == 0 || tries[0].in == nil {
						t.Errorf("attempt %d: the throttled PATCH never reached the server\n%s", i, a.c.wire.dump())
						continue
					}
					// What the server had of the 429's body when it answered: all of it, over
					// either protocol.
					if throttled := tries[0]; !throttled.in.whole || !bytes.Equal(throttled.reqBody, compressed) {
						t.Errorf("attempt %d: over %s the server answered the 429 without the whole body\n%s", i, a.srv.proto, a.c.wire.dump())
					}
					changed := a.srv.Settings("contoso").RemoteAssistanceState == remoteassist.StateEnabled
					outcome := classifyRetry(t, a.c, tries, a.err, changed, compressed)
					counts[outcome]++
					switch {
					case outcome == retryWhole || outcome == "":
					case a.srv.proto != "HTTP/1.1":
						// Over HTTP/2 the client's writer is done with the body before the end of
						// the stream, which the service waits for before the 429 (finding 3).
						t.Errorf("attempt %d: over %s, where the service reads the whole body before the 429, the retry was not whole: %s\n%s", i, a.srv.proto, outcome, a.c.wire.dump())
					default:
						// Over HTTP/1.1, kiota's race with the writer's last read (finding 3),
						// which no server can rule out: logged, not failed.
						t.Logf("attempt %d: finding 3 reproduced over %s: %s\n%s", i, a.srv.proto, outcome, a.c.wire.dump())
					}
				}
				t.Logf("%s over %s, %d throttled PATCHes: %v", f, runs[0].srv.proto, attempts, counts)
			})
		}
	}
}

// TestRetryRewindRacesTheHTTP1Writer reproduces, deterministically, the HTTP/1.1 case of finding 3
// of README.md. Go's HTTP/1.1 writer sends a body's bytes (kiota's is not a type it buffers with
// the headers), then reads the body once more, to check that nothing follows its ContentLength,
// and closes it. The server, which has the whole body, may answer before that read; kiota rewinds
// the body as soon as RoundTrip returned, and the read then drains it. holdingTransport holds
// that read until the retry starts, the interleaving a preemption of the writer produces: the
// retry then finds the body at its end and fails in the transport, although the server received
// the throttled attempt's body whole before it answered. With bodyPerAttempt inside the retry
// handler (the workaround README.md gives users), each attempt's transport reads a reader of its
// own, and the same held read leaves the retry whole.
func TestRetryRewindRacesTheHTTP1Writer(t *testing.T) {
	for _, f := range flavours {
		for _, workaround := range []bool{false, true} {
			name := string(f) + "/kiota as it is"
			var inner []khttp.Middleware
			if workaround {
				name = string(f) + "/with a body per attempt"
				inner = []khttp.Middleware{bodyPerAttempt{}}
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				clk := newThrottleClock(time.Second)
				srv := newServer(t, remoteassist.ProfileDocumented,
					remoteassisttest.WithThrottle(server.ThrottleConfig{Window: clk.window, Writes: 1}),
					remoteassisttest.WithClock(clk.Now))
				hold := &holdingTransport{}
				t.Cleanup(hold.releaseLast) // the last attempt's writer, still held, before the server closes
				c := newClient(t, f, srv, delegated("contoso", remoteassisttest.PermissionReadWrite), clientConfig{
					order: orderCompressionFirst, inner: inner,
					wrap: func(next http.RoundTripper) http.RoundTripper { hold.next = next; return hold }})

				first := NewRemoteAssistanceSettings()
				first.SetBlockChat(ptr(true)) // the window's one write
				if _, err := c.patch(t.Context(), first); err != nil {
					t.Fatalf("first PATCH: %s\n%s", describe(err), c.wire.dump())
				}
				second := NewRemoteAssistanceSettings()
				second.SetRemoteAssistanceState(ptr(ENABLED_REMOTEASSISTANCESTATE))
				_, err := c.patch(t.Context(), second, clk.retryOptions())
				if msg := hold.failure(); msg != "" {
					t.Fatalf("%s: Go's transport changed; update finding 3 of README.md\n%s", msg, c.wire.dump())
				}
				tries := c.wire.since(1)
				if len(tries) != 2 || tries[0].status != http.StatusTooManyRequests {
					t.Fatalf("want a 429, then one retry\n%s", c.wire.dump())
				}
				compressed := gzipOf(t, []byte(`{"remoteAssistanceState":"enabled"}`))
				// The server's part: the 429 came after the whole body (net/http reads it over
				// HTTP/1.1), so the client's writer had sent all of it.
				if throttled := tries[0]; throttled.in == nil || !throttled.in.whole || !bytes.Equal(throttled.reqBody, compressed) {
					t.Fatalf("the server answered the 429 without the whole body of its request\n%s", c.wire.dump())
				}
				if !hold.heldAfterAnswer() {
					t.Fatalf("the throttled attempt's RoundTrip returned only after its writer's last read: Go's transport changed; update finding 3 of README.md\n%s", c.wire.dump())
				}
				stored := srv.Settings("contoso")
				if workaround {
					if err != nil {
						t.Fatalf("throttled PATCH with a body per attempt: %s\n%s", describe(err), c.wire.dump())
					}
					if retry := tries[1]; retry.in == nil || !retry.in.whole || !bytes.Equal(retry.reqBody, compressed) {
						t.Errorf("the retry reached the server as % x, want % x\n%s", retry.reqBody, compressed, c.wire.dump())
					}
					if stored.RemoteAssistanceState != remoteassist.StateEnabled || !stored.BlockChat {
						t.Errorf("stored %+v", stored)
					}
					return
				}
				// kiota as it is: the writer's held read drained the body kiota rewound.
				want := fmt.Sprintf("http: ContentLength=%d with Body length 0", len(compressed))
				if err == nil || !strings.Contains(err.Error(), want) || tries[1].err == nil {
					t.Fatalf("kiota behaviour changed: the retry after the held read returned %v, not %q; update finding 3 of README.md\n%s",
						describe(err), want, c.wire.dump())
				}
				if changed := stored.RemoteAssistanceState == remoteassist.StateEnabled; changed || !stored.BlockChat {
					t.Errorf("stored %+v after the retry failed in the transport", stored)
				}
				if outcome := classifyRetry(t, c, tries, err, false, compressed); outcome != retryTransportError {
					t.Errorf("outcome %q, want %q", outcome, retryTransportError)
				}
				t.Logf("finding 3 reproduced over HTTP/1.1 (%s):\n%s", f, c.wire.dump())
			})
		}
	}
}

// bodyPerAttempt is the workaround finding 3 of README.md gives SDK users: a middleware inside
// kiota's retry handler that hands the transport each attempt's body as a reader of its own over
// the same bytes, so a transport still reading an earlier attempt's body after its RoundTrip
// returned (as net/http's may) reads its own copy, never the one the retry handler rewinds.
type bodyPerAttempt struct{}

func (bodyPerAttempt) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return p.Next(req, i)
	}
	data, err := io.ReadAll(req.Body) // kiota's shared body, rewound by the retry handler
	if err != nil {
		return nil, err
	}
	out := req.WithContext(req.Context()) // the retry handler keeps req and its body
	out.Body = io.NopCloser(bytes.NewReader(data))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return p.Next(out, i)
}

// holdingTransport passes each request on with its body wrapped so that the transport's first
// read past the declared ContentLength (Go's HTTP/1.1 writer's check that nothing follows) is held
// until the next request arrives; that next request goes on only once the held writer has closed
// the body. The wrapping is on a shallow copy: the pipeline's request and body are untouched, and
// the reads go to the body the pipeline gave.
type holdingTransport struct {
	next http.RoundTripper

	mu   sync.Mutex
	last *heldBody
	// answered records, per request with a body, whether its RoundTrip had returned while its
	// writer was held.
	answered []bool
	problem  string
}

// holdGuard bounds a hold and the wait for a held writer: a hang guard only (the hold is released
// by the next request, within kiota's Retry-After of 1 s).
const holdGuard = 30 * time.Second

func (h *holdingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	prev := h.last
	h.last = nil
	h.mu.Unlock()
	if prev != nil {
		prev.release()
		select {
		case <-prev.closed:
		case <-time.After(holdGuard):
			h.fail("the held writer did not close the body")
		}
	}
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 {
		return h.next.RoundTrip(req)
	}
	hb := &heldBody{body: req.Body, limit: req.ContentLength, free: make(chan struct{}), held: make(chan struct{}),
		closed: make(chan struct{}), onTimeout: func() { h.fail("the writer's read past ContentLength was held until the hang guard") }}
	out := req.WithContext(req.Context())
	out.Body = hb
	h.mu.Lock()
	h.last = hb
	h.mu.Unlock()
	res, err := h.next.RoundTrip(out)
	select {
	case <-hb.held:
		h.record(true)
	default:
		h.record(false)
	}
	return res, err
}

func (h *holdingTransport) record(held bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answered = append(h.answered, held)
}

func (h *holdingTransport) fail(msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.problem == "" {
		h.problem = msg
	}
}

// failure is what went wrong with a hold, if anything.
func (h *holdingTransport) failure() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.problem
}

// heldAfterAnswer reports whether the throttled attempt (the second request with a body) had its
// answer while its writer was held in its read past ContentLength.
func (h *holdingTransport) heldAfterAnswer() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.answered) > 1 && h.answered[1]
}

// releaseLast lets the last request's writer go on, if it is held.
func (h *holdingTransport) releaseLast() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last != nil {
		h.last.release()
	}
}

// heldBody is a request body whose first read past limit waits for release.
type heldBody struct {
	body      io.ReadCloser
	limit     int64
	n         int64 // read so far; by the transport's writer only
	free      chan struct{}
	held      chan struct{} // closed when the read past limit begins
	closed    chan struct{}
	onTimeout func()

	releaseOnce, holdOnce, closeOnce sync.Once
}

func (b *heldBody) release() { b.releaseOnce.Do(func() { close(b.free) }) }

func (b *heldBody) Read(p []byte) (int, error) {
	if b.n >= b.limit {
		b.holdOnce.Do(func() {
			close(b.held)
			select {
			case <-b.free:
			case <-time.After(holdGuard):
				b.onTimeout()
			}
		})
	}
	n, err := b.body.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *heldBody) Close() error {
	b.closeOnce.Do(func() { close(b.closed) })
	return b.body.Close()
}

// retryOutcome is what became of a throttled PATCH that kiota retried with the body it rewound
// (finding 3).
type retryOutcome string

const (
	retryWhole          retryOutcome = "the retry carried the whole body, and the change was stored"
	retryBodyCut        retryOutcome = "the retry's body was cut short (the first attempt's writer read on after kiota rewound it): the server received a tail of it or nothing, refused it with 400, and nothing was stored"
	retryTransportError retryOutcome = "the retry failed in the transport, nothing was stored"
)

// classifyRetry tells which outcome a throttled PATCH had, from both ends of the wire, and fails
// the test on any other: tries are the 429's exchange and the retry's, err what the SDK returned,
// changed whether the store holds the change, compressed the body the compression handler made.
// The invariant, whatever the timing: the change is stored exactly when the SDK reports success,
// and then the server received the whole body, byte for byte; a retry whose body the first
// attempt's writer consumed reaches the server short of its Content-Length (or not at all), and
// the SDK reports an error. The server never receives a different whole body.
func classifyRetry(t *testing.T, c *client, tries []exchange, err error, changed bool, compressed []byte) retryOutcome {
	t.Helper()
	if len(tries) != 2 || tries[0].status != http.StatusTooManyRequests {
		t.Errorf("want a 429, then one retry\n%s", c.wire.dump())
		return ""
	}
	retry := tries[1]
	// Cut short: where the rewound body's read position ended up after the first attempt's writer
	// read on (bytes.Reader reads from there to the end), a tail of the body, or nothing.
	cut := retry.in != nil && len(retry.reqBody) < len(compressed) && bytes.HasSuffix(compressed, retry.reqBody)
	var oe *ODataError
	switch {
	case err == nil:
		if retry.in == nil || !retry.in.whole || !bytes.Equal(retry.reqBody, compressed) || !changed {
			t.Errorf("the SDK reported success, but the server received % x (whole %v) for % x, stored %v\n%s",
				retry.reqBody, retry.in != nil && retry.in.whole, compressed, changed, c.wire.dump())
		}
		return retryWhole
	case changed:
		t.Errorf("the SDK reported %s, but the change was stored\n%s", describe(err), c.wire.dump())
	case retry.err != nil:
		if retry.in != nil && retry.in.whole && bytes.Equal(retry.reqBody, compressed) {
			t.Errorf("the server received the whole body, but the transport failed: %v\n%s", retry.err, c.wire.dump())
		}
		return retryTransportError
	case errors.As(err, &oe) && oe.GetStatusCode() == http.StatusBadRequest && cut:
		return retryBodyCut
	default:
		t.Errorf("the SDK reported %s for a retry whose body the server received as % x (whole %v, %v)\n%s",
			describe(err), retry.reqBody, retry.in != nil && retry.in.whole, retry.in != nil && retry.in.bodyErr != nil, c.wire.dump())
	}
	return ""
}
