package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/openapi"
)

// The settable properties, as "remoteassist set" offers them, come from the contract: the
// update schema lists one flag per property in its x-remoteassist-cli extension, and the
// property's schema gives its type and allowed values. A property added to the contract is a
// flag here without a line of code.

// updateOperation is the operationId whose body the flags build.
const updateOperation = "deviceManagement.UpdateRemoteAssistanceSettings"

// settable is one settable property and its flag.
type settable struct {
	property string
	flag     string
	usage    string
	boolean  bool
	enum     []string // allowed values of a string property, in the contract's order
}

// settableProperties reads the flags of the update schema, sorted by flag name.
func settableProperties() ([]settable, error) {
	doc, err := openapi.Shared(remoteassist.ProfileDocumented)
	if err != nil {
		return nil, err
	}
	var schema *openapi3.Schema
	for _, item := range doc.Paths.Map() {
		if op := item.Patch; op != nil && op.OperationID == updateOperation {
			schema = op.RequestBody.Value.Content.Get("application/json").Schema.Value
		}
	}
	if schema == nil {
		return nil, fmt.Errorf("the contract has no operation %s", updateOperation)
	}
	var ext map[string]struct{ Flag, Usage string }
	raw, err := json.Marshal(schema.Extensions["x-remoteassist-cli"])
	if err == nil {
		err = json.Unmarshal(raw, &ext)
	}
	if err != nil || len(ext) == 0 {
		return nil, errors.New("the contract's update schema has no usable x-remoteassist-cli extension")
	}
	var props []settable
	for name, e := range ext {
		ref := schema.Properties[name]
		if ref == nil || ref.Value == nil || e.Flag == "" {
			return nil, fmt.Errorf("x-remoteassist-cli names %q, which the update schema lacks or gives no flag", name)
		}
		p := settable{property: name, flag: e.Flag, usage: e.Usage, boolean: ref.Value.Type.Is(openapi3.TypeBoolean)}
		for _, v := range ref.Value.Enum {
			p.enum = append(p.enum, fmt.Sprint(v))
		}
		props = append(props, p)
	}
	slices.SortFunc(props, func(a, b settable) int { return strings.Compare(a.flag, b.flag) })
	return props, nil
}

// synopsis is the flags' part of the usage line: "[--flag a|b] [--flag=true|false] ...".
func synopsis(props []settable) string {
	var parts []string
	for _, p := range props {
		switch {
		case p.boolean:
			parts = append(parts, "[--"+p.flag+"=true|false]")
		case len(p.enum) > 0:
			parts = append(parts, "[--"+p.flag+" "+strings.Join(p.enum, "|")+"]")
		default:
			parts = append(parts, "[--"+p.flag+" VALUE]")
		}
	}
	return strings.Join(parts, " ")
}

// flagNames lists the flags for a message: "--a, --b, --c".
func flagNames(props []settable) string {
	names := make([]string, len(props))
	for i, p := range props {
		names[i] = "--" + p.flag
	}
	return strings.Join(names, ", ")
}

// propertyFlags registers one flag per property and returns a function that, after parsing,
// builds the patch the flags given ask for. Only what the user typed goes into it: a flag left
// out leaves its property as it is, whatever the flag's default.
func propertyFlags(fs *flag.FlagSet, props []settable) func() (remoteassist.Patch, error) {
	values := make(map[string]func() any, len(props))
	for _, p := range props {
		switch {
		case p.boolean:
			v := fs.Bool(p.flag, false, p.usage+" (=true or =false)")
			values[p.flag] = func() any { return *v }
		default:
			usage := p.usage
			if len(p.enum) > 0 {
				usage += ": " + strings.Join(p.enum, ", ")
			}
			v := fs.String(p.flag, "", usage)
			values[p.flag] = func() any { return *v }
		}
	}
	return func() (remoteassist.Patch, error) {
		body := map[string]any{}
		var err error
		fs.Visit(func(f *flag.Flag) {
			get, ok := values[f.Name]
			if !ok || err != nil {
				return
			}
			i := slices.IndexFunc(props, func(p settable) bool { return p.flag == f.Name })
			p := props[i]
			v := get()
			if s, isString := v.(string); isString && len(p.enum) > 0 && !slices.Contains(p.enum, s) {
				err = usageError{fmt.Errorf("--%s %q: want one of %s", p.flag, s, strings.Join(p.enum, ", "))}
				return
			}
			body[p.property] = v
		})
		if err != nil {
			return remoteassist.Patch{}, err
		}
		if len(body) == 0 {
			return remoteassist.Patch{}, usageError{fmt.Errorf("nothing to set: give at least one of %s", flagNames(props))}
		}
		// Through the wire type and the domain's mapping, as a request body would go.
		var u remoteassist.Update
		data, _ := json.Marshal(body)
		if err := json.Unmarshal(data, &u); err != nil {
			return remoteassist.Patch{}, usageError{err}
		}
		patch, err := remoteassist.PatchFromUpdate("", &u)
		if err == nil {
			err = patch.Validate()
		}
		if err != nil {
			return remoteassist.Patch{}, usageError{errors.New(remoteassist.ErrorMessage(err))}
		}
		return patch, nil
	}
}
