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

// add checks the rule and adds it last.
func (f *faults) add(spec models.FaultRuleSpec) (models.FaultRule, error) {
	e := spec.Effect
	switch {
	case e.Status == nil && e.DelayMs == nil && !isTrue(e.Drop):
		return models.FaultRule{}, fmt.Errorf("%w: the effect needs a status, a delayMs or drop", ErrInvalidRule)
	case isTrue(e.Drop) && e.Status != nil:
		return models.FaultRule{}, fmt.Errorf("%w: a dropped connection has no status", ErrInvalidRule)
	case e.Status != nil && !e.Status.Valid():
		return models.FaultRule{}, fmt.Errorf("%w: status %d", ErrInvalidRule, *e.Status)
	case e.DelayMs != nil && e.DelayMs.Max != nil && *e.DelayMs.Max < e.DelayMs.Min:
		return models.FaultRule{}, fmt.Errorf("%w: delayMs.max is below delayMs.min", ErrInvalidRule)
	case e.RetryAfter != nil && isTrue(e.OmitRetryAfter):
		return models.FaultRule{}, fmt.Errorf("%w: retryAfter and omitRetryAfter together", ErrInvalidRule)
	case (e.RetryAfter != nil || isTrue(e.OmitRetryAfter)) && (e.Status == nil || !carriesRetryAfter(int(*e.Status))):
		return models.FaultRule{}, fmt.Errorf("%w: only a 429, 503 or 504 carries a Retry-After", ErrInvalidRule)
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

func (r *rule) view() models.FaultRule {
	v := models.FaultRule{Id: r.id, Fired: r.fired, Effect: r.spec.Effect, Match: r.spec.Match,
		Probability: r.spec.Probability, Seed: r.spec.Seed, Times: r.spec.Times}
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
				return Decision{}, false, fmt.Errorf("Prefer code=%s: want one of %v", value, preferStatuses)
			}
			d.Status, ok = n, true
		case "retry-after":
			n, perr := strconv.Atoi(value)
			if perr != nil || n < 1 || n > 3600 {
				return Decision{}, false, fmt.Errorf("Prefer retry-after=%s: want a number of seconds from 1 to 3600", value)
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
