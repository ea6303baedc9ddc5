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
// it lists, read as Graph's OData parser reads a $select: empty, or ending in one comma.
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
	as := flag.String("as", documented, "the name of the document written from the contract as it stands")
	bundle := flag.String("bundle", "", "a document the contract's $refs point into (by its base name), whose components they use are copied in, so the output stands alone")
	flag.Parse()
	if *out == "" || flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: specgen -o DIR [-as NAME] [-bundle OTHER.yaml] CONTRACT.yaml [PROFILE=OVERLAY.yaml ...]")
		os.Exit(2)
	}
	if err := run(*out, *as, *bundle, flag.Arg(0), flag.Args()[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(1)
	}
}

// documented is the profile that is the written contract as it stands.
const documented = "documented"

func run(outDir, as, bundle, contract string, overlays []string) error {
	src, err := os.ReadFile(contract)
	if err != nil {
		return err
	}
	if bundle != "" {
		if src, err = inline(src, bundle); err != nil {
			return err
		}
	}
	profiles := map[string]string{as: ""}
	names := []string{as}
	for _, arg := range overlays {
		name, path, ok := strings.Cut(arg, "=")
		if !ok || name == "" || path == "" || profiles[name] != "" || name == as {
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
// the names are written once (kin-openapi then validates the list as a pattern). The list may be
// empty and may end in one comma, as odata.net's SelectExpandParser, Graph's, takes a $select:
// it reads an empty list as no selection and stops at a comma with nothing after it.
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
			desc.Value = strings.TrimRight(desc.Value, "\n") + " Any of: `" + strings.Join(names, "`, `") + "`."
		}
		if lookup(s, "pattern") != nil {
			return fmt.Errorf("schema %s: a pattern is derived from x-remoteassist-list-of: write none", schemas.Content[i-1].Value)
		}
		s.Content = append(s.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "pattern"},
			&yaml.Node{Kind: yaml.ScalarNode, Value: "^(" + alt + "(," + alt + ")*,?)?$", Style: yaml.SingleQuotedStyle})
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

// inline returns src with every $ref into the document at path (written as its base name, as
// "openapi.yaml#/components/schemas/X") made local, and the components those refs use, with the
// ones they use in turn, copied from that document into src's components. A component of the
// same name already in src must be the same.
func inline(src []byte, path string) ([]byte, error) {
	var doc, other yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	otherSrc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(otherSrc, &other); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	prefix := filepath.Base(path) + "#"
	root := doc.Content[0]
	comps := lookup(root, "components")
	if comps == nil {
		return nil, errors.New("the contract has no components")
	}
	otherComps := lookup(other.Content[0], "components")
	var queue []string // "#/components/KIND/NAME" still to copy
	var walk func(n *yaml.Node, external bool)
	walk = func(n *yaml.Node, external bool) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k, v := n.Content[i], n.Content[i+1]; k.Value == "$ref" && v.Kind == yaml.ScalarNode {
					switch {
					case strings.HasPrefix(v.Value, prefix):
						v.Value = strings.TrimPrefix(v.Value, prefix[:len(prefix)-1])
						queue = append(queue, v.Value)
					case external && strings.HasPrefix(v.Value, "#/components/"):
						queue = append(queue, v.Value)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c, external)
		}
	}
	walk(root, false)
	done := map[string]bool{}
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		if done[ref] {
			continue
		}
		done[ref] = true
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if len(parts) != 2 {
			return nil, fmt.Errorf("$ref %q: want #/components/KIND/NAME", ref)
		}
		node := lookup(lookup(otherComps, parts[0]), parts[1])
		if node == nil {
			return nil, fmt.Errorf("$ref %q is not in %s", ref, path)
		}
		kind := lookup(comps, parts[0])
		if kind == nil {
			kind = &yaml.Node{Kind: yaml.MappingNode}
			comps.Content = append(comps.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: parts[0]}, kind)
		}
		copied := clone(node)
		walk(copied, true)
		if have := lookup(kind, parts[1]); have != nil {
			a, _ := yaml.Marshal(have)
			b, _ := yaml.Marshal(copied)
			if !bytes.Equal(a, b) {
				return nil, fmt.Errorf("components.%s.%s is in both documents, differently", parts[0], parts[1])
			}
			continue
		}
		kind.Content = append(kind.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: parts[1]}, copied)
	}
	return yaml.Marshal(&doc)
}

// clone copies a YAML node tree.
func clone(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = clone(child)
	}
	return &c
}
