package fastslog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lines writes one record with both handlers, and with Log to the fast one, and returns the
// three lines.
func lines(json bool, t time.Time, level slog.Level, msg string, attrs ...slog.Attr) (fast, logged, std string) {
	var a, l, b bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	h, lh, s := slog.Handler(NewTextHandler(&a, opts)), slog.Handler(NewTextHandler(&l, opts)), slog.Handler(slog.NewTextHandler(&b, opts))
	if json {
		h, lh, s = NewJSONHandler(&a, opts), NewJSONHandler(&l, opts), slog.NewJSONHandler(&b, opts)
	}
	for _, x := range []slog.Handler{h, s} {
		r := slog.NewRecord(t, level, msg, 0)
		r.AddAttrs(attrs...)
		x.Handle(context.Background(), r)
	}
	Log(context.Background(), lh, t, level, msg, attrs...)
	return a.String(), l.String(), b.String()
}

// FuzzSameAsSlog: for any strings, numbers, durations, times and levels, the handler writes
// the very bytes slog's own handlers write.
func FuzzSameAsSlog(f *testing.F) {
	f.Add("request", "path", "/beta/deviceManagement/remoteAssistanceSettings", int64(200), int64(340435), int64(1764590000123456789), 0, true)
	f.Add("", "", "", int64(-1), int64(0), int64(0), 4, false)
	f.Add("a b", "k=v", "quote\"d\\ \n\t\x00\x7f é \u2028 \xff <&>", int64(0), int64(-5), int64(-62135596800000000), -4, true)
	f.Add("ünï", "tenant", "\u00a0\u200b\ufeff", int64(1)<<62, int64(1)<<62, int64(253402300799999999), 8, false)
	f.Fuzz(func(t *testing.T, msg, key, value string, n, d, unixNano int64, level int, b bool) {
		at := time.Unix(0, unixNano)
		if unixNano == 0 {
			at = time.Time{}
		}
		attrs := []slog.Attr{slog.String(key, value), slog.Int64("n", n), slog.Duration("latency", time.Duration(d)),
			slog.Bool("b", b), slog.Uint64("u", uint64(n)), slog.String("", ""), slog.String(value, key)}
		for _, json := range []bool{false, true} {
			fast, logged, std := lines(json, at, slog.Level(level), msg, attrs...)
			if fast != std || logged != std {
				t.Fatalf("json %v:\nfast %q\nLog  %q\nslog %q", json, fast, logged, std)
			}
		}
	})
}

// TestOtherRecordsGoToSlog: what the fast path does not write, slog's handler does.
func TestOtherRecordsGoToSlog(t *testing.T) {
	for _, attrs := range [][]slog.Attr{
		{slog.Group("g", slog.String("a", "b"))},
		{slog.Any("err", io.EOF)},
		{slog.Float64("f", 1.5)},
		{slog.Time("when", time.Unix(0, 0))},
	} {
		for _, json := range []bool{false, true} {
			fast, logged, std := lines(json, time.Unix(1, 0), slog.LevelInfo, "m", attrs...)
			if fast != std || logged != std {
				t.Errorf("json %v, %v:\nfast %q\nLog  %q\nslog %q", json, attrs, fast, logged, std)
			}
		}
	}
	var a, b bytes.Buffer
	fh := slog.New(NewTextHandler(&a, nil)).With("k", "v").WithGroup("g")
	sh := slog.New(slog.NewTextHandler(&b, nil)).With("k", "v").WithGroup("g")
	fh.Info("m", "x", 1)
	sh.Info("m", "x", 1)
	if a.String()[len("time=2006-01-02T15:04:05.000Z"):] != b.String()[len("time=2006-01-02T15:04:05.000Z"):] {
		t.Errorf("With/WithGroup:\nfast %q\nslog %q", a.String(), b.String())
	}
	if NewTextHandler(io.Discard, nil).Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Debug enabled at the default level")
	}
}

// TestLogMakesNoRecord: to a Handler, Log writes an access line of eight attributes without
// the slog.Record, whose attributes past the fifth would take an allocation.
func TestLogMakesNoRecord(t *testing.T) {
	h := NewTextHandler(io.Discard, nil)
	attrs := accessAttrs()
	if n := testing.AllocsPerRun(100, func() {
		Log(context.Background(), h, time.Now(), slog.LevelInfo, "request", attrs...)
	}); n != 0 {
		t.Errorf("Log allocated %v times a line", n)
	}
}

// accessAttrs are the attributes of a typical access line.
func accessAttrs() []slog.Attr {
	return []slog.Attr{slog.String("request_id", "0e550b90-6b1a-4b4e-908c-fe0612742945"),
		slog.String("client_request_id", "0e550b90-6b1a-4b4e-908c-fe0612742945"), slog.String("method", "GET"),
		slog.String("path", "/beta/deviceManagement/remoteAssistanceSettings"),
		slog.String("operation", "deviceManagement.GetRemoteAssistanceSettings"), slog.String("tenant", "contoso"),
		slog.Int("status", 200), slog.Duration("latency", 340435*time.Nanosecond)}
}

func BenchmarkAccessLine(b *testing.B) {
	attrs := accessAttrs()
	for _, c := range []struct {
		name string
		h    slog.Handler
		log  bool // through Log rather than a Record
	}{
		{"fast-text", NewTextHandler(io.Discard, nil), false}, {"fast-text-Log", NewTextHandler(io.Discard, nil), true},
		{"slog-text", slog.NewTextHandler(io.Discard, nil), false},
		{"fast-json", NewJSONHandler(io.Discard, nil), false}, {"fast-json-Log", NewJSONHandler(io.Discard, nil), true},
		{"slog-json", slog.NewJSONHandler(io.Discard, nil), false},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if c.log {
					Log(context.Background(), c.h, time.Now(), slog.LevelInfo, "request", attrs...)
					continue
				}
				r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
				r.AddAttrs(attrs...)
				c.h.Handle(context.Background(), r)
			}
		})
	}
}

// trickleWriter takes each Write in small pieces, yielding between them, as a writer that is
// not safe for concurrent use may: two Writes at once interleave their pieces, and overlaps
// counts the Writes that began while another was in progress. slog's handlers never call it so:
// they make one Write per line, one at a time.
type trickleWriter struct {
	mu       sync.Mutex // guards b for each piece only
	b        bytes.Buffer
	writing  atomic.Int32
	overlaps atomic.Int32
}

func (w *trickleWriter) Write(p []byte) (int, error) {
	if w.writing.Add(1) > 1 {
		w.overlaps.Add(1)
	}
	defer w.writing.Add(-1)
	for rest := p; len(rest) > 0; {
		n := min(len(rest), 7)
		w.mu.Lock()
		w.b.Write(rest[:n])
		w.mu.Unlock()
		rest = rest[n:]
		runtime.Gosched()
	}
	return len(p), nil
}

// TestFastAndFallbackLinesDoNotInterleave: lines the fast path writes and lines slog's handler
// writes for it (other kinds of values, and a handler with attributes added), from many
// goroutines at once, reach the writer one Write per line, one at a time, and each whole.
func TestFastAndFallbackLinesDoNotInterleave(t *testing.T) {
	const goroutines, each = 16, 200
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, json := range []bool{false, true} {
		w := new(trickleWriter)
		var h slog.Handler = NewTextHandler(w, nil)
		if json {
			h = NewJSONHandler(w, nil)
		}
		kinds := []struct {
			h     slog.Handler
			attrs []slog.Attr
		}{
			{h, []slog.Attr{slog.String("path", "/beta/deviceManagement/remoteAssistanceSettings"), slog.Int("status", 200)}}, // fast
			{h, []slog.Attr{slog.Any("error", io.ErrUnexpectedEOF), slog.Float64("ratio", 0.5)}},                              // fallback
			{h.WithAttrs([]slog.Attr{slog.String("component", "admin")}), []slog.Attr{slog.Int("status", 201)}},               // fallback
		}
		want := map[string]bool{}
		for _, k := range kinds {
			var b bytes.Buffer
			s := slog.Handler(slog.NewTextHandler(&b, nil))
			if json {
				s = slog.NewJSONHandler(&b, nil)
			}
			if k.h != h {
				s = s.WithAttrs([]slog.Attr{slog.String("component", "admin")})
			}
			r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
			r.AddAttrs(k.attrs...)
			s.Handle(context.Background(), r)
			want[b.String()] = true
		}
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					k := kinds[(g+i)%len(kinds)]
					r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
					r.AddAttrs(k.attrs...)
					if err := k.h.Handle(context.Background(), r); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		lines := strings.SplitAfter(w.b.String(), "\n")
		lines = lines[:len(lines)-1] // after the last newline
		broken := 0
		for _, line := range lines {
			if !want[line] {
				if broken++; broken <= 3 {
					t.Errorf("json %v: a line that is not whole: %q", json, line)
				}
			}
		}
		if broken > 0 || len(lines) != goroutines*each || w.overlaps.Load() != 0 {
			t.Errorf("json %v: %d lines, %d of them not whole, want %d whole; %d Writes began while another was in progress",
				json, len(lines), broken, goroutines*each, w.overlaps.Load())
		}
	}
}

// TestEveryByteAtEveryPlace: a value quoted for one byte is quoted wherever the byte stands,
// inside a word of eight that needsQuotes checks at once or in the tail it checks a byte at a
// time, as slog's handler quotes it.
func TestEveryByteAtEveryPlace(t *testing.T) {
	at := time.Date(2026, 12, 2, 5, 0, 0, 123456789, time.UTC)
	for n := 1; n <= 19; n++ {
		for i := range n {
			for c := range 256 {
				v := []byte(strings.Repeat("a", n))
				v[i] = byte(c)
				fast, _, std := lines(false, at, slog.LevelInfo, "m", slog.String("k", string(v)))
				if fast != std {
					t.Fatalf("byte %#x at %d of %d:\nfast %q\nslog %q", c, i, n, fast, std)
				}
			}
		}
	}
}
