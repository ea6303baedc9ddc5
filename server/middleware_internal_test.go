package server

import (
	"testing"
	"unsafe"
)

// TestExchangeFitsItsSizeClass: every request allocates one exchange, and Go rounds an
// allocation up to its size class (256 bytes, then 288), so a field added carelessly, or one
// byte-sized field among the words, costs every request 32 bytes more for the collector.
func TestExchangeFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(exchange{}); size > 256 {
		t.Errorf("exchange is %d bytes: over 256, it is allocated as 288; keep the one-byte fields of request together", size)
	}
}
