package server

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/openapi"
)

// apiOperations compiles the API's operations under a profile.
func apiOperations(t testing.TB, p remoteassist.Profile) map[string]*operation {
	t.Helper()
	doc, err := openapi.Shared(p)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := compileContract(doc, true, caseInsensitive(doc))
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// adminOperations compiles the admin API's operations.
func adminOperations(t testing.TB) map[string]*operation {
	t.Helper()
	doc, err := openapi.SharedAdmin()
	if err != nil {
		t.Fatal(err)
	}
	ops, err := compileContract(doc, false, caseInsensitive(doc))
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestAPIParametersArePlain: every parameter of the API's operations, in both profiles, takes
// the plain path, so a change to the contract that would send them all through kin-openapi's
// decoders is noticed here rather than in a benchmark.
func TestAPIParametersArePlain(t *testing.T) {
	for _, p := range remoteassist.Profiles() {
		for id, op := range apiOperations(t, p) {
			if op.plain == nil {
				t.Errorf("%s: %s: its parameters are not plain", p, id)
			}
		}
	}
}

// FuzzPlainParams holds acceptPlain to kin-openapi: whatever it accepts, kin-openapi's request
// validation accepts too (it may send more to kin-openapi than needed, never less).
func FuzzPlainParams(f *testing.F) {
	for _, seed := range [][2]string{
		{"", ""},
		{"7b0e1c52-4a52-4b8e-9d1c-0d6f1a2b3c4d", "$select=blockChat,remoteAssistanceState"},
		{"x", "select=id"},
		{"tab\there", "$select=blockChat&$select=id"},
		{"\x7f", "$select="},
		{string(make([]byte, 129)), "$select=BLOCKCHAT"},
		{"é", "$select=blockChat,blockChat"},
	} {
		f.Add(seed[0], seed[1])
	}
	ops := apiOperations(f, remoteassist.ProfileDocumented)
	get := ops["deviceManagement.GetRemoteAssistanceSettings"]
	if get == nil || get.plain == nil {
		f.Fatal("the GET operation is missing or not plain")
	}
	f.Fuzz(func(t *testing.T, clientRequestID, rawQuery string) {
		query, err := url.ParseQuery(rawQuery)
		if err != nil {
			return // refused before any validation
		}
		req, err := http.NewRequest(http.MethodGet, "http://localhost"+BasePath+get.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = rawQuery
		if clientRequestID != "" {
			req.Header["Client-Request-Id"] = []string{clientRequestID}
		}
		if !acceptPlain(get.plain, req.Header, query) {
			return
		}
		input := &openapi3filter.RequestValidationInput{Request: req, Route: get.route, QueryParams: query, Options: paramOptions}
		if err := openapi3filter.ValidateRequest(context.Background(), input); err != nil {
			t.Errorf("acceptPlain accepted client-request-id %q, query %q; kin-openapi refuses: %v", clientRequestID, rawQuery, err)
		}
	})
}
