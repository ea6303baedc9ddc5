package control

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/remoteassist/remoteassist/gen/admin/models"
)

// Entry is one journal entry: what the admin API shows, and a digest of what a PATCH set (its
// properties and values, never the body itself) for the findings to compare requests by.
type Entry struct {
	models.JournalEntry
	patchDigest string
	// sentDigest is a digest of the request's query string and body as sent, "" for neither.
	sentDigest string
}

// journal is a bounded ring of the recent API requests, in the order they were received. It
// grows as entries come, up to size, so that a large --journal-size costs memory only once that
// many requests were made.
//
// A request is recorded when it is answered, and requests are not answered in the order they
// came (a fault rule's delay holds one back up to a minute): add puts each after the entries
// received no later than it, and once the ring is full the one received first makes room.
//
// A clear forgets the requests received before it, those still being served included: one
// answered after the clear is not added, so that a test that clears the journal between tests
// never counts a request of the one before.
type journal struct {
	mu      sync.Mutex
	size    int
	entries []Entry // by Time, oldest first from first; a ring once full
	first   int     // the oldest's index: 0 until the ring is full
	cleared time.Time
}

func newJournal(size int) *journal {
	return &journal{size: size, entries: make([]Entry, 0, min(size, 64))}
}

// at is the i-th oldest entry; j.mu must be held.
func (j *journal) at(i int) *Entry {
	if i += j.first; i >= len(j.entries) {
		i -= len(j.entries)
	}
	return &j.entries[i]
}

// add adds e, received at received: e.Time, or the same instant with the monotonic reading that
// e.Time, in UTC, has lost (a clear is compared by it when both have one, so that a step of the
// wall clock cannot make a request received after a clear seem received before it).
func (j *journal) add(e Entry, received time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if received.Before(j.cleared) {
		return // received before the last clear: of the test before it
	}
	n := len(j.entries)
	// e goes after every entry received no later than it (those received at the same instant
	// stay in the order they were answered). Nearly always that is the end: what moves is only
	// the entries received after e and answered before it.
	pos := n
	if n > 0 && j.at(n-1).Time.After(e.Time) {
		pos = sort.Search(n, func(i int) bool { return j.at(i).Time.After(e.Time) })
	}
	if n < j.size {
		j.entries = append(j.entries, e)
		copy(j.entries[pos+1:], j.entries[pos:n])
		j.entries[pos] = e
		return
	}
	if pos == 0 {
		return // received before every entry kept: e is the oldest, the one to make room
	}
	// The oldest makes room: its slot is now the newest's, and e goes one place nearer the front.
	if j.first++; j.first == n {
		j.first = 0
	}
	pos--
	for i := n - 1; i > pos; i-- {
		*j.at(i) = *j.at(i - 1)
	}
	*j.at(pos) = e
}

// The reads scan the ring under its lock, over the entries that Since and Until leave (found by
// binary search: the ring is in order of Time) with nothing allocated for an entry that is not
// returned, so that a test polling a count at a full journal neither copies it nor holds the
// lock longer than one pass. A read that copies every entry it selects (collect) makes two: it
// counts them, then copies them.

// span is the range [lo, hi) of the entries that f's Since and Until leave; j.mu must be held.
func (j *journal) span(f Filter) (lo, hi int) {
	hi = len(j.entries)
	if f.Since != nil {
		lo = sort.Search(hi, func(i int) bool { return !j.at(i).Time.Before(*f.Since) })
	}
	if f.Until != nil {
		hi = sort.Search(hi, func(i int) bool { return !j.at(i).Time.Before(*f.Until) })
	}
	return lo, max(lo, hi)
}

// count returns how many entries match f.
func (j *journal) count(f Filter) int { return j.countWhere(f, nil) }

// countWhere returns how many entries match f and, unless it is nil, keep.
func (j *journal) countWhere(f Filter, keep func(*Entry) bool) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for i, hi := j.span(f); i < hi; i++ {
		if e := j.at(i); f.matches(&e.JournalEntry) && (keep == nil || keep(e)) {
			n++
		}
	}
	return n
}

// query returns the entries that match f, oldest first, as the journal holds them: copies of the
// entries whose pointers are the journal's own, which it never writes through (an entry's
// values are set once, by Record). limit, when positive, keeps the newest that many, and the scan
// stops once it has them.
func (j *journal) query(f Filter, limit int) []models.JournalEntry {
	if limit <= 0 {
		return collect(j, f, nil, func(e *Entry) models.JournalEntry { return e.JournalEntry })
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	lo, hi := j.span(f)
	var out []models.JournalEntry
	for i := hi - 1; i >= lo && len(out) < limit; i-- {
		if e := j.at(i); f.matches(&e.JournalEntry) {
			out = append(out, e.JournalEntry)
		}
	}
	slices.Reverse(out)
	return out
}

// collect returns what of each entry that matches f and, unless it is nil, keep, oldest first,
// and the requests being recorded meanwhile wait for as little as it can. The copy of a full
// journal's entries (MaxJournalSize: ~145 MB for the listing, ~175 MB for the findings) holds
// the lock, but collect counts the entries under the lock first, and makes and touches the slice
// outside it, so that what the lock holds is one copy into memory already faulted in, not a
// slice's growth (which held it for ~1 s of a million entries' listing) nor the first touch of
// fresh pages (~0.3 s of it).
func collect[T any](j *journal, f Filter, keep func(*Entry) bool, what func(*Entry) T) []T {
	n := j.countWhere(f, keep)
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	clear(out) // the first touch of each page, outside the lock
	out = out[:0]
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, hi := j.span(f); i < hi; i++ { // as many as counted, or as many as have come since
		if e := j.at(i); f.matches(&e.JournalEntry) && (keep == nil || keep(e)) {
			out = append(out, what(e))
		}
	}
	if len(out) == 0 {
		return nil // cleared since the count
	}
	return out
}

// findings derives the findings of the clients f selects (its Tenant and App): their entries are
// copied under the lock, and the findings derived from the copy outside it. Derived in place,
// under the lock, the findings of a full journal (MaxJournalSize) held every request being
// recorded for 0.9-1.8 s; the copy holds it for 18-101 ms, and costs ~176 bytes an entry
// copied (~175 MB for a full journal) until the findings are derived. The entries of requests
// without a tenant (never authenticated), which no finding names, are not copied.
func (j *journal) findings(f Filter) []models.Finding {
	hasTenant := func(e *Entry) bool { return deref(e.Tenant) != "" }
	return findings(collect(j, Filter{Tenant: f.Tenant, App: f.App}, hasTenant, func(e *Entry) Entry { return *e }))
}

// own returns a copy of e that shares nothing with the journal, what its pointers hold copied
// too, so that a caller that changes an entry it was given changes nothing of the journal's.
func own(e models.JournalEntry) models.JournalEntry {
	e.Tenant, e.App, e.Rule, e.RetryAfter = clonePtr(e.Tenant), clonePtr(e.App), clonePtr(e.Rule), clonePtr(e.RetryAfter)
	if e.Properties != nil {
		e.Properties = new(slices.Clone(*e.Properties))
	}
	return e
}

func (j *journal) clear() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries, j.first, j.cleared = make([]Entry, 0, min(j.size, 64)), 0, time.Now()
}

// Filter selects journal entries: every field set must match.
type Filter struct {
	Tenant, App, Operation, Method *string
	Status                         *int
	Since, Until                   *time.Time
}

func (f Filter) matches(e *models.JournalEntry) bool {
	eq := func(want *string, got *string) bool {
		return want == nil || (got != nil && *got == *want) || (got == nil && *want == "")
	}
	return eq(f.Tenant, e.Tenant) && eq(f.App, e.App) && (f.Operation == nil || *f.Operation == e.Operation) &&
		(f.Method == nil || *f.Method == e.Method) && (f.Status == nil || *f.Status == e.Status) &&
		(f.Since == nil || !e.Time.Before(*f.Since)) && (f.Until == nil || e.Time.Before(*f.Until))
}

// The findings' kinds and what makes one.
const (
	// readAfterWriteWindow is how soon after the answer of a PATCH that answered with the entity
	// a GET of the same client counts as reading back what it already had.
	readAfterWriteWindow = 5 * time.Second
)

// clientErrorRetried are the 4xx statuses a repeat of the same request cannot change the
// outcome of (401, 408 and 429 can: a new token, a faster body, a wait).
var clientErrorRetried = []int{400, 403, 404, 405, 413, 415}

// findings derives, from entries in the order they were received, the client behaviours Graph
// would make a client pay for. A client is a tenant and an application: the entries are those of
// requests with a tenant (journal.findings leaves the others out), copies of the journal's whose
// pointers it shares, and what it returns shares none of them.
//
// A Retry-After counts from the answer that gave it (its request's Time and latency), and binds
// the requests the client sent for the same operation after that answer came and before it had
// elapsed, until a later answer to the operation supersedes it: a request sent while the
// throttled one was still on its way is not a retry of it. Likewise a request repeats one
// answered with a client error, or reads back what a PATCH answered with, only when it was sent
// once that answer had come.
func findings(entries []Entry) []models.Finding {
	type client struct{ tenant, app string }
	type call struct {
		client
		op string
	}
	// answers are, by client and operation, the latest answer given before the request at hand
	// was received, and the requests received earlier whose answers came after that.
	type answers struct {
		latest  *Entry
		pending []*Entry
	}
	last := map[client]*Entry{}
	byCall := map[call]*answers{}
	var out []models.Finding
	for i := range entries {
		e := &entries[i]
		c := client{deref(e.Tenant), deref(e.App)}
		prev := last[c]
		last[c] = e
		a := byCall[call{c, e.Operation}]
		if a == nil {
			a = &answers{}
			byCall[call{c, e.Operation}] = a
		}
		a.pending = slices.DeleteFunc(a.pending, func(p *Entry) bool {
			if answered(p).After(e.Time) {
				return false
			}
			if a.latest == nil || !answered(p).Before(answered(a.latest)) {
				a.latest = p
			}
			return true
		})
		a.pending = append(a.pending, e)

		add := func(kind models.FindingKind, earlier *Entry, detail string) {
			op := e.Operation
			out = append(out, models.Finding{Kind: kind, Time: e.Time, Tenant: clonePtr(e.Tenant), App: clonePtr(e.App),
				Operation: &op, RequestIds: []string{earlier.RequestId, e.RequestId}, Detail: detail})
		}
		if t := a.latest; t != nil && t.RetryAfter != nil && e.Time.Before(answered(t).Add(time.Duration(*t.RetryAfter)*time.Second)) {
			add(models.FindingKindRetriedBeforeRetryAfter, t, fmt.Sprintf("retried %s %v after its %d, before the Retry-After of %d s that it gave had elapsed",
				e.Operation, e.Time.Sub(answered(t)).Round(time.Millisecond), t.Status, *t.RetryAfter))
			continue
		}
		if prev == nil {
			continue
		}
		sameCall := prev.Operation == e.Operation && prev.Method == e.Method && prev.patchDigest == e.patchDigest
		unchanged := prev.Operation == e.Operation && prev.Method == e.Method && prev.sentDigest == e.sentDigest
		heard := !answered(prev).After(e.Time) // the client had prev's answer when it sent e
		switch {
		case slices.Contains(clientErrorRetried, prev.Status) && unchanged && heard:
			add(models.FindingKindRetriedClientError, prev, fmt.Sprintf("sent again the %s %s that was answered %d: the same request gets the same answer",
				e.Method, e.Operation, prev.Status))
		case prev.Method == http.MethodPatch && e.Method == http.MethodPatch && sameCall && success(prev.Status) && success(e.Status):
			add(models.FindingKindDuplicatePatch, prev, "sent the same PATCH twice in a row")
		case prev.Method == http.MethodPatch && prev.Status == http.StatusOK && e.Method == http.MethodGet && heard &&
			e.Time.Sub(answered(prev)) < readAfterWriteWindow:
			add(models.FindingKindReadAfterWrite, prev, "read the settings right after a PATCH whose answer already held them")
		}
	}
	return out
}

// answered is when the request was answered: its arrival and its latency.
func answered(e *Entry) time.Time {
	return e.Time.Add(time.Duration(e.LatencyMs * float64(time.Millisecond)))
}

func success(status int) bool { return status >= 200 && status < 300 }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
