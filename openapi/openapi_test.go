package openapi

import (
	"bytes"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

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

// TestExamplesMatchTheirSchemas: every example of every served document (of schemas,
// properties, parameters, headers, request and response bodies) is valid against its schema,
// as kin-openapi's example validation judges; and that validation does catch a bad example.
func TestExamplesMatchTheirSchemas(t *testing.T) {
	for _, p := range remoteassist.Profiles() {
		doc, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Validate(openapi3.NewLoader().Context, openapi3.EnableExamplesValidation()); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		res := doc.Components.Responses["BadRequest"].Value.Content.Get("application/json")
		res.Examples["invalidValue"].Value.Value = map[string]any{"error": map[string]any{"code": "BadRequest"}}
		if err := doc.Validate(openapi3.NewLoader().Context, openapi3.EnableExamplesValidation()); err == nil {
			t.Errorf("%s: an example without the envelope's required members passes", p)
		}
	}
}

// TestAdminContract: the admin contract stands alone and is valid, its examples match their
// schemas, and the operations it names are the API's.
func TestAdminContract(t *testing.T) {
	admin, err := SharedAdmin()
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Validate(openapi3.NewLoader().Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Error(err)
	}
	api, err := Shared(remoteassist.ProfileDocumented)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, item := range api.Paths.Map() {
		for _, op := range item.Operations() {
			ids = append(ids, op.OperationID)
		}
	}
	var named []string
	for _, v := range admin.Components.Schemas["Operation"].Value.Enum {
		named = append(named, v.(string))
	}
	slices.Sort(ids)
	slices.Sort(named)
	if !slices.Equal(ids, named) {
		t.Errorf("the admin contract's Operation lists %v, the API has %v", named, ids)
	}
}

// TestAdminTenantBounds: wherever the admin contract names a tenant or an application, it takes
// as long an id as a token may carry (remoteassist.MaxIDLength), so that every tenant the API
// serves can be seeded, reset, matched and filtered.
func TestAdminTenantBounds(t *testing.T) {
	admin, err := SharedAdmin()
	if err != nil {
		t.Fatal(err)
	}
	bounds := map[string]*uint64{}
	for _, name := range []string{"tenant", "journalTenant", "journalApp"} {
		p := admin.Components.Parameters[name]
		if p == nil {
			t.Fatalf("no parameter %s", name)
		}
		bounds["parameter "+name] = p.Value.Schema.Value.MaxLength
	}
	for _, schema := range []string{"JournalEntry", "Finding", "FaultMatch"} {
		for _, prop := range []string{"tenant", "app"} {
			s := admin.Components.Schemas[schema].Value.Properties[prop]
			if s == nil {
				t.Fatalf("no property %s.%s", schema, prop)
			}
			bounds[schema+"."+prop] = s.Value.MaxLength
		}
	}
	for where, max := range bounds {
		if max == nil || *max != remoteassist.MaxIDLength {
			t.Errorf("%s: maxLength %v, want remoteassist.MaxIDLength (%d)", where, max, remoteassist.MaxIDLength)
		}
	}
}
