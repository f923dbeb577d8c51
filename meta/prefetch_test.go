package meta_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/meta"
)

// TestDirPrefetch: lookups of many names in a quiet directory end up served
// from the cache after a few misses, and a change made afterwards by another
// client is still seen.
func TestDirPrefetch(t *testing.T) {
	v := newVolume(t, 0)
	d := mustMkdir(t, v.e, bg, meta.RootInode, "d", 0o755)
	for i := 0; i < 100; i++ {
		mustCreate(t, v.e, bg, d, fmt.Sprintf("f%d", i), 0o644)
	}
	r := v.open(meta.Options{})
	time.Sleep(30 * time.Millisecond)
	before := r.CacheStats().Misses
	for i := 0; i < 100; i++ {
		if _, _, err := r.Lookup(bg, d, fmt.Sprintf("f%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	misses := r.CacheStats().Misses - before
	// A few misses before the prefetch, the prefetch itself (HLEN, then 200
	// cached reads), then hits only.
	if misses > 220 || r.CacheStats().Hits < 90 {
		t.Fatalf("%d misses, %d hits for 100 lookups", misses, r.CacheStats().Hits)
	}
	t.Logf("%d misses for 100 lookups", misses)
	if _, err := v.e.SetAttrForTest(bg, lookupOK(t, r, d, "f50"), 0o600, 0, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "attribute change after prefetch", func() bool {
		_, a, _ := r.Lookup(bg, d, "f50")
		return a.Mode == 0o600
	})
}

func lookupOK(t *testing.T, e *meta.Engine, dir meta.Ino, name string) meta.Ino {
	t.Helper()
	ino, _, err := e.Lookup(bg, dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}
