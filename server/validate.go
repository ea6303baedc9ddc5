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
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/remoteassist/remoteassist"
)

// operation is one operation of the contract, compiled once at start-up: what a request to it
// must satisfy.
type operation struct {
	id          string
	permissions []string
	// needed lists the permissions for the 403 message.
	needed string
	params []*param
	// body is the JSON schema of the request body, nil when the operation takes none.
	body         *openapi3.Schema
	bodyRequired bool
	// plan validates the body without kin-openapi; nil when the schema needs kin-openapi.
	plan *bodyPlan
	// method is the operation's HTTP method; statuses are the statuses it answers with
	// besides errors of routing: those of its responses in the contract, and 500.
	method   string
	path     string
	statuses []int
	metrics  *opMetrics
	// direct binds the parameters and calls the handler without the generated wrapper, for
	// the requests it can; nil when the operation has no direct binder.
	direct directBinder
}

// param is one parameter of an operation.
type param struct {
	p *openapi3.Parameter
	// header is the canonical header name of a header parameter.
	header string
	// simpleString is set for a string parameter constrained by its length alone, which is
	// checked without kin-openapi; minLen and maxLen are its bounds (maxLen < 0: none).
	simpleString   bool
	minLen, maxLen int
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
			op := &operation{id: o.OperationID, method: strings.ToUpper(method), path: path, statuses: []int{http.StatusInternalServerError}}
			for code := range o.Responses.Map() {
				if n, err := strconv.Atoi(code); err == nil && !slices.Contains(op.statuses, n) {
					op.statuses = append(op.statuses, n)
				}
			}
			perms, err := permissions(o)
			if err != nil {
				return nil, fmt.Errorf("server: %s: %w", o.OperationID, err)
			}
			op.permissions = perms
			op.needed = strings.Join(perms, ", ")
			for _, p := range append(item.Parameters, o.Parameters...) {
				op.params = append(op.params, compileParam(p.Value))
			}
			if rb := o.RequestBody; rb != nil && rb.Value != nil {
				mt := rb.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
					return nil, fmt.Errorf("server: %s: request body has no application/json schema", o.OperationID)
				}
				op.body = mt.Schema.Value
				op.bodyRequired = rb.Value.Required
				op.plan = compilePlan(op.body)
			}
			ops[o.OperationID] = op
		}
	}
	return ops, nil
}

func compileParam(p *openapi3.Parameter) *param {
	c := &param{p: p, maxLen: -1}
	if p.In == openapi3.ParameterInHeader {
		c.header = http.CanonicalHeaderKey(p.Name)
	}
	if s := p.Schema; s != nil && s.Value != nil && s.Value.Type.Is(openapi3.TypeString) &&
		onlyKeywords(s.Value, keywordSet("type", "minLength", "maxLength")) {
		c.simpleString = true
		c.minLen = int(s.Value.MinLength)
		if s.Value.MaxLength != nil {
			c.maxLen = int(*s.Value.MaxLength)
		}
	}
	return c
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

// validateParams enforces the operation's parameters. Absent optional parameters, and header
// strings that only have a length limit, are checked here; everything else, and the
// explanation of any refusal, is kin-openapi's.
func (s *Server) validateParams(st *reqState, op *operation) error {
	req := st.Request()
	// The parsed query drops what it cannot parse, which would make "$select=a;b" or a bad
	// escape select everything: a malformed query string is refused instead.
	if raw := req.URL.RawQuery; raw != "" {
		if _, err := url.ParseQuery(raw); err != nil {
			return &remoteassist.Error{Code: remoteassist.EINVALID,
				Message: "The query string is malformed: " + truncate(err.Error(), 80) + ".", Err: err}
		}
	}
	for _, pc := range op.params {
		p := pc.p
		switch p.In {
		case openapi3.ParameterInQuery:
			if req.URL.RawQuery == "" && !p.Required {
				continue
			}
		case openapi3.ParameterInHeader:
			values, present := req.Header[pc.header]
			if !present && !p.Required {
				continue
			}
			if present && len(values) == 1 && values[0] != "" && pc.simpleString {
				if n := utf8.RuneCountInString(values[0]); n >= pc.minLen && (pc.maxLen < 0 || n <= pc.maxLen) {
					continue
				}
			}
		}
		if err := kinParam(st, pc); err != nil {
			return err
		}
	}
	return nil
}

// kinParam validates one parameter with kin-openapi.
func kinParam(st *reqState, pc *param) error {
	req := st.Request()
	input := &openapi3filter.RequestValidationInput{
		Request:     req,
		QueryParams: st.QueryParams(),
		Options:     &openapi3filter.Options{SkipSettingDefaults: true},
	}
	err := openapi3filter.ValidateParameter(req.Context(), input, pc.p)
	if err == nil {
		return nil
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return describeSchemaError(se, "parameter", pc.p.Name)
	}
	return &remoteassist.Error{Code: remoteassist.EINVALID, Target: pc.p.Name,
		Message: fmt.Sprintf("Invalid value for %s '%s'.", pc.p.In+" parameter", pc.p.Name), Err: err}
}

// gzipReaders keeps gzip readers, whose decompressor state is tens of kilobytes, for reuse.
var gzipReaders sync.Pool

// readBody reads, decompresses, decodes and validates the request body against the
// operation's schema, and leaves the validated properties in st.fields.
func (s *Server) readBody(st *reqState, op *operation) error {
	req := st.Request()
	if err := checkJSONContentType(req.Header.Get("Content-Type")); err != nil {
		return err
	}
	if req.ContentLength > s.maxBody {
		return tooLarge(s.maxBody)
	}
	var r io.Reader = req.Body
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		if len(req.Header["Content-Encoding"]) < 2 {
			break
		}
		fallthrough
	default:
		switch enc = contentCoding(req.Header.Values("Content-Encoding")); enc {
		case "", "identity":
		case "gzip", "x-gzip":
			// The limit applies to the compressed bytes read and, below, to what they
			// inflate to.
			src := &cappedReader{r: req.Body, left: s.maxBody + 1}
			zr, _ := gzipReaders.Get().(*gzip.Reader)
			var err error
			if zr == nil {
				zr, err = gzip.NewReader(src)
			} else {
				err = zr.Reset(src)
			}
			if err != nil {
				st.failure = failJSON
				return &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body is not valid gzip.", Err: err}
			}
			defer gzipReaders.Put(zr)
			r = zr
		default:
			return remoteassist.Errorf(remoteassist.EMEDIATYPE,
				"Content-Encoding '%s' is not supported. Send the body uncompressed or gzip-compressed.", truncate(enc, 32))
		}
	}
	data, err := readAll(st.body[:0], r, s.maxBody+1, req.ContentLength)
	st.body = data
	if errors.Is(err, errCompressedTooLarge) {
		return tooLarge(s.maxBody)
	}
	if err != nil {
		st.failure = failJSON
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body is not valid gzip.", Err: err}
		}
		return &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body could not be read.", Err: err}
	}
	if int64(len(data)) > s.maxBody {
		return tooLarge(s.maxBody)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if op.bodyRequired {
			st.failure = failJSON
			return remoteassist.Errorf(remoteassist.EINVALID, "A request body is required.")
		}
		return nil
	}
	if !json.Valid(data) {
		st.failure = failJSON
		if _, err := decodeJSON(data); err != nil {
			return err
		}
		return malformed(errors.New("invalid JSON"))
	}
	if op.plan != nil {
		members, root, dup, err := op.plan.scanBody(data, st.members[:0])
		st.members = members
		if err != nil {
			st.failure = failJSON
			return malformed(err)
		}
		if dup >= 0 {
			st.failure = failJSON
			name := truncate(string(members[dup].key), 64)
			return &remoteassist.Error{Code: remoteassist.EINVALID, Target: name,
				Message: "Unable to read JSON request payload: the property '" + name + "' appears more than once."}
		}
		if root == kindObject && decided(members) {
			fields, verr := op.plan.evaluate(members, st.fields[:0])
			if verr != nil {
				return verr
			}
			st.fields = fields
			return nil
		}
	} else if name, dup := duplicateMember(data); dup {
		st.failure = failJSON
		return &remoteassist.Error{Code: remoteassist.EINVALID, Target: name,
			Message: "Unable to read JSON request payload: the property '" + name + "' appears more than once."}
	}
	fields, err := kinBody(data, op, st.fields[:0])
	if err != nil {
		return err
	}
	st.fields = fields
	return nil
}

// contentCoding reduces the Content-Encoding header lines to the one coding the body has, in
// lower case: identity codings are dropped, and "" means none. Several codings (a body gzipped
// twice, say) come back comma-joined, which no case of readBody accepts.
func contentCoding(lines []string) string {
	var codings []string
	for _, line := range lines {
		for c := range strings.SplitSeq(line, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	return strings.Join(codings, ", ")
}

// errCompressedTooLarge ends the read of a compressed body longer than the limit, which gzip
// would otherwise report as a truncated stream.
var errCompressedTooLarge = errors.New("compressed request body over the limit")

// cappedReader reads at most left-1 bytes of r; reading the left-th fails with
// errCompressedTooLarge.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCompressedTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	if c.left -= int64(n); c.left <= 0 {
		return n, errCompressedTooLarge
	}
	return n, err
}

// readAll reads r into buf, up to limit bytes; it returns the bytes read. It sizes the buffer
// from the Content-Length when there is one, and reuses the buffer's capacity.
func readAll(buf []byte, r io.Reader, limit, contentLength int64) ([]byte, error) {
	if contentLength > 0 && contentLength < limit && int64(cap(buf)) < contentLength+1 {
		buf = make([]byte, 0, contentLength+1)
	} else if cap(buf) == 0 {
		buf = make([]byte, 0, 512)
	}
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := buf[len(buf):cap(buf)]
		if rest := limit - int64(len(buf)); int64(len(room)) > rest {
			room = room[:rest]
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// kinBody validates the body with kin-openapi: the path for a contract the plan cannot
// compile, and for values the plan does not decide.
func kinBody(data []byte, op *operation, fields []bodyField) ([]bodyField, error) {
	value, err := decodeJSON(data)
	if err != nil {
		return fields, err
	}
	if err := op.body.VisitJSON(value, openapi3.VisitAsRequest(), openapi3.DisableSchemaErrorDetails()); err != nil {
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			return fields, describeSchemaError(se, "property", "")
		}
		return fields, &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body does not match the contract.", Err: err}
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return fields, remoteassist.Errorf(remoteassist.EINVALID, "The request body must be a JSON object.")
	}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		f := bodyField{name: k}
		switch v := obj[k].(type) {
		case nil:
			f.kind = kindNull
		case bool:
			f.kind, f.b = kindBool, v
		case string:
			f.kind, f.str = kindString, v
		case float64:
			f.kind = kindNumber
		case []any:
			f.kind = kindArray
		default:
			f.kind = kindObject
		}
		fields = append(fields, f)
	}
	return fields, nil
}

// duplicateMember reports a member name that the top-level object of a valid JSON body has
// twice.
func duplicateMember(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := make(map[string]bool)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		name, _ := t.(string)
		if seen[name] {
			return truncate(name, 64), true
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// checkJSONContentType accepts application/json in any letter case, with parameters, as long
// as a charset, if given, is UTF-8 (the only encoding JSON allows).
func checkJSONContentType(ct string) error {
	if ct == "application/json" || strings.EqualFold(ct, "application/json") {
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
