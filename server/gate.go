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
	case t == openapi3.TypeObject && len(s.Enum) == 0 && s.MinLength == 0 && s.MaxLength == nil:
		return objectGate(s, append(outer, s))
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
	rest := *s
	rest.Type, rest.Enum, rest.MinLength, rest.MaxLength = nil, nil, 0, nil
	rest.Properties, rest.Required, rest.AdditionalProperties = nil, nil, openapi3.AdditionalProperties{}
	// Annotations. A default is applied only when the validation is asked to set defaults, which
	// neither the body's nor the parameters' validation is.
	rest.Extensions, rest.Origin, rest.Title, rest.Description, rest.Example, rest.Examples = nil, nil, "", "", nil, nil
	rest.ExternalDocs, rest.Deprecated, rest.XML, rest.Default = nil, false, nil, nil
	return reflect.ValueOf(rest).IsZero()
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

// objectGate accepts an object whose every member is a property of s that its own gate accepts,
// and that has every required member. outer holds s and the object schemas around it.
func objectGate(s *openapi3.Schema, outer []*openapi3.Schema) gate {
	props := make(map[string]gate, len(s.Properties))
	for name, ref := range s.Properties {
		if ref != nil && ref.Value != nil {
			props[name] = compileGateIn(ref.Value, outer) // nil: that member, when sent, goes to kin-openapi
		}
	}
	required := s.Required
	return func(v any) bool {
		obj, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for name, member := range obj {
			if g := props[name]; g == nil || !g(member) {
				return false
			}
		}
		for _, name := range required {
			if _, ok := obj[name]; !ok {
				return false
			}
		}
		return true
	}
}
