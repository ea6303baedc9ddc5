package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/ordinal"
)

// kin-openapi validates every request against the contract: the parameters through
// openapi3filter, the body through its schema, once body.go has decoded it. A value the
// contract's gate (gate.go) accepts is one kin-openapi would accept, and skips kin-openapi's
// walk; every other value, and so every refusal, is kin-openapi's. This file turns kin's
// verdicts into the Graph messages the domain words (remoteassist.InvalidValue and its kin).

// paramOptions validate the parameters only: the body is validated on its own below, and the
// security requirement is the pipeline's (see kinRoute).
var paramOptions = &openapi3filter.Options{
	ExcludeRequestBody:  true,
	SkipSettingDefaults: true,
}

// bodyOptions are those of a body validation: as a request, stopping at the first error, and
// without the schema rendered into the error, which the messages do not use and which costs
// more than the validation itself.
var bodyOptions = []openapi3.SchemaValidationOption{openapi3.VisitAsRequest(), openapi3.DisableSchemaErrorDetails()}

// validateParams validates the request's parameters with kin-openapi: the plain ones (see
// plainParams) through their schemas alone, the others, and any refusal, through its request
// validation.
func validateParams(c echo.Context, op *operation, fold, strict bool) error {
	req := c.Request()
	var query url.Values // nil: kin-openapi reads the (empty) query itself
	if raw := req.URL.RawQuery; raw != "" {
		// url.Values drops what it cannot parse, which would make "$select=a;b" or a bad escape
		// select everything: a malformed query string is refused instead.
		var err error
		if query, err = url.ParseQuery(raw); err != nil {
			return &remoteassist.Error{Code: remoteassist.EINVALID,
				Message: "The query string is malformed: " + remoteassist.Clip(err.Error(), 80) + ".", Err: err}
		}
		trimmed := trimListSpaces(op, query, fold)
		if folded := fold && foldQuery(op, query); trimmed || folded {
			// The generated binder reads the query string too: it must see the one validated.
			req.URL.RawQuery = query.Encode()
		}
		if err := refuseUnknownOptions(op, query, strict); err != nil {
			return err
		}
		if err := refuseRepeatedOptions(op, query); err != nil {
			return err
		}
	}
	if op.plain != nil && acceptPlain(op.plain, req.Header, query) {
		return nil
	}
	if err := refuseRepeatedHeaders(op, req.Header); err != nil {
		return err
	}
	var path map[string]string
	if names := c.ParamNames(); len(names) > 0 {
		path = make(map[string]string, len(names))
		for i, name := range names {
			// Echo's values are of the path it routed on, escaped when net/http kept the
			// client's escaping (an encoded '/'); kin-openapi validates what the generated
			// binder binds, the value decoded.
			v := c.ParamValues()[i]
			if req.URL.RawPath != "" {
				if decoded, err := url.PathUnescape(v); err == nil {
					v = decoded
				}
			}
			path[name] = v
		}
	}
	input := &openapi3filter.RequestValidationInput{Request: req, Route: op.route, PathParams: path, QueryParams: query, Options: paramOptions}
	err := openapi3filter.ValidateRequest(req.Context(), input)
	if err == nil {
		return nil
	}
	if re, ok := errors.AsType[*openapi3filter.RequestError](err); ok && re.Parameter != nil {
		return describeParamError(re)
	}
	return &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request does not match the contract.", Err: err}
}

// acceptPlain reports whether every plain parameter is valid: absent and optional, or sent once
// with a value its schema accepts. It never refuses: false means kin-openapi's full validation
// must decide, and explain a refusal.
func acceptPlain(params []plainParam, header http.Header, query url.Values) bool {
	for _, p := range params {
		var values []string
		var sent bool
		if p.inHeader {
			values, sent = header[p.key]
		} else {
			values, sent = query[p.key]
		}
		switch {
		case !sent && !p.required:
			continue
		case len(values) != 1 || values[0] == "":
			return false
		}
		if (p.gate == nil || !p.gate(values[0])) && p.schema.VisitJSON(values[0], bodyOptions...) != nil {
			return false
		}
	}
	return true
}

// trimListSpaces drops the white space around the names in the value of a list parameter
// (x-remoteassist-list-of: $select), "id, blockChat" becoming "id,blockChat", as Graph's OData
// parser skips it between a $select's items; fold finds the parameter in any casing, as
// foldQuery does. It reports whether anything changed.
func trimListSpaces(op *operation, query url.Values, fold bool) bool {
	changed := false
	for name, values := range query {
		p := queryParam(op, name)
		if p == nil && fold {
			p = queryParamAnyCase(op, name)
		}
		if p == nil || p.Schema == nil || p.Schema.Value == nil || p.Schema.Value.Extensions[listOfExtension] == nil {
			continue
		}
		for i, v := range values {
			if strings.IndexFunc(v, unicode.IsSpace) < 0 {
				continue
			}
			items := strings.Split(v, ",")
			for j, item := range items {
				items[j] = strings.TrimSpace(item)
			}
			values[i], changed = strings.Join(items, ","), true
		}
	}
	return changed
}

// refuseUnknownOptions refuses a query option ("$" and a name: an OData system query option,
// or the name of one without its "$", which Graph's beta endpoint reads as the option) that the
// operation does not declare, as Graph's OData layer does ("The query parameter '$foo' is not
// supported."), instead of answering as if it were not there: a client sending $filter, filter
// or $expand, or $select in a casing the profile does not take, would otherwise read an answer
// it did not ask for. Other unknown parameters are ignored, as Graph ignores them, unless strict
// (the admin API's): a test's misspelt filter (?tennant=, or ?status= on the findings) would
// otherwise count or list every entry, as if it had matched. A strict refusal names the
// parameters the operation takes. The first unknown name, in byte order, is the one refused.
func refuseUnknownOptions(op *operation, query url.Values, strict bool) error {
	unknown, found := firstQueryName(query, func(name string, _ []string) bool {
		return (strict || strings.HasPrefix(name, "$") || isSystemOptionName(name)) && queryParam(op, name) == nil
	})
	if !found {
		return nil
	}
	var supported []string // nil: not said
	if strict {
		supported = []string{}
		for _, p := range opParams(op) {
			if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
				supported = append(supported, p.Value.Name)
			}
		}
	}
	return remoteassist.UnsupportedOption(unknown, supported)
}

// systemOptionNames are the names of OData's system query options (OData 4.01, URL Conventions,
// section 5, with Graph's $skiptoken and $deltatoken) without their "$". On Graph's beta
// endpoint the "$" is optional ("you can use filter instead of $filter",
// learn.microsoft.com/graph/query-parameters), so ?filter= is $filter, not a custom parameter.
var systemOptionNames = []string{"apply", "compute", "count", "deltatoken", "expand", "filter", "format", "id",
	"index", "levels", "orderby", "schemaversion", "search", "select", "skip", "skiptoken", "top"}

// isSystemOptionName reports whether name, in any letter case, is a system query option's name
// without its "$": one Graph's beta endpoint reads as that option.
func isSystemOptionName(name string) bool {
	return slices.ContainsFunc(systemOptionNames, func(option string) bool { return ordinal.EqualIgnoreCase(option, name) })
}

// refuseRepeatedOptions refuses a query parameter the operation declares with one value
// (not an array) that the query gives more than once ("$select=id&$select=blockChat", or, where
// names fold, "$Select=id&$SELECT=blockChat"), which kin-openapi would validate by its first value
// and the generated binder refuse in its own words. The first such name, in byte order, is the
// one refused.
func refuseRepeatedOptions(op *operation, query url.Values) error {
	repeated, found := firstQueryName(query, func(name string, values []string) bool {
		if len(values) < 2 {
			return false
		}
		p := queryParam(op, name)
		return p != nil && p.Schema != nil && p.Schema.Value != nil && !p.Schema.Value.Type.Is(openapi3.TypeArray)
	})
	if !found {
		return nil
	}
	return remoteassist.RepeatedOption(repeated)
}

// refuseRepeatedHeaders refuses a header parameter the operation declares (client-request-id)
// that the request sends more than once, which kin-openapi would validate by its first value and
// the generated binder refuse in its own words, without a target. Only requests acceptPlain did
// not accept get here: a header sent twice is one it refuses.
func refuseRepeatedHeaders(op *operation, header http.Header) error {
	for _, ref := range opParams(op) {
		if p := ref.Value; p != nil && p.In == openapi3.ParameterInHeader && len(header[http.CanonicalHeaderKey(p.Name)]) > 1 {
			return remoteassist.RepeatedHeader(p.Name)
		}
	}
	return nil
}

// firstQueryName returns the first name of query, in byte order, that refused holds for, so that
// a refusal does not depend on the map's order; found is false if none (a name may be empty:
// "?=x").
func firstQueryName(query url.Values, refused func(name string, values []string) bool) (first string, found bool) {
	for name, values := range query {
		if (!found || name < first) && refused(name, values) {
			first, found = name, true
		}
	}
	return first, found
}

// validateBody decodes the body read and validates it against the operation's schema. It
// returns the validated value, which the handler binds.
func validateBody(ctx context.Context, data []byte, op *operation, fold bool) (any, failureClass, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		if op.bodyRequired {
			return nil, failJSON, remoteassist.Errorf(remoteassist.EINVALID, "A request body is required.")
		}
		return nil, failNone, nil
	}
	value, err := decodeBody(data)
	if err == nil && fold {
		err = foldBody(op.body, value)
	}
	if err != nil {
		return nil, failJSON, err
	}
	if err := ctx.Err(); err != nil {
		return nil, failNone, err
	}
	if class, err := checkBody(op, value); err != nil {
		return nil, class, err
	}
	return value, failNone, nil
}

// checkBody validates a decoded body against the operation's schema: its gate, then, when the
// gate refuses it, kin-openapi, whose refusal it words.
func checkBody(op *operation, value any) (failureClass, error) {
	if op.bodyGate != nil && op.bodyGate(value) {
		return failNone, nil
	}
	if at, err := explainBody(op, value); err != nil {
		if se, ok := errors.AsType[*openapi3.SchemaError](err); ok {
			return failSchema, describeSchemaError(se, "property", "", at, op.types)
		}
		return failSchema, &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body does not match the contract.", Err: err}
	}
	return failNone, nil
}

// explainBody validates a body the gate refused with kin-openapi, which explains the refusal.
// When the gate can tell which member kin-openapi's walk of the whole body would report
// (refusedMember), kin-openapi visits that member alone, at the member's name; if it accepts it,
// what is left of the whole walk is the required members, checked here, and only when one is
// missing does kin-openapi visit the whole body. The explanation is the same (FuzzBodyRefusal,
// TestExplainBodyChecksRequired), for a part of the work of the walk, which sorts the schema's
// and the body's member names and visits them all (a refused PATCH in process: −10 % of its
// instructions, bench/RESULTS.md).
func explainBody(op *operation, value any) (at []string, err error) {
	if name, schema, ok := op.bodyObject.refusedMember(value); ok {
		obj := value.(map[string]any)
		if err := schema.VisitJSON(obj[name], bodyOptions...); err != nil {
			return []string{name}, err
		}
		// kin-openapi accepts the member its gate refused (a gate may refuse what kin-openapi
		// accepts: a long non-ASCII string), and the gates accepted every other: of the whole
		// walk, only the required members are left to check.
		if op.bodyObject.hasRequired(obj) {
			return nil, nil
		}
	}
	return nil, op.body.VisitJSON(value, bodyOptions...)
}

// describeParamError words kin's refusal of a parameter. A list of names (x-remoteassist-list-of)
// that fails its pattern is told the names it may hold.
func describeParamError(re *openapi3filter.RequestError) error {
	p := re.Parameter
	if se, ok := errors.AsType[*openapi3.SchemaError](re.Err); ok {
		if names := listNames(p.Schema); se.SchemaField == "pattern" && len(names) > 0 {
			return remoteassist.InvalidValue("parameter", p.Name, remoteassist.EnumProblem(se.Value, names)+
				", comma-separated, each at most once")
		}
		return describeSchemaError(se, "parameter", p.Name, nil, nil)
	}
	// Not a value of the parameter's type (limit=abc), or an integer beyond what its format
	// holds (limit=99999999999999999999): kin could not decode it.
	msg := fmt.Sprintf("Invalid value for %s parameter '%s'", p.In, p.Name)
	if s := p.Schema; s != nil && s.Value != nil {
		switch v := s.Value; {
		case v.Type.Is(openapi3.TypeInteger) && isDigits(re.Err) && (v.Min != nil || v.Max != nil):
			msg += ": " + remoteassist.BoundsProblem(v.Min, v.Max)
		case v.Type.Is(openapi3.TypeInteger) || v.Type.Is(openapi3.TypeNumber) || v.Type.Is(openapi3.TypeBoolean):
			msg += ": expected " + schemaType(v)
		}
	}
	return &remoteassist.Error{Code: remoteassist.EINVALID, Target: p.Name, Message: msg + ".", Err: re}
}

// isDigits reports whether the value kin could not decode is an integer's digits (with a sign).
func isDigits(err error) bool {
	pe, ok := errors.AsType[*openapi3filter.ParseError](err)
	if !ok {
		return false
	}
	s, ok := pe.Value.(string)
	s = strings.TrimPrefix(s, "-")
	return ok && s != "" && strings.Trim(s, "0123456789") == ""
}

// describeSchemaError turns kin-openapi's schema error into a Graph message that names the
// offending property or parameter and, for enumerations, the allowed values. kin's own message
// is not used: it can render the whole schema. at is the path of the value kin-openapi visited
// (nil for the whole body or parameter), which se's path is relative to; types name the body's
// object schemas (typeNames), for an unknown property.
func describeSchemaError(se *openapi3.SchemaError, kind, name string, at []string, types map[*openapi3.Schema]string) error {
	path := strings.Join(append(at, se.JSONPointer()...), "/")
	target := name
	if target == "" {
		target = path
	}
	switch se.SchemaField {
	case "enum":
		return remoteassist.InvalidValue(kind, target, remoteassist.EnumProblem(se.Value, enumValues(se.Schema)))
	case "type":
		if target == "" {
			return remoteassist.NotAnObject(jsonType(se.Value))
		}
		// A json.Number is a number beyond float64's range (decodeBody): of the right type for
		// a number, but not one it can be.
		if _, huge := se.Value.(json.Number); huge && se.Schema != nil && (se.Schema.Type.Is(openapi3.TypeNumber) || se.Schema.Type.Is(openapi3.TypeInteger)) {
			return remoteassist.InvalidValue(kind, target, remoteassist.RangeProblem)
		}
		return remoteassist.InvalidValue(kind, target, remoteassist.TypeProblem(schemaType(se.Schema), jsonType(se.Value)))
	case "nullable":
		// The body itself, when no property or parameter is named: JSON's null is no object.
		if target == "" {
			return remoteassist.NotAnObject(jsonType(se.Value))
		}
		return remoteassist.InvalidValue(kind, target, remoteassist.NullProblem)
	case "additionalProperties", "properties":
		if unknown, found := unknownProperty(se); found {
			return remoteassist.UnknownProperty(strings.TrimPrefix(path+"/"+unknown, "/"), types[se.Schema], propertyNames(se.Schema))
		}
	case "required":
		if target != "" {
			return remoteassist.MissingProperty(target)
		}
	}
	return remoteassist.InvalidValue(kind, target, boundProblem(se.Schema, se.SchemaField))
}

// boundProblem says what a schema's keyword that a value failed allows: its numbers' bounds
// ("minimum", "maximum", or "format" for a number beyond int32 or int64), its strings' lengths,
// date-time or pattern; "" for another keyword.
func boundProblem(s *openapi3.Schema, field string) string {
	if s == nil {
		return ""
	}
	switch field {
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		return remoteassist.BoundsProblem(s.Min, s.Max)
	case "minLength", "maxLength":
		return remoteassist.LengthProblem(s.MinLength, s.MaxLength)
	case "pattern":
		return remoteassist.PatternProblem(s.Pattern)
	case "format":
		switch {
		case s.Format == "date-time":
			return remoteassist.DateTimeProblem
		case s.Type.Is(openapi3.TypeInteger) || s.Type.Is(openapi3.TypeNumber):
			return remoteassist.BoundsProblem(s.Min, s.Max)
		}
	}
	return ""
}

// unknownProperty returns the first (in byte order) member of the refused object that its
// schema does not define, and whether there is one: its name may be empty ({"":1}).
func unknownProperty(se *openapi3.SchemaError) (string, bool) {
	obj, ok := se.Value.(map[string]any)
	if !ok || se.Schema == nil {
		return "", false
	}
	first, found := "", false
	for k := range obj {
		if _, known := se.Schema.Properties[k]; !known && (!found || k < first) {
			first, found = k, true
		}
	}
	return first, found
}

func schemaType(s *openapi3.Schema) string {
	if s == nil || s.Type == nil || len(s.Type.Slice()) == 0 {
		return "another type"
	}
	t := s.Type.Slice()[0]
	if t == "array" || t == "object" || t == "integer" {
		return "an " + t
	}
	return "a " + t
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a value of another type"
}
