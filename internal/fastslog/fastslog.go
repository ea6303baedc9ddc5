// Package fastslog is a log/slog handler that writes exactly the lines of slog's TextHandler or
// JSONHandler, several times faster for the records a server writes on every request: flat
// attributes whose values are strings, integers, booleans and durations. Any other record (a
// group, another kind of value, a handler with attributes or groups added) is handed to slog's
// own handler, so the output is the same whatever is logged.
//
// It exists for one reason, which bench/RESULTS.md measures: formatting the access-log line with
// slog's handlers cost about a tenth of the whole process's CPU per request under load (2 to
// 2.6 µs a line), enough on its own to keep "remoteassist serve" from 0.8x of a server that logs
// nothing. FuzzSameAsSlog holds every line to slog's.
package fastslog

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Handler writes slog's text or JSON lines.
type Handler struct {
	json     bool
	opts     slog.HandlerOptions
	w        *lockedWriter // the fast path's and the fallback's, so that both take one lock
	fallback slog.Handler  // slog's own, for what the fast path does not write
}

// lockedWriter is the writer of both paths: the fast path writes each line to it, and so does
// slog's handler, which makes each line one Write but under a lock of its own that the fast
// path cannot take. So every line, whichever path made it, is one Write under this one lock, as
// with slog's handler alone; with a lock for each path, a line of each could be written at once,
// and a writer not safe for concurrent use (a bytes.Buffer, a bufio.Writer, a pipe taking a
// long line in several writes) would interleave or lose them.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// NewTextHandler returns a handler writing what slog.NewTextHandler(w, opts) writes.
func NewTextHandler(w io.Writer, opts *slog.HandlerOptions) *Handler {
	lw := &lockedWriter{w: w}
	return newHandler(lw, opts, false, slog.NewTextHandler(lw, opts))
}

// NewJSONHandler returns a handler writing what slog.NewJSONHandler(w, opts) writes.
func NewJSONHandler(w io.Writer, opts *slog.HandlerOptions) *Handler {
	lw := &lockedWriter{w: w}
	return newHandler(lw, opts, true, slog.NewJSONHandler(lw, opts))
}

func newHandler(w *lockedWriter, opts *slog.HandlerOptions, json bool, fallback slog.Handler) *Handler {
	h := &Handler{json: json, w: w, fallback: fallback}
	if opts != nil {
		h.opts = *opts
	}
	return h
}

// Enabled reports whether the level is at least the handler's minimum.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.opts.Level != nil {
		min = h.opts.Level.Level()
	}
	return l >= min
}

// WithAttrs and WithGroup hand over to slog's handler, which writes through the same lock:
// nothing logged per request uses them.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler { return h.fallback.WithAttrs(attrs) }

// WithGroup hands over to slog's handler.
func (h *Handler) WithGroup(name string) slog.Handler { return h.fallback.WithGroup(name) }

var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Handle writes the record's line, or has slog's handler write it.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	// The attributes are gathered into an array on the stack, so that the fast path writes
	// from one slice whether the record came here or through Log.
	var buf [16]slog.Attr
	attrs := buf[:0]
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	if !h.fast(attrs) {
		return h.fallback.Handle(ctx, r)
	}
	return h.write(r.Time, r.Level, r.Message, attrs)
}

// Log has h handle a record of t, level, msg and attrs, and is what h.Handle(ctx, record)
// does with such a record. When h is a Handler that writes the line itself, the record is never
// made: slog's Record keeps five attributes in place and the rest in a slice it allocates, is
// copied into each call that takes it by value, and hands its attributes one at a time to a
// function: about two fifths of the line's time (BenchmarkAccessLine; bench/RESULTS.md, the
// speed-only table). Log does not keep attrs.
func Log(ctx context.Context, h slog.Handler, t time.Time, level slog.Level, msg string, attrs ...slog.Attr) error {
	if fh, ok := h.(*Handler); ok && fh.fast(attrs) {
		return fh.write(t, level, msg, attrs)
	}
	r := slog.NewRecord(t, level, msg, 0)
	r.AddAttrs(attrs...)
	return h.Handle(ctx, r)
}

// fast reports whether the handler writes a line of attrs itself: no option asks for what only
// slog's handler does, and every attribute is of a kind the fast path writes.
func (h *Handler) fast(attrs []slog.Attr) bool {
	if h.opts.AddSource || h.opts.ReplaceAttr != nil {
		return false
	}
	for _, a := range attrs {
		switch a.Value.Kind() {
		case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration:
		default:
			return false
		}
	}
	return true
}

// write writes one line, in one Write.
func (h *Handler) write(t time.Time, level slog.Level, msg string, attrs []slog.Attr) error {
	bp := buffers.Get().(*[]byte)
	b := (*bp)[:0]
	if h.json {
		b = appendJSONLine(b, t, level, msg, attrs)
	} else {
		b = appendTextLine(b, t, level, msg, attrs)
	}
	_, err := h.w.Write(b)
	if cap(b) <= 16<<10 {
		*bp = b
		buffers.Put(bp)
	}
	return err
}

func appendTextLine(b []byte, t time.Time, level slog.Level, msg string, attrs []slog.Attr) []byte {
	sep := false
	if t := t.Round(0); !t.IsZero() {
		b = append(b, "time="...)
		b = appendMillis(b, t)
		sep = true
	}
	if sep {
		b = append(b, ' ')
	}
	b = append(b, "level="...)
	b = appendText(b, level.String())
	b = append(b, " msg="...)
	b = appendText(b, msg)
	for _, a := range attrs {
		b = append(b, ' ')
		b = appendText(b, a.Key)
		b = append(b, '=')
		switch v := a.Value; v.Kind() {
		case slog.KindString:
			b = appendText(b, v.String())
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = appendText(b, v.Duration().String())
		}
	}
	return append(b, '\n')
}

func appendJSONLine(b []byte, t time.Time, level slog.Level, msg string, attrs []slog.Attr) []byte {
	b = append(b, '{')
	if t := t.Round(0); !t.IsZero() {
		b = append(b, `"time":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":`...)
	b = appendJSONString(b, level.String())
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, msg)
	for _, a := range attrs {
		b = append(b, ',')
		b = appendJSONString(b, a.Key)
		b = append(b, ':')
		switch v := a.Value; v.Kind() {
		case slog.KindString:
			b = appendJSONString(b, v.String())
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = strconv.AppendInt(b, int64(v.Duration()), 10)
		}
	}
	return append(b, "}\n"...)
}

// appendMillis writes t as RFC 3339 with exactly three digits of milliseconds, as slog's text
// lines show it, and the way slog writes it: through time.RFC3339Nano, which AppendFormat writes
// without parsing a layout (a layout of its own, such as "2006-01-02T15:04:05.000Z07:00", is
// parsed on every call, most of the line's formatting), with a tenth of a millisecond added so
// that the fraction keeps four digits, of which the fourth is then dropped.
func appendMillis(b []byte, t time.Time) []byte {
	const prefix = len("2006-01-02T15:04:05.000")
	n := len(b)
	b = t.Truncate(time.Millisecond).Add(time.Millisecond/10).AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefix], b[n+prefix+1:]...)
}

// appendText writes a string of a text line: as it is, or quoted (strconv.Quote) when it is
// empty or holds a space, '=', '"', a control character or a rune that does not print (DEL is written as it is).
func appendText(b []byte, s string) []byte {
	if needsQuotes(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuotes(s string) bool {
	if s == "" {
		return true
	}
	// Eight bytes at a time, the last eight overlapping the word before them, while none of
	// them is quoted or outside ASCII: the values of an access line (ids, paths, operation
	// names) are, and a byte at a time costs ~14 instructions a byte. From a word that has one,
	// the byte loop decides.
	i := 0
	for len(s)-i >= 8 {
		b := s[i : i+8] // the compiler makes the eight loads one
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if w&highBits|hasByteBelow(w, ' '+1)|hasZeroByte(w^(lowBits*'='))|hasZeroByte(w^(lowBits*'"')) != 0 {
			break
		}
		if i += 8; i < len(s) && len(s)-i < 8 {
			i = len(s) - 8
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if quoted[c] {
				return true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += n
	}
	return false
}

// lowBits and highBits are the lowest and the highest bit of each byte of a word.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// hasZeroByte is non-zero if and only if a byte of w is zero (for any w).
func hasZeroByte(w uint64) uint64 { return (w - lowBits) & ^w & highBits }

// hasByteBelow is non-zero if and only if a byte of w is below n, for n <= 128.
func hasByteBelow(w uint64, n byte) uint64 { return (w - lowBits*uint64(n)) & ^w & highBits }

// quoted holds the ASCII bytes that make a text value quoted.
var quoted = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = c <= ' ' || c == '=' || c == '"'
	}
	return t
}()

// appendJSONString writes s as a JSON string as slog's JSON lines do: '"', '\\' and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped, and '<', '>'
// and '&' as they are.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
