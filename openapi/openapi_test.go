package openapi

import (
	"bytes"
	"testing"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/yamljson"
)

// TestDocumentsAreValid checks that every profile's document satisfies the OpenAPI 3.0
// specification as kin-openapi reads it.
func TestDocumentsAreValid(t *testing.T) {
	for _, p := range remoteassist.Profiles() {
		if _, err := Load(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestJSONIsTheYAML catches a served JSON left behind by an edit without go generate: each
// profile's JSON must be exactly what the converter makes of its YAML.
func TestJSONIsTheYAML(t *testing.T) {
	for _, p := range remoteassist.Profiles() {
		d, err := Served(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := yamljson.Convert(d.YAML)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.JSON, want) {
			t.Errorf("%s: the JSON is out of date with the YAML: run go generate ./...", p)
		}
	}
}
