package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

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
	state := fs.String("state", "", "remote assistance state: "+statesHelp())
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
	if p.IsEmpty() {
		return usageError{fmt.Errorf("nothing to set: give at least one of --state, --allow-unenrolled, --block-chat")}
	}
	// The generated enum decides, before anything is sent.
	if p.RemoteAssistanceState != nil && !p.RemoteAssistanceState.Valid() {
		return usageError{fmt.Errorf("--state %q: want one of %s", *state, statesHelp())}
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

// statesHelp lists the valid states: "notConfigured, disabled, enabled".
func statesHelp() string {
	var names []string
	for _, s := range client.States() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}
