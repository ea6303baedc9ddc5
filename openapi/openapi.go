// Package openapi holds the service's OpenAPI 3.0.3 contract, the single source of truth from
// which the models, the server interface and the client in package gen are generated, and
// against which the server validates every request.
//
// openapi.yaml is the contract as written. go generate derives two files from it, so that a
// process starts without converting or parsing it: openapi.json, the JSON form served at
// /openapi.json, and contract_gen.go, the Go code that builds the document kin-openapi's loader
// makes of it (internal/cmd/contractgen), which Shared returns.
package openapi

//go:generate go run ../internal/cmd/yaml2json -o openapi.json openapi.yaml
//go:generate go run ../internal/cmd/contractgen -o contract_gen.go openapi.yaml

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

// Shared returns the parsed contract, built once per process, for the server and the many
// servers a test binary may start. It is shared: callers must only read it.
//
// It is not parsed: it is built by the code go generate derived from the YAML (contract_gen.go),
// which is what kin-openapi's loader makes of it, already validated. Parsing takes 3 to 5 ms of a
// cold start; building takes microseconds. TestSharedIsTheLoadedContract checks that the two
// agree.
func Shared() *openapi3.T { return shared() }

var shared = sync.OnceValue(compiledContract)
