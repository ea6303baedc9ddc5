package server

import (
	"net/http"
	"testing"
)

// TestDrains checks which refused bodies are read before the answer: over HTTP/2 those net/http's
// HTTP/1.1 server would read itself (one of unknown length, or declared under 256 KiB); never
// over HTTP/1.x, where net/http does it; never one declared 256 KiB or longer, which is answered
// at once, as net/http does over HTTP/1.1.
func TestDrains(t *testing.T) {
	tests := []struct {
		proto         int
		contentLength int64
		want          bool
	}{
		{2, 59, true},
		{2, -1, true},
		{2, drainLimit - 1, true},
		{2, drainLimit, false},
		{2, 10 << 20, false},
		{1, 59, false},
		{1, -1, false},
	}
	for _, tc := range tests {
		req := &http.Request{ProtoMajor: tc.proto, ContentLength: tc.contentLength}
		if got := drains(req); got != tc.want {
			t.Errorf("HTTP/%d, Content-Length %d: drains %v, want %v", tc.proto, tc.contentLength, got, tc.want)
		}
	}
}
