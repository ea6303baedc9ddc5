package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
)

func runSet(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("set",
		"set [--state notConfigured|disabled|enabled] [--allow-unenrolled=true|false] [--block-chat=true|false] [--url URL] [--token TOKEN] [--output table|json] [--timeout 30s]",
		`  remoteassist set --state enabled --block-chat=true
  remoteassist set --allow-unenrolled=false
  remoteassist set --state disabled --output json

Only the properties given are changed; the others keep their values.
Boolean flags take their value after "=": --block-chat=false, not --block-chat false.
`, stdout)
	var cf connFlags
	cf.register(fs)
	state := fs.String("state", "", "remote assistance state: "+remoteassist.StateList())
	allow := fs.Bool("allow-unenrolled", false, "allow sessions to devices not enrolled in Intune (=true or =false)")
	block := fs.Bool("block-chat", false, "block chat during sessions (=true or =false)")
	if err := parse(fs, args); err != nil {
		return err
	}

	// Only what the user typed goes into the patch: a flag left out leaves its property as
	// it is, whatever the flag's default.
	var p client.Patch
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "state":
			p.RemoteAssistanceState = client.Ptr(client.State(*state))
		case "allow-unenrolled":
			p.AllowSessionsToUnenrolledDevices = client.Ptr(*allow)
		case "block-chat":
			p.BlockChat = client.Ptr(*block)
		}
	})
	// Patch.Validate decides (the contract's enum for --state), before anything is sent; its
	// refusals become usage errors in the flags' terms.
	if err := p.Validate(); err != nil {
		switch {
		case errors.Is(err, client.ErrEmptyPatch):
			return usageError{fmt.Errorf("nothing to set: give at least one of --state, --allow-unenrolled, --block-chat")}
		case errors.Is(err, client.ErrInvalidState):
			return usageError{fmt.Errorf("--state %q: want one of %s", *state, remoteassist.StateList())}
		default:
			return usageError{err}
		}
	}
	c, err := cf.newClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	s, err := c.Update(ctx, p)
	if err != nil {
		return cf.callFailed(err)
	}
	return writeSettings(stdout, cf.output, s)
}
