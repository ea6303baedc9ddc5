// Package openapi holds the service's OpenAPI 3.0.3 contract, the single source of truth from
// which the models, the server interface and the client in package gen are generated, and
// against which the server validates every request.
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

// Load parses and validates the embedded contract. Each call returns a fresh document, so a
// caller may not change one another caller holds.
func Load() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(YAML)
	if err != nil {
		return nil, fmt.Errorf("openapi: parse embedded contract: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi: embedded contract is invalid: %w", err)
	}
	return doc, nil
}

var shared struct {
	once sync.Once
	doc  *openapi3.T
	err  error
}

// Shared returns the contract parsed and validated once per process, for the many servers a
// test binary may start. It is shared: callers must only read it.
func Shared() (*openapi3.T, error) {
	shared.once.Do(func() { shared.doc, shared.err = Load() })
	return shared.doc, shared.err
}
