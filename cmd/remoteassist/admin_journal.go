package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/remoteassist/remoteassist/gen/admin/apiclient"
	"github.com/remoteassist/remoteassist/gen/admin/models"
)

// The journal subcommands: journal, journal count, journal clear, findings.

// journalFlags are the journal's filters.
type journalFlags struct {
	tenant, app, operation, method, since, until string
	status                                       int
	fs                                           *flag.FlagSet
}

func (f *journalFlags) register(fs *flag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.tenant, "tenant", "", `only requests of this tenant ("" for those without a valid token)`)
	fs.StringVar(&f.app, "app", "", "only requests of this application (the token's appid or azp)")
	fs.StringVar(&f.operation, "operation", "", "only requests to this operation: deviceManagement.GetRemoteAssistanceSettings or deviceManagement.UpdateRemoteAssistanceSettings")
	fs.StringVar(&f.method, "method", "", "only requests with this method, such as PATCH")
	fs.IntVar(&f.status, "status", 0, "only requests answered with this status, such as 429")
	fs.StringVar(&f.since, "since", "", "only requests received at or after this time: RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (90s, 5m)")
	fs.StringVar(&f.until, "until", "", "only requests received before this time, as --since")
}

// journalFilter is what the flags select, as the contract's parameters.
type journalFilter struct {
	tenant, app, method *string
	operation           *models.Operation
	status              *int
	since, until        *time.Time
}

// filter checks the flags against the parameters of operation opID and returns the filter.
func (f *journalFlags) filter(opID string, now time.Time) (journalFilter, error) {
	var jf journalFilter
	set := func(name string) bool { return isSet(f.fs, name) }
	var err error
	if jf.tenant, err = optionalParam(f.fs, opID, "tenant", &f.tenant); err != nil {
		return jf, err
	}
	if jf.app, err = optionalParam(f.fs, opID, "app", &f.app); err != nil {
		return jf, err
	}
	if set("operation") {
		if err := checkParam(opID, "operation", "--operation", f.operation); err != nil {
			return jf, err
		}
		op := models.Operation(f.operation)
		jf.operation = &op
	}
	if set("method") {
		m := strings.ToUpper(f.method)
		if err := checkParam(opID, "method", "--method", m); err != nil {
			return jf, err
		}
		jf.method = &m
	}
	if jf.status, err = optionalParam(f.fs, opID, "status", &f.status); err != nil {
		return jf, err
	}
	for _, t := range []struct {
		name, value string
		dst         **time.Time
	}{{"since", f.since, &jf.since}, {"until", f.until, &jf.until}} {
		if !set(t.name) {
			continue
		}
		v, err := parseWhen(t.value, now)
		if err != nil {
			return jf, usageError{fmt.Errorf("--%s %q: %w", t.name, t.value, err)}
		}
		*t.dst = &v
	}
	if jf.since != nil && jf.until != nil && jf.since.After(*jf.until) {
		// No request can fall in the window: an empty answer would look like no traffic
		// rather than swapped flags.
		return jf, usageError{fmt.Errorf("--since %q is later than --until %q: no request can match; did you swap them?", f.since, f.until)}
	}
	return jf, nil
}

// optionalParam returns nil for a flag left out, else the flag's value once it checks against
// the parameter of operation opID that it fills, of the same name: a filter given is checked, one
// left out is not sent.
func optionalParam[T any](fs *flag.FlagSet, opID, name string, value *T) (*T, error) {
	if !isSet(fs, name) {
		return nil, nil
	}
	if err := checkParam(opID, name, "--"+name, *value); err != nil {
		return nil, err
	}
	return value, nil
}

// parseWhen reads a time: RFC 3339, or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("want a time such as 2026-01-02T15:04:05Z, or a duration ago such as 5m")
}

// journalSynopsis is the filters' part of the usage lines.
const journalSynopsis = "[--tenant T] [--app A] [--operation OP] [--method M] [--status N] [--since T] [--until T]"

func runAdminJournal(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin journal", "admin journal "+journalSynopsis+" [--limit N] [--output table|json] "+connSynopsis,
		`  remoteassist admin journal --tenant contoso
  remoteassist admin journal --status 429 --since 5m
  remoteassist admin journal --method PATCH --limit 10 --output json | jq '.entries[].properties'
  remoteassist admin journal count --tenant contoso --method PATCH
  remoteassist admin journal clear

The recent API requests that match every filter given, oldest first: a bounded ring of the
process's requests (serve --journal-size), without tokens or bodies. See also "admin findings".
`, stdout)
	var conn adminConn
	conn.register(fs)
	output := outputFlag(fs)
	var jf journalFlags
	jf.register(fs)
	limit := fs.Int("limit", 0, "at most this many entries, the newest of those that match (1 to 10000)")
	if _, err := parseAdmin(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	f, err := jf.filter("queryJournal", time.Now())
	if err != nil {
		return err
	}
	params := models.QueryJournalParams{Tenant: f.tenant, App: f.app, Operation: f.operation, Method: f.method,
		Status: f.status, Since: f.since, Until: f.until}
	if params.Limit, err = optionalParam(fs, "queryJournal", "limit", limit); err != nil {
		return err
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	journal, err := fetch(ctx, c, http.StatusOK,
		func(ctx context.Context, api *apiclient.ClientWithResponses) (*apiclient.QueryJournalResponse, error) {
			return api.QueryJournalWithResponse(ctx, &params)
		},
		func(res *apiclient.QueryJournalResponse) *models.JournalEntries { return res.JSON200 })
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(stdout, journal)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTENANT\tAPP\tMETHOD\tSTATUS\tRETRY-AFTER\tRULE\tMS\tPROPERTIES\tREQUEST-ID")
	for _, e := range journal.Entries {
		props := "-"
		if e.Properties != nil && len(*e.Properties) > 0 {
			props = strings.Join(*e.Properties, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", when(e.Time), orDashString(e.Tenant), orDashString(e.App),
			e.Method, e.Status, orDash(e.RetryAfter), orDashString(e.Rule), strconv.FormatFloat(e.LatencyMs, 'f', 1, 64), props, e.RequestId)
	}
	return tw.Flush()
}

func runAdminJournalCount(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin journal count", "admin journal count "+journalSynopsis+" [--output table|json] "+connSynopsis,
		`  remoteassist admin journal count --tenant contoso --method PATCH
  test "$(remoteassist admin journal count --tenant contoso --status 429)" -eq 1

Prints how many of the journal's requests match every filter given: to check that a call
happened N times.
`, stdout)
	var conn adminConn
	conn.register(fs)
	output := outputFlag(fs)
	var jf journalFlags
	jf.register(fs)
	if _, err := parseAdmin(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	f, err := jf.filter("countJournal", time.Now())
	if err != nil {
		return err
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	params := models.CountJournalParams{Tenant: f.tenant, App: f.app, Operation: f.operation, Method: f.method,
		Status: f.status, Since: f.since, Until: f.until}
	count, err := fetch(ctx, c, http.StatusOK,
		func(ctx context.Context, api *apiclient.ClientWithResponses) (*apiclient.CountJournalResponse, error) {
			return api.CountJournalWithResponse(ctx, &params)
		},
		func(res *apiclient.CountJournalResponse) *models.JournalCount { return res.JSON200 })
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(stdout, count)
	}
	_, err = fmt.Fprintln(stdout, count.Count)
	return err
}

func runAdminJournalClear(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin journal clear", "admin journal clear "+connSynopsis,
		`  remoteassist admin journal clear

Forgets every request received before it, and so every finding: one still being served (held
by a fault rule's delay) is not journaled when it is answered. Prints nothing.
`, stdout)
	return runAdminClear(ctx, fs, args, func(ctx context.Context, api *apiclient.ClientWithResponses) (adminResponse, error) {
		return api.ClearJournalWithResponse(ctx)
	})
}

func runAdminFindings(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("admin findings", "admin findings [--tenant T] [--app A] [--output table|json] "+connSynopsis,
		`  remoteassist admin findings
  remoteassist admin findings --tenant contoso --app my-sync-job --output json

What the journal shows of how clients (a tenant and an application) behave that would cost them
against Graph: retriedBeforeRetryAfter, retriedClientError, duplicatePatch, readAfterWrite.
`, stdout)
	var conn adminConn
	conn.register(fs)
	output := outputFlag(fs)
	tenant := fs.String("tenant", "", "only findings of this tenant")
	app := fs.String("app", "", "only findings of this application")
	if _, err := parseAdmin(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	var params models.ListFindingsParams
	var err error
	if params.Tenant, err = optionalParam(fs, "listFindings", "tenant", tenant); err != nil {
		return err
	}
	if params.App, err = optionalParam(fs, "listFindings", "app", app); err != nil {
		return err
	}
	c, err := conn.client()
	if err != nil {
		return err
	}
	findings, err := fetch(ctx, c, http.StatusOK,
		func(ctx context.Context, api *apiclient.ClientWithResponses) (*apiclient.ListFindingsResponse, error) {
			return api.ListFindingsWithResponse(ctx, &params)
		},
		func(res *apiclient.ListFindingsResponse) *models.Findings { return res.JSON200 })
	if err != nil {
		return err
	}
	if *output == "json" {
		return writeJSON(stdout, findings)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tTENANT\tAPP\tREQUEST-IDS\tDETAIL")
	for _, f := range findings.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", when(f.Time), f.Kind, orDashString(f.Tenant), orDashString(f.App),
			strings.Join(f.RequestIds, ","), f.Detail)
	}
	return tw.Flush()
}

// when prints a journal time: UTC, to the millisecond.
func when(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// orDashString prints an optional string, "-" when absent or empty.
func orDashString(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}
