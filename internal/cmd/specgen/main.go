// Command specgen derives the served contracts from the one written contract. go generate runs
// it (see generate.go at the module's root):
//
//	go run ./internal/cmd/specgen -o openapi openapi/openapi.yaml graph=openapi/graph.overlay.yaml
//
// For each fidelity profile it writes PROFILE.yaml and PROFILE.json into the output directory:
// "documented" is the written contract itself, and every other profile is the written contract
// with its OpenAPI Overlay 1.0 document applied (github.com/speakeasy-api/openapi-overlay; every
// action must match something, so an overlay cannot silently go stale). Then, in every profile,
// each operation's description gains the permissions its x-graph-permissions extension lists,
// so that renderers which do not show extensions still show them, from the one list; and a
// schema marked x-remoteassist-list-of gets the pattern of a comma-separated list of the names
// it lists.
//
// The JSON keeps the YAML's key order. A file is written only when its content changes.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/speakeasy-api/openapi-overlay/pkg/overlay"
	"gopkg.in/yaml.v3"

	"github.com/remoteassist/remoteassist/internal/yamljson"
)

func main() {
	out := flag.String("o", "", "the directory to write PROFILE.yaml and PROFILE.json into")
	flag.Parse()
	if *out == "" || flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: specgen -o DIR CONTRACT.yaml [PROFILE=OVERLAY.yaml ...]")
		os.Exit(2)
	}
	if err := run(*out, flag.Arg(0), flag.Args()[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(1)
	}
}

// documented is the profile that is the written contract as it stands.
const documented = "documented"

func run(outDir, contract string, overlays []string) error {
	src, err := os.ReadFile(contract)
	if err != nil {
		return err
	}
	profiles := map[string]string{documented: ""}
	names := []string{documented}
	for _, arg := range overlays {
		name, path, ok := strings.Cut(arg, "=")
		if !ok || name == "" || path == "" || profiles[name] != "" || name == documented {
			return fmt.Errorf("%q: want PROFILE=OVERLAY.yaml, each profile once", arg)
		}
		profiles[name] = path
		names = append(names, name)
	}
	for _, name := range names {
		yml, err := derive(src, profiles[name])
		if err != nil {
			return fmt.Errorf("profile %s: %w", name, err)
		}
		js, err := yamljson.Convert(yml)
		if err != nil {
			return fmt.Errorf("profile %s: %w", name, err)
		}
		for ext, data := range map[string][]byte{".yaml": yml, ".json": js} {
			if err := writeIfChanged(filepath.Join(outDir, name+ext), data); err != nil {
				return err
			}
		}
	}
	return nil
}

// derive returns the served document of one profile: the contract, the overlay applied when
// there is one, the permissions written into the descriptions.
func derive(src []byte, overlayPath string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if overlayPath != "" {
		o, err := overlay.Parse(overlayPath)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", overlayPath, err)
		}
		if err := o.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", overlayPath, err)
		}
		if err, warnings := o.ApplyToStrict(&doc); err != nil {
			return nil, fmt.Errorf("%s: %w", overlayPath, err)
		} else if len(warnings) > 0 {
			return nil, fmt.Errorf("%s: %s", overlayPath, strings.Join(warnings, "; "))
		}
	}
	if err := describePermissions(&doc); err != nil {
		return nil, err
	}
	if err := patternLists(&doc); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// describePermissions appends to the description of every operation the permissions its
// x-graph-permissions extension lists.
func describePermissions(doc *yaml.Node) error {
	paths := lookup(doc.Content[0], "paths")
	if paths == nil {
		return errors.New("the contract has no paths")
	}
	for i := 1; i < len(paths.Content); i += 2 {
		item := paths.Content[i]
		for j := 0; j+1 < len(item.Content); j += 2 {
			op := item.Content[j+1]
			perms := lookup(op, "x-graph-permissions")
			if op.Kind != yaml.MappingNode || perms == nil {
				continue
			}
			var list []string
			if err := perms.Decode(&list); err != nil || len(list) == 0 {
				return fmt.Errorf("%s %s: x-graph-permissions is not a list of permissions", item.Content[j].Value, paths.Content[i-1].Value)
			}
			var text strings.Builder
			text.WriteString("**Permissions.** The token must carry one of these, in its `scp` claim (delegated) or its `roles` claim (application):\n\n")
			for _, p := range list {
				text.WriteString("- `" + p + "`\n")
			}
			desc := lookup(op, "description")
			if desc == nil {
				op.Content = append(op.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "description"},
					&yaml.Node{Kind: yaml.ScalarNode, Value: text.String(), Style: yaml.LiteralStyle})
				continue
			}
			desc.Value = strings.TrimRight(desc.Value, "\n") + "\n\n" + text.String()
			desc.Style = yaml.LiteralStyle
		}
	}
	return nil
}

// patternLists gives every schema with an x-remoteassist-list-of extension (a list of names) the
// pattern of a comma-separated list of those names, and says them in its description, so that
// the names are written once (kin-openapi then validates the list as a pattern).
func patternLists(doc *yaml.Node) error {
	schemas := lookup(lookup(doc.Content[0], "components"), "schemas")
	if schemas == nil {
		return nil
	}
	for i := 1; i < len(schemas.Content); i += 2 {
		s := schemas.Content[i]
		of := lookup(s, "x-remoteassist-list-of")
		if of == nil {
			continue
		}
		var names []string
		if err := of.Decode(&names); err != nil || len(names) == 0 {
			return fmt.Errorf("schema %s: x-remoteassist-list-of is not a list of names", schemas.Content[i-1].Value)
		}
		quoted := make([]string, len(names))
		for j, n := range names {
			quoted[j] = regexp.QuoteMeta(n)
		}
		alt := "(" + strings.Join(quoted, "|") + ")"
		if desc := lookup(s, "description"); desc != nil {
			desc.Value = strings.TrimRight(desc.Value, "\n") + " One or more of: `" + strings.Join(names, "`, `") + "`."
		}
		if lookup(s, "pattern") != nil {
			return fmt.Errorf("schema %s: a pattern is derived from x-remoteassist-list-of: write none", schemas.Content[i-1].Value)
		}
		s.Content = append(s.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "pattern"},
			&yaml.Node{Kind: yaml.ScalarNode, Value: "^" + alt + "(," + alt + ")*$", Style: yaml.SingleQuotedStyle})
	}
	return nil
}

// lookup returns the value of key in a mapping node, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return os.WriteFile(path, data, 0o644)
}
