// Package openapi holds the service's OpenAPI 3.0.3 contract, the single source of truth from
// which the models, the server interface and the client in package gen are generated, and
// against which the server validates every request.
//
// openapi.yaml is the contract as written: the documented fidelity profile, with what the code
// generators need. go generate derives from it the document each profile serves, as YAML and as
// JSON (see the package documentation of the module's root): documented.* is the contract with
// the permissions written into the operations' descriptions, and graph.* the same after
// graph.overlay.yaml. A server validates against, serves and renders its profile's document;
// it parses the JSON, several times faster than YAML.
package openapi

import (
	_ "embed"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist"
)

// Source is the contract exactly as written.
//
//go:embed openapi.yaml
var Source []byte

var (
	//go:embed documented.yaml
	documentedYAML []byte
	//go:embed documented.json
	documentedJSON []byte
	//go:embed graph.yaml
	graphYAML []byte
	//go:embed graph.json
	graphJSON []byte
	//go:embed admin.bundle.yaml
	adminYAML []byte
	//go:embed admin.bundle.json
	adminJSON []byte
)

// Admin is the admin API's contract (admin.yaml with the API's schemas it uses copied in), as
// the admin listener serves it.
var Admin = Document{YAML: adminYAML, JSON: adminJSON}

// SharedAdmin returns the admin contract parsed, once per process; callers must only read it.
var SharedAdmin = sync.OnceValues(func() (*openapi3.T, error) { return parse("admin", Admin) })

// Document is the served contract of one profile.
type Document struct {
	// YAML and JSON are the document, as served at /openapi.yaml and /openapi.json; the JSON
	// lists keys in the YAML's order.
	YAML, JSON []byte
}

// Served returns the document profile p serves.
func Served(p remoteassist.Profile) (Document, error) {
	switch p {
	case remoteassist.ProfileDocumented, "":
		return Document{YAML: documentedYAML, JSON: documentedJSON}, nil
	case remoteassist.ProfileGraph:
		return Document{YAML: graphYAML, JSON: graphJSON}, nil
	}
	return Document{}, fmt.Errorf("openapi: no document for profile %q", p)
}

// Load parses and validates profile p's document. Each call returns a fresh document, so a
// caller may change it without affecting another caller's.
func Load(p remoteassist.Profile) (*openapi3.T, error) {
	d, err := Served(p)
	if err != nil {
		return nil, err
	}
	return parse(string(p), d)
}

func parse(name string, d Document) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(d.JSON)
	if err != nil {
		return nil, fmt.Errorf("openapi: parse the %s contract: %w", name, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi: the %s contract is invalid: %w", name, err)
	}
	return doc, nil
}

// Shared returns profile p's document as Load makes it, parsed once per process for the server
// and the many servers a test binary may start. It is shared: callers must only read it.
func Shared(p remoteassist.Profile) (*openapi3.T, error) {
	if p == "" {
		p = remoteassist.ProfileDocumented
	}
	once, ok := shared[p]
	if !ok {
		return nil, fmt.Errorf("openapi: no document for profile %q", p)
	}
	return once()
}

var shared = map[remoteassist.Profile]func() (*openapi3.T, error){
	remoteassist.ProfileDocumented: sync.OnceValues(func() (*openapi3.T, error) { return Load(remoteassist.ProfileDocumented) }),
	remoteassist.ProfileGraph:      sync.OnceValues(func() (*openapi3.T, error) { return Load(remoteassist.ProfileGraph) }),
}
