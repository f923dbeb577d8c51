package cachestore

import "sync/atomic"

// changeTable remembers when keys last changed, lossily: keys share a fixed
// number of slots by hash, and a slot holds the latest change of any of
// its keys. A key therefore never looks quieter than it is, only sometimes
// busier (when another key of its slot changed later), which the callers
// (prefetch's quiet directories, the recount's busy ones, lock waits) can
// all afford: the price is a prefetch or a recount put off, or a lock
// checked again early. Noting a change is a hash and an atomic maximum, no
// lock and no allocation: mutations note every key they write, twice.
type changeTable struct {
	slots [changeSlots]atomic.Int64
}

const changeSlots = 1 << 14

func newChangeTable() *changeTable { return &changeTable{} }

// slot returns key's slot: FNV-1a, the same for a key every time (a test
// sees the same slots in every run).
func (t *changeTable) slot(key string) *atomic.Int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 1099511628211
	}
	return &t.slots[h&(changeSlots-1)]
}

// note records a change of key at t (a time of Registry.Now).
func (t *changeTable) note(key string, at int64) {
	s := t.slot(key)
	for {
		cur := s.Load()
		if cur >= at || s.CompareAndSwap(cur, at) {
			return
		}
	}
}

// last returns the latest change noted for key or a key sharing its slot.
func (t *changeTable) last(key string) int64 { return t.slot(key).Load() }
