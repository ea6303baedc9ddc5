package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/remoteassist/remoteassist/client"
)

// writeSettings prints s as a two-column table of Graph's property names and values, or as
// the JSON object Graph would return for them, for scripts.
func writeSettings(w io.Writer, format string, s client.Settings) error {
	if format == "json" {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rows := [][2]string{
		{"PROPERTY", "VALUE"},
		{"id", s.ID},
		{"remoteAssistanceState", string(s.RemoteAssistanceState)},
		{"allowSessionsToUnenrolledDevices", strconv.FormatBool(s.AllowSessionsToUnenrolledDevices)},
		{"blockChat", strconv.FormatBool(s.BlockChat)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}
