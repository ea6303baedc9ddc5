package main

// remoteassist admin: the admin API of a serve --admin-addr (the test control plane), through
// the client generated from its contract (gen/admin/apiclient). What a flag may hold comes from
// the contract too: the schemas of the parameters and bodies the flags fill are checked before
// any request, so that a mistake is a usage error (exit 2) in the flag's own terms.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/gen/admin/apiclient"
	"github.com/remoteassist/remoteassist/gen/models"
	"github.com/remoteassist/remoteassist/openapi"
)

// defaultAdminURL is where serve --admin-addr listens in the README's examples.
const defaultAdminURL = "http://127.0.0.1:8081"

// stdin is what "-" reads (a test replaces it).
var stdin io.Reader = os.Stdin

// adminSubcommand is one subcommand of "remoteassist admin"; a name of two words is one of a
// group ("fault add").
type adminSubcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

func adminSubcommands() []adminSubcommand {
	return []adminSubcommand{
		{"get", "print a tenant's settings as the store holds them", runAdminGet},
		{"seed", "set a tenant's settings; the properties left out take their defaults", runAdminSeed},
		{"reset", "make a tenant (or --all) read the defaults again", runAdminReset},
		{"snapshot export", "write every tenant's settings, as a snapshot, to a file or stdout", runAdminSnapshotExport},
		{"snapshot import", "replace every tenant's settings with a snapshot's", runAdminSnapshotImport},
		{"fault add", "add a fault rule: an error, a delay or a dropped connection for matching requests", runAdminFaultAdd},
		{"fault list", "list the fault rules, with how often each fired", runAdminFaultList},
		{"fault delete", "remove a fault rule", runAdminFaultDelete},
		{"fault clear", "remove every fault rule", runAdminFaultClear},
		{"journal", "list the API requests the journal holds", runAdminJournal},
		{"journal count", "count the journal's requests that match", runAdminJournalCount},
		{"journal clear", "empty the journal (and so the findings)", runAdminJournalClear},
		{"findings", "what the journal shows of how clients behave (retries too early, duplicates...)", runAdminFindings},
	}
}

func runAdmin(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("no subcommand given (see remoteassist admin --help)")}
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		adminUsage(stdout, "")
		return flag.ErrHelp
	}
	subs := adminSubcommands()
	// The longest name that the arguments start with: "journal count" before "journal".
	if len(args) >= 2 {
		if i := slices.IndexFunc(subs, func(s adminSubcommand) bool { return s.name == args[0]+" "+args[1] }); i >= 0 {
			return named(subs[i].name, subs[i].run(ctx, args[2:], stdout))
		}
	}
	if i := slices.IndexFunc(subs, func(s adminSubcommand) bool { return s.name == args[0] }); i >= 0 {
		return named(subs[i].name, subs[i].run(ctx, args[1:], stdout))
	}
	// A group without its subcommand.
	var group []string
	for _, s := range subs {
		if g, sub, ok := strings.Cut(s.name, " "); ok && g == args[0] {
			group = append(group, sub)
		}
	}
	if len(group) > 0 {
		if len(args) >= 2 && (args[1] == "-h" || args[1] == "--help" || args[1] == "-help") {
			adminUsage(stdout, args[0])
			return flag.ErrHelp
		}
		if len(args) >= 2 {
			return usageError{fmt.Errorf("unknown subcommand %q of %s: want %s (see remoteassist admin --help)", args[1], args[0], strings.Join(group, ", "))}
		}
		return usageError{fmt.Errorf("%s needs a subcommand: %s (see remoteassist admin --help)", args[0], strings.Join(group, ", "))}
	}
	return usageError{fmt.Errorf("unknown subcommand %q (see remoteassist admin --help)", args[0])}
}

// named makes a usage error of a subcommand name it: "remoteassist admin fault add: ...", exit
// status 2.
func named(sub string, err error) error {
	if errors.As(err, new(usageError)) {
		return &exitError{msg: "remoteassist admin " + sub + ": " + err.Error(), code: 2}
	}
	return err
}

// adminUsage prints the subcommands, those of group only when it is not empty.
func adminUsage(w io.Writer, group string) {
	fmt.Fprintln(w, "remoteassist admin drives the admin API of a \"remoteassist serve --admin-addr\": the test")
	fmt.Fprintln(w, "control plane (tenants' state, fault rules, the journal of API requests and its findings).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: remoteassist admin SUBCOMMAND [ARGS] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Subcommands:")
	for _, s := range adminSubcommands() {
		if g, _, _ := strings.Cut(s.name, " "); group == "" || g == group {
			fmt.Fprintf(w, "  %-16s %s\n", s.name, s.summary)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every subcommand takes --admin-url (env REMOTEASSIST_ADMIN_URL, default "+defaultAdminURL+"),")
	fmt.Fprintln(w, "--admin-token (env REMOTEASSIST_ADMIN_TOKEN) or --data DIR (the admin-token file serve made")
	fmt.Fprintln(w, "there), and --timeout; those that print, --output table|json. The flags come after the")
	fmt.Fprintln(w, "subcommand: remoteassist admin fault list --admin-url URL, not admin --admin-url URL fault list.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "remoteassist admin SUBCOMMAND --help" for its flags and examples.`)
}

// adminConn are the flags of the admin API's address and credential.
type adminConn struct {
	url, token, data string
	timeout          time.Duration
	fs               *flag.FlagSet
}

func (f *adminConn) register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.url, "admin-url", envOr("REMOTEASSIST_ADMIN_URL", defaultAdminURL),
		"base URL of the admin API, serve's --admin-addr (env REMOTEASSIST_ADMIN_URL)")
	// Empty by default, and the environment read after parsing: --help never prints the token.
	fs.StringVar(&f.token, "admin-token", "", "the admin token (env REMOTEASSIST_ADMIN_TOKEN); default: the admin-token file in --data")
	fs.StringVar(&f.data, "data", defaultDataDir(),
		"data directory of the serve, whose admin-token file holds the token: given, it is used before REMOTEASSIST_ADMIN_TOKEN; not given, the default is read when neither --admin-token nor REMOTEASSIST_ADMIN_TOKEN gives one (env REMOTEASSIST_DATA)")
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "give up after this long")
}

// adminClient is a client of the admin API for one command.
type adminClient struct {
	api     *apiclient.ClientWithResponses
	url     string
	timeout time.Duration
}

// client checks the flags and returns a client for them; every mistake is a usage error.
func (f *adminConn) client() (*adminClient, error) {
	if f.timeout <= 0 {
		return nil, usageError{errors.New("--timeout must be positive")}
	}
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, usageError{fmt.Errorf("%s %q: want http://HOST:PORT, the --admin-addr of a serve", origin(f.fs, "admin-url", "REMOTEASSIST_ADMIN_URL"), f.url)}
	}
	token, err := f.adminToken()
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(f.url, "/")
	api, err := apiclient.NewClientWithResponses(base,
		apiclient.WithHTTPClient(&http.Client{}),
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("User-Agent", cliUserAgent)
			return nil
		}))
	if err != nil {
		return nil, usageError{fmt.Errorf("--admin-url: %w", err)}
	}
	return &adminClient{api: api, url: base, timeout: f.timeout}, nil
}

// adminToken finds the token: --admin-token; else the admin-token file of a --data given on the
// command line; else REMOTEASSIST_ADMIN_TOKEN; else the file in the default data directory.
func (f *adminConn) adminToken() (string, error) {
	explicitData := isSet(f.fs, "data")
	if tok := strings.TrimSpace(f.token); tok != "" {
		if explicitData {
			return "", usageError{errors.New("--admin-token and --data: give one")}
		}
		return tok, nil
	}
	if !explicitData {
		if tok := strings.TrimSpace(os.Getenv("REMOTEASSIST_ADMIN_TOKEN")); tok != "" {
			return tok, nil
		}
	}
	path := filepath.Join(f.data, adminTokenFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil && strings.TrimSpace(string(data)) != "":
		return strings.TrimSpace(string(data)), nil
	case err == nil:
		return "", usageError{fmt.Errorf("the admin token file %s is empty", path)}
	case explicitData && errors.Is(err, fs.ErrNotExist):
		return "", usageError{fmt.Errorf("--data %s: no %s file there (serve --admin-addr makes it on its first start)", f.data, adminTokenFile)}
	case explicitData:
		return "", usageError{fmt.Errorf("--data %s: %w", f.data, err)}
	}
	return "", usageError{fmt.Errorf("no admin token: pass --admin-token, set REMOTEASSIST_ADMIN_TOKEN, or pass --data DIR, the data directory of the serve --admin-addr (none in %s)", f.data)}
}

// runAdminClear runs a command of fs that takes nothing but the connection's flags and makes one
// call, which answers 204 No Content, printing nothing: "fault clear", "journal clear".
func runAdminClear(ctx context.Context, fs *flag.FlagSet, args []string,
	call func(context.Context, *apiclient.ClientWithResponses) (adminResponse, error)) error {
	var conn adminConn
	conn.register(fs)
	if _, err := parseAdmin(fs, args, 0, 0, ""); err != nil {
		return err
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	return c.do(ctx, http.StatusNoContent, call)
}

// do makes one call, bounded by --timeout, and returns nil when it got the status want, else
// the line to show (expect).
func (c *adminClient) do(ctx context.Context, want int, call func(context.Context, *apiclient.ClientWithResponses) (adminResponse, error)) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := call(ctx, c.api)
	return c.expect(res, err, want)
}

// adminResponse is what every generated response has.
type adminResponse interface {
	StatusCode() int
	GetBody() []byte
}

// expect returns nil when the call got the status want, else the line to show: the Graph error
// the admin API answered with (code, message, request-id), or why no answer came.
func (c *adminClient) expect(res adminResponse, err error, want int) error {
	if err != nil {
		return c.failed(err)
	}
	if res.StatusCode() != want {
		return &exitError{msg: "error: " + graphError(res.StatusCode(), res.GetBody()).Error(), code: 1}
	}
	return nil
}

// failed turns an error that is not an answer into one line, exit status 1.
func (c *adminClient) failed(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &exitError{msg: fmt.Sprintf("error: no answer from %s within %v (--timeout)", c.url, c.timeout), code: 1}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &exitError{msg: fmt.Sprintf("error: nothing listens at %s; is \"remoteassist serve --admin-addr\" running? (%v)", c.url, err), code: 1}
	case errors.As(err, new(x509.UnknownAuthorityError)), errors.As(err, new(*tls.CertificateVerificationError)):
		return &exitError{msg: fmt.Sprintf("error: %v (serve's admin listener speaks plain HTTP: use an http:// --admin-url)", err), code: 1}
	}
	return &exitError{msg: "error: " + err.Error(), code: 1}
}

// unexpected is the error of a 2xx answer without the body the contract promises.
func (c *adminClient) unexpected(res adminResponse) error {
	return &exitError{msg: fmt.Sprintf("error: the admin API at %s answered %d without the JSON body of its contract: %s",
		c.url, res.StatusCode(), oneLine(res.GetBody())), code: 1}
}

// fetch makes one request of the admin API that answers want with a JSON body, within
// --timeout, and returns that body; body picks it out of the response (nil when the generated
// client found none there). Every subcommand that prints an answer goes through here, so that
// all of them time out, fail and refuse an answer without its body alike.
func fetch[R adminResponse, T any](ctx context.Context, c *adminClient, want int,
	call func(context.Context, *apiclient.ClientWithResponses) (R, error), body func(R) *T) (*T, error) {
	var res R
	if err := c.do(ctx, want, func(ctx context.Context, api *apiclient.ClientWithResponses) (adminResponse, error) {
		var err error
		res, err = call(ctx, api)
		return res, err
	}); err != nil {
		return nil, err
	}
	if v := body(res); v != nil {
		return v, nil
	}
	return nil, c.unexpected(res)
}

// graphError reads Graph's error envelope from a body, as the API's client does.
func graphError(status int, body []byte) *client.Error {
	e := &client.Error{StatusCode: status}
	var env models.ODataError
	if json.Unmarshal(body, &env) == nil && (env.Error.Code != "" || env.Error.Message != "") {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		e.RequestID, e.ClientRequestID = env.Error.InnerError.RequestId, env.Error.InnerError.ClientRequestId
		if env.Error.Target != nil {
			e.Target = *env.Error.Target
		}
		return e
	}
	e.Message = oneLine(body)
	return e
}

// oneLine is the start of an arbitrary body, on one line.
func oneLine(body []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "")), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "..."
	}
	return s
}

// parseAdmin parses args, flags and positional arguments in any order ("--" ends the flags),
// and returns the positional ones: at least min, at most max; what names them for a message.
func parseAdmin(fs *flag.FlagSet, args []string, min, max int, what string) ([]string, error) {
	usage := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = usage }()
	var pos []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			usage()
			return nil, err
		case err != nil:
			return nil, usageError{fmt.Errorf("%w (see remoteassist %s --help)", err, fs.Name())}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if err := boolLeftover(fs, args, rest); err != nil {
			return nil, err
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case len(pos) > max:
		return nil, usageError{fmt.Errorf("unexpected argument %q (see remoteassist %s --help)", pos[max], fs.Name())}
	case len(pos) < min:
		return nil, usageError{fmt.Errorf("%s is required (see remoteassist %s --help)", what, fs.Name())}
	}
	return pos, nil
}

// outputFlag registers --output.
func outputFlag(fs *flag.FlagSet) *string {
	return fs.String("output", "table", `output format: "table" or "json" (the admin API's JSON)`)
}

func checkOutput(format string) error {
	if format != "table" && format != "json" {
		return usageError{fmt.Errorf(`--output %q: want "table" or "json"`, format)}
	}
	return nil
}

// writeJSON prints v indented, for --output json and snapshots.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// readInput reads a JSON object from a file, "-" for stdin; what is wrong with it is a usage
// error naming flagName. The admin API validates the object itself. Stdin is read as a file is,
// whole: the bound on a body is the server's (serve --admin-max-body, which may be raised past
// its default), whose 413 says so, not a smaller one of the client's that would cut the input.
func readInput(path, flagName string) ([]byte, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &pathErr):
		return nil, usageError{fmt.Errorf("%s %s: %w", flagName, path, pathErr.Err)}
	case err != nil:
		return nil, usageError{fmt.Errorf("%s %s: %w", flagName, path, err)}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, usageError{fmt.Errorf("%s %s: not a JSON object: %v", flagName, path, err)}
	}
	return data, nil
}

// The admin contract's schemas, for the flags that fill its parameters and bodies.

// adminOperation returns the admin contract's operation of operationId id, and the parameters of
// its path.
func adminOperation(id string) (*openapi3.Operation, openapi3.Parameters, error) {
	doc, err := openapi.SharedAdmin()
	if err != nil {
		return nil, nil, err
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.OperationID == id {
				return op, item.Parameters, nil
			}
		}
	}
	return nil, nil, fmt.Errorf("the admin contract has no operation %s", id)
}

// checkParam checks the value a flag gives a parameter of an operation against the parameter's
// schema; the error is a usage error in the flag's terms.
func checkParam(opID, param, flagName string, value any) error {
	op, pathParams, err := adminOperation(opID)
	if err != nil {
		return err
	}
	for _, ref := range append(slices.Clone(pathParams), op.Parameters...) {
		if p := ref.Value; p != nil && p.Name == param && p.Schema != nil && p.Schema.Value != nil {
			if err := p.Schema.Value.VisitJSON(jsonValue(value)); err != nil {
				return usageError{fmt.Errorf("%s %s: %s", flagName, quote(value), schemaProblem(err))}
			}
			return nil
		}
	}
	return fmt.Errorf("the admin contract's operation %s has no parameter %s", opID, param)
}

// checkBody checks a body the flags built against the operation's request body schema. flags
// maps the body's JSON pointers ("/effect/status") to the flags that set them; texts maps some
// of them to the values as the user typed them, which a refusal shows instead of the body's.
func checkBody(opID string, body any, flags, texts map[string]string) error {
	op, _, err := adminOperation(opID)
	if err != nil {
		return err
	}
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return fmt.Errorf("the admin contract's operation %s has no body", opID)
	}
	media := op.RequestBody.Value.Content.Get("application/json")
	if media == nil || media.Schema == nil || media.Schema.Value == nil {
		return fmt.Errorf("the admin contract's operation %s has no JSON body", opID)
	}
	value := jsonValue(body)
	err = media.Schema.Value.VisitJSON(value)
	if err == nil {
		return nil
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		pointer := "/" + strings.Join(se.JSONPointer(), "/")
		if name, ok := flags[pointer]; ok {
			shown, typed := texts[pointer]
			if !typed {
				shown = quote(exactAt(body, se.JSONPointer(), se.Value))
			}
			return usageError{fmt.Errorf("%s %s: %s", name, shown, schemaProblem(err))}
		}
		return usageError{fmt.Errorf("%s: %s", pointer, schemaProblem(err))}
	}
	return usageError{err}
}

// jsonValue is v as encoding/json decodes it, the form kin-openapi validates.
func jsonValue(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(data, &out) != nil {
		return v
	}
	return out
}

// exactAt is the value at pointer in body's JSON, a number as the json.Number of its exact
// digits, or fallback if there is none. kin-openapi reports a number as the float64 it checked,
// which past 2^53 is a neighbour of the number refused.
func exactAt(body any, pointer []string, fallback any) any {
	data, err := json.Marshal(body)
	if err != nil {
		return fallback
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return fallback
	}
	for _, key := range pointer {
		obj, ok := v.(map[string]any)
		if !ok {
			return fallback
		}
		if v, ok = obj[key]; !ok {
			return fallback
		}
	}
	return v
}

// schemaProblem says what a schema wants, from the keyword a value failed.
func schemaProblem(err error) string {
	var se *openapi3.SchemaError
	if !errors.As(err, &se) || se.Schema == nil {
		return err.Error()
	}
	s := se.Schema
	switch se.SchemaField {
	case "enum":
		values := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			values[i] = fmt.Sprint(v)
		}
		return "want one of " + strings.Join(values, ", ")
	case "minimum", "maximum":
		switch {
		case s.Min != nil && s.Max != nil:
			return fmt.Sprintf("want %s to %s", number(*s.Min), number(*s.Max))
		case s.Min != nil:
			return "want at least " + number(*s.Min)
		case s.Max != nil:
			return "want at most " + number(*s.Max)
		}
	case "maxLength":
		if s.MaxLength != nil {
			return fmt.Sprintf("want at most %d characters", *s.MaxLength)
		}
	case "minLength":
		return fmt.Sprintf("want at least %d character(s)", s.MinLength)
	}
	return se.Reason
}

func number(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// quote shows a flag's value in a message: strings quoted, numbers as they are.
func quote(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	if f, ok := v.(float64); ok {
		return number(f)
	}
	return fmt.Sprint(v)
}
