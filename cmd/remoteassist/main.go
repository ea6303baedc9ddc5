// Command remoteassist serves the remote assistance settings API and talks to it.
//
//	remoteassist serve  [--addr 127.0.0.1:8080] [--data DIR] [--store URL] [flags]
//	remoteassist token  --tenant ID [--data DIR] [--scopes "A B"] [--roles "A B"] [--subject ID] [--app ID] [--ttl 1h]
//	remoteassist get    [--url URL] [--token TOKEN] [--ca-file FILE] [--output table|json] [--timeout 30s]
//	remoteassist set    [--state S] [--allow-unenrolled=B] [--block-chat=B] [--url URL] [--token TOKEN] [--ca-file FILE]
//	remoteassist admin  SUBCOMMAND [ARGS] [--admin-url URL] [--admin-token TOKEN | --data DIR]
//	remoteassist check  [--data DIR]
//	remoteassist backup [--data DIR] FILE
//	remoteassist restore [--data DIR] FILE
//	remoteassist healthcheck [--url http://127.0.0.1:8080/readyz] [--data DIR]
//	remoteassist version
//
// Exit status: 0 on success, 1 when the service or the system fails, 2 for a mistake in the
// command line or the environment (but 1 for healthcheck, as Docker reserves 2), 3 when a data file (or a backup) is refused: empty, damaged,
// or older than its commit record (serve, check, backup, restore); the line says how to recover.
// An error is reported on stderr in one line; a missing command also prints the usage there.
//
// Run "remoteassist help" or "remoteassist COMMAND --help" for details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "serve the API on an address", runServe},
		{"token", "print a bearer token signed by a data directory's key", runToken},
		{"get", "print the tenant's remote assistance settings", runGet},
		{"set", "change remote assistance settings", runSet},
		{"admin", "drive a serve's admin API: seed and reset state, inject faults, read the journal", runAdmin},
		{"check", "check the embedded store's data file, at rest or in a running server", runCheck},
		{"backup", "write a checked copy of the embedded store, at rest or from a running server", runBackup},
		{"restore", "install a checked backup as the embedded store (the server stopped)", runRestore},
		{"healthcheck", "exit 0 if a local serve is ready (for a container HEALTHCHECK)", runHealthcheck},
		{"version", "print the version and commit the binary was built from", runVersion},
	}
}

// main runs the command line. The first SIGINT or SIGTERM cancels the command's context (serve
// drains for --shutdown-grace); once it is seen the signals get their default action back, so
// that a second one ends the process at once, killed by that signal, as an impatient Ctrl-C or
// an orchestrator's repeated SIGTERM expects.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the process exit code: 0 on success, 2 for a usage
// error, the code of an exitError, 1 for anything else.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "remoteassist: no command given\n\n")
		usage(stderr)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "remoteassist %s: %v\n", c.name, err)
			return 2
		default:
			var ce *exitError
			if errors.As(err, &ce) {
				fmt.Fprintln(stderr, ce.msg)
				return ce.code
			}
			fmt.Fprintf(stderr, "remoteassist %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "remoteassist: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "remoteassist serves and uses Microsoft Graph's remoteAssistanceSettings API.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: remoteassist COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "remoteassist COMMAND --help" for a command's flags and examples.`)
}

// usageError is a mistake in the command line.
type usageError struct{ error }

// exitError is a failure already explained in one line, with the exit code to use.
type exitError struct {
	msg  string
	code int
}

func (e *exitError) Error() string { return e.msg }

// newFlagSet returns a flag set that prints its usage with examples to stdout on --help and
// reports mistakes as usage errors.
func newFlagSet(name, synopsis, examples string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: remoteassist %s\n\nFlags:\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if examples != "" {
			fmt.Fprintf(stdout, "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// boolLeftover refuses the first of rest, the arguments Parse left of args, when it is the
// value of a boolean flag written with a space, as in "--block-chat false": the flag package
// reads "--block-chat" as true and leaves "false" as a positional argument, which would
// otherwise turn the flag's meaning around or become a tenant named "false".
func boolLeftover(fs *flag.FlagSet, args, rest []string) error {
	i := len(args) - len(rest)
	if len(rest) == 0 || i < 1 {
		return nil
	}
	prev := args[i-1]
	name := strings.TrimLeft(prev, "-")
	if !strings.HasPrefix(prev, "-") || strings.Contains(name, "=") {
		return nil
	}
	f := fs.Lookup(name)
	if f == nil {
		return nil
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
		return nil
	}
	if _, err := strconv.ParseBool(rest[0]); err != nil {
		return nil
	}
	return usageError{fmt.Errorf("%s %s: a boolean flag takes its value after \"=\": write %s=%s (see remoteassist %s --help)", prev, rest[0], prev, rest[0], fs.Name())}
}

// parse parses args. It prints the help exactly once and only when asked (flag.FlagSet.Parse
// would also print it on every mistake); a mistake becomes a one-line usage error pointing to
// the help.
func parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err != nil:
		return usageError{fmt.Errorf("%w (see remoteassist %s --help)", err, fs.Name())}
	case fs.NArg() > 0:
		if err := boolLeftover(fs, args, fs.Args()); err != nil {
			return err
		}
		return usageError{fmt.Errorf("unexpected argument %q (see remoteassist %s --help)", fs.Arg(0), fs.Name())}
	}
	return nil
}
