package control

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/gen/admin/models"
)

// fullJournal is a Control whose journal holds n requests of 100 clients (tenants t0 to t99),
// one a millisecond.
func fullJournal(n int) *Control {
	c := New(Options{JournalSize: n})
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		c.Record(models.JournalEntry{Time: t0.Add(time.Duration(i) * time.Millisecond), Tenant: ptr(fmt.Sprint("t", i%100)),
			App: ptr("a"), Method: "GET", Operation: getOp, Status: 200, LatencyMs: 0.5, RequestId: fmt.Sprint("r", i)}, nil, nil)
	}
	return c
}

// BenchmarkJournalReads: what a test polling the admin API costs at a full journal of 100,000.
func BenchmarkJournalReads(b *testing.B) {
	c := fullJournal(100_000)
	tenant := ptr("t7")
	b.Run("Count", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Count(Filter{Tenant: tenant})
		}
	})
	b.Run("Journal/limit=10", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Journal(Filter{Tenant: tenant}, 10)
		}
	})
	b.Run("Findings/tenant", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Findings(Filter{Tenant: tenant})
		}
	})
}

// TestReadsDoNotCopyTheJournal: a count allocates nothing, and a query or the findings of one
// client allocate for what they return, not for the entries of the journal: as many at 20,000
// entries as at 2,000. The reads once copied the whole ring each, about 160 bytes an entry.
func TestReadsDoNotCopyTheJournal(t *testing.T) {
	tenant := ptr("t7")
	allocs := func(n int) (count, query, found float64) {
		c := fullJournal(n)
		count = testing.AllocsPerRun(20, func() { c.Count(Filter{Tenant: tenant}) })
		query = testing.AllocsPerRun(20, func() { c.Journal(Filter{Tenant: tenant}, 3) })
		found = testing.AllocsPerRun(20, func() { c.Findings(Filter{Tenant: tenant}) })
		if got := c.Count(Filter{Tenant: tenant}); got != n/100 {
			t.Errorf("count %d, want %d", got, n/100)
		}
		if got := c.Journal(Filter{Tenant: tenant}, 3); len(got) != 3 || got[2].RequestId != fmt.Sprint("r", n-100+7) {
			t.Errorf("the newest 3 of t7: %+v", got)
		}
		return count, query, found
	}
	c1, q1, f1 := allocs(2_000)
	c2, q2, f2 := allocs(20_000)
	if c1 != 0 || c2 != 0 {
		t.Errorf("Count allocates %v at 2,000 entries, %v at 20,000; want nothing", c1, c2)
	}
	if q1 != q2 || f1 != f2 {
		t.Errorf("Journal allocates %v then %v, Findings %v then %v, at 2,000 then 20,000 entries", q1, q2, f1, f2)
	}
}

// TestJournalConcurrent: requests recorded while others read (for -race), answered out of the
// order they came, end in the order received.
func TestJournalConcurrent(t *testing.T) {
	c := New(Options{JournalSize: 500})
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 300 {
				c.Record(models.JournalEntry{Time: t0.Add(time.Duration(i*4+w) * time.Millisecond), Tenant: ptr("t"), App: ptr("a"),
					Method: "GET", Operation: getOp, Status: 429, RetryAfter: ptr(1), RequestId: fmt.Sprint(w, "-", i)}, nil, nil)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			c.Count(Filter{Tenant: ptr("t")})
			c.Journal(Filter{}, 10)
			c.Findings(Filter{})
		}
	})
	wg.Wait()
	all := c.Journal(Filter{}, 0)
	if len(all) != 500 || !slices.IsSortedFunc(all, func(a, b models.JournalEntry) int { return a.Time.Compare(b.Time) }) {
		t.Fatalf("%d entries, in order: %v", len(all), slices.IsSortedFunc(all, func(a, b models.JournalEntry) int { return a.Time.Compare(b.Time) }))
	}
	if all[0].Time != t0.Add(700*time.Millisecond) {
		t.Errorf("the oldest kept is of %v, want the 700th ms", all[0].Time.Sub(t0))
	}
}

// TestReadsShareNothingWithTheJournal: the entries and findings the reads return are copies,
// what their pointers hold included: changing them changes nothing of the journal's.
func TestReadsShareNothingWithTheJournal(t *testing.T) {
	c := New(Options{})
	t0 := time.Now()
	for i := range 2 { // the same PATCH twice: a duplicatePatch finding
		c.Record(models.JournalEntry{Time: t0.Add(time.Duration(i) * time.Second), Tenant: ptr("contoso"), App: ptr("app"), Rule: ptr("1"),
			RetryAfter: ptr(2), Method: "PATCH", Operation: patchOp, Status: 200, RequestId: fmt.Sprint("r", i)},
			map[string]any{"blockChat": true}, []byte(`{"blockChat":true}`))
	}
	before, _ := json.Marshal(c.Journal(Filter{}, 0))
	internal := pointers(t, reflect.ValueOf(c.journal.entries[0].JournalEntry), true)
	for _, e := range c.Journal(Filter{}, 0) {
		for p := range pointers(t, reflect.ValueOf(e), false) {
			if internal[p] {
				t.Errorf("entry %s shares a pointer with the journal's", e.RequestId)
				break
			}
		}
		*e.Tenant, *e.App, *e.Rule, *e.RetryAfter, (*e.Properties)[0] = "other", "other", "9", 9, "other"
	}
	for _, f := range c.Findings(Filter{}) {
		*f.Tenant, *f.App = "other", "other"
	}
	if after, _ := json.Marshal(c.Journal(Filter{}, 0)); string(after) != string(before) {
		t.Errorf("the journal after its entries were changed:\n%s\nwant\n%s", after, before)
	}
	if n := c.Count(Filter{Tenant: ptr("contoso"), App: ptr("app")}); n != 2 {
		t.Errorf("count of contoso's after its entries were changed: %d, want 2", n)
	}
}
