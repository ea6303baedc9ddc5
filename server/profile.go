package server

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/ordinal"
)

// What a fidelity profile changes, read from its document rather than written per profile:
//
//   - a stored value the profile's enumeration lacks (notConfigured, under the graph profile)
//     reads as the property's default in that document (readRules);
//   - with x-remoteassist-case-insensitive at the document's root, paths, query parameter names,
//     body property names and enumerated values match without regard to case, and are put in
//     the contract's casing before anything else sees them (caseFolding);
//   - an operation answers with the success status and body its responses list (operation);
//   - a path item with x-graph-route-template answers a method it lacks as Intune does, 400 "No
//     method match route template" naming that template, instead of 405 (routeTemplate).

// caseInsensitiveExtension is the document-level extension that turns case folding on.
const caseInsensitiveExtension = "x-remoteassist-case-insensitive"

// caseInsensitive reports whether the document asks for case-insensitive matching.
func caseInsensitive(doc *openapi3.T) bool {
	on, _ := doc.Extensions[caseInsensitiveExtension].(bool)
	return on
}

// routeTemplateExtension, on a path item, is the OData route template Intune matches the path as
// ("~/singleton/navigation"); a method the path item lacks is then answered with
// remoteassist.NoRoute, as Intune answers it, rather than HTTP's 405.
const routeTemplateExtension = "x-graph-route-template"

// routeTemplate is what a method a path lacks is told: the path's OData route template and the
// path under the service root, as the contract writes it.
type routeTemplate struct{ template, path string }

// foldPath is an echo Pre middleware that gives a request for an API path in another casing the
// contract's path, so that routing, validation and the logs all see the canonical one.
func foldPath(paths []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			// The path compared is the one echo routes on: one holding an encoded '/' names no
			// API path in any casing, however its decoded form reads.
			req := c.Request()
			path := echo.GetPath(req)
			for _, p := range paths {
				if path != p && ordinal.EqualIgnoreCase(path, p) {
					req.URL.Path, req.URL.RawPath = p, ""
					break
				}
			}
			return next(c)
		}
	}
}

// foldQuery puts the parameter names of query in the operation's casing, and the values of
// parameters with an enumeration in the enumeration's; it reports whether anything changed.
func foldQuery(op *operation, query url.Values) bool {
	changed := false
	for name, values := range query {
		p := queryParam(op, name)
		if p == nil {
			if p = queryParamAnyCase(op, name); p == nil {
				continue
			}
			delete(query, name)
			query[p.Name] = append(query[p.Name], values...)
			name, changed = p.Name, true
		}
		if enum := listNames(p.Schema); len(enum) > 0 {
			for i, v := range query[name] {
				items := strings.Split(v, ",")
				for j, item := range items {
					items[j] = canonical(item, enum)
				}
				if folded := strings.Join(items, ","); folded != v {
					query[name][i], changed = folded, true
				}
			}
		}
	}
	return changed
}

// queryParamAnyCase is the query parameter, the operation's own or its path's (as queryParam
// looks), whose name is name in another letter case; nil if none.
func queryParamAnyCase(op *operation, name string) *openapi3.Parameter {
	var p *openapi3.Parameter
	for _, ref := range opParams(op) {
		if ref.Value.In == openapi3.ParameterInQuery && ordinal.EqualIgnoreCase(ref.Value.Name, name) {
			p = ref.Value
		}
	}
	return p
}

// foldBody puts the member names of a decoded body object in the schema's casing and its
// enumerated string values in their enumeration's. Two members naming one property in
// different casings are refused as ambiguous.
func foldBody(schema *openapi3.Schema, value any) error {
	obj, ok := value.(map[string]any)
	if !ok {
		return nil
	}
	spelled := map[string]string{} // canonical name → the member name the client used
	for name := range obj {
		prop := name
		if _, known := schema.Properties[name]; !known {
			for p := range schema.Properties {
				if ordinal.EqualIgnoreCase(p, name) {
					prop = p
				}
			}
		}
		if first, dup := spelled[prop]; dup {
			a, b := min(first, name), max(first, name)
			return remoteassist.AmbiguousProperty(prop, []string{a, b})
		}
		spelled[prop] = name
	}
	for prop, name := range spelled {
		v := obj[name]
		if ref := schema.Properties[prop]; ref != nil && ref.Value != nil {
			if s, isString := v.(string); isString && len(ref.Value.Enum) > 0 {
				v = canonical(s, enumValues(ref.Value))
			}
		}
		delete(obj, name)
		obj[prop] = v
	}
	return nil
}

// canonical returns the value of enum that s equals without regard to case, or s.
func canonical(s string, enum []string) string {
	for _, v := range enum {
		if ordinal.EqualIgnoreCase(v, s) {
			return v
		}
	}
	return s
}

// listOfExtension marks a string schema whose value is a comma-separated list of the names it
// gives (selectList: $select's).
const listOfExtension = "x-remoteassist-list-of"

// listNames returns the names a parameter's value is a list or one of: those of its schema's
// x-remoteassist-list-of extension, or its enumeration.
func listNames(ref *openapi3.SchemaRef) []string {
	if ref == nil || ref.Value == nil {
		return nil
	}
	if of, ok := ref.Value.Extensions[listOfExtension].([]any); ok {
		names := make([]string, 0, len(of))
		for _, n := range of {
			names = append(names, fmt.Sprint(n))
		}
		return names
	}
	return enumValues(ref.Value)
}

// readRule is how one enumerated property of the entity reads under the profile: a stored value
// the profile's enumeration lacks reads as the property's default there.
type readRule struct {
	field    int // of remoteassist.Entity
	allowed  []string
	fallback string
}

// readRules derives the rules from the schema of the entity GET answers with.
func readRules(doc *openapi3.T, ops map[string]*operation) []readRule {
	var rules []readRule
	fields := jsonFields(reflect.TypeFor[remoteassist.Entity]())
	for _, op := range ops {
		if op.method != http.MethodGet {
			continue
		}
		res := op.route.Operation.Responses.Status(http.StatusOK)
		if res == nil || res.Value == nil || res.Value.Content.Get("application/json") == nil {
			continue
		}
		entity := res.Value.Content.Get("application/json").Schema.Value
		for name, ref := range properties(entity) {
			s := ref.Value
			fallback, ok := s.Default.(string)
			i, known := fields[name]
			if !ok || !known || len(s.Enum) == 0 {
				continue
			}
			rules = append(rules, readRule{field: i, allowed: enumValues(s), fallback: fallback})
		}
	}
	return rules
}

// properties returns the properties of an object schema, those of the schemas it is allOf
// included.
func properties(s *openapi3.Schema) openapi3.Schemas {
	all := openapi3.Schemas{}
	for _, part := range s.AllOf {
		if part.Value != nil {
			maps.Copy(all, properties(part.Value))
		}
	}
	maps.Copy(all, s.Properties)
	return all
}

// applyReadRules makes an entity read as the profile says.
func applyReadRules(e *remoteassist.Entity, rules []readRule) {
	v := reflect.ValueOf(e).Elem()
	for _, r := range rules {
		if f := v.Field(r.field); f.Kind() == reflect.String && !slices.Contains(r.allowed, f.String()) {
			f.SetString(r.fallback)
		}
	}
}
