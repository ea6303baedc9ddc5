package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist/internal/testutil"
)

// richSpec uses more of OpenAPI than the service's contract does, so that the generator meets
// every kind of value: numbers, nulls and nested values inside interfaces, a response named
// "default", shared components, callbacks, server variables, pointer fields.
const richSpec = `
openapi: 3.0.3
info:
  title: Rich
  version: "1.0"
  x-nested: {list: [1, 2.5, "three", true, null, {k: v}], empty: {}}
servers:
  - url: https://{region}.example.com/v1
    variables:
      region: {default: eu, enum: [eu, us]}
tags: [{name: things, description: Things.}]
security: [{bearer: []}]
paths:
  /things/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, minLength: 2, maxLength: 8, pattern: "^[a-z]+$"}}
    get:
      operationId: getThing
      tags: [things]
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100, default: 10}}
      responses:
        "200":
          description: A thing.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
              example: {id: ab, size: 1.5, tags: [x], owner: null}
        default: {$ref: "#/components/responses/Error"}
    patch:
      operationId: patchThing
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              properties:
                size: {type: number, nullable: true, multipleOf: 0.5}
                kind: {type: string, enum: [big, small]}
                level: {type: integer, enum: [1, 2, 3]}
                extra: {type: object, additionalProperties: {type: string}}
      callbacks:
        changed:
          "{$request.body#/hook}":
            post:
              requestBody: {content: {application/json: {schema: {$ref: "#/components/schemas/Thing"}}}}
              responses: {"204": {description: Seen.}}
      responses:
        "204": {description: Updated.}
        4XX: {$ref: "#/components/responses/Error"}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer, bearerFormat: JWT}
  responses:
    Error:
      description: An error.
      content: {application/json: {schema: {$ref: "#/components/schemas/Error"}}}
  schemas:
    Thing:
      type: object
      required: [id]
      properties:
        id: {type: string, readOnly: true}
        size: {type: number, format: double, exclusiveMinimum: true, minimum: 0}
        tags: {type: array, items: {type: string}, uniqueItems: true, maxItems: 3}
        owner: {type: string, nullable: true, deprecated: true}
    Error:
      type: object
      properties:
        code: {type: string}
        thing: {$ref: "#/components/schemas/Thing"}
      x-error: true
`

func load(t *testing.T, spec string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestGeneratedCodeBuildsTheDocument compiles and runs the generated code, and compares the
// document it builds with the loaded one, value by value and type by type: an enum value of 1
// must be the float64 the loader makes, not an int, or kin-openapi's enum check would differ.
func TestGeneratedCodeBuildsTheDocument(t *testing.T) {
	doc := load(t, richSpec)
	code, err := Generate(doc, "main", "built", "rich.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The program must live inside this module to build with its go.mod and module cache.
	dir, err := os.MkdirTemp(".", "generated-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	write(t, filepath.Join(dir, "contract_gen.go"), code)
	write(t, filepath.Join(dir, "spec.yaml"), []byte(richSpec))
	write(t, filepath.Join(dir, "main.go"), []byte(comparer))
	cmd := exec.Command("go", "run", "./"+dir, filepath.Join(dir, "spec.yaml"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("running the generated code: %v\n%s", err, stderr.String())
	}
	built, loaded, ok := strings.Cut(string(out), "\n----\n")
	if !ok {
		t.Fatalf("unexpected output:\n%s", out)
	}
	if diff := testutil.FirstDifference(built, loaded); diff != "" {
		t.Fatalf("the generated code builds another document: built, then loaded, %s", diff)
	}
	// Nothing of the rich spec was dropped on the way (the comparison above would pass on two
	// empty documents).
	for _, s := range []string{`["x-nested"]`, ".MultipleOf float64 0.5", `.Enum[1] float64`, `.Enum[1] float64 2`, `["4XX"]`, `["{$request.body#/hook}"]`, `["region"]`} {
		if !strings.Contains(built, s) {
			t.Errorf("the built document lacks %s", s)
		}
	}
}

// comparer is the program that runs the generated code: it prints a dump of the built document
// and one of the document the loader makes of the spec, each leaf with its path and type.
const comparer = `package main

import (
	"fmt"
	"os"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist/internal/testutil"
)

func main() {
	doc := built()
	get := doc.Paths.Find("/things/{id}").Get.Responses.Status(200).Value.Content.Get("application/json").Schema.Value
	if get != doc.Components.Schemas["Thing"].Value {
		fmt.Fprintln(os.Stderr, "a $ref does not share its component's value")
		os.Exit(1)
	}
	loaded, err := openapi3.NewLoader().LoadFromFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(testutil.DumpKinDocument(doc), "\n----\n", testutil.DumpKinDocument(loaded))
}
`

func TestGenerateRefuses(t *testing.T) {
	cyclic := load(t, `
openapi: 3.0.3
info: {title: Cyclic, version: "1"}
paths: {}
components:
  schemas:
    Node:
      type: object
      properties:
        next: {$ref: "#/components/schemas/Node"}
`)
	if _, err := Generate(cyclic, "p", "f", "cyclic.yaml"); err == nil || !strings.Contains(err.Error(), "cycles") {
		t.Errorf("a recursive schema: got %v, want an error about cycles", err)
	}

	withFormats := load(t, richSpec)
	withFormats.SetStringFormatValidator("thing-id", openapi3.NewRegexpFormatValidator("^[a-z]+$"))
	if _, err := Generate(withFormats, "p", "f", "rich.yaml"); err == nil || !strings.Contains(err.Error(), "stringFormats") {
		t.Errorf("a document with format validators: got %v, want an error naming stringFormats", err)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	first, err := Generate(load(t, richSpec), "p", "f", "rich.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, err := Generate(load(t, richSpec), "p", "f", "rich.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("two generations of the same document differ")
		}
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
