package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
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
	caFile  string
	fs      *flag.FlagSet // to name the environment variable a value came from
}

func (f *connFlags) register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.url, "url", envOr("REMOTEASSIST_URL", defaultURL), "base URL of the API, with /beta (env REMOTEASSIST_URL)")
	// The default stays empty and the environment is read after parsing, so that --help
	// never prints the token.
	fs.StringVar(&f.token, "token", "", "bearer token (env REMOTEASSIST_TOKEN)")
	fs.StringVar(&f.output, "output", "table", `output format: "table" or "json"`)
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "give up after this long, retries included")
	fs.StringVar(&f.caFile, "ca-file", envOr("REMOTEASSIST_CA_FILE", ""),
		"PEM file of CA certificates to trust besides the system's, such as the ca.pem of serve --tls (env REMOTEASSIST_CA_FILE; SSL_CERT_FILE replaces the system's instead)")
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
	// A wait the service asks for is waited as long as --timeout allows ("give up after this
	// long, retries included"), not cut at the client's default longest wait.
	opts := []client.Option{client.WithToken(token), client.WithUserAgent(cliUserAgent),
		client.WithRetry(client.DefaultMaxRetries, client.DefaultRetryBaseDelay, max(f.timeout, client.DefaultRetryBaseDelay))}
	if f.caFile != "" {
		opts = append(opts, client.WithCAFile(f.caFile))
	}
	c, err := client.New(f.url, opts...)
	var pathErr *fs.PathError
	switch {
	case err != nil && errors.As(err, &pathErr):
		return nil, usageError{fmt.Errorf("%s %s: %w", origin(f.fs, "ca-file", "REMOTEASSIST_CA_FILE"), f.caFile, pathErr.Err)}
	case err != nil && strings.HasPrefix(err.Error(), "client: WithCAFile: "):
		return nil, usageError{fmt.Errorf("%s %s: %s", origin(f.fs, "ca-file", "REMOTEASSIST_CA_FILE"), f.caFile, strings.TrimPrefix(err.Error(), "client: WithCAFile: "+f.caFile+" "))}
	case err != nil:
		return nil, usageError{fmt.Errorf("%s: %w", origin(f.fs, "url", "REMOTEASSIST_URL"), err)}
	}
	return c, nil
}

// callFailed turns the error of a call into the one line the user sees, exit code 1. Graph
// errors say it all themselves (code, message, request-id, status, and for a 429, 503 or 504
// what the service asked and why the client stopped retrying); a throttled or unavailable
// service gets what to do in the CLI's terms, and the usual causes of the other errors a hint.
func (f *connFlags) callFailed(err error) error {
	var apiErr *client.Error
	switch {
	case errors.As(err, &apiErr):
		return &exitError{msg: "error: " + apiErr.Error() + f.retryHint(apiErr), code: 1}
	case errors.Is(err, context.DeadlineExceeded):
		return &exitError{msg: fmt.Sprintf("error: no answer from %s within %v (--timeout)", f.url, f.timeout), code: 1}
	case errors.As(err, new(x509.UnknownAuthorityError)), errors.As(err, new(*tls.CertificateVerificationError)):
		return &exitError{msg: fmt.Sprintf("error: %v (for a serve --tls, pass --ca-file with the ca.pem in its data directory)", err), code: 1}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &exitError{msg: fmt.Sprintf("error: nothing listens at %s; is \"remoteassist serve\" running? (%v)", f.url, err), code: 1}
	}
	return &exitError{msg: "error: " + err.Error(), code: 1}
}

// retryHint says what to do about an answer the client stopped retrying (see client.Error's
// NotRetried), "" for the others: run the command again later, or with a --timeout long enough
// for the wait the service asked for.
func (f *connFlags) retryHint(apiErr *client.Error) string {
	switch apiErr.NotRetried {
	case client.WaitTooLong, client.WaitPastDeadline:
		return fmt.Sprintf("; the wait would outlast --timeout %v: run the command again once it is over, or with a longer --timeout", f.timeout)
	case client.RetriesSpent:
		if client.IsThrottled(apiErr) {
			return "; the tenant is still over its request rate: run the command again later"
		}
		return "; the service is still unavailable: run the command again later"
	}
	return ""
}

func runGet(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := newFlagSet("get", "get [--url URL] [--token TOKEN] [--ca-file FILE] [--output table|json] [--timeout 30s]",
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
	return cf.call(ctx, stdout, func(ctx context.Context, c *client.Client) (client.Settings, error) {
		return c.Get(ctx)
	})
}

// call makes one request of the API with the flags' client, within --timeout, and prints the
// settings it answers with: get and set differ only in the request.
func (f *connFlags) call(ctx context.Context, stdout io.Writer, request func(context.Context, *client.Client) (client.Settings, error)) error {
	c, err := f.newClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	s, err := request(ctx, c)
	if err != nil {
		return f.callFailed(err)
	}
	return writeSettings(stdout, f.output, s)
}
