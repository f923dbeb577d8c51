package chunk

import (
	"fmt"
	"testing"
)

// TestMemCache: the cache keeps at most its capacity, evicts older blocks
// first (of two sampled), hands evicted full-size buffers to the pool, and
// never returns a block it no longer holds.
func TestMemCache(t *testing.T) {
	pool := newBlockPool(100, 4)
	c := newMemCache(1000, pool)
	for i := range 30 {
		b := pool.get(100)
		for j := range b {
			b[j] = byte(i)
		}
		if !c.put(fmt.Sprint(i), b) {
			t.Fatalf("block %d refused", i)
		}
		if c.used > c.capacity {
			t.Fatalf("%d bytes cached with a capacity of %d", c.used, c.capacity)
		}
	}
	if c.entries.len() != 10 {
		t.Fatalf("%d blocks cached, want 10", c.entries.len())
	}
	p := make([]byte, 10)
	for i := range 30 {
		if c.read(fmt.Sprint(i), p, 5) && p[0] != byte(i) {
			t.Fatalf("block %d read as %d: a recycled buffer was returned", i, p[0])
		}
	}
	if !c.read("29", p, 0) {
		t.Fatal("the newest block was evicted")
	}
	if c.put("big", make([]byte, 2000)) {
		t.Fatal("a block larger than the cache was accepted")
	}
	c.remove("29")
	if c.contains("29") || c.read("29", p, 0) {
		t.Fatal("a removed block is still cached")
	}
	if len(pool.free) == 0 {
		t.Fatal("evicted buffers were not recycled")
	}
}
