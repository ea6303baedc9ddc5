package server

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// operation is one operation of the contract, read once at start-up: what a request to it must
// satisfy, for the pipeline and for kin-openapi.
type operation struct {
	id string
	// method and path (relative to BasePath) are where echo routes the operation.
	method, path string
	// permissions are the operation's x-graph-permissions: a caller needs one of them.
	permissions []string
	// route is the operation as kin-openapi's request validation takes it.
	route *routers.Route
	// plain are the operation's parameters when every one is a plain string (see plainParams),
	// nil otherwise: then only kin-openapi's request validation reads them.
	plain []plainParam
	// body is the schema of the request body, nil when the operation takes none.
	body         *openapi3.Schema
	bodyRequired bool
	// types name the document's object schemas, for messages (typeNames).
	types map[*openapi3.Schema]string
	// bodyGate accepts a body kin-openapi would (gate.go); nil: kin-openapi validates every one.
	bodyGate gate
	// bodyObject is bodyGate's object gate, which finds the member kin-openapi explains a
	// refused body by (explainBody); nil when the body is no object schema the gates read.
	bodyObject *objectGate
	// entries names the body's member whose entries are validated, and taken by the handler,
	// one at a time (entries.go); "" when the body has none. entry is the entries' schema.
	entries string
	entry   *openapi3.Schema
	// success is the status of the operation's answer when it succeeds: its first 2xx response
	// in the contract; successBody whether that response has a body.
	success     int
	successBody bool
	// statuses are the statuses the operation answers with besides errors of routing: those of
	// its responses in the contract, and 500.
	statuses []int
	metrics  *opMetrics
}

// compileContract reads every operation of the document, whose names fold (case-insensitive
// matching) or not. It fails when an operation lacks what the server relies on, so that a broken
// contract stops the server at start-up.
func compileContract(doc *openapi3.T, needPermissions, fold bool) (map[string]*operation, error) {
	ops := make(map[string]*operation)
	types := typeNames(doc)
	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			if o.OperationID == "" {
				return nil, fmt.Errorf("server: %s %s has no operationId", method, path)
			}
			op := &operation{
				id:       o.OperationID,
				method:   strings.ToUpper(method),
				path:     path,
				statuses: []int{http.StatusInternalServerError},
				route:    kinRoute(doc, path, item, method, o),
			}
			op.plain = plainParams(item, o)
			for code, res := range o.Responses.Map() {
				n, err := strconv.Atoi(code)
				if err != nil {
					continue
				}
				if !slices.Contains(op.statuses, n) {
					op.statuses = append(op.statuses, n)
				}
				if n >= 200 && n < 300 && (op.success == 0 || n < op.success) {
					op.success, op.successBody = n, res.Value != nil && len(res.Value.Content) > 0
				}
			}
			if op.success == 0 {
				return nil, fmt.Errorf("server: %s has no 2xx response", o.OperationID)
			}
			if needPermissions {
				perms, err := permissions(o)
				if err != nil {
					return nil, fmt.Errorf("server: %s: %w", o.OperationID, err)
				}
				op.permissions = perms
			}
			if rb := o.RequestBody; rb != nil && rb.Value != nil {
				mt := rb.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
					return nil, fmt.Errorf("server: %s: request body has no application/json schema", o.OperationID)
				}
				op.body = mt.Schema.Value
				if op.bodyObject = compileObjectGate(op.body, nil); op.bodyObject != nil {
					op.bodyGate = op.bodyObject.accepts
				} else {
					op.bodyGate = compileGate(op.body)
				}
				var err error
				if op.entries, op.entry, err = entriesOf(op.body); err != nil {
					return nil, fmt.Errorf("server: %s: %w", o.OperationID, err)
				}
				if op.entry != nil && fold {
					// A profile that folds names renames a body's members before validating it
					// (foldBody): its bodies are validated whole.
					return nil, fmt.Errorf("server: %s: a document that folds names validates its bodies whole: %s cannot be", o.OperationID, streamedExtension)
				}
				op.bodyRequired = rb.Value.Required
				op.types = types
			}
			ops[o.OperationID] = op
		}
	}
	return ops, nil
}

// streamedExtension marks the body member whose entries are read one at a time.
const streamedExtension = "x-remoteassist-streamed"

// entriesOf returns the name of the member of body schema s marked x-remoteassist-streamed, and
// the schema of its entries; "" if none is. The member must be a plain map: an object schema with
// additionalProperties and no keyword that counts or lists its members, in a body schema that
// validates member by member (no allOf, oneOf, anyOf or not), and the only one so marked.
func entriesOf(s *openapi3.Schema) (string, *openapi3.Schema, error) {
	var name string
	var entry *openapi3.Schema
	for prop, ref := range s.Properties {
		m := ref.Value
		if m == nil || m.Extensions[streamedExtension] != true {
			continue
		}
		rest := withoutAnnotations(*m)
		rest.Type, rest.AdditionalProperties = nil, openapi3.AdditionalProperties{}
		if len(rest.Properties) == 0 {
			rest.Properties = nil // none, however made
		}
		switch {
		case name != "":
			return "", nil, fmt.Errorf("%s marks both %s and %s: one member at most", streamedExtension, name, prop)
		case !s.Type.Is(openapi3.TypeObject) || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Not != nil:
			return "", nil, fmt.Errorf("%s marks %s of a body that is not validated member by member", streamedExtension, prop)
		case !m.Type.Is(openapi3.TypeObject) || m.AdditionalProperties.Schema == nil || m.AdditionalProperties.Schema.Value == nil ||
			!reflect.ValueOf(rest).IsZero():
			return "", nil, fmt.Errorf("%s marks %s, which is not a plain map (additionalProperties alone)", streamedExtension, prop)
		}
		name, entry = prop, m.AdditionalProperties.Schema.Value
	}
	return name, entry, nil
}

// kinRoute is the operation as openapi3filter.ValidateRequest takes it. The pipeline checks the
// contract's security requirement itself (authentication, then x-graph-permissions), so kin's
// copy of the operation has none: with it, kin would only run a no-op authentication function.
func kinRoute(doc *openapi3.T, path string, item *openapi3.PathItem, method string, o *openapi3.Operation) *routers.Route {
	withoutSecurity := *o
	withoutSecurity.Security = &openapi3.SecurityRequirements{}
	return &routers.Route{Spec: doc, Path: path, PathItem: item, Method: strings.ToUpper(method), Operation: &withoutSecurity}
}

// permissions reads the operation's x-graph-permissions extension.
func permissions(o *openapi3.Operation) ([]string, error) {
	raw, ok := o.Extensions["x-graph-permissions"].([]any)
	if !ok || len(raw) == 0 {
		return nil, errors.New("x-graph-permissions is missing or empty")
	}
	perms := make([]string, 0, len(raw))
	for _, r := range raw {
		s, ok := r.(string)
		if !ok || s == "" {
			return nil, fmt.Errorf("x-graph-permissions holds %v, not a permission name", r)
		}
		perms = append(perms, s)
	}
	return perms, nil
}

// typeNames names the document's object schemas as a refusal's message does: a schema with an
// '@odata.type' of one value, '#T', is of the Graph type T (as Graph's messages name it, whatever
// the schema's own name, such as an update's); any other, by its name among the components.
func typeNames(doc *openapi3.T) map[*openapi3.Schema]string {
	names := make(map[*openapi3.Schema]string)
	for name, ref := range doc.Components.Schemas {
		s := ref.Value
		if s == nil || len(s.Properties) == 0 {
			continue
		}
		names[s] = name
		if t := s.Properties["@odata.type"]; t != nil && t.Value != nil && len(t.Value.Enum) == 1 {
			if v, ok := t.Value.Enum[0].(string); ok && strings.HasPrefix(v, "#") {
				names[s] = v[1:]
			}
		}
	}
	return names
}

// propertyNames lists the properties of an object schema, sorted.
func propertyNames(s *openapi3.Schema) []string {
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// plainParam is a header or query parameter whose value, when sent once, is the string the
// request carries: a string schema in the default style, so that decoding it is the identity
// and kin-openapi's schema validation of that string is all its parameter validation does.
type plainParam struct {
	// key is the parameter's name as the request holds it: canonical for a header.
	key      string
	inHeader bool
	required bool
	schema   *openapi3.Schema
	gate     func(string) bool // nil when the schema has no gate
}

// plainParams returns the operation's parameters if every one is plain, else nil. Decoding is
// the part of kin-openapi's parameter validation that costs the most (serialization methods,
// decoders, allocations) and, for these, does nothing; validateParams skips it for them.
func plainParams(item *openapi3.PathItem, o *openapi3.Operation) []plainParam {
	if len(item.Parameters) > 0 || len(o.Parameters) == 0 {
		return nil
	}
	plain := make([]plainParam, 0, len(o.Parameters))
	for _, ref := range o.Parameters {
		p := ref.Value
		if p == nil || p.Schema == nil || p.Schema.Value == nil || p.Content != nil || p.AllowEmptyValue ||
			p.Explode != nil || p.Style != "" || !p.Schema.Value.Type.Is(openapi3.TypeString) {
			return nil
		}
		switch p.In {
		case openapi3.ParameterInHeader, openapi3.ParameterInQuery:
		default:
			return nil
		}
		pp := plainParam{key: p.Name, inHeader: p.In == openapi3.ParameterInHeader, required: p.Required,
			schema: p.Schema.Value, gate: compileStringGate(p.Schema.Value)}
		if pp.inHeader {
			pp.key = http.CanonicalHeaderKey(p.Name)
		}
		plain = append(plain, pp)
	}
	return plain
}

// opParams are the parameters of the operation and of its path, the path's first, of every
// location (query, header, path).
func opParams(op *operation) openapi3.Parameters {
	if op.route.PathItem == nil || len(op.route.PathItem.Parameters) == 0 {
		return op.route.Operation.Parameters
	}
	return append(slices.Clone(op.route.PathItem.Parameters), op.route.Operation.Parameters...)
}

// queryParam is the operation's query parameter of that name, its own or its path's; nil if none.
func queryParam(op *operation, name string) *openapi3.Parameter {
	if p := op.route.Operation.Parameters.GetByInAndName(openapi3.ParameterInQuery, name); p != nil {
		return p
	}
	if op.route.PathItem != nil {
		return op.route.PathItem.Parameters.GetByInAndName(openapi3.ParameterInQuery, name)
	}
	return nil
}

// enumValues are the values of s's enumeration as strings, as messages list them and folding
// compares them: a string as it is (all the contract's enumerations hold), anything else as fmt
// prints it.
func enumValues(s *openapi3.Schema) []string {
	if s == nil {
		return nil
	}
	vals := make([]string, 0, len(s.Enum))
	for _, v := range s.Enum {
		str, ok := v.(string)
		if !ok {
			str = fmt.Sprint(v)
		}
		vals = append(vals, str)
	}
	return vals
}
