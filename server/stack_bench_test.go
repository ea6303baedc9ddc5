package server_test

import (
	"bytes"
	"cmp"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/bench/floor"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// The benchmarks compare the whole stack (routing, contract validation, auth with a cached
// token, metrics, the in-memory store) with the hand-written floor of package floor on the same
// requests, sub-benchmark by sub-benchmark, so that bench/run.sh can interleave them and report
// the stack/floor ratio of each row. No network: each request goes through ServeHTTP into an
// httptest.ResponseRecorder.

// benchRequest is one of the requests measured.
type benchRequest struct {
	name   string
	method string
	path   string // settingsPath when empty
	body   string
	perm   string
	status int
}

var benchRequests = []benchRequest{
	{name: "GET", method: http.MethodGet, perm: readConfig, status: http.StatusOK},
	{name: "PATCH", method: http.MethodPatch, body: `{"remoteAssistanceState":"enabled","blockChat":true}`, perm: readWriteConfig, status: http.StatusOK},
	{name: "PATCH_invalid", method: http.MethodPatch, body: `{"remoteAssistanceState":"on"}`, perm: readWriteConfig, status: http.StatusBadRequest},
}

// floorNotFound are requests beside the floor's routes, which TestFloorDoesTheSameWork checks
// too (they are not benchmarked): their 404 names the segment where the path leaves every
// route, as the server's does (TestRejectedRequests).
var floorNotFound = []benchRequest{
	{name: "404_unknown_root", path: "/v1.0/deviceManagement/remoteAssistanceSettings"},
	{name: "404_unknown_middle_segment", path: "/beta/foo/remoteAssistanceSettings"},
	{name: "404_unknown_last_segment", path: "/beta/deviceManagement/nothingHere"},
	{name: "404_past_the_resource", path: settingsPath + "/blockChat"},
	{name: "404_trailing_slash", path: settingsPath + "/"},
	{name: "404_a_routes_prefix", path: "/beta/deviceManagement"},
	{name: "404_past_healthz", path: "/healthz/deeper"},
	{name: "404_PATCH_unknown_middle_segment", method: http.MethodPatch, path: "/beta/x/remoteAssistanceSettings", body: `{"blockChat":true}`},
}

// resettableBody is a request body that can be rewound without allocating, so that the
// benchmark loop measures the handler, not the request construction.
type resettableBody struct{ bytes.Reader }

func (*resettableBody) Close() error { return nil }

// benchImpl builds one implementation under test with its own store and its own verifier.
type benchImpl struct {
	name string
	new  func(tb testing.TB, key *jwtauth.Key) http.Handler
}

var benchImpls = []benchImpl{
	{"stack", func(tb testing.TB, key *jwtauth.Key) http.Handler {
		v := devVerifier(tb, key)
		srv, err := server.New(server.Config{Store: memory.New(), Authenticator: v})
		if err != nil {
			tb.Fatal(err)
		}
		return srv
	}},
	{"floor", func(tb testing.TB, key *jwtauth.Key) http.Handler {
		return floor.New(memory.New(), devVerifier(tb, key))
	}},
}

// devVerifier returns a verifier that trusts key.
func devVerifier(tb testing.TB, key *jwtauth.Key) *jwtauth.Verifier {
	v, err := jwtauth.NewDevVerifier(key)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// benchToken is a typical delegated Graph token: a handful of scopes, about 700 bytes.
func benchToken(tb testing.TB, key *jwtauth.Key, perm string) string {
	tok, err := key.Mint(jwtauth.TokenSpec{Tenant: "bench-tenant", Subject: "bench-user", TTL: 24 * time.Hour,
		Scopes: []string{perm, "User.Read", "openid", "profile", "offline_access"}})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// newBenchRequest builds a request that can be served again and again after rewind.
func newBenchRequest(tb testing.TB, key *jwtauth.Key, br benchRequest) (*http.Request, func()) {
	body := &resettableBody{}
	path := settingsPath
	if br.path != "" {
		path = br.path
	}
	req := httptest.NewRequest(br.method, "http://localhost"+path, nil)
	req.Header.Set("Authorization", "Bearer "+benchToken(tb, key, br.perm))
	req.Header.Set("client-request-id", "7b0e1c52-4a52-4b8e-9d1c-0d6f1a2b3c4d")
	data := []byte(br.body)
	if br.body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(data))
	}
	rewind := func() {
		body.Reset(data)
		req.Body = body
	}
	rewind()
	return req, rewind
}

func BenchmarkServe(b *testing.B) {
	key, _ := newDevKey(b)
	for _, br := range benchRequests {
		for _, impl := range benchImpls {
			b.Run("op="+br.name+"/impl="+impl.name, func(b *testing.B) {
				h := impl.new(b, key)
				req, rewind := newBenchRequest(b, key, br)
				// Warm up: verify the token once (so the loop hits the cache) and check the answer.
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != br.status {
					b.Fatalf("status %d, want %d: %s", rec.Code, br.status, rec.Body)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					rewind()
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != br.status {
						b.Fatalf("status %d, want %d", rec.Code, br.status)
					}
				}
			})
		}
	}
}

// variable parts of a response: ids and dates.
var (
	uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	datePattern = regexp.MustCompile(`"date":"[0-9T:-]+"`)
)

// TestFloorDoesTheSameWork keeps the comparison honest: on every benchmarked request, and on
// 404s beside the floor's routes, the floor answers exactly what the stack answers (status,
// headers, body, store state), ids and dates aside.
func TestFloorDoesTheSameWork(t *testing.T) {
	key, _ := newDevKey(t)
	stack, fl := benchImpls[0].new(t, key), benchImpls[1].new(t, key)
	notFound := slices.Clone(floorNotFound)
	for i := range notFound {
		notFound[i].method = cmp.Or(notFound[i].method, http.MethodGet)
		notFound[i].perm, notFound[i].status = readWriteConfig, http.StatusNotFound
	}
	for _, br := range slices.Concat(benchRequests, notFound) {
		var bodies [2]string
		var headers [2]http.Header
		for i, h := range []http.Handler{stack, fl} {
			req, _ := newBenchRequest(t, key, br)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != br.status {
				t.Fatalf("%s: impl %d: status %d, want %d: %s", br.name, i, rec.Code, br.status, rec.Body)
			}
			if err := checkResponseRecorded(req, rec); err != nil {
				t.Errorf("%s: impl %d breaks the contract: %v", br.name, i, err)
			}
			bodies[i] = datePattern.ReplaceAllString(uuidPattern.ReplaceAllString(rec.Body.String(), "ID"), `"date":"D"`)
			headers[i] = rec.Header()
		}
		if bodies[0] != bodies[1] {
			t.Errorf("%s: bodies differ:\nstack %s\nfloor %s", br.name, bodies[0], bodies[1])
		}
		for _, name := range []string{"Content-Type", "Cache-Control", "Client-Request-Id"} {
			if headers[0].Get(name) != headers[1].Get(name) {
				t.Errorf("%s: %s: stack %q, floor %q", br.name, name, headers[0].Get(name), headers[1].Get(name))
			}
		}
		for i, h := range headers {
			if !uuidPattern.MatchString(h.Get("Request-Id")) {
				t.Errorf("%s: impl %d: request-id %q", br.name, i, h.Get("Request-Id"))
			}
		}
	}
}

// checkResponseRecorded validates a recorded response against the contract.
func checkResponseRecorded(req *http.Request, rec *httptest.ResponseRecorder) error {
	res := rec.Result()
	return checkResponse(req.Clone(context.Background()), res, rec.Body.Bytes())
}
