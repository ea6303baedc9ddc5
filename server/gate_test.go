package server

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist"
)

const patchOperation = "deviceManagement.UpdateRemoteAssistanceSettings"

// TestGatesCompile: the contract's PATCH body and its parameters have gates in both profiles,
// so a change to the contract that would send every body through kin-openapi's validation
// again is noticed here rather than in a benchmark.
func TestGatesCompile(t *testing.T) {
	for _, p := range []remoteassist.Profile{remoteassist.ProfileDocumented, remoteassist.ProfileGraph} {
		for id, op := range apiOperations(t, p) {
			if op.body != nil && op.bodyGate == nil {
				t.Errorf("%s, %s: the body has no gate", p, id)
			}
			for _, param := range op.plain {
				if param.gate == nil && param.schema.Pattern == "" {
					t.Errorf("%s, %s: parameter %s has no gate", p, id, param.key)
				}
			}
		}
	}
}

// TestBodyGate: the bodies clients send are gated (the gate would be useless, and FuzzBodyGate
// could not fail, if it sent everything to kin-openapi), and what the gate does not read, or
// refuses, goes to kin-openapi.
func TestBodyGate(t *testing.T) {
	g := apiOperations(t, remoteassist.ProfileDocumented)[patchOperation].bodyGate
	for _, tc := range []struct {
		body string
		want bool
	}{
		{`{"remoteAssistanceState":"enabled","blockChat":true}`, true},
		{`{"allowSessionsToUnenrolledDevices":false}`, true},
		{`{"@odata.type":"#microsoft.graph.remoteAssistanceSettings","remoteAssistanceState":"disabled","id":"3bdb0758-0758-3bdb-5807-db3b5807db3b"}`, true},
		{`{}`, true},
		{`{"remoteAssistanceState":"on"}`, false},                                  // not in the enumeration
		{`{"blockChat":"true"}`, false},                                            // a string, not a boolean
		{`{"blockChat":null}`, false},                                              // null
		{`{"blockchat":true}`, false},                                              // not a property (in this profile)
		{`{"extra":1}`, false},                                                     // not a property
		{`{"id":"` + strings.Repeat("a", 37) + `"}`, false},                        // longer than maxLength
		{`{"@odata.context":"https://graph.microsoft.com/beta/$metadata"}`, false}, // format: kin-openapi's
		{`[]`, false},
		{`"enabled"`, false},
	} {
		value, err := decodeBody([]byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := g(value); got != tc.want {
			t.Errorf("gate(%s) = %v, want %v", tc.body, got, tc.want)
		}
	}
}

// TestCompileGateRefusesOtherKeywords: a schema with any keyword the gates do not read has no
// gate, so that kin-openapi validates what the gate would not understand.
func TestCompileGateRefusesOtherKeywords(t *testing.T) {
	str := func() *openapi3.Schema { return openapi3.NewStringSchema() }
	max := uint64(3)
	for name, s := range map[string]*openapi3.Schema{
		"pattern":  str().WithPattern("^a$"),
		"format":   str().WithFormat("uri"),
		"nullable": str().WithNullable(),
		"readOnly": func() *openapi3.Schema { s := str(); s.ReadOnly = true; return s }(),
		"allOf":    openapi3.NewAllOfSchema(str()),
		"no type":  {MaxLength: &max},
		"two types": func() *openapi3.Schema {
			s := str()
			s.Type = &openapi3.Types{openapi3.TypeString, openapi3.TypeBoolean}
			return s
		}(),
		"minProperties":        openapi3.NewObjectSchema().WithMinProperties(1),
		"enum of numbers":      str().WithEnum(1.0, 2.0),
		"integer":              openapi3.NewIntegerSchema(),
		"boolean with maxLen":  {Type: &openapi3.Types{openapi3.TypeBoolean}, MaxLength: &max},
		"string with property": str().WithProperty("a", str()),
		"maxLength past int64": func() *openapi3.Schema { s := str(); huge := uint64(1 << 63); s.MaxLength = &huge; return s }(),
	} {
		if compileGate(s) != nil {
			t.Errorf("%s: compiled a gate", name)
		}
	}
	if compileGate(str().WithMaxLength(3).WithMinLength(1).WithEnum("ab", "abcd")) == nil {
		t.Error("a string with an enumeration and bounds has no gate")
	}
	// A schema that contains itself compiles (its own member goes to kin-openapi).
	self := openapi3.NewObjectSchema().WithProperty("name", str())
	self.Properties["self"] = openapi3.NewSchemaRef("", self)
	g := compileGate(self)
	if g == nil || !g(map[string]any{"name": "a"}) || g(map[string]any{"self": map[string]any{}}) {
		t.Error("a schema containing itself: want a gate accepting its plain members and sending the nested one to kin-openapi")
	}
}

// FuzzBodyGate holds the PATCH body's gate to kin-openapi, in both profiles: whatever body it
// accepts (decoded, and folded under the graph profile, as validateBody does), kin-openapi's
// validation of the body's schema accepts too.
func FuzzBodyGate(f *testing.F) {
	for _, seed := range []string{
		`{"remoteAssistanceState":"enabled","blockChat":true}`,
		`{"REMOTEASSISTANCESTATE":"Enabled","allowSessionsToUnenrolledDevices":false}`,
		`{"@odata.type":"#microsoft.graph.remoteAssistanceSettings","id":"3bdb0758-0758-3bdb-5807-db3b5807db3b"}`,
		`{"id":"ééééééééééééééééééééééééééééééééééééé"}`,
		`{"blockChat":null,"remoteAssistanceState":"notConfigured"}`,
		`{"@odata.context":"x","extra":[1,{"a":2}]}`,
		`{"blockChat":1e400}`, `{"extra":-1e400}`,
		`{}`, `[]`, `null`, `"enabled"`, `1`,
	} {
		f.Add(seed)
	}
	fuzzBodies(f, func(t *testing.T, name string, op *operation, body string, value any) {
		if !op.bodyGate(value) {
			return
		}
		if err := op.body.VisitJSON(value, bodyOptions...); err != nil {
			t.Errorf("%s: the gate accepted %s; kin-openapi refuses: %v", name, body, err)
		}
	})
}

// fuzzBodies runs check on each body the fuzzer makes that decodes, for every operation that
// takes a body: the API's PATCH under both profiles and the admin API's. value is the body
// decoded, and folded under the graph profile, as validateBody has it before the gate (a body the
// folding refuses is skipped); name says which operation.
func fuzzBodies(f *testing.F, check func(t *testing.T, name string, op *operation, body string, value any)) {
	type bodyOp struct {
		name string
		op   *operation
		fold bool
	}
	var ops []bodyOp
	for _, p := range []remoteassist.Profile{remoteassist.ProfileDocumented, remoteassist.ProfileGraph} {
		ops = append(ops, bodyOp{string(p), apiOperations(f, p)[patchOperation], p == remoteassist.ProfileGraph})
	}
	admin := adminOperations(f)
	for _, id := range slices.Sorted(maps.Keys(admin)) {
		if admin[id].body != nil {
			ops = append(ops, bodyOp{"admin " + id, admin[id], false})
		}
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, o := range ops {
			value, err := decodeBody([]byte(body))
			if err != nil {
				return
			}
			if o.fold && foldBody(o.op.body, value) != nil {
				continue
			}
			check(t, o.name, o.op, body, value)
		}
	})
}

// describedBody is the message validateBody's explanation of a refused body renders, from kin's
// visit of the whole body (narrow false) or of the member refusedMember finds (narrow true).
func describedBody(t *testing.T, op *operation, value any, narrow bool) string {
	t.Helper()
	var at []string
	var err error
	if narrow {
		at, err = explainBody(op, value)
	} else {
		err = op.body.VisitJSON(value, bodyOptions...)
	}
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		return fmt.Sprint(err)
	}
	return describeSchemaError(se, "property", "", at, op.types).Error()
}

// TestExplainBodyNarrows: a body of which one member is refused is explained by kin-openapi's
// visit of that member alone; any other refused body by the visit of the whole body.
func TestExplainBodyNarrows(t *testing.T) {
	op := apiOperations(t, remoteassist.ProfileDocumented)[patchOperation]
	for _, tc := range []struct {
		body   string
		member string // "": not narrowed
	}{
		{`{"remoteAssistanceState":"on"}`, "remoteAssistanceState"},
		{`{"blockChat":"true","remoteAssistanceState":"enabled"}`, "blockChat"},
		{`{"blockChat":null}`, "blockChat"},
		{`{"blockChat":1,"remoteAssistanceState":"on"}`, ""}, // two refused: kin's walk says which
		{`{"blockChat":1,"extra":true}`, ""},                 // an unknown member: kin's
		{`{"extra":true}`, ""},
		{`[]`, ""},
	} {
		value, err := decodeBody([]byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		// Many times: a map's order of iteration changes from one range to the next, and the
		// member found must not depend on it.
		for range 32 {
			name, _, ok := op.bodyObject.refusedMember(value)
			if name != tc.member || ok != (tc.member != "") {
				t.Fatalf("refusedMember(%s) = %q, %v; want %q", tc.body, name, ok, tc.member)
			}
			if got, want := describedBody(t, op, value, true), describedBody(t, op, value, false); got != want {
				t.Fatalf("%s: narrowed explanation %q, the whole body's %q", tc.body, got, want)
			}
		}
	}
}

// FuzzBodyRefusal holds explainBody to kin-openapi's walk of the whole body, in both profiles:
// every body the gate refuses gets the message the whole body's visit would give it.
func FuzzBodyRefusal(f *testing.F) {
	for _, seed := range []string{
		`{"remoteAssistanceState":"on"}`,
		`{"blockChat":"true","allowSessionsToUnenrolledDevices":0}`,
		`{"REMOTEASSISTANCESTATE":"Enabled","blockChat":null}`,
		`{"id":"` + strings.Repeat("é", 37) + `","remoteAssistanceState":"disabled"}`,
		`{"@odata.context":"x","blockChat":[]}`,
		`{"blockChat":1e400}`, `{"":{}}`, `[]`, `null`, `1`,
		`{"tenants":{"contoso":{"blockChat":true},"x":{"remoteAssistanceState":"on"}}}`,
		`{"match":{"tenant":"contoso","method":"PATCH"},"effect":{"status":503,"retryAfter":2},"times":1}`,
		`{"effect":{"delayMs":{"min":-1}},"probability":2}`,
	} {
		f.Add(seed)
	}
	fuzzBodies(f, func(t *testing.T, name string, op *operation, body string, value any) {
		if op.bodyGate(value) {
			return
		}
		if got, want := describedBody(t, op, value, true), describedBody(t, op, value, false); got != want {
			t.Errorf("%s: %s: narrowed explanation %q, the whole body's %q", name, body, got, want)
		}
	})
}

// TestExplainBodyChecksRequired: when kin-openapi accepts the one member the gate refused (a
// gate counts a string's bytes against its maxLength, kin-openapi its characters), the body is
// valid only if it has the required members, which kin-openapi's walk of the whole body checks.
func TestExplainBodyChecksRequired(t *testing.T) {
	s := openapi3.NewObjectSchema().WithProperty("a", openapi3.NewBoolSchema()).
		WithProperty("b", openapi3.NewStringSchema().WithMaxLength(2))
	s.Required = []string{"a"}
	op := &operation{body: s, bodyObject: compileObjectGate(s, nil)}
	for body, valid := range map[string]bool{`{"a":true,"b":"éé"}`: true, `{"b":"éé"}`: false} {
		value, err := decodeBody([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if op.bodyObject.accepts(value) {
			t.Fatalf("the gate accepts %s: the test needs one it refuses and kin-openapi accepts", body)
		}
		if _, err := explainBody(op, value); (err == nil) != valid {
			t.Errorf("explainBody(%s): %v, want valid %v", body, err, valid)
		}
	}
}
