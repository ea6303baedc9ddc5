package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
)

// stream writes a 200 JSON answer whose one large member (a list or a map) is encoded an item at
// a time into the connection's buffer, so that an answer of hundreds of megabytes is never held
// whole in memory. Its bytes are those echo's c.JSONPretty(200, v, "") writes for the whole
// value (TestStreamedAnswersAreEchos): encoding/json's, HTML escaped, with a final newline.
type stream struct {
	w        *bufio.Writer
	item     bytes.Buffer
	enc      *json.Encoder
	envelope [2][]byte
	items    int // begun with next
	err      error
}

// startStream sets the answer's headers and writes what envelope has before the items. The
// status goes with the first bytes sent, when the stream's 32 KiB buffer is first full or at
// end (echo's Response.Write sends it): until then res is not Committed, and the handler may
// still answer with an error instead. After, an item that cannot be encoded (a NaN, a time past
// year 9999) would end the answer short, which is why only values that always encode are
// streamed (the journal's entries, the settings).
func startStream(res *echo.Response, envelope [2][]byte) *stream {
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.Status = http.StatusOK
	s := &stream{w: bufio.NewWriterSize(res, 32<<10), envelope: envelope}
	s.enc = json.NewEncoder(&s.item) // as echo's: HTML escaped, no indent
	s.w.Write(envelope[0])
	return s
}

// next begins an item: the comma before every item but the first.
func (s *stream) next() {
	if s.items++; s.items > 1 {
		s.raw(',')
	}
}

// raw writes a byte of the JSON within an item, such as a map's colon.
func (s *stream) raw(b byte) {
	if s.err == nil {
		s.err = s.w.WriteByte(b)
	}
}

// value writes v's JSON. The first error, of an encoding or of a write (a client gone away), is
// kept for end, and the items after it are not encoded.
func (s *stream) value(v any) {
	if s.err != nil {
		return
	}
	s.item.Reset()
	if s.err = s.enc.Encode(v); s.err == nil {
		_, s.err = s.w.Write(bytes.TrimSuffix(s.item.Bytes(), []byte("\n"))) // Encode ends a value with a newline
	}
}

// end writes what the envelope has after the items and the final newline, and flushes. It
// returns the first error of an encoding or of a write (a client gone away).
func (s *stream) end() error {
	if s.err != nil {
		return s.err
	}
	s.w.Write(s.envelope[1])
	s.w.WriteByte('\n')
	return s.w.Flush() // a write's error is bufio's, sticky: Flush returns it
}

// envelope is the JSON of empty, a value whose one member is an empty list or map, split around
// hole ("[]" or "{}", its first occurrence): what comes before the member's first item and after
// its last.
func envelope(empty any, hole string) [2][]byte {
	data, err := json.Marshal(empty)
	if err != nil {
		panic(err)
	}
	i := bytes.Index(data, []byte(hole))
	if i < 0 {
		panic("server: the JSON " + string(data) + " has no " + hole)
	}
	return [2][]byte{data[:i+1], data[i+1:]}
}
