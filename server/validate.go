package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
)

// operation is one operation of the contract, compiled once at start-up: what a request to it
// must satisfy.
type operation struct {
	id          string
	permissions []string
	params      []*openapi3.Parameter
	// body is the JSON schema of the request body, nil when the operation takes none.
	body         *openapi3.Schema
	bodyRequired bool
}

// compileContract extracts every operation of the document. It fails when an operation lacks
// what the server relies on, so that a broken contract stops the server at start-up.
func compileContract(doc *openapi3.T) (map[string]*operation, error) {
	ops := make(map[string]*operation)
	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			if o.OperationID == "" {
				return nil, fmt.Errorf("server: %s %s has no operationId", method, path)
			}
			op := &operation{id: o.OperationID}
			perms, err := permissions(o)
			if err != nil {
				return nil, fmt.Errorf("server: %s: %w", o.OperationID, err)
			}
			op.permissions = perms
			for _, p := range append(item.Parameters, o.Parameters...) {
				op.params = append(op.params, p.Value)
			}
			if rb := o.RequestBody; rb != nil && rb.Value != nil {
				mt := rb.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
					return nil, fmt.Errorf("server: %s: request body has no application/json schema", o.OperationID)
				}
				op.body = mt.Schema.Value
				op.bodyRequired = rb.Value.Required
			}
			ops[o.OperationID] = op
		}
	}
	return ops, nil
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

// validate enforces the operation's parameters and request body. A valid body is left on the
// context decoded, so that the handler stores exactly what was validated and never decodes it
// a second time.
func (s *Server) validate(op *operation) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(operationKey, op.id)
			if err := validateParams(c, op); err != nil {
				return err
			}
			if op.body != nil {
				body, err := s.readBody(c, op)
				if err != nil {
					return err
				}
				c.Set(bodyKey, body)
			}
			return next(c)
		}
	}
}

func validateParams(c echo.Context, op *operation) error {
	if len(op.params) == 0 {
		return nil
	}
	input := &openapi3filter.RequestValidationInput{
		Request:     c.Request(),
		QueryParams: c.QueryParams(),
		Options:     &openapi3filter.Options{SkipSettingDefaults: true},
	}
	for _, p := range op.params {
		err := openapi3filter.ValidateParameter(c.Request().Context(), input, p)
		if err == nil {
			continue
		}
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			de := describeSchemaError(se, "parameter", p.Name)
			return de
		}
		return &remoteassist.Error{Code: remoteassist.EINVALID, Target: p.Name,
			Message: fmt.Sprintf("Invalid value for %s '%s'.", p.In+" parameter", p.Name), Err: err}
	}
	return nil
}

// readBody reads, decompresses, decodes and validates the request body against the
// operation's schema.
func (s *Server) readBody(c echo.Context, op *operation) (map[string]any, error) {
	req := c.Request()
	if err := checkJSONContentType(req.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if req.ContentLength > s.maxBody {
		return nil, tooLarge(s.maxBody)
	}
	var r io.Reader = req.Body
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		// The limit applies to the compressed bytes read and, below, to what they inflate to.
		zr, err := gzip.NewReader(io.LimitReader(req.Body, s.maxBody+1))
		if err != nil {
			return nil, &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body is not valid gzip.", Err: err}
		}
		defer zr.Close()
		r = zr
	default:
		return nil, remoteassist.Errorf(remoteassist.EMEDIATYPE,
			"Content-Encoding '%s' is not supported. Send the body uncompressed or gzip-compressed.", truncate(enc, 32))
	}
	data, err := io.ReadAll(io.LimitReader(r, s.maxBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(s.maxBody)
		}
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body is not valid gzip.", Err: err}
		}
		return nil, &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body could not be read.", Err: err}
	}
	if int64(len(data)) > s.maxBody {
		return nil, tooLarge(s.maxBody)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if op.bodyRequired {
			return nil, remoteassist.Errorf(remoteassist.EINVALID, "A request body is required.")
		}
		return nil, nil
	}
	value, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	if err := op.body.VisitJSON(value, openapi3.VisitAsRequest(), openapi3.DisableSchemaErrorDetails()); err != nil {
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			return nil, describeSchemaError(se, "property", "")
		}
		return nil, &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body does not match the contract.", Err: err}
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return nil, remoteassist.Errorf(remoteassist.EINVALID, "The request body must be a JSON object.")
	}
	return obj, nil
}

// checkJSONContentType accepts application/json in any letter case, with parameters, as long
// as a charset, if given, is UTF-8 (the only encoding JSON allows).
func checkJSONContentType(ct string) error {
	if strings.EqualFold(ct, "application/json") {
		return nil
	}
	if ct == "" {
		return remoteassist.Errorf(remoteassist.EMEDIATYPE, "The Content-Type header is missing. Send the body as application/json.")
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || mediaType != "application/json" {
		return remoteassist.Errorf(remoteassist.EMEDIATYPE,
			"Content-Type '%s' is not supported. Send the body as application/json.", truncate(ct, 64))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return remoteassist.Errorf(remoteassist.EMEDIATYPE, "Charset '%s' is not supported. Send the body as UTF-8 JSON.", truncate(cs, 32))
	}
	return nil
}

// decodeJSON decodes exactly one JSON value.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, remoteassist.Errorf(remoteassist.EINVALID,
			"Unable to read JSON request payload: unexpected data after the JSON value at offset %d.", dec.InputOffset())
	}
	return v, nil
}

func malformed(err error) *remoteassist.Error {
	msg := "Unable to read JSON request payload. Please ensure the payload is valid JSON."
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		msg = fmt.Sprintf("Unable to read JSON request payload: %s at offset %d.", se.Error(), se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "Unable to read JSON request payload: the JSON value is incomplete."
	}
	return &remoteassist.Error{Code: remoteassist.EINVALID, Message: msg, Err: err}
}

func tooLarge(limit int64) *remoteassist.Error {
	return remoteassist.Errorf(remoteassist.ETOOLARGE, "The request body is larger than the limit of %d bytes.", limit)
}

// describeSchemaError turns kin-openapi's schema error into a Graph message that names the
// offending property and, for enumerations, the allowed values. kin's own message is not used:
// it can render the whole schema.
func describeSchemaError(se *openapi3.SchemaError, kind, name string) *remoteassist.Error {
	path := strings.Join(se.JSONPointer(), "/")
	target := name
	if target == "" {
		target = path
	}
	subject := fmt.Sprintf("%s '%s'", kind, target)
	var msg string
	switch se.SchemaField {
	case "enum":
		msg = fmt.Sprintf("Invalid value for %s: %s. Allowed values: %s.", subject, render(se.Value), enumList(se.Schema))
	case "type":
		if target == "" {
			msg = fmt.Sprintf("The request body must be a JSON object, not %s.", jsonType(se.Value))
			break
		}
		msg = fmt.Sprintf("Invalid value for %s: expected %s, got %s.", subject, schemaType(se.Schema), jsonType(se.Value))
	case "nullable":
		msg = fmt.Sprintf("Invalid value for %s: null is not allowed.", subject)
	case "properties":
		if unknown := unknownProperties(se); len(unknown) > 0 {
			target = strings.TrimPrefix(path+"/"+unknown[0], "/")
			msg = fmt.Sprintf("Property '%s' does not exist on type 'microsoft.graph.remoteAssistanceSettings'. Allowed properties: %s.",
				truncate(target, 64), strings.Join(knownProperties(se.Schema), ", "))
			break
		}
		fallthrough
	default:
		msg = fmt.Sprintf("Invalid value for %s.", subject)
	}
	return &remoteassist.Error{Code: remoteassist.EINVALID, Message: msg, Target: truncate(target, 64)}
}

func unknownProperties(se *openapi3.SchemaError) []string {
	obj, ok := se.Value.(map[string]any)
	if !ok || se.Schema == nil {
		return nil
	}
	var unknown []string
	for k := range obj {
		if _, ok := se.Schema.Properties[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return unknown
}

func knownProperties(s *openapi3.Schema) []string {
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func enumList(s *openapi3.Schema) string {
	if s == nil {
		return ""
	}
	vals := make([]string, 0, len(s.Enum))
	for _, v := range s.Enum {
		vals = append(vals, fmt.Sprint(v))
	}
	return strings.Join(vals, ", ")
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

// render shows a client's value in a message, JSON-encoded and cut short.
func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "the value"
	}
	return truncate(string(b), 64)
}

func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strings.ToValidUTF8(s, "")
}
