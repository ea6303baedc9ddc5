package control

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/openapi"
)

func ptr[T any](v T) *T { return &v }

func status(n int) *models.FaultEffectStatus { s := models.FaultEffectStatus(n); return &s }

const (
	getOp   = "deviceManagement.GetRemoteAssistanceSettings"
	patchOp = "deviceManagement.UpdateRemoteAssistanceSettings"
)

func TestFaultMatchAndTimes(t *testing.T) {
	c := New(Options{})
	method := models.FaultMatchMethod("PATCH")
	r, err := c.AddFault(models.FaultRuleSpec{
		Match:  &models.FaultMatch{Tenant: ptr("contoso"), Method: &method},
		Effect: models.FaultEffect{Status: status(503), RetryAfter: ptr(2)},
		Times:  ptr(2),
	})
	if err != nil || r.Id == "" || *r.Remaining != 2 {
		t.Fatalf("add: %+v, %v", r, err)
	}
	if _, ok, _ := c.Decide(Request{Tenant: "fabrikam", Method: "PATCH"}, ""); ok {
		t.Error("another tenant matched")
	}
	if _, ok, _ := c.Decide(Request{Tenant: "contoso", Method: "GET"}, ""); ok {
		t.Error("another method matched")
	}
	for i := range 2 {
		d, ok, _ := c.Decide(Request{Tenant: "contoso", Method: "PATCH", Operation: patchOp}, "")
		if !ok || d.Status != 503 || d.RetryAfter != 2*time.Second || d.Rule != r.Id {
			t.Fatalf("firing %d: %+v %v", i, d, ok)
		}
	}
	if _, ok, _ := c.Decide(Request{Tenant: "contoso", Method: "PATCH"}, ""); ok {
		t.Error("fired a third time with times 2")
	}
	if got := c.Faults(); len(got) != 1 || got[0].Fired != 2 || *got[0].Remaining != 0 {
		t.Errorf("list: %+v", got)
	}
	if !c.DeleteFault(r.Id) || c.DeleteFault(r.Id) || len(c.Faults()) != 0 {
		t.Error("delete")
	}
}

// TestFaultDrawsRepeat: the same seed gives the same firings and delays, run after run.
func TestFaultDrawsRepeat(t *testing.T) {
	run := func() (fired []bool, delays []time.Duration) {
		c := New(Options{})
		if _, err := c.AddFault(models.FaultRuleSpec{
			Effect:      models.FaultEffect{DelayMs: &models.DelayRange{Min: 10, Max: ptr(50)}},
			Probability: ptr(0.5), Seed: ptr(int64(42)),
		}); err != nil {
			t.Fatal(err)
		}
		for range 200 {
			d, ok, _ := c.Decide(Request{Tenant: "t"}, "")
			fired = append(fired, ok)
			if ok {
				if d.Delay < 10*time.Millisecond || d.Delay > 50*time.Millisecond {
					t.Fatalf("delay %v outside 10–50 ms", d.Delay)
				}
				delays = append(delays, d.Delay)
			}
		}
		return fired, delays
	}
	f1, d1 := run()
	f2, d2 := run()
	if fmt.Sprint(f1) != fmt.Sprint(f2) || fmt.Sprint(d1) != fmt.Sprint(d2) {
		t.Error("the same seed drew differently")
	}
	n := 0
	for _, f := range f1 {
		if f {
			n++
		}
	}
	if n < 60 || n > 140 {
		t.Errorf("probability 0.5 fired %d of 200", n)
	}
}

func TestFaultRefused(t *testing.T) {
	c := New(Options{})
	for name, e := range map[string]models.FaultEffect{
		"no effect":            {},
		"drop with a status":   {Drop: ptr(true), Status: status(503)},
		"max below min":        {DelayMs: &models.DelayRange{Min: 50, Max: ptr(10)}},
		"retry-after twice":    {Status: status(429), RetryAfter: ptr(1), OmitRetryAfter: ptr(true)},
		"status of no failure": {Status: status(200)},
		"retry-after on a 500": {Status: status(500), RetryAfter: ptr(2)},
		"omit on a 502":        {Status: status(502), OmitRetryAfter: ptr(true)},
		"retry-after alone":    {RetryAfter: ptr(2), DelayMs: &models.DelayRange{Min: 1}},
	} {
		if _, err := c.AddFault(models.FaultRuleSpec{Effect: e}); !errors.Is(err, ErrInvalidRule) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(c.Faults()) != 0 {
		t.Error("a refused rule was added")
	}
}

func TestPrefer(t *testing.T) {
	c := New(Options{AllowPrefer: true})
	// Preferences apart (","), or retry-after as code's parameter (";", RFC 7240's syntax).
	for _, header := range []string{"return=minimal, code=429, retry-after=3", "code=429; retry-after=3", "return=minimal,code=429;retry-after=3"} {
		d, ok, err := c.Decide(Request{}, header)
		if !ok || err != nil || d.Status != 429 || d.RetryAfter != 3*time.Second || d.Rule != "prefer" {
			t.Errorf("Prefer: %s: %+v %v %v", header, d, ok, err)
		}
	}
	for _, refused := range []string{"code=418", "code=429, retry-after=0", "code=429, retry-after=3601", "code=503, retry-after=soon"} {
		if _, _, err := c.Decide(Request{}, refused); err == nil {
			t.Errorf("Prefer: %s accepted", refused)
		}
	}
	if _, ok, err := c.Decide(Request{}, "return=representation"); ok || err != nil {
		t.Errorf("a Prefer asking for nothing known: %v %v", ok, err)
	}
	if _, ok, _ := New(Options{}).Decide(Request{}, "code=503"); ok {
		t.Error("Prefer honoured without AllowPrefer")
	}
}

func TestJournalRingAndFilters(t *testing.T) {
	c := New(Options{JournalSize: 3})
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 5 {
		c.Record(models.JournalEntry{Time: t0.Add(time.Duration(i) * time.Second), Tenant: ptr(fmt.Sprint("t", i%2)),
			Method: "GET", Operation: getOp, Status: 200, RequestId: fmt.Sprint("r", i)}, nil, nil)
	}
	all := c.Journal(Filter{}, 0)
	if len(all) != 3 || all[0].RequestId != "r2" || all[2].RequestId != "r4" {
		t.Fatalf("ring: %+v", all)
	}
	if n := c.Count(Filter{Tenant: ptr("t0")}); n != 2 {
		t.Errorf("count of t0: %d", n)
	}
	since := t0.Add(3 * time.Second)
	if got := c.Journal(Filter{Since: &since}, 1); len(got) != 1 || got[0].RequestId != "r4" {
		t.Errorf("since with limit: %+v", got)
	}
	c.ClearJournal()
	if n := c.Count(Filter{}); n != 0 {
		t.Errorf("after clear: %d", n)
	}
}

// TestClearForgetsRequestsInFlight: a clear forgets the requests received before it, those
// answered only after it too (a fault rule's delay holds one up to a minute), so that the journal
// of a test that cleared it at its start holds none of the test before.
func TestClearForgetsRequestsInFlight(t *testing.T) {
	c := New(Options{})
	entry := func(at time.Time, id string) models.JournalEntry {
		return models.JournalEntry{Time: at, Tenant: ptr("t"), Method: "GET", Operation: getOp, Status: 200, RequestId: id}
	}
	received := time.Now().Add(-time.Millisecond) // Add keeps the monotonic reading
	c.ClearJournal()
	c.Record(entry(received, "in flight"), nil, nil)
	if got := c.Journal(Filter{}, 0); len(got) != 0 {
		t.Errorf("a request received before the clear, answered after it: %+v", got)
	}
	c.Record(entry(time.Now(), "after"), nil, nil)
	if got := c.Journal(Filter{}, 0); len(got) != 1 || got[0].RequestId != "after" || got[0].Time.Location() != time.UTC {
		t.Errorf("a request received after the clear: %+v", got)
	}
	// Without a monotonic reading (a time in UTC, or built), the wall clock tells.
	c.Record(entry(received.UTC(), "in flight, in UTC"), nil, nil)
	c.Record(entry(time.Now().UTC().Add(time.Hour), "later"), nil, nil)
	if got := ids(c.Journal(Filter{}, 0)); len(got) != 2 || got[1] != "later" {
		t.Errorf("times without a monotonic reading: %v", got)
	}
}

// TestRetriedClientErrorIsTheSameRequest: a request refused with a 400 and sent again is a
// finding only when it is sent again unchanged, its query string and body as they came; two
// different bodies the server could not read (so that neither set anything) are two requests.
func TestRetriedClientErrorIsTheSameRequest(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		method        string
		first, second string // what each sent
		want          int
	}{
		{"the same unreadable body", "PATCH", `{"blockChat":"x"}`, `{"blockChat":"x"}`, 1},
		{"two unreadable bodies", "PATCH", `{"blockChat":"x"}`, `{"remoteAssistanceState":"on"}`, 0},
		{"the same query", "GET", "$filter=x\x00", "$filter=x\x00", 1},
		{"another query", "GET", "$filter=x\x00", "\x00", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{})
			op := getOp
			if tc.method == "PATCH" {
				op = patchOp
			}
			for i, sent := range []string{tc.first, tc.second} {
				status := http.StatusBadRequest
				if i == 1 {
					status = http.StatusOK
				}
				c.Record(models.JournalEntry{Time: t0.Add(time.Duration(i) * time.Second), Tenant: ptr("contoso"), App: ptr("a"),
					Method: tc.method, Operation: op, Status: status, RequestId: fmt.Sprint("r", i)}, nil, []byte(sent))
			}
			if got := c.Findings(Filter{}); len(got) != tc.want {
				t.Errorf("findings %+v, want %d", got, tc.want)
			}
		})
	}
}

func TestFindings(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type req struct {
		at     float64
		app    string
		method string
		status int
		retry  *int
		set    map[string]any
	}
	cases := []struct {
		name string
		reqs []req
		want []models.FindingKind
	}{
		{"retried before Retry-After", []req{{0, "a", "PATCH", 429, ptr(5), map[string]any{"blockChat": true}}, {1, "a", "PATCH", 200, nil, map[string]any{"blockChat": true}}},
			[]models.FindingKind{models.FindingKindRetriedBeforeRetryAfter}},
		{"retried after Retry-After", []req{{0, "a", "PATCH", 429, ptr(1), map[string]any{"blockChat": true}}, {2, "a", "PATCH", 200, nil, map[string]any{"blockChat": true}}}, nil},
		{"retried a 400", []req{{0, "a", "PATCH", 400, nil, map[string]any{"remoteAssistanceState": "on"}}, {1, "a", "PATCH", 400, nil, map[string]any{"remoteAssistanceState": "on"}}},
			[]models.FindingKind{models.FindingKindRetriedClientError}},
		{"fixed the 400", []req{{0, "a", "PATCH", 400, nil, map[string]any{"remoteAssistanceState": "on"}}, {1, "a", "PATCH", 200, nil, map[string]any{"remoteAssistanceState": "enabled"}}}, nil},
		{"retried a 401", []req{{0, "a", "GET", 401, nil, nil}, {1, "a", "GET", 200, nil, nil}}, nil},
		{"the same PATCH twice", []req{{0, "a", "PATCH", 200, nil, map[string]any{"blockChat": true}}, {9, "a", "PATCH", 200, nil, map[string]any{"blockChat": true}}},
			[]models.FindingKind{models.FindingKindDuplicatePatch}},
		{"read right after a write", []req{{0, "a", "PATCH", 200, nil, map[string]any{"blockChat": true}}, {0.5, "a", "GET", 200, nil, nil}},
			[]models.FindingKind{models.FindingKindReadAfterWrite}},
		{"read after a 204", []req{{0, "a", "PATCH", 204, nil, map[string]any{"blockChat": true}}, {0.5, "a", "GET", 200, nil, nil}}, nil},
		{"two applications", []req{{0, "a", "PATCH", 200, nil, map[string]any{"blockChat": true}}, {0.5, "b", "GET", 200, nil, nil}, {1, "b", "PATCH", 200, nil, map[string]any{"blockChat": true}}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{})
			for i, r := range tc.reqs {
				op := getOp
				if r.method == "PATCH" {
					op = patchOp
				}
				var sent []byte // the body the client sent: what it set
				if r.set != nil {
					sent, _ = json.Marshal(r.set)
				}
				c.Record(models.JournalEntry{Time: at(r.at), Tenant: ptr("contoso"), App: ptr(r.app), Method: r.method,
					Operation: op, Status: r.status, RetryAfter: r.retry, RequestId: fmt.Sprint("r", i)}, r.set, sent)
			}
			got := c.Findings(Filter{})
			var kinds []models.FindingKind
			for _, f := range got {
				kinds = append(kinds, f.Kind)
				if len(f.RequestIds) != 2 || f.Detail == "" {
					t.Errorf("finding %+v", f)
				}
			}
			if fmt.Sprint(kinds) != fmt.Sprint(tc.want) {
				t.Errorf("findings %v, want %v", kinds, tc.want)
			}
			if n := len(c.Findings(Filter{Tenant: ptr("fabrikam")})); n != 0 {
				t.Errorf("%d findings for another tenant", n)
			}
		})
	}
}

// TestFindingsNameOnlyTenants: requests without a tenant (never authenticated) are no client's,
// and make no finding, even when they repeat as a client's would; with a tenant, they do.
func TestFindingsNameOnlyTenants(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	set := map[string]any{"blockChat": true}
	sent, _ := json.Marshal(set)
	for _, tenant := range []*string{nil, ptr(""), ptr("contoso")} {
		c := New(Options{})
		for i := range 2 {
			c.Record(models.JournalEntry{Time: t0.Add(time.Duration(i) * time.Second), Tenant: tenant, Method: "PATCH",
				Operation: patchOp, Status: 200, RequestId: fmt.Sprint("r", i)}, set, sent)
		}
		got := c.Findings(Filter{})
		if want := 0; tenant != nil && *tenant != "" {
			if len(got) != 1 || got[0].Kind != models.FindingKindDuplicatePatch {
				t.Errorf("tenant %q: findings %+v, want one duplicate PATCH", *tenant, got)
			}
		} else if len(got) != want {
			t.Errorf("tenant %q (set: %v): findings %+v, want none", deref(tenant), tenant != nil, got)
		}
	}
}

// TestBounds: the journal is at most MaxJournalSize and a Control holds at most MaxFaultRules
// rules, the admin contract's bounds on what it lists.
func TestBounds(t *testing.T) {
	for _, tc := range []struct{ asked, want int }{
		{0, DefaultJournalSize}, {-1, DefaultJournalSize}, {5, 5},
		{MaxJournalSize, MaxJournalSize}, {MaxJournalSize + 1, MaxJournalSize},
	} {
		if got := New(Options{JournalSize: tc.asked}).journal.size; got != tc.want {
			t.Errorf("JournalSize %d: a journal of %d, want %d", tc.asked, got, tc.want)
		}
	}
	c := New(Options{})
	for i := range MaxFaultRules {
		if _, err := c.AddFault(models.FaultRuleSpec{Effect: models.FaultEffect{Status: status(500)}}); err != nil {
			t.Fatalf("rule %d: %v", i, err)
		}
	}
	if _, err := c.AddFault(models.FaultRuleSpec{Effect: models.FaultEffect{Status: status(500)}}); !errors.Is(err, ErrTooManyRules) {
		t.Errorf("one rule too many: %v", err)
	}
	if n := len(c.Faults()); n != MaxFaultRules {
		t.Errorf("%d rules after the refusal", n)
	}
	c.DeleteFault("1")
	if _, err := c.AddFault(models.FaultRuleSpec{Effect: models.FaultEffect{Status: status(500)}}); err != nil {
		t.Errorf("after removing one: %v", err)
	}
}

// TestJournalOrder: requests are recorded as they are answered, not as they came; the journal
// keeps them in the order they were received (those received at the same instant in the order
// answered), and once full the one received first makes room: it holds the newest JournalSize
// requests by the time received, whatever order they finished in.
func TestJournalOrder(t *testing.T) {
	const size = 7
	c := New(Options{JournalSize: size})
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	var recorded []models.JournalEntry
	for i := range 300 {
		// Received about one a millisecond, answered up to 20 ms later: the order of the
		// answers shuffles the order of arrival; some arrive at the same millisecond.
		at := t0.Add(time.Duration(i+rng.IntN(20)) * time.Millisecond)
		e := models.JournalEntry{Time: at, Tenant: ptr("t"), Method: "GET", Operation: getOp, Status: 200, RequestId: fmt.Sprint("r", i)}
		c.Record(e, nil, nil)
		recorded = append(recorded, e)

		want := slices.Clone(recorded)
		slices.SortStableFunc(want, func(a, b models.JournalEntry) int { return a.Time.Compare(b.Time) })
		want = want[max(0, len(want)-size):]
		if got := c.Journal(Filter{}, 0); fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
			t.Fatalf("after %d: journal %v, want %v", i, ids(got), ids(want))
		}
		if got := c.Journal(Filter{}, 3); fmt.Sprint(ids(got)) != fmt.Sprint(ids(want[max(0, len(want)-3):])) {
			t.Fatalf("after %d: limit 3 gave %v of %v", i, ids(got), ids(want))
		}
	}
}

func ids(entries []models.JournalEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.RequestId
	}
	return out
}

// TestRetryAfterFromTheAnswer: a Retry-After counts from when its answer was given (the
// request's time and latency), not from when the throttled request was received; a request
// received before that answer is no retry of it, whatever order the two were recorded in (the
// order they were answered).
func TestRetryAfterFromTheAnswer(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	type req struct {
		at        float64 // seconds after t0 the request was received
		latencyMs float64
		op        string
		status    int
		retry     *int
	}
	cases := []struct {
		name string
		reqs []req // in the order recorded, the order they were answered
		want []string
	}{
		// A rule {status: 429, retryAfter: 2, delayMs: {min: 3000}}: the 429 comes at 3 s, and
		// a retry 10 ms later is 1.99 s early.
		{"retried soon after a late 429", []req{{at: 0, latencyMs: 3000, status: 429, retry: ptr(2)}, {at: 3.01, latencyMs: 5, status: 200}},
			[]string{"retried " + getOp + " 10ms after its 429, before the Retry-After of 2 s that it gave had elapsed"}},
		{"waited out a late 429", []req{{at: 0, latencyMs: 3000, status: 429, retry: ptr(2)}, {at: 5, latencyMs: 5, status: 200}}, nil},
		// Two concurrent GETs: the one received later gets a quick 429 and is recorded first.
		{"sent while the 429 was on its way", []req{{at: 0.1, latencyMs: 1, status: 429, retry: ptr(5)}, {at: 0, latencyMs: 200, status: 200}}, nil},
		{"sent just before the 429 came", []req{{at: 0, latencyMs: 100, status: 429, retry: ptr(5)}, {at: 0.0999, latencyMs: 1, status: 200}}, nil},
		{"sent as the 429 came", []req{{at: 0, latencyMs: 100, status: 429, retry: ptr(5)}, {at: 0.1, latencyMs: 1, status: 200}},
			[]string{"retried " + getOp + " 0s after its 429, before the Retry-After of 5 s that it gave had elapsed"}},
		// Another operation in between changes nothing; a later answer to the same one does.
		{"another operation between", []req{{at: 0, status: 503, retry: ptr(5)}, {at: 1, op: patchOp, status: 200}, {at: 2, status: 200}},
			[]string{"retried " + getOp + " 2s after its 503, before the Retry-After of 5 s that it gave had elapsed"}},
		{"answered since", []req{{at: 0, status: 429, retry: ptr(5)}, {at: 1, status: 200}, {at: 2, status: 200}},
			[]string{"retried " + getOp + " 1s after its 429, before the Retry-After of 5 s that it gave had elapsed"}},
		// The answer that binds is the latest given before the request was received.
		{"a 429 answered after a later one", []req{{at: 1, latencyMs: 10, status: 429, retry: ptr(1)}, {at: 0, latencyMs: 1500, status: 429, retry: ptr(60)}, {at: 2, status: 200}},
			[]string{"retried " + getOp + " 500ms after its 429, before the Retry-After of 60 s that it gave had elapsed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{})
			for i, r := range tc.reqs {
				op := cmp.Or(r.op, getOp)
				c.Record(models.JournalEntry{Time: t0.Add(time.Duration(r.at * float64(time.Second))), LatencyMs: r.latencyMs,
					Tenant: ptr("contoso"), App: ptr("a"), Method: "GET", Operation: op, Status: r.status, RetryAfter: r.retry,
					RequestId: fmt.Sprint("r", i)}, nil, nil)
			}
			var got []string
			for _, f := range c.Findings(Filter{}) {
				if f.Kind != models.FindingKindRetriedBeforeRetryAfter {
					t.Errorf("finding %+v", f)
				}
				got = append(got, f.Detail)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFindingsNeedTheAnswer: a GET sent while a PATCH was being served is not a read of what
// the PATCH answered, nor is a request sent before a 400 came a repeat of it; the read-after-write
// window counts from the PATCH's answer.
func TestFindingsNeedTheAnswer(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	set := map[string]any{"blockChat": true}
	type req struct {
		at        float64
		latencyMs float64
		method    string
		status    int
	}
	for _, tc := range []struct {
		name string
		reqs []req // in the order recorded
		want []models.FindingKind
	}{
		{"GET while the PATCH was served", []req{{0.1, 5, "GET", 200}, {0, 300, "PATCH", 200}}, nil},
		{"GET right after the PATCH's answer", []req{{0, 300, "PATCH", 200}, {0.4, 5, "GET", 200}}, []models.FindingKind{models.FindingKindReadAfterWrite}},
		{"GET 4.9 s after a late answer", []req{{0, 3000, "PATCH", 200}, {7.9, 5, "GET", 200}}, []models.FindingKind{models.FindingKindReadAfterWrite}},
		{"GET 5 s after the answer", []req{{0, 3000, "PATCH", 200}, {8, 5, "GET", 200}}, nil},
		{"the same PATCH before its 400 came", []req{{0.1, 5, "PATCH", 400}, {0, 300, "PATCH", 400}}, nil},
		{"the same PATCH after its 400", []req{{0, 300, "PATCH", 400}, {0.3, 5, "PATCH", 400}}, []models.FindingKind{models.FindingKindRetriedClientError}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{})
			for i, r := range tc.reqs {
				op, s := getOp, map[string]any(nil)
				if r.method == "PATCH" {
					op, s = patchOp, set
				}
				c.Record(models.JournalEntry{Time: t0.Add(time.Duration(r.at * float64(time.Second))), LatencyMs: r.latencyMs,
					Tenant: ptr("contoso"), App: ptr("a"), Method: r.method, Operation: op, Status: r.status, RequestId: fmt.Sprint("r", i)}, s, nil)
			}
			var kinds []models.FindingKind
			for _, f := range c.Findings(Filter{}) {
				kinds = append(kinds, f.Kind)
			}
			if !slices.Equal(kinds, tc.want) {
				t.Errorf("findings %v, want %v", kinds, tc.want)
			}
		})
	}
}

// TestRuleBounds: AddFault refuses, as the admin API does, a rule out of the contract's bounds,
// and takes one at them; a rule added in Go is checked as one sent over HTTP. A delay range up to
// math.MaxInt once overflowed the draw and made every matching request panic into a 500.
func TestRuleBounds(t *testing.T) {
	delay := func(lo int, hi *int) models.FaultEffect {
		return models.FaultEffect{DelayMs: &models.DelayRange{Min: lo, Max: hi}}
	}
	throttle := func(after int) models.FaultEffect { return models.FaultEffect{Status: status(429), RetryAfter: &after} }
	any500 := models.FaultEffect{Status: status(500)}
	op, badOp := models.Operation(getOp), models.Operation("deviceManagement.DeleteRemoteAssistanceSettings")
	get, del := models.FaultMatchMethod("GET"), models.FaultMatchMethod("DELETE")
	long := strings.Repeat("é", maxMatchLength) // characters, not bytes, as JSON Schema counts
	cases := []struct {
		name string
		spec models.FaultRuleSpec
		ok   bool
	}{
		{"delay 0 to 60000", models.FaultRuleSpec{Effect: delay(0, ptr(60_000))}, true},
		{"delay 60000", models.FaultRuleSpec{Effect: delay(60_000, nil)}, true},
		{"delay up to math.MaxInt", models.FaultRuleSpec{Effect: delay(0, ptr(math.MaxInt))}, false},
		{"delay up to 60001", models.FaultRuleSpec{Effect: delay(0, ptr(60_001))}, false},
		{"delay 60001", models.FaultRuleSpec{Effect: delay(60_001, nil)}, false},
		{"delay from -1", models.FaultRuleSpec{Effect: delay(-1, ptr(10))}, false},
		{"delay up to -1", models.FaultRuleSpec{Effect: delay(0, ptr(-1))}, false},
		{"delay from math.MinInt", models.FaultRuleSpec{Effect: delay(math.MinInt, ptr(0))}, false},
		{"delay max below min", models.FaultRuleSpec{Effect: delay(50, ptr(10))}, false},
		{"retryAfter 1", models.FaultRuleSpec{Effect: throttle(1)}, true},
		{"retryAfter 3600", models.FaultRuleSpec{Effect: throttle(3600)}, true},
		{"retryAfter 0", models.FaultRuleSpec{Effect: throttle(0)}, false},
		{"retryAfter -1", models.FaultRuleSpec{Effect: throttle(-1)}, false},
		{"retryAfter 3601", models.FaultRuleSpec{Effect: throttle(3601)}, false},
		{"times 1", models.FaultRuleSpec{Effect: any500, Times: ptr(1)}, true},
		{"times 1000000", models.FaultRuleSpec{Effect: any500, Times: ptr(maxTimes)}, true},
		{"times 0", models.FaultRuleSpec{Effect: any500, Times: ptr(0)}, false},
		{"times -1", models.FaultRuleSpec{Effect: any500, Times: ptr(-1)}, false},
		{"times 1000001", models.FaultRuleSpec{Effect: any500, Times: ptr(maxTimes + 1)}, false},
		{"probability 0", models.FaultRuleSpec{Effect: any500, Probability: ptr(0.0)}, true},
		{"probability 1", models.FaultRuleSpec{Effect: any500, Probability: ptr(1.0)}, true},
		{"probability -0.1", models.FaultRuleSpec{Effect: any500, Probability: ptr(-0.1)}, false},
		{"probability 1.1", models.FaultRuleSpec{Effect: any500, Probability: ptr(1.1)}, false},
		{"probability NaN", models.FaultRuleSpec{Effect: any500, Probability: ptr(math.NaN())}, false},
		{"probability +Inf", models.FaultRuleSpec{Effect: any500, Probability: ptr(math.Inf(1))}, false},
		{"seed 2^53-1", models.FaultRuleSpec{Effect: any500, Seed: ptr(int64(maxSeed))}, true},
		{"seed -(2^53-1)", models.FaultRuleSpec{Effect: any500, Seed: ptr(int64(-maxSeed))}, true},
		{"seed 2^53", models.FaultRuleSpec{Effect: any500, Seed: ptr(int64(maxSeed + 1))}, false},
		{"seed -2^53", models.FaultRuleSpec{Effect: any500, Seed: ptr(int64(-maxSeed - 1))}, false},
		{"status 429", models.FaultRuleSpec{Effect: models.FaultEffect{Status: status(429)}}, true},
		{"status 418", models.FaultRuleSpec{Effect: models.FaultEffect{Status: status(418)}}, false},
		{"status 501", models.FaultRuleSpec{Effect: models.FaultEffect{Status: status(501)}}, false},
		{"tenant of 256 characters", models.FaultRuleSpec{Match: &models.FaultMatch{Tenant: &long}, Effect: any500}, true},
		{"tenant of 257", models.FaultRuleSpec{Match: &models.FaultMatch{Tenant: ptr(long + "x")}, Effect: any500}, false},
		{"an empty tenant, which no verified request has", models.FaultRuleSpec{Match: &models.FaultMatch{Tenant: ptr("")}, Effect: any500}, false},
		{"an empty app, which a token without one has", models.FaultRuleSpec{Match: &models.FaultMatch{App: ptr("")}, Effect: any500}, true},
		{"app of 257", models.FaultRuleSpec{Match: &models.FaultMatch{App: ptr(long + "x")}, Effect: any500}, false},
		{"an operation", models.FaultRuleSpec{Match: &models.FaultMatch{Operation: &op, Method: &get}, Effect: any500}, true},
		{"no such operation", models.FaultRuleSpec{Match: &models.FaultMatch{Operation: &badOp}, Effect: any500}, false},
		{"method DELETE", models.FaultRuleSpec{Match: &models.FaultMatch{Method: &del}, Effect: any500}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Options{})
			_, err := c.AddFault(tc.spec)
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("AddFault: %v", err)
			}
			if !tc.ok {
				if n := len(c.Faults()); n != 0 {
					t.Errorf("%d rules after the refusal", n)
				}
				return
			}
			for range 100 { // a rule taken draws without panicking, within its range
				d, _, _ := c.Decide(Request{Tenant: long, Operation: getOp, Method: "GET"}, "")
				if d.Delay < 0 || d.Delay > maxDelayMs*time.Millisecond {
					t.Fatalf("delay %v", d.Delay)
				}
			}
		})
	}
}

// TestRuleBoundsAreTheContracts: the bounds AddFault checks are those of the admin contract,
// which the admin API checks a rule against first.
func TestRuleBoundsAreTheContracts(t *testing.T) {
	doc, err := openapi.SharedAdmin()
	if err != nil {
		t.Fatal(err)
	}
	schema := func(name string, property ...string) *openapi3.Schema {
		ref := doc.Components.Schemas[name]
		for _, p := range property {
			ref = ref.Value.Properties[p]
		}
		if ref == nil || ref.Value == nil {
			t.Fatalf("no schema %s %v in the admin contract", name, property)
		}
		return ref.Value
	}
	bounds := func(s *openapi3.Schema) [2]float64 {
		if s.Min == nil || s.Max == nil {
			t.Fatalf("a schema without bounds: %+v", s)
		}
		return [2]float64{*s.Min, *s.Max}
	}
	for _, b := range []struct {
		what      string
		got, want [2]float64
	}{
		{"delayMs.min", bounds(schema("DelayRange", "min")), [2]float64{0, maxDelayMs}},
		{"delayMs.max", bounds(schema("DelayRange", "max")), [2]float64{0, maxDelayMs}},
		{"retryAfter", bounds(schema("FaultEffect", "retryAfter")), [2]float64{minRetryAfter, maxRetryAfter}},
		{"times", bounds(schema("FaultTimes")), [2]float64{1, maxTimes}},
		{"probability", bounds(schema("FaultProbability")), [2]float64{0, 1}},
		{"seed", bounds(schema("FaultSeed")), [2]float64{-maxSeed, maxSeed}},
	} {
		if b.got != b.want {
			t.Errorf("%s: the contract's bounds %v, control's %v", b.what, b.got, b.want)
		}
	}
	for _, p := range []struct {
		name      string
		minLength uint64
	}{{"tenant", 1}, {"app", 0}} {
		s := schema("FaultMatch", p.name)
		if s.MaxLength == nil || *s.MaxLength != maxMatchLength {
			t.Errorf("match.%s: the contract's maxLength %v, control's %d", p.name, s.MaxLength, maxMatchLength)
		}
		if s.MinLength != p.minLength {
			t.Errorf("match.%s: the contract's minLength %d, control's %d", p.name, s.MinLength, p.minLength)
		}
	}
	var statuses []int
	for _, v := range schema("FaultEffect", "status").Enum {
		statuses = append(statuses, int(v.(float64)))
	}
	for n := range 1000 {
		if status(n).Valid() != slices.Contains(statuses, n) {
			t.Errorf("status %d: the contract's enum %v", n, statuses)
		}
	}
}

// TestRulesShareNothingWithTheCaller: a rule keeps its own copy of the spec it was added with,
// and Faults hands out copies: a test that points two specs at one variable, changing it in
// between (a tenant, then the next), adds two rules, not the second one twice; and changing what
// Faults returned changes no rule.
func TestRulesShareNothingWithTheCaller(t *testing.T) {
	c := New(Options{})
	tenant, times := "a", 1
	first, err := c.AddFault(models.FaultRuleSpec{Match: &models.FaultMatch{Tenant: &tenant}, Effect: models.FaultEffect{Status: status(429)}, Times: &times})
	if err != nil {
		t.Fatal(err)
	}
	tenant, times = "b", 5
	if _, err := c.AddFault(models.FaultRuleSpec{Match: &models.FaultMatch{Tenant: &tenant}, Effect: models.FaultEffect{Status: status(503)}, Times: &times}); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Faults() {
		*r.Match.Tenant, *r.Times, *r.Effect.Status = "z", 100, 500
	}
	*first.Match.Tenant = "z"
	for i, want := range []struct {
		tenant string
		status int
	}{{"a", 429}, {"a", 0}, {"b", 503}, {"z", 0}} {
		d, ok, _ := c.Decide(Request{Tenant: want.tenant, Operation: getOp, Method: http.MethodGet}, "")
		if d.Status != want.status || ok != (want.status != 0) {
			t.Errorf("request %d of %s: %+v %v, want status %d", i, want.tenant, d, ok, want.status)
		}
	}

	// Every pointer of a spec that sets every field: none is the caller's, in the rule AddFault
	// returns or in those Faults lists.
	spec := models.FaultRuleSpec{
		Match: &models.FaultMatch{Tenant: ptr("t"), App: ptr("a"), Operation: ptr(models.Operation(getOp)), Method: ptr(models.FaultMatchMethod("GET"))},
		Effect: models.FaultEffect{Status: status(429), RetryAfter: ptr(2), OmitRetryAfter: ptr(false), Drop: ptr(false),
			DelayMs: &models.DelayRange{Min: 1, Max: ptr(2)}},
		Times: ptr(3), Probability: ptr(0.5), Seed: ptr(int64(7)),
	}
	theirs := pointers(t, reflect.ValueOf(spec), true)
	rule, err := c.AddFault(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(c.Faults(), rule) {
		shared := 0
		for p := range pointers(t, reflect.ValueOf(v), false) {
			if theirs[p] {
				shared++
			}
		}
		if shared > 0 {
			t.Errorf("rule %s shares %d pointers with the spec it was added with", v.Id, shared)
		}
	}
}

// pointers collects the non-nil pointers of v's exported fields, a struct of the admin models;
// every set fails the test for a nil one, so that a field the contract adds is set by the test,
// and its copy checked.
func pointers(t *testing.T, v reflect.Value, every bool) map[uintptr]bool {
	t.Helper()
	out := map[uintptr]bool{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				if every {
					t.Fatalf("%s is nil: set every field", path)
				}
				return
			}
			out[v.Pointer()] = true
			walk(v.Elem(), path)
		case reflect.Struct:
			for i := range v.NumField() {
				if f := v.Type().Field(i); f.IsExported() { // not a time.Time's insides
					walk(v.Field(i), path+"."+f.Name)
				}
			}
		}
	}
	walk(v, v.Type().Name())
	return out
}

// TestJournalSharesNothingWithTheCaller: Record keeps its own copy of the entry it is given, so
// that a caller may reuse its variables at once (the server passes pointers into a request's
// state, which serves the next request), and Journal hands out copies that share nothing with
// the journal; SharedJournal hands out the journal's own pointers, and nothing else.
func TestJournalSharesNothingWithTheCaller(t *testing.T) {
	c := New(Options{})
	tenant, app, rule, retryAfter, properties := "contoso", "app", "rule-1", 2, []string{"blockChat"}
	entry := models.JournalEntry{Time: time.Now(), Method: http.MethodPatch, Operation: patchOp, Status: 503,
		RequestId: "r1", ClientRequestId: "c1", Tenant: &tenant, App: &app, Rule: &rule, RetryAfter: &retryAfter, Properties: &properties}
	theirs := pointers(t, reflect.ValueOf(entry), true)
	c.Record(entry, nil, nil)
	tenant, app, rule, retryAfter, properties[0] = "fabrikam", "other", "rule-2", 9, "id"
	got := c.Journal(Filter{}, 0)
	if len(got) != 1 || *got[0].Tenant != "contoso" || *got[0].App != "app" || *got[0].Rule != "rule-1" ||
		*got[0].RetryAfter != 2 || !slices.Equal(*got[0].Properties, []string{"blockChat"}) {
		t.Fatalf("the journal changed with the variables it was recorded from: %+v", got)
	}
	shared := c.SharedJournal(Filter{}, 0)
	for p := range pointers(t, reflect.ValueOf(got[0]), false) {
		if theirs[p] || pointers(t, reflect.ValueOf(shared[0]), false)[p] {
			t.Errorf("Journal's entry shares a pointer with the recorded entry or the journal")
		}
	}
	*got[0].Tenant = "changed"
	if again := c.Journal(Filter{}, 0); *again[0].Tenant != "contoso" {
		t.Errorf("changing what Journal returned changed the journal: %s", *again[0].Tenant)
	}
}

// TestSharedJournalCopiesNoPointer: SharedJournal copies the entries only, not what their
// pointers hold, which is what spares the admin API's listing of a large journal (~150 MB for a
// million entries, against ~900 MB with each entry's tenant, app, rule and properties copied):
// its allocations do not grow with the entries but by the slice's growth alone.
func TestSharedJournalCopiesNoPointer(t *testing.T) {
	const entries = 4096
	c := New(Options{JournalSize: entries})
	now := time.Now()
	for i := range entries {
		tenant := fmt.Sprint("tenant-", i%7)
		c.Record(models.JournalEntry{Time: now.Add(time.Duration(i)), Method: http.MethodPatch, Operation: patchOp,
			Status: 200, Tenant: &tenant}, map[string]any{"blockChat": true}, nil)
	}
	if got := len(c.SharedJournal(Filter{}, 0)); got != entries {
		t.Fatalf("SharedJournal: %d entries, want %d", got, entries)
	}
	// append doubles: about log2(entries) allocations; one an entry or more with the pointers copied.
	if allocs := testing.AllocsPerRun(5, func() { c.SharedJournal(Filter{}, 0) }); allocs > 32 {
		t.Errorf("SharedJournal of %d entries: %.0f allocations, want the slice's few", entries, allocs)
	}
}
