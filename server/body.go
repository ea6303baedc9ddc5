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
	"reflect"
	"strconv"
	"strings"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/remoteassist/remoteassist"
)

// Reading a request body: its media type and coding, its size, and its one decode, into the
// JSON value kin-openapi validates and the handler binds.

// readBody reads the body of req, decompressed, after checking its Content-Type; more than max
// bytes, compressed or inflated, is ETOOLARGE. A Content-Type sent twice is checked as the one
// comma-joined value it is to a server that combines header lines, which no media type parses
// as, rather than by its first line: a body sent as both JSON and something else is refused
// whatever the order of the two.
func readBody(req *http.Request, max int64) ([]byte, error) {
	if err := checkJSONContentType(strings.Join(req.Header.Values("Content-Type"), ", ")); err != nil {
		return nil, err
	}
	if req.ContentLength > max {
		return nil, tooLarge(max)
	}
	var r io.Reader = req.Body
	size := req.ContentLength // at most max, checked above; -1 when not sent
	compressed := false
	switch enc := contentCoding(req.Header.Values("Content-Encoding")); enc {
	case "":
	case "gzip", "x-gzip":
		// The limit applies to the compressed bytes read and, below, to what they inflate to.
		zr, err := gzip.NewReader(&cappedReader{r: req.Body, left: max + 1})
		if errors.Is(err, errCompressedTooLarge) {
			return nil, tooLarge(max)
		}
		if err != nil {
			return nil, notGzip(err)
		}
		// What it inflates to is unknown.
		r, size, compressed = zr, -1, true
	default:
		return nil, remoteassist.Errorf(remoteassist.EMEDIATYPE,
			"Content-Encoding '%s' is not supported. Send the body uncompressed or gzip-compressed.", remoteassist.Clip(enc, 32))
	}
	data, err := readAll(io.LimitReader(r, max+1), size)
	switch {
	case errors.Is(err, errCompressedTooLarge):
		return nil, tooLarge(max)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.Is(err, io.ErrUnexpectedEOF) && compressed:
		return nil, notGzip(err)
	case err != nil:
		return nil, &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body could not be read.", Err: err}
	case int64(len(data)) > max:
		return nil, tooLarge(max)
	}
	return data, nil
}

// readAll is io.ReadAll for a body that says its length (size; -1 if it does not): once its
// first MiB has come, the buffer grows to that length at once, rather than through io.ReadAll's
// doublings, which would hold up to twice a large body (a 99 MB snapshot import took 234 MB).
// Up to then it is io.ReadAll's, so that a client that says a length and sends nothing holds no
// more than a MiB; one that sends a MiB and stalls holds the length it said, at most the
// listener's limit, until the body's deadline (only the admin API's limit is above a MiB, and its
// callers hold its token). The one byte beyond size is the room a last read needs to see the end.
func readAll(r io.Reader, size int64) ([]byte, error) {
	const firstMiB = 1 << 20
	b := make([]byte, 0, 512) // io.ReadAll's first buffer
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			if len(b) >= firstMiB && int64(len(b)) <= size {
				b = append(make([]byte, 0, size+1), b...) // not slices.Grow: it rounds up
			} else {
				b = append(b, 0)[:len(b)] // as io.ReadAll grows
			}
		}
	}
}

// contentCoding reduces the Content-Encoding header lines to the one coding the body has, in
// lower case: identity codings are dropped, and "" means none. Several codings (a body gzipped
// twice, say) come back comma-joined, which readBody refuses.
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

// checkJSONContentType accepts application/json in any letter case, with parameters, as long
// as a charset, if given, is UTF-8 (the only encoding JSON allows).
func checkJSONContentType(ct string) error {
	if ct == "" {
		return remoteassist.Errorf(remoteassist.EMEDIATYPE, "The Content-Type header is missing. Send the body as application/json.")
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || mediaType != "application/json" {
		return remoteassist.Errorf(remoteassist.EMEDIATYPE,
			"Content-Type '%s' is not supported. Send the body as application/json.", remoteassist.Clip(ct, 64))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return remoteassist.Errorf(remoteassist.EMEDIATYPE, "Charset '%s' is not supported. Send the body as UTF-8 JSON.", remoteassist.Clip(cs, 32))
	}
	return nil
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

func tooLarge(limit int64) *remoteassist.Error {
	return remoteassist.Errorf(remoteassist.ETOOLARGE, "The request body is larger than the limit of %d bytes.", limit)
}

func notGzip(err error) *remoteassist.Error {
	return &remoteassist.Error{Code: remoteassist.EINVALID, Message: "The request body is not valid gzip.", Err: err}
}

// decodeBody decodes a request body, once, into the value kin-openapi validates (a
// map[string]any for an object). It decodes with encoding/json/v2's rules, which refuse an object
// naming a member twice (a map would silently keep the last value, so what was validated would
// not be what was sent); invalid UTF-8 is replaced, as encoding/json does. A number beyond
// float64's range (1e400), which is valid JSON, is kept as the json.Number it was sent as, so
// that kin-openapi refuses it where it stands as any other value out of contract. A body that
// does not decode is explained in encoding/json's words, which name the offending byte.
func decodeBody(data []byte) (any, error) {
	// A UTF-8 byte order mark is skipped, as RFC 8259 lets a parser do and .NET's does: Windows
	// PowerShell sends one with a body read from a file saved as "UTF-8" there.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var value any
	err := jsonv2.Unmarshal(data, &value, jsontext.AllowInvalidUTF8(true))
	if errors.Is(err, strconv.ErrRange) {
		// Rare enough that the body is decoded again, rather than every body more slowly.
		value = nil
		err = jsonv2.Unmarshal(data, &value, jsontext.AllowInvalidUTF8(true), jsonv2.WithUnmarshalers(keepOutOfRange))
	}
	if err == nil {
		return value, nil
	}
	return nil, explainDecodeError(data, err)
}

// explainDecodeError words the decoder's error err for data, a body that did not decode: a
// member named twice, or not JSON.
func explainDecodeError(data []byte, err error) error {
	if se, ok := errors.AsType[*jsontext.SyntacticError](err); ok && errors.Is(se.Err, jsontext.ErrDuplicateName) {
		name := strings.TrimPrefix(string(se.JSONPointer), "/")
		if !strings.Contains(name, "/") {
			name = se.JSONPointer.LastToken()
		}
		return remoteassist.DuplicateProperty(name)
	}
	return explainMalformed(data, err)
}

// keepOutOfRange decodes a JSON number that float64 cannot hold as its json.Number, and leaves
// every other value to the default decoding into any (a number float64 holds is a float64).
var keepOutOfRange = jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, v *any) error {
	if dec.PeekKind() != '0' {
		return jsonv2.SkipFunc
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	n, err := strconv.ParseFloat(tok.String(), 64)
	if err != nil {
		*v = json.Number(tok.String())
		return nil
	}
	*v = n
	return nil
})

// explainMalformed words why data is not one JSON value, as encoding/json sees it; err is the
// decoder's own verdict, kept as the cause.
func explainMalformed(data []byte, err error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if derr := dec.Decode(&v); derr != nil {
		return malformed(derr)
	}
	if _, terr := dec.Token(); terr != io.EOF {
		return &remoteassist.Error{Code: remoteassist.EINVALID, Err: err, Message: fmt.Sprintf(
			"Unable to read JSON request payload: unexpected data after the JSON value at offset %d.", dec.InputOffset())}
	}
	return malformed(err)
}

func malformed(err error) *remoteassist.Error {
	msg := "Unable to read JSON request payload. Please ensure the payload is valid JSON."
	se, syntax := errors.AsType[*json.SyntaxError](err)
	switch {
	case syntax:
		msg = fmt.Sprintf("Unable to read JSON request payload: %s at offset %d.", se.Error(), se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		msg = "Unable to read JSON request payload: the JSON value is incomplete."
	}
	return &remoteassist.Error{Code: remoteassist.EINVALID, Message: msg, Err: err}
}

// bindValidated fills dst, a pointer to a struct generated from the contract, from the body
// kin-openapi validated: each member goes to the field its JSON name tags, exactly (the
// contract's names, never encoding/json's case-insensitive match), so that what is stored is
// what was validated. Scalars are assigned; anything else goes through encoding/json.
func bindValidated(dst any, body any) error {
	obj, ok := body.(map[string]any)
	if !ok {
		return remoteassist.Internal(fmt.Errorf("server: validated body is %T, not an object", body))
	}
	v := reflect.ValueOf(dst).Elem()
	fields := jsonFields(v.Type())
	for name, value := range obj {
		i, ok := fields[name]
		if !ok {
			continue // allowed by the schema (additionalProperties), unknown to the type
		}
		if err := assign(v.Field(i), value); err != nil {
			return remoteassist.Internal(fmt.Errorf("server: binding %q: %w", name, err))
		}
	}
	return nil
}

// assign sets field, of the type a generated struct gives a property, to a decoded JSON value.
func assign(field reflect.Value, value any) error {
	if value == nil {
		field.SetZero()
		return nil
	}
	target := field
	if field.Kind() == reflect.Pointer {
		target = reflect.New(field.Type().Elem()).Elem()
	}
	rv := reflect.ValueOf(value)
	switch {
	case rv.Kind() == reflect.Bool && target.Kind() == reflect.Bool,
		rv.Kind() == reflect.String && target.Kind() == reflect.String:
		target.Set(rv.Convert(target.Type()))
	default:
		data, err := json.Marshal(value)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, target.Addr().Interface()); err != nil {
			return err
		}
	}
	if field.Kind() == reflect.Pointer {
		field.Set(target.Addr())
	}
	return nil
}

// jsonFieldCache maps a struct type to its fields' indexes by JSON name.
var jsonFieldCache sync.Map

func jsonFields(t reflect.Type) map[string]int {
	if m, ok := jsonFieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	jsonFieldCache.Store(t, m)
	return m
}
