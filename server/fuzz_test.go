package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/ordinal"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// fuzzTenant is the tenant every fuzzed request acts on.
const fuzzTenant = "fuzz-tenant"

// fuzzEnv is one server per profile and fuzzing process, with the tokens the inputs choose from.
type fuzzEnv struct {
	profile remoteassist.Profile
	srv     *server.Server
	store   *memory.Store
	tokens  []string
	schema  *openapi3.Schema
	// fold is set when the profile matches member names and enumerated values in any casing.
	fold bool
}

var fuzzEnvs sync.Map // remoteassist.Profile → *fuzzEnv

func fuzzEnvironment(tb testing.TB, profile remoteassist.Profile) *fuzzEnv {
	if env, ok := fuzzEnvs.Load(profile); ok {
		return env.(*fuzzEnv)
	}
	env := func() *fuzzEnv {
		key, verifier := newDevKey(tb)
		mint := func(scopes ...string) string {
			tok, err := key.Mint(jwtauth.TokenSpec{Tenant: fuzzTenant, Subject: "fuzzer", Scopes: scopes, TTL: 24 * time.Hour})
			if err != nil {
				tb.Fatal(err)
			}
			return tok
		}
		store := memory.New()
		srv, err := server.New(server.Config{Profile: profile, Store: store, Authenticator: verifier})
		if err != nil {
			tb.Fatal(err)
		}
		c, err := contractOf(profile)
		if err != nil {
			tb.Fatal(err)
		}
		schema := c.doc.Components.Schemas["microsoft.graph.remoteAssistanceSettingsUpdate"].Value
		fold, _ := c.doc.Extensions["x-remoteassist-case-insensitive"].(bool)
		// Token 0 can write; the others cannot, or are no token at all.
		return &fuzzEnv{profile: profile, srv: srv, store: store, schema: schema, fold: fold,
			tokens: []string{mint(readWriteConfig), mint(readConfig), "", "not.a.token", mint("User.Read")}}
	}()
	actual, _ := fuzzEnvs.LoadOrStore(profile, env)
	return actual.(*fuzzEnv)
}

// fuzzMethods are the methods an input picks from.
var fuzzMethods = []string{http.MethodPatch, http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodOptions, "BREW"}

// FuzzRequest drives the whole request path in process with arbitrary methods, tokens,
// Content-Type, Content-Encoding and bodies (gzip-compressed or not), and checks that the server
// never panics nor answers 5xx, that every response is valid against the contract, that nothing
// out of contract is ever stored, and, for a well-formed write, that the outcome is the
// contract's: kin-openapi's verdict on the decoded body, applied to the stored state.
func FuzzRequest(f *testing.F) { fuzzRequests(f, remoteassist.ProfileDocumented) }

// FuzzRequestGraph is FuzzRequest under the graph profile, whose contract matches member names
// and enumerated values in any casing (a name given twice in two casings is refused) and whose
// PATCH answers 204: the oracle folds the body as the profile says before judging it.
func FuzzRequestGraph(f *testing.F) { fuzzRequests(f, remoteassist.ProfileGraph) }

func fuzzRequests(f *testing.F, profile remoteassist.Profile) {
	for _, s := range fuzzSeeds {
		f.Add(s.method, s.token, s.contentType, s.contentEncoding, []byte(s.body), s.gzip)
	}
	env := fuzzEnvironment(f, profile)
	f.Fuzz(func(t *testing.T, method, token uint8, contentType, contentEncoding string, body []byte, gzipBody bool) {
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		tok := env.tokens[int(token)%len(env.tokens)]
		sent := body
		if gzipBody {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(body)
			zw.Close()
			sent = buf.Bytes()
		}
		req := httptest.NewRequest(m, "http://localhost"+settingsPath, bytes.NewReader(sent))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("Content-Type", contentType)
		if contentEncoding != "" {
			req.Header.Set("Content-Encoding", contentEncoding)
		}
		before := env.settings(t)
		rec := httptest.NewRecorder()
		env.srv.ServeHTTP(rec, req)
		after := env.settings(t)

		if rec.Code >= 500 {
			t.Fatalf("%s → %d: %s", m, rec.Code, rec.Body)
		}
		if m == http.MethodHead {
			if rec.Header().Get("request-id") == "" {
				t.Fatal("HEAD response without request-id")
			}
		} else if err := checkResponseOf(env.profile, req, rec.Result(), rec.Body.Bytes()); err != nil {
			t.Fatalf("%s → %d breaks the contract: %v\nbody: %s", m, rec.Code, err, rec.Body)
		}
		if err := after.Validate(); err != nil || after.ID != remoteassist.SettingsID(fuzzTenant) {
			t.Fatalf("out-of-contract state stored: %+v (%v)", after, err)
		}
		written := m == http.MethodPatch && (rec.Code == http.StatusOK || rec.Code == http.StatusNoContent)
		if !written {
			if after != before {
				t.Fatalf("%s → %d changed the state: %+v → %+v", m, rec.Code, before, after)
			}
		} else if rec.Code == http.StatusOK {
			var got gotEntity
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.settings() != after {
				t.Fatalf("answered %+v, stored %+v", got.settings(), after)
			}
		}
		// A write the server must judge on the body alone: its verdict must be the contract's.
		if m == http.MethodPatch && token%uint8(len(env.tokens)) == 0 && strings.EqualFold(contentType, "application/json") &&
			(contentEncoding == "" && !gzipBody || strings.EqualFold(contentEncoding, "gzip") && gzipBody) && len(body) <= server.DefaultMaxBodyBytes {
			want, ok := env.oracle(body, before)
			if ok && !written {
				t.Fatalf("%q refused (%d %s), the contract accepts it", body, rec.Code, rec.Body)
			}
			if !ok && rec.Code != http.StatusBadRequest {
				t.Fatalf("%q → %d, the contract refuses it", body, rec.Code)
			}
			if ok && after != want {
				t.Fatalf("%q stored %+v, want %+v", body, after, want)
			}
		}
	})
}

func (e *fuzzEnv) settings(t *testing.T) remoteassist.Settings {
	s, err := e.store.Settings(context.Background(), fuzzTenant)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// oracle judges a body independently of the server: decoded by encoding/json, refused if a
// property appears twice, validated by kin-openapi against the contract's schema, then the
// rules the schema cannot say (@odata.type, id, at least one setting). It returns the state
// the body leads to, and whether it is accepted.
func (e *fuzzEnv) oracle(body []byte, before remoteassist.Settings) (remoteassist.Settings, bool) {
	// A UTF-8 byte order mark before the text may be ignored (RFC 8259, 8.1), and the service does.
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(body))
	var v any
	if err := dec.Decode(&v); err != nil {
		return before, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return before, false
	}
	obj, ok := v.(map[string]any)
	if !ok || hasDuplicateMember(body) {
		return before, false
	}
	if e.fold {
		if obj, ok = e.folded(obj); !ok {
			return before, false
		}
		v = obj
	}
	if err := e.schema.VisitJSON(v, openapi3.VisitAsRequest()); err != nil {
		return before, false
	}
	var p remoteassist.Patch
	for k, val := range obj {
		switch k {
		case "id":
			if val != remoteassist.SettingsID(fuzzTenant) {
				return before, false
			}
		case "allowSessionsToUnenrolledDevices":
			b := val.(bool)
			p.AllowSessionsToUnenrolledDevices = &b
		case "blockChat":
			b := val.(bool)
			p.BlockChat = &b
		case "remoteAssistanceState":
			s := remoteassist.State(val.(string))
			p.RemoteAssistanceState = &s
		}
	}
	if p.IsEmpty() {
		return before, false
	}
	return p.Apply(before), true
}

// folded is obj as a case-insensitive profile reads it: every member named as the schema spells
// the property it matches in any casing, every enumerated string as the enumeration spells it.
// It is false when two members name one property.
func (e *fuzzEnv) folded(obj map[string]any) (map[string]any, bool) {
	out := make(map[string]any, len(obj))
	for name, v := range obj {
		for prop := range e.schema.Properties {
			if ordinal.EqualIgnoreCase(prop, name) {
				name = prop
			}
		}
		if _, twice := out[name]; twice {
			return nil, false
		}
		if s, ok := v.(string); ok && e.schema.Properties[name] != nil {
			for _, value := range e.schema.Properties[name].Value.Enum {
				if ordinal.EqualIgnoreCase(value.(string), s) {
					v = value
				}
			}
		}
		out[name] = v
	}
	return out, true
}

// hasDuplicateMember reports whether the top-level object names a member twice.
func hasDuplicateMember(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		k, _ := t.(string)
		if seen[k] {
			return true
		}
		seen[k] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

// gotEntity is the entity a 200 answered.
type gotEntity struct {
	ID                               string `json:"id"`
	AllowSessionsToUnenrolledDevices bool   `json:"allowSessionsToUnenrolledDevices"`
	RemoteAssistanceState            string `json:"remoteAssistanceState"`
	BlockChat                        bool   `json:"blockChat"`
}

func (g gotEntity) settings() remoteassist.Settings {
	return remoteassist.Settings{ID: g.ID, AllowSessionsToUnenrolledDevices: g.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState: remoteassist.State(g.RemoteAssistanceState), BlockChat: g.BlockChat}
}

// fuzzSeed is one seed input; the committed corpus in testdata/fuzz/FuzzRequest holds the same.
type fuzzSeed struct {
	method, token                      uint8
	contentType, contentEncoding, body string
	gzip                               bool
}

var fuzzSeeds = []fuzzSeed{
	{0, 0, "application/json", "", `{"remoteAssistanceState":"enabled","blockChat":true}`, false},
	{0, 0, "application/json", "", `{"remoteAssistanceState":"on"}`, false},
	{0, 0, "application/json", "", `{"blockChat":null}`, false},
	{0, 0, "application/json", "", `{"blockChat":true,"blockChat":false}`, false},
	{0, 0, "application/json", "", `{}`, false},
	{0, 0, "application/json", "", `{"BlockChat":false}`, false},
	{0, 0, "application/json", "", `{"REMOTEASSISTANCESTATE":"ENABLED","blockchat":true}`, false},
	{0, 0, "application/json", "", `{"remoteAssistanceState":"notConfigured"}`, false},
	{0, 0, "application/json", "", `{"blockChat":true,"BlockChat":false}`, false},
	{0, 0, "application/json", "", `{"@ODATA.TYPE":"#microsoft.graph.remoteAssistanceSettings","blockChat":true}`, false},
	{0, 0, "application/json", "", `{"@odata.type":"#microsoft.graph.remoteAssistanceSettings","allowSessionsToUnenrolledDevices":true}`, false},
	{0, 0, "application/json; charset=utf-8", "gzip", `{"blockChat":false}`, true},
	{0, 0, "application/json", "gzip", `{"blockChat":false}`, false},
	{0, 0, "application/json", "br", `{"blockChat":false}`, false},
	{0, 0, "text/plain", "", `{"blockChat":false}`, false},
	{0, 0, "", "", `{"blockChat":false}`, false},
	{0, 0, "application/json; charset=latin1", "", `{"blockChat":false}`, false},
	{0, 0, "application/json", "", `[{"blockChat":false}]`, false},
	{0, 0, "application/json", "", `{"blockChat":tru`, false},
	{0, 0, "application/json", "", `{"remoteAssistanceState":"enab\u006ced"}`, false},
	{0, 0, "application/json", "", `{"id":"x","blockChat":true}`, false},
	{0, 0, "application/json", "", `{"blockChat":1e400}`, false},
	{0, 0, "application/json", "gzip", `{"remoteAssistanceState":"enabled","extra":-1e400}`, true},
	{0, 1, "application/json", "", `{"blockChat":true}`, false},
	{0, 2, "application/json", "", `{"blockChat":true}`, false},
	{0, 3, "application/json", "", `{"blockChat":true}`, false},
	{1, 0, "", "", ``, false},
	{1, 4, "", "", ``, false},
	{2, 0, "application/json", "", `{"blockChat":true}`, false},
	{4, 0, "", "", ``, false},
	{5, 0, "", "", ``, false},
	{7, 0, "application/json", "", `{"blockChat":true}`, false},
}
