package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/remoteassist/remoteassist/jwtauth"
)

// settingsPath is the endpoint under test.
const settingsPath = "/beta/deviceManagement/remoteAssistanceSettings"

// patchBodies are what the PATCHes send, one picked at random per request: one, two or three
// properties, every value of each.
var patchBodies = [][]byte{
	[]byte(`{"blockChat":true}`),
	[]byte(`{"blockChat":false}`),
	[]byte(`{"remoteAssistanceState":"enabled"}`),
	[]byte(`{"remoteAssistanceState":"disabled","allowSessionsToUnenrolledDevices":true}`),
	[]byte(`{"allowSessionsToUnenrolledDevices":false,"blockChat":true,"remoteAssistanceState":"notConfigured"}`),
}

// mintTokens mints one token per entry of tenants with the data directory's signing key, as
// remoteassist token does, valid for ttl, with the permissions to GET and PATCH. Each token has a
// subject of its own, so that a tenant listed twice gets two distinct tokens.
func mintTokens(dataDir string, tenants []string, ttl time.Duration) ([]string, error) {
	key, err := jwtauth.LoadOrCreateKey(dataDir)
	if err != nil {
		return nil, err
	}
	toks := make([]string, len(tenants))
	for i, t := range tenants {
		toks[i], err = key.Mint(jwtauth.TokenSpec{
			Tenant:  t,
			Subject: fmt.Sprintf("scale-%d-%s", i, t),
			Scopes:  []string{"DeviceManagementServiceConfig.ReadWrite.All"},
			TTL:     ttl,
		})
		if err != nil {
			return nil, err
		}
	}
	return toks, nil
}

// sampleTenants returns k tenants of the n stored (tenantID(0..n-1)), for k tokens: k distinct
// ones drawn at random when n >= k, else every tenant, k/n times or once more. So every store
// size gets the same number of tokens (and the server's token cache holds as many), and a token
// picked at random is a stored tenant picked at random.
func sampleTenants(r *rand.Rand, n, k int) []string {
	idx := make([]int, 0, k)
	if k >= n {
		for len(idx) < k {
			for i := 0; i < n && len(idx) < k; i++ {
				idx = append(idx, i)
			}
		}
	} else {
		seen := make(map[int]bool, k)
		for len(idx) < k {
			if i := r.IntN(n); !seen[i] {
				seen[i] = true
				idx = append(idx, i)
			}
		}
	}
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = tenantID(j)
	}
	return out
}

// newClient returns a keep-alive HTTP client for up to conns connections to one server.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     10 * time.Minute,
			DisableCompression:  true,
		},
	}
}

// result is one load run's outcome.
type result struct {
	requests int           // measured
	sent     int           // all, the warm-up's included
	written  int64         // bytes the server wrote to storage per request sent (embedded store only)
	cpu      time.Duration // the server's CPU time (user + system) per request sent
	rps      float64
	p50, p99 time.Duration
	statuses map[int]int
	errors   int
	firstErr string
}

func (r result) bad() int {
	n := r.errors
	for code, c := range r.statuses {
		if code != http.StatusOK {
			n += c
		}
	}
	return n
}

func (r result) statusString() string {
	var parts []string
	codes := make([]int, 0, len(r.statuses))
	for c := range r.statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d:%d", c, r.statuses[c]))
	}
	if r.errors > 0 {
		parts = append(parts, fmt.Sprintf("err:%d", r.errors))
	}
	return strings.Join(parts, ",")
}

// request sends one request with a random one of the tokens and returns its status.
func request(c *http.Client, url, method, token string, r *rand.Rand) (int, error) {
	var body io.Reader
	if method == http.MethodPatch {
		body = bytes.NewReader(patchBodies[r.IntN(len(patchBodies))])
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// load runs conns workers against url, each sending method requests back to back with a token
// picked at random per request, for warmup (not counted) and then dur (counted: the requests
// that start and end within it).
func load(c *http.Client, url, method string, toks []string, conns int, warmup, dur time.Duration, seed uint64) result {
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+dur)
	type worker struct {
		sent     int
		lat      []time.Duration
		statuses map[int]int
		errors   int
		firstErr string
	}
	ws := make([]worker, conns)
	var wg sync.WaitGroup
	for i := range ws {
		wg.Add(1)
		go func(w *worker, r *rand.Rand) {
			defer wg.Done()
			w.statuses = map[int]int{}
			w.lat = make([]time.Duration, 0, 1<<15)
			for {
				t0 := time.Now()
				if !t0.Before(until) {
					return
				}
				code, err := request(c, url, method, toks[r.IntN(len(toks))], r)
				t1 := time.Now()
				w.sent++
				if t0.Before(from) || t1.After(until) {
					continue
				}
				if err != nil {
					if w.errors == 0 {
						w.firstErr = err.Error()
					}
					w.errors++
					continue
				}
				w.statuses[code]++
				w.lat = append(w.lat, t1.Sub(t0))
			}
		}(&ws[i], rand.New(rand.NewPCG(seed, uint64(i))))
	}
	wg.Wait()
	res := result{statuses: map[int]int{}}
	var lat []time.Duration
	for _, w := range ws {
		lat = append(lat, w.lat...)
		res.sent += w.sent
		for k, v := range w.statuses {
			res.statuses[k] += v
		}
		res.errors += w.errors
		if res.firstErr == "" {
			res.firstErr = w.firstErr
		}
	}
	slices.Sort(lat)
	res.requests = len(lat)
	res.rps = float64(len(lat)) / dur.Seconds()
	res.p50, res.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return res
}

// percentile of sorted durations, by the nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// each sends one GET per token, conns at a time, and returns the statuses: it warms the server's
// token cache (a first sight of a token costs a signature check, ~100 µs) and checks that every
// token is accepted.
func each(c *http.Client, url string, toks []string, conns int) result {
	res := result{statuses: map[int]int{}}
	var mu sync.Mutex
	next := make(chan string)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tok := range next {
				code, err := request(c, url, http.MethodGet, tok, nil)
				mu.Lock()
				if err != nil {
					if res.errors == 0 {
						res.firstErr = err.Error()
					}
					res.errors++
				} else {
					res.statuses[code]++
				}
				mu.Unlock()
			}
		}()
	}
	for _, t := range toks {
		next <- t
	}
	close(next)
	wg.Wait()
	return res
}
