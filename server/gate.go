package server

import (
	"math"
	"reflect"
	"slices"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// A gate is a yes/no check in front of kin-openapi's schema validation, compiled at start-up
// from the contract's schema: true means kin-openapi would accept the value, false only that
// kin-openapi must decide, and explain a refusal. It reads the few keywords the API's bodies and
// parameters use (an object's properties and required members, a string's enumeration and
// length bounds, a boolean) and answers false for anything else it meets: a member the schema
// does not name, a null, a property whose schema uses another keyword. kin-openapi's validation
// of a PATCH body walks every schema with its own bookkeeping (sorting the members' names,
// settings, visited schemas), about 8 % of the whole process's CPU under PATCH load; the gate is
// a few map lookups and comparisons. bench/RESULTS.md records what it buys, FuzzBodyGate and
// FuzzPlainParams hold it to kin-openapi: whatever it accepts, kin-openapi accepts.
type gate func(value any) bool

// compileGate returns the gate of schema s, or nil when s uses a keyword the gate does not read
// (then every value goes to kin-openapi).
func compileGate(s *openapi3.Schema) gate { return compileGateIn(s, nil) }

// compileGateIn is compileGate below the object schemas being compiled (outer): a schema that
// contains itself has no gate, rather than a compilation that never ends.
func compileGateIn(s *openapi3.Schema, outer []*openapi3.Schema) gate {
	if s == nil || slices.Contains(outer, s) {
		return nil
	}
	switch t := gatedType(s); {
	case t == openapi3.TypeBoolean && len(s.Enum) == 0 && s.MinLength == 0 && s.MaxLength == nil &&
		len(s.Properties) == 0 && len(s.Required) == 0:
		return func(v any) bool { _, ok := v.(bool); return ok }
	case t == openapi3.TypeString:
		if check := compileStringGate(s); check != nil {
			return func(v any) bool { str, ok := v.(string); return ok && check(str) }
		}
	case t == openapi3.TypeObject:
		if g := compileObjectGate(s, outer); g != nil {
			return g.accepts
		}
	}
	return nil
}

// gatedType is the one type of s if s sets no keyword but those the gates read, else "".
func gatedType(s *openapi3.Schema) string {
	if !onlyGatedKeywords(s) || s.Type == nil || len(s.Type.Slice()) != 1 {
		return ""
	}
	return s.Type.Slice()[0]
}

// compileStringGate is the gate of a string schema for a value known to be a string, such as a
// plain parameter's (contract.go), which it takes as it is: passed to a gate, a string would be
// boxed into an interface, an allocation, on every request. Nil when s is not a string schema
// the gates read.
func compileStringGate(s *openapi3.Schema) func(string) bool {
	if s == nil || gatedType(s) != openapi3.TypeString || len(s.Properties) != 0 || len(s.Required) != 0 {
		return nil
	}
	return stringGate(s)
}

// onlyGatedKeywords reports whether s sets no keyword but those the gates read (Type, Enum,
// MinLength, MaxLength, Properties, Required, AdditionalProperties) and annotations, which
// kin-openapi does not validate with. It compares the rest with the zero Schema rather than
// listing the other keywords, so that one kin-openapi adds is not gated by mistake.
func onlyGatedKeywords(s *openapi3.Schema) bool {
	rest := withoutAnnotations(*s)
	rest.Type, rest.Enum, rest.MinLength, rest.MaxLength = nil, nil, 0, nil
	rest.Properties, rest.Required, rest.AdditionalProperties = nil, nil, openapi3.AdditionalProperties{}
	return reflect.ValueOf(rest).IsZero()
}

// withoutAnnotations returns s without the keywords kin-openapi does not validate with. A
// default is applied only when the validation is asked to set defaults, which neither the
// bodies' nor the parameters' validation is.
func withoutAnnotations(s openapi3.Schema) openapi3.Schema {
	s.Extensions, s.Origin, s.Title, s.Description, s.Example, s.Examples = nil, nil, "", "", nil, nil
	s.ExternalDocs, s.Deprecated, s.XML, s.Default = nil, false, nil, nil
	return s
}

// stringGate accepts a string in the enumeration, if any, whose length is within the bounds.
// kin-openapi counts a string's length in code points (its check for UTF-16 surrogates never
// fires on a decoded rune); the gate counts bytes against the maximum and runes against the
// minimum, never fewer and never more than kin-openapi does, so that a string it accepts is one
// kin-openapi accepts (a long non-ASCII one near the maximum goes to kin-openapi).
func stringGate(s *openapi3.Schema) func(string) bool {
	if s.MaxLength != nil && *s.MaxLength > math.MaxInt64 {
		return nil // kin-openapi compares as int64: such a bound refuses every string
	}
	enum := make([]string, 0, len(s.Enum))
	for _, e := range s.Enum {
		v, ok := e.(string)
		if !ok {
			return nil
		}
		enum = append(enum, v)
	}
	minLength := s.MinLength
	maxLength := uint64(1<<63 - 1)
	if s.MaxLength != nil {
		maxLength = *s.MaxLength
	}
	return func(str string) bool {
		if (len(enum) > 0 && !slices.Contains(enum, str)) || uint64(len(str)) > maxLength {
			return false
		}
		return minLength == 0 || uint64(utf8.RuneCountInString(str)) >= minLength
	}
}

// objectGate is the gate of an object schema: it accepts an object whose every member is a
// property of the schema that the property's own gate accepts, and that has every required
// member. It also finds, in an object it refuses, the member kin-openapi's walk of the whole
// object would report (refusedMember), so that kin-openapi explains a refused body by visiting
// that member alone.
type objectGate struct {
	props    map[string]gate // nil for a property whose schema the gates do not read
	schemas  map[string]*openapi3.Schema
	required []string
}

// compileObjectGate returns the gate of object schema s, or nil when s is not an object schema
// the gates read. outer holds the object schemas around s.
func compileObjectGate(s *openapi3.Schema, outer []*openapi3.Schema) *objectGate {
	if s == nil || slices.Contains(outer, s) || gatedType(s) != openapi3.TypeObject ||
		len(s.Enum) != 0 || s.MinLength != 0 || s.MaxLength != nil {
		return nil
	}
	outer = append(outer, s)
	g := &objectGate{props: make(map[string]gate, len(s.Properties)),
		schemas: make(map[string]*openapi3.Schema, len(s.Properties)), required: s.Required}
	for name, ref := range s.Properties {
		if ref != nil && ref.Value != nil {
			g.props[name] = compileGateIn(ref.Value, outer) // nil: that member, when sent, goes to kin-openapi
			g.schemas[name] = ref.Value
		}
	}
	return g
}

// accepts is the gate.
func (g *objectGate) accepts(v any) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for name, member := range obj {
		if gate := g.props[name]; gate == nil || !gate(member) {
			return false
		}
	}
	return g.hasRequired(obj)
}

// hasRequired reports whether obj has every member the schema requires.
func (g *objectGate) hasRequired(obj map[string]any) bool {
	for _, name := range g.required {
		if _, ok := obj[name]; !ok {
			return false
		}
	}
	return true
}

// refusedMember returns the member of v that kin-openapi reports when it refuses v, with the
// member's schema, and ok, when the gates can tell: v is an object of which exactly one member
// fails its gate and every other member's gate accepts it. kin-openapi's walk of an object
// (visitJSONObject, stopping at the first error) first refuses a readOnly member, then too few
// or too many members, then visits the members in byte order, and checks the required ones last:
// a readOnly property never has a gate (onlyGatedKeywords), nor does a schema that bounds its
// number of members, so the first error of such a walk is the one member's. FuzzBodyRefusal
// holds the narrowed explanation to the whole walk's.
func (g *objectGate) refusedMember(v any) (name string, schema *openapi3.Schema, ok bool) {
	obj, isObject := v.(map[string]any)
	if g == nil || !isObject {
		return "", nil, false
	}
	for member, value := range obj {
		gate := g.props[member]
		if gate == nil {
			return "", nil, false // kin-openapi decides: an unknown or ungated member
		}
		if !gate(value) {
			if ok {
				return "", nil, false // a second refused member: which one is first is kin's walk
			}
			name, schema, ok = member, g.schemas[member], true
		}
	}
	return name, schema, ok
}
