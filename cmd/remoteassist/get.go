package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/remoteassist/remoteassist/client"
)

// Defaults of the flags get and set share.
const (
	defaultURL     = "http://127.0.0.1:8080/beta"
	defaultTimeout = 30 * time.Second
	cliUserAgent   = "remoteassist-cli/1.0"
)

// connFlags are the flags of the commands that talk to a server.
type connFlags struct {
	url     string
	token   string
	output  string
	timeout time.Duration
}

func (f *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", envOr("REMOTEASSIST_URL", defaultURL), "base URL of the API, with /beta (env REMOTEASSIST_URL)")
	// The default stays empty and the environment is read after parsing, so that --help
	// never prints the token.
	fs.StringVar(&f.token, "token", "", "bearer token (env REMOTEASSIST_TOKEN)")
	fs.StringVar(&f.output, "output", "table", `output format: "table" or "json"`)
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "give up after this long, retries included")
}

// newClient checks the flags and returns a client for them; mistakes are usage errors.
func (f *connFlags) newClient() (*client.Client, error) {
	if f.output != "table" && f.output != "json" {
		return nil, usageError{fmt.Errorf(`--output %q: want "table" or "json"`, f.output)}
	}
	if f.timeout <= 0 {
		return nil, usageError{fmt.Errorf("--timeout must be positive")}
	}
	token := strings.TrimSpace(f.token)
	if token == "" {
		token = strings.TrimSpace(os.Getenv("REMOTEASSIST_TOKEN"))
	}
	if token == "" {
		return nil, usageError{fmt.Errorf("no token: pass --token or set REMOTEASSIST_TOKEN " +
			"(for a local server: export REMOTEASSIST_TOKEN=$(remoteassist token --tenant YOUR-TENANT))")}
	}
	c, err := client.New(f.url, client.WithToken(token), client.WithUserAgent(cliUserAgent))
	if err != nil {
		return nil, usageError{fmt.Errorf("--url: %w", err)}
	}
	return c, nil
}

// callFailed turns the error of a call into the one line the user sees, exit code 1. Graph
// errors say it all themselves (code, message, request-id, status); the usual causes of the
// others get a hint.
func (f *connFlags) callFailed(err error) error {
	var apiErr *client.Error
	switch {
	case errors.As(err, &apiErr):
		return &exitError{msg: "error: " + apiErr.Error(), code: 1}
	case errors.Is(err, context.DeadlineExceeded):
		return &exitError{msg: fmt.Sprintf("error: no answer from %s within %v (--timeout)", f.url, f.timeout), code: 1}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &exitError{msg: fmt.Sprintf("error: nothing listens at %s; is \"remoteassist serve\" running? (%v)", f.url, err), code: 1}
	}
	return &exitError{msg: "error: " + err.Error(), code: 1}
}

func runGet(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("get", "get [--url URL] [--token TOKEN] [--output table|json] [--timeout 30s]",
		`  export REMOTEASSIST_TOKEN=$(remoteassist token --tenant contoso)
  remoteassist get
  remoteassist get --output json
  remoteassist get --url https://graph.microsoft.com/beta --token "$GRAPH_TOKEN"
`, stdout)
	var cf connFlags
	cf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := cf.newClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	s, err := c.Get(ctx)
	if err != nil {
		return cf.callFailed(err)
	}
	return writeSettings(stdout, cf.output, s)
}
