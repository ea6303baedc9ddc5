package control

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/remoteassist/remoteassist/gen/admin/models"
)

// Entry is one journal entry: what the admin API shows, and a digest of what a PATCH set (its
// properties and values, never the body itself) for the findings to compare requests by.
type Entry struct {
	models.JournalEntry
	patchDigest string
}

// journal is a bounded ring of the recent API requests. It grows as entries come, up to size, so
// that a large --journal-size costs memory only once that many requests were made.
type journal struct {
	mu      sync.Mutex
	size    int
	entries []Entry // oldest first until full; then a ring, oldest at next
	next    int
}

func newJournal(size int) *journal {
	return &journal{size: size, entries: make([]Entry, 0, min(size, 64))}
}

func (j *journal) add(e Entry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.entries) < j.size {
		j.entries = append(j.entries, e)
		return
	}
	j.entries[j.next] = e
	if j.next++; j.next == len(j.entries) {
		j.next = 0
	}
}

// all returns the entries, oldest first.
func (j *journal) all() []Entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append(slices.Clone(j.entries[j.next:]), j.entries[:j.next]...)
}

func (j *journal) clear() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries, j.next = make([]Entry, 0, min(j.size, 64)), 0
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
	// readAfterWriteWindow is how soon after a PATCH that answered with the entity a GET of the
	// same client counts as reading back what it already had.
	readAfterWriteWindow = 5 * time.Second
)

// clientErrorRetried are the 4xx statuses a repeat of the same request cannot change the
// outcome of (401, 408 and 429 can: a new token, a faster body, a wait).
var clientErrorRetried = []int{400, 403, 404, 405, 413, 415}

// findings derives, from entries in order, the client behaviours Graph would make a client pay
// for. A client is a tenant and an application.
func findings(entries []Entry) []models.Finding {
	type client struct{ tenant, app string }
	last := map[client]*Entry{}
	var out []models.Finding
	for i := range entries {
		e := &entries[i]
		c := client{deref(e.Tenant), deref(e.App)}
		prev := last[c]
		last[c] = e
		if prev == nil || c.tenant == "" {
			continue
		}
		add := func(kind models.FindingKind, detail string) {
			out = append(out, models.Finding{Kind: kind, Time: e.Time, Tenant: e.Tenant, App: e.App,
				Operation: &e.Operation, RequestIds: []string{prev.RequestId, e.RequestId}, Detail: detail})
		}
		sameCall := prev.Operation == e.Operation && prev.Method == e.Method && prev.patchDigest == e.patchDigest
		switch {
		case prev.RetryAfter != nil && prev.Operation == e.Operation &&
			e.Time.Before(prev.Time.Add(time.Duration(*prev.RetryAfter)*time.Second)):
			add(models.FindingKindRetriedBeforeRetryAfter, fmt.Sprintf("retried %s after %v, before the Retry-After of %d s its %d gave had elapsed",
				e.Operation, e.Time.Sub(prev.Time).Round(time.Millisecond), *prev.RetryAfter, prev.Status))
		case slices.Contains(clientErrorRetried, prev.Status) && sameCall:
			add(models.FindingKindRetriedClientError, fmt.Sprintf("sent again the %s %s that was answered %d: the same request gets the same answer",
				e.Method, e.Operation, prev.Status))
		case prev.Method == http.MethodPatch && e.Method == http.MethodPatch && sameCall && success(prev.Status) && success(e.Status):
			add(models.FindingKindDuplicatePatch, "sent the same PATCH twice in a row")
		case prev.Method == http.MethodPatch && prev.Status == http.StatusOK && e.Method == http.MethodGet &&
			e.Time.Sub(prev.Time) < readAfterWriteWindow:
			add(models.FindingKindReadAfterWrite, "read the settings right after a PATCH whose answer already held them")
		}
	}
	return out
}

func success(status int) bool { return status >= 200 && status < 300 }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
