package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist"
)

// A body plan validates a request body against the operation's schema without building the
// map[string]any that kin-openapi's VisitJSON needs: one pass over the bytes, no allocation on
// the accepted path. It is compiled at start-up from the schema in kin-openapi's document of the
// contract, so the contract stays the only source of the property names, types and enumerations.
//
// A plan only exists for schemas made of what it implements (an object of boolean and string
// properties, enumerations, nullable, required, additionalProperties); compilePlan refuses any
// other keyword, so a richer contract silently gets kin-openapi's validation instead. A body
// holding a value the plan does not decide (a number, an object or an array, all of which the
// current contract refuses) also goes to kin-openapi. What the plan decides, it decides as
// kin-openapi would, with the same message: plan_test.go checks that on every input the fuzzer
// makes. The one deliberate difference from decoding into a map is that a property sent twice is
// refused, by the plan and before kin-openapi alike, so that what was validated is what is
// stored (OData also refuses duplicate properties).

// Kinds of JSON value.
const (
	kindNull byte = iota + 1
	kindBool
	kindString
	kindNumber
	kindObject
	kindArray
)

// member is one member of the body object, as scanned: slices of the request body.
type member struct {
	// key is the decoded member name; it aliases the body unless the name had escapes.
	key []byte
	// prop is the index of the property in the plan, or -1 for a property the schema lacks.
	prop int
	kind byte
	// raw is the value: for a string, the bytes between the quotes.
	raw []byte
	// simple is true for a string that is printable ASCII without escapes, whose raw bytes are
	// its value.
	simple bool
	b      bool
}

// bodyField is one property of a validated body, for the handler.
type bodyField struct {
	// name is the property name as the contract spells it.
	name string
	kind byte
	b    bool
	str  string
}

// planProp is one property of the schema.
type planProp struct {
	name     string
	boolean  bool // type boolean; otherwise type string
	nullable bool
	enum     []string
	// enumList and typeName are the message parts describeSchemaError would derive.
	enumList string
	typeName string
}

// bodyPlan is the compiled schema of a request body.
type bodyPlan struct {
	props      []planProp
	index      map[string]int
	additional bool
	required   []string
	// allowed lists the schema's properties for the unknown-property message.
	allowed string
}

// Keywords a plan implements (or that do not affect validation); any other keyword in the
// schema means no plan.
var (
	planObjectKeywords = keywordSet("type", "properties", "additionalProperties", "required")
	planPropKeywords   = keywordSet("type", "enum", "nullable")
	annotationKeywords = keywordSet("title", "description", "example", "examples", "deprecated", "externalDocs", "xml")
)

func keywordSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// onlyKeywords reports whether schema uses no keyword outside allowed, annotations and
// extensions. It reads the schema as kin-openapi writes it back to JSON, so that a keyword a
// newer kin-openapi understands also counts.
func onlyKeywords(schema *openapi3.Schema, allowed map[string]bool) bool {
	data, err := json.Marshal(schema)
	if err != nil {
		return false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return false
	}
	for k := range m {
		if !allowed[k] && !annotationKeywords[k] && !strings.HasPrefix(k, "x-") {
			return false
		}
	}
	return true
}

// compilePlan compiles the body schema, or returns nil when the schema uses something a plan
// does not implement.
func compilePlan(schema *openapi3.Schema) *bodyPlan {
	if schema == nil || !schema.Type.Is(openapi3.TypeObject) || !onlyKeywords(schema, planObjectKeywords) {
		return nil
	}
	ap := schema.AdditionalProperties
	if ap.Schema != nil {
		return nil
	}
	p := &bodyPlan{index: make(map[string]int), additional: ap.Has == nil || *ap.Has, required: slices.Clone(schema.Required)}
	names := make([]string, 0, len(schema.Properties))
	for name := range schema.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) > 64 {
		return nil // the duplicate check keeps one bit per property
	}
	for _, name := range names {
		ref := schema.Properties[name]
		if ref == nil || ref.Value == nil {
			return nil
		}
		ps := ref.Value
		if !onlyKeywords(ps, planPropKeywords) {
			return nil
		}
		prop := planProp{name: name, nullable: ps.Nullable}
		switch {
		case ps.Type.Is(openapi3.TypeBoolean):
			prop.boolean = true
		case ps.Type.Is(openapi3.TypeString):
		default:
			return nil
		}
		for _, v := range ps.Enum {
			s, ok := v.(string)
			if !ok || s == "" || prop.boolean {
				return nil
			}
			prop.enum = append(prop.enum, s)
		}
		prop.enumList = enumList(ps)
		prop.typeName = schemaType(ps)
		p.index[name] = len(p.props)
		p.props = append(p.props, prop)
	}
	p.allowed = strings.Join(names, ", ")
	return p
}

// scanBody splits a body that json.Valid accepted into the members of its top-level object.
// It returns the kind of the top-level value, and the index of a member whose property was
// already seen, or -1.
func (p *bodyPlan) scanBody(data []byte, members []member) ([]member, byte, int, error) {
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return members, kindOfByte(data[i]), -1, nil
	}
	i = skipSpace(data, i+1)
	if data[i] == '}' {
		return members, kindObject, -1, nil
	}
	var seen uint64
	var unknown map[string]bool
	for {
		end, simple := scanString(data, i)
		m := member{key: data[i+1 : end], prop: -1}
		if !simple {
			var k string
			if err := json.Unmarshal(data[i:end+1], &k); err != nil {
				return members, kindObject, -1, err
			}
			m.key = []byte(k)
		}
		if idx, ok := p.index[string(m.key)]; ok {
			m.prop = idx
			if seen&(1<<idx) != 0 {
				return append(members, m), kindObject, len(members), nil
			}
			seen |= 1 << idx
		} else if p.additional {
			// Unknown properties are allowed, so they are stored if anything is: look for
			// duplicates among them too.
			if unknown == nil {
				unknown = make(map[string]bool)
			}
			if unknown[string(m.key)] {
				return append(members, m), kindObject, len(members), nil
			}
			unknown[string(m.key)] = true
		}
		i = skipSpace(data, end+1) // at ':'
		i = skipSpace(data, i+1)
		i = m.scanValue(data, i)
		members = append(members, m)
		i = skipSpace(data, i)
		if data[i] == '}' {
			return members, kindObject, -1, nil
		}
		i = skipSpace(data, i+1) // past ','
	}
}

// scanValue records the value starting at data[i] and returns the index after it.
func (m *member) scanValue(data []byte, i int) int {
	switch c := data[i]; c {
	case '"':
		end, simple := scanString(data, i)
		m.kind, m.raw, m.simple = kindString, data[i+1:end], simple
		return end + 1
	case 't':
		m.kind, m.b, m.raw = kindBool, true, data[i:i+4]
		return i + 4
	case 'f':
		m.kind, m.b, m.raw = kindBool, false, data[i:i+5]
		return i + 5
	case 'n':
		m.kind, m.raw = kindNull, data[i:i+4]
		return i + 4
	case '{', '[':
		m.kind = kindObject
		if c == '[' {
			m.kind = kindArray
		}
		depth, j := 0, i
		for {
			switch data[j] {
			case '"':
				j, _ = scanString(data, j)
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					m.raw = data[i : j+1]
					return j + 1
				}
			}
			j++
		}
	default:
		j := i
		for j < len(data) && strings.IndexByte("+-.0123456789eE", data[j]) >= 0 {
			j++
		}
		m.kind, m.raw = kindNumber, data[i:j]
		return j
	}
}

// scanString returns the index of the closing quote of the string opening at data[i], and
// whether the string is printable ASCII without escapes.
func scanString(data []byte, i int) (int, bool) {
	simple := true
	for j := i + 1; ; j++ {
		switch c := data[j]; {
		case c == '"':
			return j, simple
		case c == '\\':
			simple = false
			j++
		case c >= 0x80:
			simple = false
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

func kindOfByte(c byte) byte {
	switch c {
	case '{':
		return kindObject
	case '[':
		return kindArray
	case '"':
		return kindString
	case 't', 'f':
		return kindBool
	case 'n':
		return kindNull
	}
	return kindNumber
}

// decided reports whether the plan decides the body alone: every value is a string, a boolean
// or null.
func decided(members []member) bool {
	for i := range members {
		if k := members[i].kind; k != kindString && k != kindBool && k != kindNull {
			return false
		}
	}
	return true
}

// evaluate validates the scanned members, which decided accepted, as kin-openapi's VisitJSON
// would (as a request, failing on the first error), and appends the accepted properties to
// fields. Like VisitJSON it visits the members in the byte order of their names and reports the
// first that fails, then the required properties.
func (p *bodyPlan) evaluate(members []member, fields []bodyField) ([]bodyField, *remoteassist.Error) {
	worst := -1
	for i := range members {
		m := &members[i]
		ok := p.additional
		if m.prop >= 0 {
			ok = p.props[m.prop].problem(m) == ""
		}
		if !ok && (worst < 0 || bytes.Compare(m.key, members[worst].key) < 0) {
			worst = i
		}
	}
	if worst >= 0 {
		m := &members[worst]
		if m.prop < 0 {
			name := truncate(string(m.key), 64)
			return fields, &remoteassist.Error{Code: remoteassist.EINVALID, Target: name,
				Message: "Property '" + name + "' does not exist on type 'microsoft.graph.remoteAssistanceSettings'. Allowed properties: " + p.allowed + "."}
		}
		prop := &p.props[m.prop]
		return fields, &remoteassist.Error{Code: remoteassist.EINVALID, Target: truncate(prop.name, 64),
			Message: "Invalid value for property '" + prop.name + "': " + prop.problem(m) + "."}
	}
	for _, name := range p.required {
		if !slices.ContainsFunc(members, func(m member) bool { return string(m.key) == name }) {
			return fields, &remoteassist.Error{Code: remoteassist.EINVALID, Target: truncate(name, 64),
				Message: "Invalid value for property '" + name + "'."}
		}
	}
	for i := range members {
		m := &members[i]
		f := bodyField{kind: m.kind, b: m.b}
		if m.prop < 0 {
			f.name = string(m.key)
		} else {
			prop := &p.props[m.prop]
			f.name = prop.name
			if m.kind == kindString {
				f.str = prop.canonical(m)
			}
		}
		if m.kind == kindString && f.str == "" {
			f.str = decodeString(m)
		}
		fields = append(fields, f)
	}
	return fields, nil
}

// problem describes why the member's value does not satisfy the property, in the words of
// describeSchemaError, or returns "". kin-openapi checks null first, then the enumeration, then
// the type.
func (prop *planProp) problem(m *member) string {
	if m.kind == kindNull {
		switch {
		case prop.nullable:
			return ""
		case len(prop.enum) > 0:
			return "null. Allowed values: " + prop.enumList
		}
		return "null is not allowed"
	}
	if len(prop.enum) > 0 {
		if m.kind == kindString && prop.canonical(m) != "" {
			return ""
		}
		if m.kind == kindBool {
			return string(m.raw) + ". Allowed values: " + prop.enumList
		}
		return render(decodeString(m)) + ". Allowed values: " + prop.enumList
	}
	if prop.boolean == (m.kind == kindBool) {
		return ""
	}
	got := "a string"
	if m.kind == kindBool {
		got = "a boolean"
	}
	return fmt.Sprintf("expected %s, got %s", prop.typeName, got)
}

// canonical returns the enumeration value, as the contract spells it, that the string member
// equals, or "" when it equals none. The comparison of simple strings allocates nothing.
func (prop *planProp) canonical(m *member) string {
	if m.simple {
		for _, v := range prop.enum {
			if string(m.raw) == v {
				return v
			}
		}
		return ""
	}
	s := decodeString(m)
	for _, v := range prop.enum {
		if s == v {
			return v
		}
	}
	return ""
}

// decodeString returns the value of a string member as encoding/json decodes it (escapes
// resolved, invalid UTF-8 replaced).
func decodeString(m *member) string {
	if m.simple {
		return string(m.raw)
	}
	var s string
	quoted := make([]byte, 0, len(m.raw)+2)
	quoted = append(append(append(quoted, '"'), m.raw...), '"')
	if err := json.Unmarshal(quoted, &s); err != nil {
		return string(m.raw)
	}
	return s
}
