package openapi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist/internal/testutil"
	"github.com/remoteassist/remoteassist/internal/yamljson"
)

// TestContractIsValid is the validation Shared leaves out: the embedded contract satisfies the
// OpenAPI 3.0 specification as kin-openapi reads it.
func TestContractIsValid(t *testing.T) {
	if _, err := Load(); err != nil {
		t.Fatal(err)
	}
}

func TestSharedIsTheLoadedContract(t *testing.T) {
	shared := Shared()
	loaded, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	// Type by type, not only as JSON: an enum value must be the float64 or string the loader
	// makes, or kin-openapi's checks would differ.
	built := testutil.DumpKinDocument(shared)
	if diff := testutil.FirstDifference(built, testutil.DumpKinDocument(loaded)); diff != "" {
		t.Fatalf("contract_gen.go builds another document than openapi.yaml (run go generate ./...): built, then parsed, %s", diff)
	}
	if !strings.Contains(built, `"remoteAssistanceState"`) {
		t.Fatal("the dump of the contract lacks its properties")
	}
	if Shared() != shared {
		t.Error("Shared built the contract twice")
	}
	// As the loader does, a $ref shares the value of the component it names.
	patch := shared.Paths.Find("/deviceManagement/remoteAssistanceSettings").Patch
	ref := patch.RequestBody.Value.Content.Get("application/json").Schema
	if ref.Ref == "" {
		t.Fatal("the PATCH body schema is not a $ref: choose another shared value for this check")
	}
	name := ref.Ref[len("#/components/schemas/"):]
	if shared.Components.Schemas[name].Value != ref.Value {
		t.Errorf("the PATCH body's $ref and components.schemas.%s are two values", name)
	}
	if err := shared.Validate(openapi3.NewLoader().Context); err != nil {
		t.Errorf("the built contract is not valid: %v", err)
	}
}

// TestJSONIsTheYAML catches an openapi.json left behind by an edit of openapi.yaml without
// go generate: the embedded JSON must be exactly what the generator makes of the YAML.
func TestJSONIsTheYAML(t *testing.T) {
	want, err := yamljson.Convert(YAML)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(JSON, want) {
		t.Fatal("openapi.json is out of date with openapi.yaml: run go generate ./...")
	}
}
