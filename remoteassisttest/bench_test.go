package remoteassisttest_test

import (
	"testing"

	"github.com/remoteassist/remoteassist/remoteassisttest"
)

// iterationTB runs cleanups when the benchmark says, so that every iteration closes the
// emulator it started, as a subtest would, instead of piling them up until the end.
type iterationTB struct {
	testing.TB
	cleanups []func()
}

func (tb *iterationTB) Cleanup(f func()) { tb.cleanups = append(tb.cleanups, f) }

func (tb *iterationTB) runCleanups() {
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
	tb.cleanups = tb.cleanups[:0]
}

// BenchmarkNew measures starting and closing an emulator, which tests do once per subtest.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	tb := &iterationTB{TB: b}
	for b.Loop() {
		remoteassisttest.New(tb)
		tb.runCleanups()
	}
}
