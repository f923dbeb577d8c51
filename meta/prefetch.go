package meta

import (
	"context"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Directory prefetch. Redis tracks cached values per key, so a directory's
// entries are cached one HGET at a time, and the first lookup of every name
// costs a round trip (two, with the child's attribute). When lookups keep
// missing in a directory that has stopped changing — stat(2) storms, `ls -l`,
// `find` — the engine reads the whole directory once with a tracked
// (cached) HGETALL, keeps a parsed snapshot of it to answer lookups of any
// name (present or not) locally, and caches every child's attribute with one
// pipelined batch of cached reads.
//
// A snapshot is used only while nothing says the directory changed since it
// was read: Redis tracks the HGETALL, so any change by anyone produces an
// invalidation of d{dir} (this client's own writes invalidate it locally at
// once), and the snapshot is dropped when the invalidation time is later
// than the read, when a connection broke (its tracking is lost with it), or
// after the cache TTL. Child attributes are separate cached values,
// invalidated on their own, so nothing can go stale. A directory that keeps
// changing is never prefetched, since every change would drop the work.
const (
	prefetchAfterMisses = 8                    // lookup misses since the directory last changed before prefetching it
	prefetchQuiet       = 5 * time.Millisecond // the directory must not have changed for this long
	prefetchMaxEntries  = 1 << 16              // larger directories are never prefetched
	maxPrefetchTracked  = 4096                 // directories whose misses are counted
	maxSnapshotEntries  = 1 << 18              // entries held in all snapshots together
)

type dirPrefetch struct {
	mu      sync.Mutex
	dirs    map[Ino]*prefetchState
	snaps   map[Ino]*dirSnapshot
	entries int // in all snapshots
}

type prefetchState struct {
	misses   int   // since the directory last changed
	changed  int64 // the change the misses are counted after
	fetched  int64 // when the last prefetch started (registry clock)
	inFlight bool
	ready    chan struct{} // closed when the prefetch in flight is done
}

// dirSnapshot is a directory's entries as read by one tracked HGETALL.
type dirSnapshot struct {
	taken   int64  // registry clock, before the read was sent
	epoch   uint64 // registry epoch at that time
	expires time.Time
	entries map[string]string // name → raw entry value
}

// lookup answers a lookup from a valid snapshot: the raw entry and whether
// it exists; ok is false when there is no valid snapshot.
func (p *dirPrefetch) lookup(e *Engine, dir Ino, dkey, name string) (v string, present, ok bool) {
	p.mu.Lock()
	s := p.snaps[dir]
	p.mu.Unlock()
	if s == nil {
		return "", false, false
	}
	if s.epoch != e.cache.Epoch() || e.cache.LastChange(dkey) >= s.taken || time.Now().After(s.expires) {
		p.mu.Lock()
		if p.snaps[dir] == s {
			delete(p.snaps, dir)
			p.entries -= len(s.entries)
		}
		p.mu.Unlock()
		return "", false, false
	}
	v, present = s.entries[name]
	return v, present, true
}

// missed counts a lookup in dir that the cache could not answer and reports
// whether the caller should prefetch the directory now: if so, it returns
// the channel the prefetch must close when done (prefetchDir does).
func (p *dirPrefetch) missed(e *Engine, dir Ino, dkey string) chan struct{} {
	if !e.CacheEnabled() {
		return nil
	}
	changed := e.cache.LastChange(dkey)
	now := e.cache.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dirs == nil || len(p.dirs) >= maxPrefetchTracked {
		p.dirs = make(map[Ino]*prefetchState)
	}
	st := p.dirs[dir]
	if st == nil {
		st = &prefetchState{}
		p.dirs[dir] = st
	}
	if changed != st.changed {
		// Misses count only while the directory stays as it is: one that
		// keeps changing (renames, creates) would drop every snapshot.
		st.changed, st.misses = changed, 0
	}
	switch {
	case st.inFlight:
		return nil
	case st.fetched > changed && p.snaps[dir] != nil:
		return nil // the snapshot is still there; nothing to gain
	case now-changed < int64(prefetchQuiet):
		st.misses = 0 // still changing
		return nil
	}
	st.misses++
	if st.misses < prefetchAfterMisses {
		return nil
	}
	st.misses, st.inFlight, st.fetched = 0, true, now
	st.ready = make(chan struct{})
	return st.ready
}

// busy tells whether a prefetch of dir is in flight.
func (p *dirPrefetch) busy(dir Ino) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.dirs[dir]
	return st != nil && st.inFlight
}

// wait waits for the prefetch of dir in flight, if any, and reports whether
// there was one. Lookups that miss while a directory is being prefetched
// wait for the snapshot (the same two round trips as reading the entry and
// the attribute themselves) instead of adding their own reads to Redis'
// work: in a stat storm the prefetch then serves every one of them.
func (p *dirPrefetch) wait(ctx context.Context, dir Ino) bool {
	p.mu.Lock()
	st := p.dirs[dir]
	if st == nil || !st.inFlight {
		p.mu.Unlock()
		return false
	}
	ready := st.ready
	p.mu.Unlock()
	select {
	case <-ready:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *dirPrefetch) done(dir Ino, s *dirSnapshot, ready chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The state may have been dropped (the table starts over when full);
	// the waiters hold the channel, which is closed whatever happened.
	close(ready)
	if st := p.dirs[dir]; st != nil && st.ready == ready {
		st.inFlight = false
	}
	if s == nil {
		return
	}
	if p.snaps == nil || p.entries+len(s.entries) > maxSnapshotEntries {
		p.snaps, p.entries = make(map[Ino]*dirSnapshot), 0
	}
	if old := p.snaps[dir]; old != nil {
		p.entries -= len(old.entries)
	}
	p.snaps[dir] = s
	p.entries += len(s.entries)
}

// prefetchDir reads a small directory with a tracked HGETALL into a
// snapshot and caches every child's attribute. Failures only cost the
// optimisation.
func (e *Engine) prefetchDir(ctx context.Context, dir Ino, dkey string, ready chan struct{}) {
	var snap *dirSnapshot
	defer func() { e.prefetch.done(dir, snap, ready) }()
	n, err := e.cachedHLen(ctx, dkey)
	if err != nil || n == 0 || n > prefetchMaxEntries {
		return
	}
	s := &dirSnapshot{taken: e.cache.Now(), epoch: e.cache.Epoch(), expires: time.Now().Add(e.cacheTTL)}
	m, err := e.cachedHGetAll(ctx, dkey)
	if err != nil {
		return
	}
	cmds := make([]rueidis.Cacheable, 0, len(m))
	for name, v := range m {
		ent, err := e.decodeEntry(dkey, name, v)
		if err != nil {
			return
		}
		cmds = append(cmds, e.getRead(e.keys.Inode(ent.Inode)))
	}
	if len(cmds) > 0 {
		e.readCachedMulti(ctx, cmds...)
	}
	s.entries = m
	snap = s
}
