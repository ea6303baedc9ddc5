package server

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

// A body that says its length is read, past its first MiB, into one buffer of that length; one
// that does not, as io.ReadAll reads it.
func TestReadBodyHoldsWhatItSays(t *testing.T) {
	body := `{"tenants":{` + strings.Repeat(`"a":{},`, 300_000) + `"b":{}}}`
	for _, length := range []int64{int64(len(body)), -1} {
		req := httptest.NewRequest(http.MethodPut, "/admin/snapshot", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = length
		data, err := readBody(req, 4<<20)
		if err != nil || string(data) != body {
			t.Fatalf("Content-Length %d: read %d bytes, %v", length, len(data), err)
		}
		if length > 0 && cap(data) != len(body)+1 {
			t.Errorf("a body of %d bytes that says so was read into a buffer of %d", len(body), cap(data))
		}
	}
}

// A client that says a length and sends less holds what io.ReadAll would, not the length said.
func TestReadBodyTrustsNoLength(t *testing.T) {
	sent := strings.Repeat("x", 100_000)
	b, err := readAll(io.MultiReader(strings.NewReader(sent), iotest.ErrReader(io.ErrUnexpectedEOF)), 48<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(b) != sent {
		t.Fatalf("read %d bytes, %v", len(b), err)
	}
	if cap(b) > 1<<20 {
		t.Errorf("%d bytes sent of the 48 MiB said took a buffer of %d", len(sent), cap(b))
	}
}
