// Package control is the test control plane's state in one process: the fault rules applied to
// the API's requests and the journal of those requests, with the findings derived from it.
//
// The server consults it on every API request (server.Config.Control); the admin API
// (server.NewAdmin) and the in-process emulator (remoteassisttest) drive it. Its data types are
// the admin contract's generated ones (gen/admin/models), so what a Go test passes is what a test
// in any language sends to the admin API.
package control

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/remoteassist/remoteassist/gen/admin/models"
)

// DefaultJournalSize is how many requests the journal keeps when Options says nothing.
const DefaultJournalSize = 10_000

// MaxJournalSize is the largest journal: the admin contract's bound on the entries and findings
// it lists and the count it gives.
const MaxJournalSize = 1_000_000

// Options configure a Control.
type Options struct {
	// JournalSize bounds the journal; 0 means DefaultJournalSize, and more than MaxJournalSize
	// means MaxJournalSize.
	JournalSize int
	// AllowPrefer lets a request ask for its own answer with "Prefer: code=NNN", as Prism does.
	AllowPrefer bool
}

// Control holds a process's fault rules and journal. It is safe for concurrent use.
type Control struct {
	faults      faults
	journal     *journal
	allowPrefer bool
}

// New returns a Control with no rules and an empty journal.
func New(opts Options) *Control {
	size := opts.JournalSize
	if size <= 0 {
		size = DefaultJournalSize
	}
	size = min(size, MaxJournalSize)
	return &Control{journal: newJournal(size), allowPrefer: opts.AllowPrefer}
}

// AddFault adds a rule made of a copy of spec: a variable spec points at may be reused at once.
// Its error, for a rule that cannot apply, wraps ErrInvalidRule, and for one more than
// MaxFaultRules, ErrTooManyRules. A rule cannot apply that the admin API would refuse: one out
// of the contract's bounds (FaultRuleSpec's: delays of 0 to 60000 ms, a retryAfter of 1 to
// 3600 s, times from 1, a probability of 0 to 1...), or whose effect makes no sense.
func (c *Control) AddFault(spec models.FaultRuleSpec) (models.FaultRule, error) {
	return c.faults.add(spec)
}

// Faults lists the rules, oldest first, as copies: changing one changes no rule.
func (c *Control) Faults() []models.FaultRule { return c.faults.list() }

// DeleteFault removes a rule and reports whether there was one of that id.
func (c *Control) DeleteFault(id string) bool { return c.faults.remove(id) }

// ClearFaults removes every rule.
func (c *Control) ClearFaults() { c.faults.clear() }

// Decide returns what a request gets: the answer its Prefer header asks for, when those are
// allowed, else the effect of the oldest rule that fires for it. ok is false for a request that
// gets nothing; err is set for a Prefer header asking for what cannot be given.
func (c *Control) Decide(req Request, prefer string) (d Decision, ok bool, err error) {
	if c.allowPrefer && prefer != "" {
		if d, ok, err := ParsePrefer(prefer); ok || err != nil {
			return d, ok, err
		}
	}
	d, ok = c.faults.decide(req)
	return d, ok, nil
}

// Record adds a finished request to the journal, a copy of e that shares nothing with it (what
// its pointers hold copied too), so that the caller's variables may be reused at once. e.Time is
// when it was received, kept in UTC;
// a time from time.Now, as the server's, keeps its monotonic reading for the comparison with a
// ClearJournal: a request received before the journal's last clear is not recorded. set is what
// a PATCH set (property names and values; nil for other requests), of which the journal keeps
// the names and a digest; sent is the request's query string and body as they came, of which
// it keeps a digest, to tell a request sent again unchanged from another.
func (c *Control) Record(e models.JournalEntry, set map[string]any, sent []byte) {
	received := e.Time
	e = own(e)
	e.Time = e.Time.UTC()
	entry := Entry{JournalEntry: e}
	if len(sent) > 0 {
		sum := sha256.Sum256(sent)
		entry.sentDigest = hex.EncodeToString(sum[:8])
	}
	if len(set) > 0 {
		names := make([]string, 0, len(set))
		for name := range set {
			names = append(names, name)
		}
		slices.Sort(names)
		entry.Properties = &names
		data, _ := json.Marshal(set) // keys sorted: the same patch, the same digest
		sum := sha256.Sum256(data)
		entry.patchDigest = hex.EncodeToString(sum[:8])
	}
	c.journal.add(entry, received)
}

// Journal returns the entries that match f, oldest first: in the order the requests were
// received (their Time), those received at the same instant in the order they were answered.
// limit, when positive, keeps the newest that many. A request is recorded once answered, so one
// still being served is missing, and a slow one appears later among those received after it.
// The entries are copies, the caller's, what their pointers hold included; the journal is read
// in place, under its lock.
func (c *Control) Journal(f Filter, limit int) []models.JournalEntry {
	entries := c.journal.query(f, limit)
	for i := range entries {
		entries[i] = own(entries[i])
	}
	return entries
}

// SharedJournal returns what Journal returns, but with the journal's own pointers in the
// entries rather than copies of what they hold: the caller must only read through them (the
// journal never writes through them, so they stay valid). It is for a caller that encodes the
// entries and drops them, as the admin API's listing does: a full journal of MaxJournalSize
// entries takes ~145 MB as shallow copies, and ~6 times that with each entry's pointers copied.
func (c *Control) SharedJournal(f Filter, limit int) []models.JournalEntry {
	return c.journal.query(f, limit)
}

// Count returns how many entries match f, counted in place: it allocates nothing.
func (c *Control) Count(f Filter) int { return c.journal.count(f) }

// ClearJournal forgets every entry, and every request received before it: one still being
// served (a fault rule's delay holds it) is not recorded when it is answered.
func (c *Control) ClearJournal() { c.journal.clear() }

// Findings derives the client behaviours the journal shows, for the clients f selects (its
// tenant and app; the other criteria do not apply to findings). They are the caller's, as
// Journal's entries are.
func (c *Control) Findings(f Filter) []models.Finding { return c.journal.findings(f) }
