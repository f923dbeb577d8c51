package meta_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/voltest"
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
	clk := voltest.NewClock()
	r := v.open(meta.Options{Clock: clk})
	clk.Advance(30 * time.Millisecond) // the directory looks quiet to the new client
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
	voltest.Eventually(t, 2*time.Second, "attribute change after prefetch", voltest.Holds(func() bool {
		_, a, _ := r.Lookup(bg, d, "f50")
		return a.Mode == 0o600
	}))
}

func lookupOK(t *testing.T, e *meta.Engine, dir meta.Ino, name string) meta.Ino {
	t.Helper()
	ino, _, err := e.Lookup(bg, dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

// TestDirSnapshotInvalidation: a prefetched directory's snapshot answers
// lookups (also of absent names) only until the directory changes: through
// this client (read-your-writes) or through another client. (A change made
// behind a broken connection is tested by the fault suite,
// internal/faulttest.)
func TestDirSnapshotInvalidation(t *testing.T) {
	v := newVolume(t, 0)
	w := v.e
	d := mustMkdir(t, w, bg, meta.RootInode, "d", 0o755)
	present := map[string]bool{}
	for i := 0; i < 50; i++ {
		name := fmt.Sprintf("f%d", i)
		mustCreate(t, w, bg, d, name, 0o644)
		present[name] = true
	}
	r := v.open(meta.Options{})
	// prefetched waits until the directory's snapshot is in place: a name
	// never asked before can only be answered without a miss by a snapshot
	// (per-entry caching would have to ask Redis once).
	probes := 0
	prefetched := func() {
		t.Helper()
		voltest.Eventually(t, 2*time.Second, "prefetch", voltest.Holds(func() bool {
			before := r.CacheStats().Misses
			for name := range present {
				lookupOK(t, r, d, name)
			}
			probes++
			if _, _, err := r.Lookup(bg, d, fmt.Sprintf("probe%d", probes)); !errors.Is(err, syscall.ENOENT) {
				t.Fatalf("lookup of an absent name: %v", err)
			}
			return r.CacheStats().Misses == before
		}))
	}
	prefetched()
	// Absent names are answered from the snapshot until another client
	// creates one.
	if _, _, err := r.Lookup(bg, d, "new"); !errors.Is(err, syscall.ENOENT) {
		t.Fatal(err)
	}
	mustCreate(t, w, bg, d, "new", 0o644)
	present["new"] = true
	voltest.Eventually(t, 2*time.Second, "create by another client", voltest.Holds(func() bool { _, _, err := r.Lookup(bg, d, "new"); return err == nil }))

	// This client's own unlink is seen at once.
	prefetched()
	if err := r.Unlink(bg, d, "f7", false); err != nil {
		t.Fatal(err)
	}
	delete(present, "f7")
	if _, _, err := r.Lookup(bg, d, "f7"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("own unlink not seen: %v", err)
	}

}

// TestRepeatedLookupCached: in a directory that keeps changing (never
// prefetched), a name's first lookup costs one round trip that caches
// nothing, its second reads entry and attribute through the cache, and the
// lookups after it are answered by the cache.
func TestRepeatedLookupCached(t *testing.T) {
	v := newVolume(t, 0)
	d := mustMkdir(t, v.e, bg, meta.RootInode, "d", 0o755)
	f := mustCreate(t, v.e, bg, d, "f", 0o644)
	r := v.open(meta.Options{})
	for i := 0; i < 2; i++ {
		lookupOK(t, r, d, "f")
	}
	before := r.CacheStats()
	for i := 0; i < 10; i++ {
		if ino := lookupOK(t, r, d, "f"); ino != f {
			t.Fatalf("lookup found %d, want %d", ino, f)
		}
	}
	after := r.CacheStats()
	if after.Misses != before.Misses || after.Hits < before.Hits+20 {
		t.Fatalf("10 lookups after the second: %d misses, %d hits", after.Misses-before.Misses, after.Hits-before.Hits)
	}
}
