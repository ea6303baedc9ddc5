package pebble

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestWALDamage measures what Pebble does when a bit of its write-ahead log is damaged after the
// writes it holds were acknowledged (pebble.Sync): it logs the outcome, asserting only that
// nothing crashes. The run recorded in bench/STORE.md: Open succeeds and acknowledged keys are
// gone, without an error: Pebble reads a damaged record as the end of the log.
func TestWALDamage(t *testing.T) {
	for _, where := range []float64{0.1, 0.5, 0.9} {
		dir := t.TempDir()
		db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2000 {
			if err := db.Set([]byte(fmt.Sprintf("k%05d", i)), make([]byte, 100), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		wals, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		b, _ := os.ReadFile(wals[len(wals)-1])
		off := int(float64(len(b)) * where)
		b[off] ^= 0x10
		os.WriteFile(wals[len(wals)-1], b, 0o600)
		db, err = pebble.Open(dir, &pebble.Options{Logger: quiet{}})
		if err != nil {
			t.Logf("flip at %.0f%% of the WAL (%d bytes): Open fails: %v", where*100, len(b), err)
			continue
		}
		n := 0
		it, _ := db.NewIter(nil)
		for it.First(); it.Valid(); it.Next() {
			n++
		}
		it.Close()
		db.Close()
		t.Logf("flip at %.0f%% of the WAL (%d bytes): Open succeeds with %d of 2000 acknowledged keys", where*100, len(b), n)
	}
}
