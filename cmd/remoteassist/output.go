package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/remoteassist/remoteassist/client"
)

// writeSettings prints s as Graph shows its properties, the OData annotations aside: a
// two-column table of property names and values (id first, then the rest by name), or, for
// scripts, the JSON object.
func writeSettings(w io.Writer, format string, s client.Settings) error {
	var props map[string]any
	data, err := json.Marshal(s.Entity())
	if err == nil {
		err = json.Unmarshal(data, &props)
	}
	if err != nil {
		return err
	}
	for name := range props {
		if strings.HasPrefix(name, "@") {
			delete(props, name)
		}
	}
	if format == "json" {
		b, err := json.MarshalIndent(props, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	names := make([]string, 0, len(props))
	for name := range props {
		if name != "id" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "PROPERTY\tVALUE\n")
	for _, name := range append([]string{"id"}, names...) {
		fmt.Fprintf(tw, "%s\t%v\n", name, props[name])
	}
	return tw.Flush()
}
