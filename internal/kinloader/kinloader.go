// Package kinloader knows which unexported fields of kin-openapi's document types its loader
// fills for its own use (resolving and internalising references) and validation never reads:
// internal/cmd/contractgen leaves them out of the code it writes, and the tests that compare a
// built document with a parsed one skip them.
package kinloader

import (
	"reflect"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// byType lists the loader's fields of particular types.
var byType = map[string]map[string]bool{
	"T":        {"visited": true, "url": true},
	"PathItem": {"refSiblings": true, "refResolved": true},
}

// ofRefs are the loader's fields of every *Ref type (SchemaRef, ParameterRef, ...).
var ofRefs = map[string]bool{"refPath": true, "extra": true, "siblingExtras": true}

var pkgPath = reflect.TypeFor[openapi3.T]().PkgPath()

// Field reports whether field of type t is loader bookkeeping.
func Field(t reflect.Type, field string) bool {
	if t.PkgPath() != pkgPath {
		return false
	}
	return byType[t.Name()][field] || strings.HasSuffix(t.Name(), "Ref") && ofRefs[field]
}
