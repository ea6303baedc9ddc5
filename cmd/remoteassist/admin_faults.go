package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/apiclient"
	"github.com/remoteassist/remoteassist/gen/admin/models"
)

// The fault subcommands: add, list, delete, clear.

// faultFlags maps the fault rule's JSON pointers to the flags that set them, for the messages
// of the contract's checks.
var faultFlags = map[string]string{
	"/match/tenant": "--tenant", "/match/app": "--app", "/match/operation": "--operation", "/match/method": "--method",
	"/effect/status": "--status", "/effect/retryAfter": "--retry-after", "/effect/delayMs/min": "--delay-ms",
	"/effect/delayMs/max": "--delay-ms", "/times": "--times", "/probability": "--probability", "/seed": "--seed",
}

func runAdminFaultAdd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin fault add",
		"admin fault add [--tenant T] [--app A] [--operation OP] [--method GET|PATCH] "+
			"(--status N [--retry-after S | --no-retry-after] | --drop) [--delay-ms MIN[-MAX]] "+
			"[--times N] [--probability P] [--seed N] [--output table|json] "+connSynopsis,
		`  remoteassist admin fault add --tenant contoso --method PATCH --status 429 --retry-after 2 --times 1
  remoteassist admin fault add --status 503 --no-retry-after --probability 0.2 --seed 7
  remoteassist admin fault add --tenant contoso --delay-ms 200-800
  remoteassist admin fault add --app my-sync-job --drop --times 3
  ID=$(remoteassist admin fault add --status 500 --output json | jq -r .id)

From now on the API requests the rule matches (every criterion given must hold; none given:
every request) get its effect: for the next --times of them, or each with --probability drawn
from --seed, so that a run repeats. When several rules match, the oldest with an effect left
applies. A rule never changes stored state. Prints the rule, with its id.
`, stdout)
	var conn adminConn
	conn.register(fs)
	output := outputFlag(fs)
	tenant := fs.String("tenant", "", "only requests of this tenant (the token's tid)")
	app := fs.String("app", "", "only requests of this application (the token's appid or azp)")
	operation := fs.String("operation", "", "only requests to this operation: deviceManagement.GetRemoteAssistanceSettings or deviceManagement.UpdateRemoteAssistanceSettings")
	method := fs.String("method", "", "only requests with this method: GET or PATCH")
	status := fs.Int("status", 0, "answer with this Graph error: 429, 500, 502, 503 or 504")
	retryAfter := fs.Int("retry-after", 0, "the Retry-After of a 429, 503 or 504, in seconds (default 5)")
	noRetryAfter := fs.Bool("no-retry-after", false, "send the error without a Retry-After, as some Intune 429s come")
	delay := fs.String("delay-ms", "", "wait this many milliseconds before serving (MIN, or MIN-MAX drawn from --seed); alone, or with an error")
	drop := fs.Bool("drop", false, "close the connection without an answer")
	times := fs.Int("times", 0, "apply to the next this many matching requests only (default: no limit)")
	probability := fs.Float64("probability", 1, "apply to each matching request with this probability, 0 to 1")
	seed := &literalInt64{n: 1}
	fs.Var(seed, "seed", "the seed of the rule's draws (probability, delay range), an `int` from -(2^53 - 1) to 2^53 - 1")
	if _, err := parseAdmin(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	set := func(name string) bool { return isSet(fs, name) }
	// What the flags cannot mean, in their own terms.
	switch {
	case !set("status") && !set("delay-ms") && !*drop:
		return usageError{errors.New("nothing to inject: give --status, --drop or --delay-ms (see remoteassist admin fault add --help)")}
	case *drop && set("status"):
		return usageError{errors.New("--drop and --status: a dropped connection has no status")}
	case set("retry-after") && set("no-retry-after"):
		return usageError{errors.New("--retry-after and --no-retry-after: give one or the other")}
	case (set("retry-after") || set("no-retry-after")) && !set("status"):
		return usageError{errors.New("--retry-after and --no-retry-after go with --status: only an error carries a Retry-After")}
	case math.IsNaN(*probability) || math.IsInf(*probability, 0):
		// The flag package takes NaN and Inf, which JSON cannot carry: the contract's check
		// below would see no body to check, and say so in its own terms.
		return usageError{fmt.Errorf("--probability %s: want 0 to 1", fs.Lookup("probability").Value)}
	}
	spec := models.FaultRuleSpec{}
	var match models.FaultMatch
	if set("tenant") {
		match.Tenant = tenant
	}
	if set("app") {
		match.App = app
	}
	if set("operation") {
		op := models.Operation(*operation)
		match.Operation = &op
	}
	if set("method") {
		m := models.FaultMatchMethod(strings.ToUpper(*method))
		match.Method = &m
	}
	if match != (models.FaultMatch{}) {
		spec.Match = &match
	}
	if set("status") {
		s := models.FaultEffectStatus(*status)
		spec.Effect.Status = &s
	}
	if set("retry-after") {
		spec.Effect.RetryAfter = retryAfter
	}
	if *noRetryAfter {
		spec.Effect.OmitRetryAfter = noRetryAfter
	}
	if *drop {
		spec.Effect.Drop = drop
	}
	if set("delay-ms") {
		d, err := parseDelay(*delay)
		if err != nil {
			return err
		}
		spec.Effect.DelayMs = d
	}
	if set("times") {
		spec.Times = times
	}
	if set("probability") {
		spec.Probability = probability
	}
	texts := map[string]string{}
	if set("seed") {
		spec.Seed = &seed.n
		texts["/seed"] = seed.text
	}
	// The contract's checks, then the control plane's own, as the server applies them.
	if err := checkBody("addFault", spec, faultFlags, texts); err != nil {
		return err
	}
	if seed.overflow { // refused above, unless the contract came to take every int64
		return usageError{fmt.Errorf("--seed %s: want an int64", seed.text)}
	}
	if _, err := control.New(control.Options{JournalSize: 1}).AddFault(spec); err != nil {
		return usageError{err}
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	rule, err := fetch(ctx, c, http.StatusCreated,
		func(ctx context.Context, api *apiclient.ClientWithResponses) (*apiclient.AddFaultResponse, error) {
			return api.AddFaultWithResponse(ctx, spec)
		},
		func(res *apiclient.AddFaultResponse) *models.FaultRule { return res.JSON201 })
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(stdout, rule)
	}
	return writeRules(stdout, []models.FaultRule{*rule})
}

// literalInt64 is an integer flag that keeps the text it was given, for a refusal to show as typed
// (the contract's check sees a float64, which past 2^53 is another number). A value beyond int64
// is not a parse error but held at the bound it passed, with overflow set, for the contract's
// check to refuse with the range it allows.
type literalInt64 struct {
	n        int64
	text     string
	overflow bool
}

func (v *literalInt64) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return errors.New("parse error")
	}
	v.n, v.text, v.overflow = n, s, err != nil // ParseInt returns the bound passed
	return nil
}

func (v *literalInt64) String() string {
	if v == nil {
		return "0"
	}
	return strconv.FormatInt(v.n, 10)
}

// parseDelay reads --delay-ms: MIN or MIN-MAX milliseconds.
func parseDelay(s string) (*models.DelayRange, error) {
	minText, maxText, isRange := strings.Cut(strings.TrimSpace(s), "-")
	bad := usageError{fmt.Errorf("--delay-ms %q: want MIN or MIN-MAX milliseconds, such as 200 or 100-500", s)}
	lo, err := strconv.Atoi(strings.TrimSpace(minText))
	if err != nil {
		return nil, bad
	}
	d := &models.DelayRange{Min: lo}
	if isRange {
		hi, err := strconv.Atoi(strings.TrimSpace(maxText))
		if err != nil {
			return nil, bad
		}
		if hi < lo {
			return nil, usageError{fmt.Errorf("--delay-ms %q: MAX is below MIN", s)}
		}
		d.Max = &hi
	}
	return d, nil
}

func runAdminFaultList(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin fault list", "admin fault list [--output table|json] "+connSynopsis,
		`  remoteassist admin fault list
  remoteassist admin fault list --output json | jq '.rules[] | select(.fired > 0)'

The rules, oldest first, with how many requests each applied to and, for a rule with --times,
how many it has left.
`, stdout)
	var conn adminConn
	conn.register(fs)
	output := outputFlag(fs)
	if _, err := parseAdmin(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	rules, err := fetch(ctx, c, http.StatusOK,
		func(ctx context.Context, api *apiclient.ClientWithResponses) (*apiclient.ListFaultsResponse, error) {
			return api.ListFaultsWithResponse(ctx)
		},
		func(res *apiclient.ListFaultsResponse) *models.FaultRules { return res.JSON200 })
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(stdout, rules)
	}
	return writeRules(stdout, rules.Rules)
}

// writeRules prints rules as a table, one line each.
func writeRules(w io.Writer, rules []models.FaultRule) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMATCH\tEFFECT\tTIMES\tFIRED\tLEFT\tPROBABILITY\tSEED")
	for _, r := range rules {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Id, describeMatch(r.Match), describeEffect(r.Effect),
			orDash(r.Times), r.Fired, orDash(r.Remaining), orDash(r.Probability), orDash(r.Seed))
	}
	return tw.Flush()
}

func describeMatch(m *models.FaultMatch) string {
	if m == nil {
		return "any"
	}
	var parts []string
	add := func(name string, v *string) {
		if v != nil {
			parts = append(parts, name+"="+*v)
		}
	}
	add("tenant", m.Tenant)
	add("app", m.App)
	if m.Operation != nil {
		parts = append(parts, "operation="+strings.TrimPrefix(string(*m.Operation), "deviceManagement."))
	}
	if m.Method != nil {
		parts = append(parts, "method="+string(*m.Method))
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " ")
}

func describeEffect(e models.FaultEffect) string {
	var parts []string
	if e.DelayMs != nil {
		d := strconv.Itoa(e.DelayMs.Min)
		if e.DelayMs.Max != nil && *e.DelayMs.Max != e.DelayMs.Min {
			d += "-" + strconv.Itoa(*e.DelayMs.Max)
		}
		parts = append(parts, "delay "+d+"ms")
	}
	if e.Status != nil {
		s := strconv.Itoa(int(*e.Status))
		switch {
		case e.OmitRetryAfter != nil && *e.OmitRetryAfter:
			s += " no Retry-After"
		case e.RetryAfter != nil:
			s += " Retry-After " + strconv.Itoa(*e.RetryAfter)
		}
		parts = append(parts, s)
	}
	if e.Drop != nil && *e.Drop {
		parts = append(parts, "drop")
	}
	return strings.Join(parts, ", ")
}

// orDash prints an optional value, "-" when absent.
func orDash[T any](v *T) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

func runAdminFaultDelete(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin fault delete", "admin fault delete ID "+connSynopsis,
		`  remoteassist admin fault delete 3

The rule stops applying at once; the others keep theirs. Prints nothing.
`, stdout)
	var conn adminConn
	conn.register(fs)
	pos, err := parseAdmin(fs, args, 1, 1, "ID")
	if err != nil {
		return err
	}
	if err := checkParam("deleteFault", "id", "ID", pos[0]); err != nil {
		return err
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	return c.do(ctx, http.StatusNoContent, func(ctx context.Context, api *apiclient.ClientWithResponses) (adminResponse, error) {
		return api.DeleteFaultWithResponse(ctx, pos[0])
	})
}

func runAdminFaultClear(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin fault clear", "admin fault clear "+connSynopsis,
		`  remoteassist admin fault clear

From now on no API request gets an injected fault. Prints nothing.
`, stdout)
	return runAdminClear(ctx, fs, args, func(ctx context.Context, api *apiclient.ClientWithResponses) (adminResponse, error) {
		return api.ClearFaultsWithResponse(ctx)
	})
}
