package e2e_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestGCHeadroom: serve's collector aims at a heap goal above twice its 8 MiB headroom by
// default, and at Go's own goal (a few MB for serve's live heap) once the operator sets GOGC or
// GOMEMLIMIT. The goal is read after a collection forced through pprof, so that it is the one
// the live heap gives and not a start-up value.
func TestGCHeadroom(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name     string
		env      []string
		min, max float64
	}{
		{"defaults", nil, 16 * mib, 64 * mib},
		{"GOGC", []string{"GOGC=100"}, 0, 8 * mib},
		{"GOMEMLIMIT", []string{"GOMEMLIMIT=1GiB"}, 0, 8 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := freeAddr(t)
			startServeEnv(t, "gc-"+tc.name, tc.env, "--data", t.TempDir(), "--store=memory", "--ops-addr", ops)
			if res := call(t, http.MethodGet, "http://"+ops+"/debug/pprof/heap?gc=1", "", ""); res.status != http.StatusOK {
				t.Fatalf("forcing a collection: %d %s", res.status, res.body)
			}
			res := call(t, http.MethodGet, "http://"+ops+"/metrics", "", "")
			goal := metricValue(t, string(res.body), "go_memstats_next_gc_bytes")
			if goal < tc.min || goal > tc.max {
				t.Errorf("heap goal %.1f MiB, want between %.0f and %.0f MiB", goal/mib, tc.min/mib, tc.max/mib)
			}
		})
	}
}

// metricValue is the value of the unlabelled series name in a Prometheus text exposition.
func metricValue(t *testing.T, exposition, name string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics:\n%s", name, exposition)
	return 0
}
