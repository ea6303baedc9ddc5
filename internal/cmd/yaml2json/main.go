// Command yaml2json writes the JSON form of a YAML document, keys in their YAML order. go generate
// runs it to keep openapi/openapi.json in step with openapi/openapi.yaml:
//
//	go run ./internal/cmd/yaml2json -o openapi/openapi.json openapi/openapi.yaml
//
// It writes the file only when its content changes, so that an unchanged contract leaves the
// file's modification time alone.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/remoteassist/remoteassist/internal/yamljson"
)

func main() {
	out := flag.String("o", "", "the JSON file to write")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: yaml2json -o OUT.json IN.yaml")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out); err != nil {
		fmt.Fprintln(os.Stderr, "yaml2json:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	js, err := yamljson.Convert(src)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, js) {
		return nil
	}
	return os.WriteFile(out, js, 0o644)
}
