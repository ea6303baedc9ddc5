// Package openapi holds the service's OpenAPI 3.0.3 contract, the single source of truth from
// which the models, the server interface and the client in package gen are generated, and
// against which the server validates every request.
//
// openapi.yaml is the contract as written. go generate derives openapi.json from it (see the
// package documentation of the module's root), which is served at /openapi.json and is what
// Shared parses: JSON parses several times faster than YAML.
package openapi

import (
	_ "embed"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// YAML is the contract exactly as it is linted, rendered and served at /openapi.yaml.
//
//go:embed openapi.yaml
var YAML []byte

// JSON is the same document as JSON, keys in the order of YAML, served at /openapi.json.
// It is generated from YAML by go generate; a test checks the two agree.
//
//go:embed openapi.json
var JSON []byte

// Load parses and validates the embedded contract. Each call returns a fresh document, so a
// caller may change it without affecting another caller's.
func Load() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(JSON)
	if err != nil {
		return nil, fmt.Errorf("openapi: parse embedded contract: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi: embedded contract is invalid: %w", err)
	}
	return doc, nil
}

// Shared returns the contract as Load makes it, parsed once per process for the server and the
// many servers a test binary may start. It is shared: callers must only read it.
func Shared() (*openapi3.T, error) { return shared() }

var shared = sync.OnceValues(Load)
