package chunk

import (
	"container/heap"
	"fmt"
)

// Eviction policies of the disk cache (--cache-eviction).
const (
	EvictionNone    = "none"     // never evict: new blocks are dropped when full
	Eviction2Random = "2-random" // of two blocks picked at random, the one used longer ago goes
	EvictionLRU     = "lru"      // the block used longest ago goes
)

// CheckEviction fails for an unknown eviction policy.
func CheckEviction(policy string) error {
	switch policy {
	case "", EvictionNone, Eviction2Random, EvictionLRU:
		return nil
	}
	return fmt.Errorf("unknown cache eviction policy %q: use %s, %s or %s", policy, EvictionNone, Eviction2Random, EvictionLRU)
}

// cacheIndex is the in-memory index of one disk cache directory: the blocks
// it holds, their size and last access. Staged blocks (waiting for their
// upload) are kept apart: they are never evicted and not charged against
// the capacity. Not safe for concurrent use.
type cacheIndex struct {
	policy string
	random *sampleSet[*cacheEntry] // every evictable block
	lru    *atimeHeap              // lru: the same blocks, least recently used first
	staged map[string]*cacheEntry
	used   int64 // bytes charged by the evictable blocks
}

type cacheEntry struct {
	charged int64
	atime   int64 // unix nanos of the last access
	staged  bool
	key     string
	heapPos int // position in lru
}

func diskLastUse(e *cacheEntry) int64 { return e.atime }

func newCacheIndex(policy string) *cacheIndex {
	x := &cacheIndex{policy: policy, staged: map[string]*cacheEntry{}}
	if policy == EvictionLRU {
		x.lru = &atimeHeap{}
	}
	x.random = newSampleSet[*cacheEntry]()
	return x
}

// len is the number of evictable blocks.
func (x *cacheIndex) len() int { return x.random.len() }

func (x *cacheIndex) get(key string) (*cacheEntry, bool) {
	if e, ok := x.staged[key]; ok {
		return e, true
	}
	return x.random.get(key)
}

// touch records an access to e now.
func (x *cacheIndex) touch(e *cacheEntry, now int64) {
	e.atime = now
	if x.lru != nil && !e.staged {
		heap.Fix(x.lru, e.heapPos)
	}
}

// add indexes key unless present (a staged entry may become evictable:
// its upload finished). It reports whether the index changed.
func (x *cacheIndex) add(key string, e *cacheEntry) bool {
	if old, ok := x.staged[key]; ok {
		if e.staged {
			return false
		}
		delete(x.staged, key)
		e.atime = min(e.atime, old.atime)
	} else if _, ok := x.random.get(key); ok {
		return false
	}
	if e.staged {
		x.staged[key] = e
		return true
	}
	x.random.add(key, e)
	x.used += e.charged
	if x.lru != nil {
		e.key = key
		heap.Push(x.lru, e)
	}
	return true
}

func (x *cacheIndex) remove(key string) (*cacheEntry, bool) {
	if e, ok := x.staged[key]; ok {
		delete(x.staged, key)
		return e, true
	}
	e, ok := x.random.remove(key)
	if !ok {
		return nil, false
	}
	x.used -= e.charged
	if x.lru != nil {
		heap.Remove(x.lru, e.heapPos)
	}
	return e, true
}

// victim picks the evictable block to evict next ("" when there is none
// or the policy is none).
func (x *cacheIndex) victim() string {
	switch {
	case x.policy == EvictionNone || x.random.len() == 0:
		return ""
	case x.lru != nil:
		return (*x.lru)[0].key
	}
	return x.random.victim(diskLastUse)
}

// expired returns up to limit evictable blocks last used before cutoff.
func (x *cacheIndex) expired(cutoff int64, limit int) []string {
	var keys []string
	for i, key := range x.random.keys {
		if len(keys) == limit {
			break
		}
		if x.random.items[i].atime < cutoff {
			keys = append(keys, key)
		}
	}
	return keys
}

// atimeHeap orders cache entries by last access, oldest first.
type atimeHeap []*cacheEntry

func (h atimeHeap) Len() int           { return len(h) }
func (h atimeHeap) Less(i, j int) bool { return h[i].atime < h[j].atime }
func (h atimeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapPos, h[j].heapPos = i, j
}
func (h *atimeHeap) Push(x any) {
	e := x.(*cacheEntry)
	e.heapPos = len(*h)
	*h = append(*h, e)
}
func (h *atimeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
