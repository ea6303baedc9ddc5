package main

import (
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/internal/testutil"
)

func TestLogBufferBatchesAndFlushes(t *testing.T) {
	var sink testutil.SyncBuffer
	b := newLogBuffer(&sink)
	if b.interval != logFlushInterval {
		t.Errorf("default flush interval = %v, want %v", b.interval, logFlushInterval)
	}
	// No timed flush during this test, however loaded the machine: only Flush, a full buffer
	// and Close write. TestLogBufferFlushesWithinInterval checks the timer.
	b.interval = time.Hour
	b.Write([]byte("one\n"))
	b.Write([]byte("two\n"))
	if sink.String() != "" {
		t.Fatalf("lines written before a flush: %q", sink.String())
	}
	b.Flush()
	if sink.String() != "one\ntwo\n" {
		t.Fatalf("Flush wrote %q, want both lines in one go", sink.String())
	}
	// A burst over the buffer's size is written out, not held.
	line := strings.Repeat("x", 1000) + "\n"
	for i := 0; i < logBufferSize/len(line)+2; i++ {
		b.Write([]byte(line))
	}
	if len(sink.String()) < logBufferSize/2 {
		t.Errorf("a full buffer was not written out: %d bytes", len(sink.String()))
	}
	b.Write([]byte("last\n"))
	b.Close()
	if !strings.HasSuffix(sink.String(), "last\n") {
		t.Error("Close lost buffered lines")
	}
	b.Write([]byte("after\n"))
	if !strings.HasSuffix(sink.String(), "after\n") {
		t.Error("a write after Close was held")
	}
}

func TestLogBufferFlushesWithinInterval(t *testing.T) {
	var sink testutil.SyncBuffer
	b := newLogBuffer(&sink)
	b.interval = time.Millisecond
	b.Write([]byte("one\n"))
	b.Write([]byte("two\n"))
	// Nothing but the timer flushes here (no Flush, no Close, far from a full buffer).
	deadline := time.Now().Add(10 * time.Second)
	for sink.String() != "one\ntwo\n" {
		if time.Now().After(deadline) {
			t.Fatalf("buffered lines never flushed: %q", sink.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Close()
}
