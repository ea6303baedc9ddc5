package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A body that says its length is read into one buffer of that length, whatever its size; one
// that does not, as io.ReadAll reads it.
func TestReadBodyHoldsWhatItSays(t *testing.T) {
	body := `{"tenants":{` + strings.Repeat(`"a":{},`, 150_000) + `"b":{}}}`
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
