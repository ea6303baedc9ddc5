// Package ordinal compares strings as .NET's StringComparison.OrdinalIgnoreCase does, which is
// how Microsoft Graph (OData's case-insensitive resolver) matches names and enumerated values
// without regard to case.
package ordinal

import (
	"unicode"
	"unicode/utf8"
)

// EqualIgnoreCase reports whether a and b are equal once each character is put in upper case by
// its simple mapping, as OrdinalIgnoreCase compares them. It is narrower than strings.EqualFold,
// which also takes characters whose case folding meets another's: the Kelvin sign K (U+212A)
// folds to k, but neither it nor k upper-cases to the other, so OrdinalIgnoreCase, and this,
// keep "blocKChat" with a Kelvin sign apart from "blockChat". The long s ſ (U+017F) upper-cases
// to S, so both take "diſabled" for "disabled".
func EqualIgnoreCase(a, b string) bool {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra == utf8.RuneError || rb == utf8.RuneError {
			// Bytes that are not UTF-8 only equal themselves.
			if a[:na] != b[:nb] {
				return false
			}
		} else if ra != rb && unicode.ToUpper(ra) != unicode.ToUpper(rb) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return a == b
}
