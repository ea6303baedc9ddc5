package openapi

import (
	"bytes"
	"testing"

	"github.com/remoteassist/remoteassist/internal/yamljson"
)

// TestContractIsValid checks that the embedded contract satisfies the
// OpenAPI 3.0 specification as kin-openapi reads it.
func TestContractIsValid(t *testing.T) {
	if _, err := Load(); err != nil {
		t.Fatal(err)
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
