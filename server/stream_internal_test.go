package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// goneWriter is a client that went away: every write of the body fails.
type goneWriter struct{ http.ResponseWriter }

func (goneWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// countedItem counts how many times it is encoded.
type countedItem struct{ encoded *int }

func (c countedItem) MarshalJSON() ([]byte, error) {
	*c.encoded++
	return []byte(`"` + strings.Repeat("x", 1000) + `"`), nil
}

// TestStreamStopsWhenTheClientIsGone: once a write fails, the items left are not encoded (a full
// journal's listing to a client gone away would otherwise encode its million entries for
// nothing), and end returns the write's error.
func TestStreamStopsWhenTheClientIsGone(t *testing.T) {
	res := echo.NewResponse(goneWriter{httptest.NewRecorder()}, echo.New())
	out := startStream(res, journalEnvelope)
	encoded := 0
	const items = 1000
	for range items {
		out.next()
		out.value(countedItem{&encoded})
	}
	if err := out.end(); err == nil {
		t.Error("end: no error from a client gone away")
	}
	// The connection's buffer (32 KiB) takes ~32 items of 1 KB before the first write fails.
	if encoded > 64 {
		t.Errorf("%d of %d items encoded after the client went away, want those before the first failed write", encoded, items)
	}
}
