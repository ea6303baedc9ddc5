// Package urlpath puts a request's path in the form that routes it: percent-encoded unreserved
// characters decoded, as RFC 3986 (section 6.2.2.2) makes them equivalent to the characters,
// and every other escape kept, so that an encoded '/' (%2F) stays inside its segment.
package urlpath

import "net/url"

// Normalize decodes the percent-encoded unreserved characters (ALPHA, DIGIT, '-', '.', '_',
// '~') of u's escaped path. u.Path, already decoded, does not change; u.RawPath, which net/http
// keeps when the client's escaping is not Go's default and which routers (echo's, kin-openapi's)
// route on, becomes the decoded form, or empty when that form is Go's default escaping of u.Path.
func Normalize(u *url.URL) {
	if u.RawPath == "" {
		return
	}
	raw := decodeUnreserved(u.RawPath)
	if raw == u.RawPath {
		return
	}
	if (&url.URL{Path: u.Path}).EscapedPath() == raw {
		raw = ""
	}
	u.RawPath = raw
}

// decodeUnreserved returns s with each %XX escape of an unreserved character replaced by the
// character; it allocates only when there is one.
func decodeUnreserved(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if c, ok := unhex(s[i+1], s[i+2]); ok && unreserved(c) {
				if b == nil {
					b = append(make([]byte, 0, len(s)), s[:i]...)
				}
				b = append(b, c)
				i += 2
				continue
			}
		}
		if b != nil {
			b = append(b, s[i])
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(hi, lo byte) (byte, bool) {
	h, ok1 := fromHex(hi)
	l, ok2 := fromHex(lo)
	return h<<4 | l, ok1 && ok2
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
