// Package requestid makes the request-id every response carries and decides which
// client-request-id may be echoed back.
package requestid

import "math/rand/v2"

// New returns a random (version 4) UUID. The bits come from the runtime's per-thread
// ChaCha8 generator (seeded from the OS): unpredictable like crypto/rand, but without a system
// call or a lock per request. A request id identifies; it does not authorize anything.
func New() string {
	const hex = "0123456789abcdef"
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^(0xf<<12) | 0x4<<12 // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // RFC 4122 variant
	var b [36]byte
	j := 0
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		var v byte
		if i < 8 {
			v = byte(hi >> (56 - 8*i))
		} else {
			v = byte(lo >> (56 - 8*(i-8)))
		}
		b[j], b[j+1] = hex[v>>4], hex[v&0xf]
		j += 2
	}
	return string(b[:])
}

// MaxClientIDLength bounds the client-request-id the service echoes back.
const MaxClientIDLength = 128

// UsableClientID reports whether a client's client-request-id is safe to echo in a header, a
// JSON envelope and a log line: at most MaxClientIDLength bytes of printable ASCII, spaces and
// tabs. Another (control characters, non-ASCII bytes) is replaced by the request-id.
func UsableClientID(s string) bool {
	if s == "" || len(s) > MaxClientIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}
