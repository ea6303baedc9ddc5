package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"

	"github.com/remoteassist/remoteassist/openapi"
)

var (
	contractOpsOnce sync.Once
	contractOps     map[string]*operation
	contractOpsErr  error
)

// testOperation returns an operation compiled from the real contract.
func testOperation(tb testing.TB, id string) *operation {
	contractOpsOnce.Do(func() {
		doc, err := openapi.Load()
		if err != nil {
			contractOpsErr = err
			return
		}
		contractOps, contractOpsErr = compileContract(doc)
	})
	if contractOpsErr != nil {
		tb.Fatal(contractOpsErr)
	}
	op := contractOps[id]
	if op == nil {
		tb.Fatalf("no operation %s", id)
	}
	return op
}

const updateOp = "deviceManagement.UpdateRemoteAssistanceSettings"

func TestContractCompilesToPlan(t *testing.T) {
	op := testOperation(t, updateOp)
	if op.plan == nil {
		t.Fatal("the update body schema did not compile to a plan: every PATCH would go through kin-openapi")
	}
	var names []string
	for _, p := range op.plan.props {
		names = append(names, p.name)
	}
	want := []string{"@odata.context", "@odata.type", "allowSessionsToUnenrolledDevices", "blockChat", "id", "remoteAssistanceState"}
	if !slices.Equal(names, want) || op.plan.additional {
		t.Errorf("plan properties %v (additional %v), want %v and none other", names, op.plan.additional, want)
	}
	for _, p := range op.plan.props {
		if p.name == "remoteAssistanceState" && !slices.Equal(p.enum, []string{"notConfigured", "disabled", "enabled"}) {
			t.Errorf("remoteAssistanceState enum %v, want the contract's", p.enum)
		}
	}
}

func TestPlanRefusesWhatItDoesNotImplement(t *testing.T) {
	for _, src := range []string{
		`{"type":"object","properties":{"a":{"type":"string","pattern":"^x$"}}}`,
		`{"type":"object","properties":{"a":{"type":"integer"}}}`,
		`{"type":"object","minProperties":1,"properties":{"a":{"type":"boolean"}}}`,
		`{"type":"object","properties":{"a":{"type":"string","readOnly":true}}}`,
		`{"type":"object","properties":{"a":{"type":"string","maxLength":3}}}`,
		`{"type":"object","properties":{"a":{"oneOf":[{"type":"string"},{"type":"boolean"}]}}}`,
		`{"type":"object","additionalProperties":{"type":"string"}}`,
		`{"type":"object","properties":{"a":{"type":"string","enum":["x",""]}}}`,
	} {
		var s openapi3.Schema
		if err := json.Unmarshal([]byte(src), &s); err != nil {
			t.Fatal(err)
		}
		if compilePlan(&s) != nil {
			t.Errorf("compiled a plan for %s", src)
		}
	}
}

// bodySeeds are bodies for the differential fuzzing of the plan against kin-openapi.
var bodySeeds = []string{
	`{"remoteAssistanceState":"enabled","blockChat":true}`,
	`{"remoteAssistanceState":"on"}`,
	`{"remoteAssistanceState":"Enabled"}`,
	`{"blockChat":"true"}`,
	`{"allowSessionsToUnenrolledDevices":1}`,
	`{"blockChat":null}`,
	`{"remoteAssistanceState":null}`,
	`{"@odata.type":null}`,
	`{"blockChat":true,"chatBlocked":false}`,
	`{"BlockChat":false}`,
	`{"zz":1,"aa":"x","blockChat":"no"}`,
	`{}`,
	`{"@odata.type":"#microsoft.graph.remoteAssistanceSettings"}`,
	`{"@odata.type":"#microsoft.graph.user","blockChat":false}`,
	`{"id":"x","blockChat":false,"@odata.context":"c"}`,
	`{"blockC\u0068at":true}`,
	`{"remoteAssistanceState":"enab\u006ced"}`,
	`{"remoteAssistanceState":"\u00e9"}`,
	`{"remoteAssistanceState":true}`,
	`{"remoteAssistanceState":{"a":[1,2]}}`,
	`{"blockChat":true,"blockChat":false}`,
	`{"x\u0000y":true}`,
	"{\"\xff\":true}",
	`[{"blockChat":false}]`,
	`"blockChat"`,
	`null`,
	`  {"blockChat" : false , "remoteAssistanceState" :"disabled"}  `,
}

// FuzzBodyPlan is the differential test of the compiled plan: on every body, the plan must
// decide exactly as kin-openapi's VisitJSON on the decoded map (accept, or refuse with the same
// message and target) and yield the same properties, or hand the body over to kin-openapi. A
// duplicate property is the one refusal of its own, and the fallback's check must agree.
func FuzzBodyPlan(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add([]byte(s))
	}
	op := testOperation(f, updateOp)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		members, root, dup, err := op.plan.scanBody(data, nil)
		if err != nil {
			t.Fatalf("scanBody(%q): %v", data, err)
		}
		name, hasDup := duplicateMember(data)
		if root != kindObject {
			if hasDup || dup >= 0 {
				t.Fatalf("duplicate reported in a non-object %q", data)
			}
			return
		}
		// The plan looks for duplicates among the schema's properties, and among others only
		// when the schema allows others: otherwise they are refused anyway.
		_, known := op.plan.index[name]
		if dup >= 0 && !hasDup || hasDup && dup < 0 && (known || op.plan.additional) {
			t.Fatalf("%q: plan duplicate %v, decoder duplicate %v (%q)", data, dup >= 0, hasDup, name)
		}
		if dup >= 0 || !decided(members) {
			return
		}
		got, gotErr := op.plan.evaluate(members, nil)
		if hasDup && gotErr == nil {
			t.Fatalf("%q: accepted with the unknown property %q twice", data, name)
		}
		want, wantErr := kinBody(data, op, nil)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: plan error %v, kin-openapi error %v", data, gotErr, wantErr)
		}
		if gotErr != nil {
			if gotErr.Code != errCode(wantErr) || gotErr.Message != errMessage(wantErr) || gotErr.Target != errTarget(wantErr) {
				t.Fatalf("%q:\nplan       %s %q (target %q)\nkin-openapi %v", data, gotErr.Code, gotErr.Message, gotErr.Target, wantErr)
			}
			return
		}
		slices.SortFunc(got, func(a, b bodyField) int { return strings.Compare(a.name, b.name) })
		if !slices.Equal(got, want) {
			t.Fatalf("%q: plan fields %+v, kin-openapi %+v", data, got, want)
		}
	})
}

// FuzzHeaderParam is the differential test of the parameter fast path against kin-openapi.
func FuzzHeaderParam(f *testing.F) {
	for _, s := range []string{"my-id-42", strings.Repeat("x", 128), strings.Repeat("x", 129), strings.Repeat("é", 128), strings.Repeat("é", 129), " ", "\xff"} {
		f.Add(s)
	}
	op := testOperation(f, updateOp)
	var pc *param
	for _, p := range op.params {
		if p.p.Name == "client-request-id" {
			pc = p
		}
	}
	if pc == nil || !pc.simpleString || pc.maxLen != 128 {
		f.Fatalf("client-request-id compiled to %+v", pc)
	}
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest(http.MethodPatch, "/beta/deviceManagement/remoteAssistanceSettings", nil)
		req.Header["Client-Request-Id"] = []string{value}
		input := &openapi3filter.RequestValidationInput{Request: req, Options: &openapi3filter.Options{SkipSettingDefaults: true}}
		kinOK := openapi3filter.ValidateParameter(context.Background(), input, pc.p) == nil
		st := &reqState{}
		st.Context = newTestContext(req)
		fastOK := s0.validateParams(st, op) == nil
		if kinOK != fastOK {
			t.Fatalf("client-request-id %q: fast path %v, kin-openapi %v", value, fastOK, kinOK)
		}
	})
}

// s0 is a server for calling methods that use none of its fields.
var s0 = &Server{}

func newTestContext(req *http.Request) echo.Context {
	return echo.New().NewContext(req, httptest.NewRecorder())
}

func asDomain(err error) *remoteassist.Error {
	var de *remoteassist.Error
	if errors.As(err, &de) {
		return de
	}
	return &remoteassist.Error{Code: "not a domain error", Message: fmt.Sprint(err)}
}

func errCode(err error) string    { return asDomain(err).Code }
func errMessage(err error) string { return asDomain(err).Message }
func errTarget(err error) string  { return asDomain(err).Target }

// TestDirectBinders fails when the contract's parameters change so that an operation loses its
// direct binder (and every request pays the generated wrapper's reflection again).
func TestDirectBinders(t *testing.T) {
	for id := range knownParams {
		op := testOperation(t, id)
		if newDirectBinder(op, &handler{}) == nil {
			t.Errorf("%s has no direct binder: update knownParams and newDirectBinder for its parameters", id)
		}
	}
}
