package main

import (
	"context"
	"io"

	"github.com/remoteassist/remoteassist/client"
)

func runSet(ctx context.Context, args []string, stdout, _ io.Writer) error {
	props, err := settableProperties()
	if err != nil {
		return err
	}
	fs := newFlagSet("set",
		"set "+synopsis(props)+" [--url URL] [--token TOKEN] [--ca-file FILE] [--output table|json] [--timeout 30s]",
		`  remoteassist set --state enabled --block-chat=true
  remoteassist set --allow-unenrolled=false
  remoteassist set --state disabled --output json

Only the properties given are changed; the others keep their values.
Boolean flags take their value after "=": --block-chat=false, not --block-chat false.
`, stdout)
	var cf connFlags
	cf.register(fs)
	patchFromFlags := propertyFlags(fs, props)
	if err := parse(fs, args); err != nil {
		return err
	}
	// Refusals come before anything is sent, as usage errors in the flags' terms.
	patch, err := patchFromFlags()
	if err != nil {
		return err
	}
	return cf.call(ctx, stdout, func(ctx context.Context, c *client.Client) (client.Settings, error) {
		return c.Update(ctx, patch)
	})
}
