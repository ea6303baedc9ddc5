package control

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen/admin/models"
)

// Request is what a fault rule is matched against and the journal records: an API request,
// once authenticated.
type Request struct {
	Tenant, App, Operation, Method string
}

// Decision is what a request gets from the rules: a delay before it is served, then an error,
// a dropped connection, or nothing more.
type Decision struct {
	// Rule names what decided: a rule's id, or "prefer" for a Prefer header.
	Rule  string
	Delay time.Duration
	// Status is the error's HTTP status; 0 means none.
	Status int
	// RetryAfter is the error's Retry-After; OmitRetryAfter sends none.
	RetryAfter     time.Duration
	OmitRetryAfter bool
	// Drop closes the connection without an answer.
	Drop bool
}

// defaultRetryAfter is the Retry-After of a rule's 429, 503 or 504 that gives none.
const defaultRetryAfter = 5 * time.Second

// faults are the fault rules of a process, in the order they were added.
type faults struct {
	mu     sync.Mutex
	rules  []*rule
	nextID int
}

// rule is a fault rule and its state: its draws and how often it fired.
type rule struct {
	spec  models.FaultRuleSpec
	id    string
	fired int
	rng   *rand.Rand
}

// ErrInvalidRule is the cause of the errors Add returns for a rule that cannot apply.
var ErrInvalidRule = errors.New("invalid fault rule")

// MaxFaultRules is how many rules a Control holds at once: the admin contract's bound on the
// rules it lists. No test needs that many at a time; they can be removed as they are done with.
const MaxFaultRules = 1000

// ErrTooManyRules is the error Add returns for a rule beyond MaxFaultRules.
var ErrTooManyRules = fmt.Errorf("there are already %d fault rules: remove some first", MaxFaultRules)

// A fault rule's bounds: the admin contract's (FaultRuleSpec and the schemas it names), which the
// admin API checks a rule against before AddFault does (TestRuleBounds holds them to it).
const (
	maxDelayMs                   = 60_000    // delayMs.min and delayMs.max: 0 to this
	minRetryAfter, maxRetryAfter = 1, 3600   // retryAfter, and Prefer's retry-after, in seconds
	maxTimes                     = 1_000_000 // times: 1 to this
	maxSeed                      = 1<<53 - 1 // seed: at most this either way, as JSON holds it exactly
	maxMatchLength               = 256       // match.tenant and match.app, in characters
)

// add checks the rule and adds it last.
func (f *faults) add(spec models.FaultRuleSpec) (models.FaultRule, error) {
	spec = cloneSpec(spec)
	if err := check(spec); err != nil {
		return models.FaultRule{}, err
	}
	seed := int64(1)
	if spec.Seed != nil {
		seed = *spec.Seed
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.rules) >= MaxFaultRules {
		return models.FaultRule{}, ErrTooManyRules
	}
	f.nextID++
	r := &rule{spec: spec, id: strconv.Itoa(f.nextID), rng: rand.New(rand.NewPCG(uint64(seed), uint64(seed)>>32|1))}
	f.rules = append(f.rules, r)
	return r.view(), nil
}

// check returns why a rule cannot apply, wrapping ErrInvalidRule: a value out of the contract's
// bounds (the admin API refuses those before, a rule added in Go comes unchecked) or an effect
// that makes no sense.
func check(spec models.FaultRuleSpec) error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRule, fmt.Sprintf(format, args...))
	}
	if m := spec.Match; m != nil {
		switch {
		case m.Tenant != nil && *m.Tenant == "":
			// A rule applies once the token is verified, and a verified token has a tenant.
			return invalid("match.tenant is empty, and no request with a verified token has an empty tenant")
		case m.Tenant != nil && utf8.RuneCountInString(*m.Tenant) > maxMatchLength:
			return invalid("match.tenant is longer than %d characters", maxMatchLength)
		case m.App != nil && utf8.RuneCountInString(*m.App) > maxMatchLength:
			return invalid("match.app is longer than %d characters", maxMatchLength)
		case m.Operation != nil && !m.Operation.Valid():
			return invalid("match.operation %q is none of the API's operations", *m.Operation)
		case m.Method != nil && !m.Method.Valid():
			return invalid("match.method %q is neither GET nor PATCH", *m.Method)
		}
	}
	switch p := spec.Probability; {
	case spec.Times != nil && (*spec.Times < 1 || *spec.Times > maxTimes):
		return invalid("times is %d, not 1 to %d", *spec.Times, maxTimes)
	case p != nil && !(*p >= 0 && *p <= 1): // NaN too
		return invalid("probability is %v, not 0 to 1", *p)
	case spec.Seed != nil && (*spec.Seed < -maxSeed || *spec.Seed > maxSeed):
		return invalid("seed is %d, beyond ±%d", *spec.Seed, int64(maxSeed))
	}
	e, d := spec.Effect, spec.Effect.DelayMs
	switch {
	case e.Status == nil && d == nil && !isTrue(e.Drop):
		return invalid("the effect needs a status, a delayMs or drop")
	case isTrue(e.Drop) && e.Status != nil:
		return invalid("a dropped connection has no status")
	case e.Status != nil && !e.Status.Valid():
		return invalid("status %d is none of 429, 500, 502, 503, 504", *e.Status)
	case d != nil && (d.Min < 0 || d.Min > maxDelayMs):
		return invalid("delayMs.min is %d, not 0 to %d", d.Min, maxDelayMs)
	case d != nil && d.Max != nil && (*d.Max < 0 || *d.Max > maxDelayMs):
		return invalid("delayMs.max is %d, not 0 to %d", *d.Max, maxDelayMs)
	case d != nil && d.Max != nil && *d.Max < d.Min:
		return invalid("delayMs.max is below delayMs.min")
	case e.RetryAfter != nil && (*e.RetryAfter < minRetryAfter || *e.RetryAfter > maxRetryAfter):
		return invalid("retryAfter is %d, not %d to %d seconds", *e.RetryAfter, minRetryAfter, maxRetryAfter)
	case e.RetryAfter != nil && isTrue(e.OmitRetryAfter):
		return invalid("retryAfter and omitRetryAfter together")
	case (e.RetryAfter != nil || isTrue(e.OmitRetryAfter)) && (e.Status == nil || !carriesRetryAfter(int(*e.Status))):
		return invalid("only a 429, 503 or 504 carries a Retry-After")
	}
	return nil
}

// cloneSpec copies spec with nothing shared. A rule keeps a copy of its own, so that a caller
// that reuses a variable it pointed the spec at (a tenant, then the next rule's) changes no rule,
// and hands out copies, so that one that changes what it was given changes nothing either.
func cloneSpec(s models.FaultRuleSpec) models.FaultRuleSpec {
	if s.Match != nil {
		m := *s.Match
		m.Tenant, m.App, m.Operation, m.Method = clonePtr(m.Tenant), clonePtr(m.App), clonePtr(m.Operation), clonePtr(m.Method)
		s.Match = &m
	}
	e := &s.Effect
	if e.DelayMs != nil {
		d := *e.DelayMs
		d.Max = clonePtr(d.Max)
		e.DelayMs = &d
	}
	e.Status, e.RetryAfter, e.OmitRetryAfter, e.Drop = clonePtr(e.Status), clonePtr(e.RetryAfter), clonePtr(e.OmitRetryAfter), clonePtr(e.Drop)
	s.Times, s.Probability, s.Seed = clonePtr(s.Times), clonePtr(s.Probability), clonePtr(s.Seed)
	return s
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return new(*p)
}

func (r *rule) view() models.FaultRule {
	spec := cloneSpec(r.spec)
	v := models.FaultRule{Id: r.id, Fired: r.fired, Effect: spec.Effect, Match: spec.Match,
		Probability: spec.Probability, Seed: spec.Seed, Times: spec.Times}
	if r.spec.Times != nil {
		left := max(0, *r.spec.Times-r.fired)
		v.Remaining = &left
	}
	return v
}

func (f *faults) list() []models.FaultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]models.FaultRule, 0, len(f.rules))
	for _, r := range f.rules {
		out = append(out, r.view())
	}
	return out
}

func (f *faults) remove(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.rules)
	f.rules = slices.DeleteFunc(f.rules, func(r *rule) bool { return r.id == id })
	return len(f.rules) < n
}

func (f *faults) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// decide returns the effect of the oldest rule that matches the request, has an effect left and
// draws to fire.
func (f *faults) decide(req Request) (Decision, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if !r.matches(req) || r.spec.Times != nil && r.fired >= *r.spec.Times {
			continue
		}
		if p := r.spec.Probability; p != nil && r.rng.Float64() >= *p {
			continue
		}
		r.fired++
		return r.decision(), true
	}
	return Decision{}, false
}

func (r *rule) matches(req Request) bool {
	m := r.spec.Match
	if m == nil {
		return true
	}
	return (m.Tenant == nil || *m.Tenant == req.Tenant) && (m.App == nil || *m.App == req.App) &&
		(m.Operation == nil || string(*m.Operation) == req.Operation) && (m.Method == nil || string(*m.Method) == req.Method)
}

func (r *rule) decision() Decision {
	e := r.spec.Effect
	d := Decision{Rule: r.id, Drop: isTrue(e.Drop), OmitRetryAfter: isTrue(e.OmitRetryAfter)}
	if e.DelayMs != nil {
		ms := e.DelayMs.Min
		if e.DelayMs.Max != nil && *e.DelayMs.Max > ms {
			ms += r.rng.IntN(*e.DelayMs.Max - ms + 1)
		}
		d.Delay = time.Duration(ms) * time.Millisecond
	}
	if e.Status != nil {
		d.Status = int(*e.Status)
		d.RetryAfter = defaultRetryAfter
		if e.RetryAfter != nil {
			d.RetryAfter = time.Duration(*e.RetryAfter) * time.Second
		}
	}
	return d
}

// carriesRetryAfter reports whether the API's answers with status carry a Retry-After.
func carriesRetryAfter(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// preferStatuses are the statuses a Prefer header may ask for: the errors the API can give.
var preferStatuses = []int{400, 401, 403, 404, 408, 413, 415, 429, 500, 502, 503, 504}

// ParsePrefer reads "Prefer: code=NNN" (with an optional "retry-after=S"), as Prism takes it:
// the answer a test asks of one request. retry-after may be a preference of its own (after a
// comma) or code's parameter (after a semicolon, RFC 7240's syntax). ok is false when the header
// asks for nothing it knows; err is set for a code it cannot give.
func ParsePrefer(header string) (d Decision, ok bool, err error) {
	for pref := range strings.FieldsFuncSeq(header, func(r rune) bool { return r == ',' || r == ';' }) {
		name, value, _ := strings.Cut(strings.TrimSpace(pref), "=")
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "code":
			n, perr := strconv.Atoi(value)
			if perr != nil || !slices.Contains(preferStatuses, n) {
				return Decision{}, false, fmt.Errorf("Prefer code=%s: want one of %v", clip(value), preferStatuses)
			}
			d.Status, ok = n, true
		case "retry-after":
			n, perr := strconv.Atoi(value)
			if perr != nil || n < minRetryAfter || n > maxRetryAfter {
				return Decision{}, false, fmt.Errorf("Prefer retry-after=%s: want a number of seconds from %d to %d", clip(value), minRetryAfter, maxRetryAfter)
			}
			d.RetryAfter = time.Duration(n) * time.Second
		}
	}
	if ok {
		d.Rule = "prefer"
		if d.RetryAfter == 0 {
			d.RetryAfter = defaultRetryAfter
		}
	}
	return d, ok, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

// clip shortens a value of the request's that an error shows back, as remoteassist.Clip does the
// service's (a header may hold up to 32 KiB).
func clip(s string) string { return remoteassist.Clip(s, 64) }
