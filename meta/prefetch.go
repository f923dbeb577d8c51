package meta

import (
	"context"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// Directory prefetch. Redis tracks cached values per key, so a directory's
// entries are cached one HGET at a time, and the first lookup of every name
// costs a round trip. When lookups keep missing in a directory that has
// stopped changing — stat(2) storms, `ls -l`, `find` — the engine reads the
// whole directory once with a tracked (cached) HGETALL and caches every
// child's attribute with one pipelined batch of cached reads.
//
// A cached HGETALL of a directory (the prefetch's, or a readdir's) answers
// lookups of any name, present or not: its decoded entries are its memo
// (see cachestore.Cell), so they live exactly as long as the cached
// listing, which Redis invalidates on any change of the directory by anyone
// (this client's own writes drop it at once) and which goes with its
// connection or the cache TTL. Child attributes are separate cached values,
// invalidated on their own, so nothing can go stale. A directory that keeps
// changing is never prefetched, since every change would drop the work.
const (
	prefetchAfterMisses = 8                    // lookup misses since the directory last changed before prefetching it
	prefetchQuiet       = 5 * time.Millisecond // the directory must not have changed for this long
	prefetchMaxEntries  = 1 << 16              // larger directories are never prefetched
	maxPrefetchTracked  = 4096                 // directories whose misses are counted
)

type dirPrefetch struct {
	mu   sync.Mutex
	dirs map[Ino]*prefetchState
}

type prefetchState struct {
	misses   int             // since the directory last changed
	changed  int64           // the change the misses are counted after
	names    map[string]bool // names whose lookups missed since then (see missedBefore)
	fetched  int64           // when the last prefetch started (registry clock)
	inFlight bool
	ready    chan struct{} // closed when the prefetch in flight is done
}

// dirSnapshot is the memo of a cached HGETALL of a directory: its entries
// decoded.
type dirSnapshot struct {
	entries map[string]snapshotEntry
}

type snapshotEntry struct {
	ref cachedEntry
	err error // the entry's value is corrupt
}

// listedEntry answers a lookup of name in the directory at dkey from a
// cached listing of it: the entry and whether it exists; found is false
// when no listing is cached.
func (e *Engine) listedEntry(dkey []byte, name string) (ref cachedEntry, present, found bool, err error) {
	c := e.cachedCellOfKey(dkey, cmdHGetAll, "")
	if c == nil {
		return cachedEntry{}, false, false, nil
	}
	s, _ := c.Memo().(*dirSnapshot)
	if s == nil {
		key := string(dkey)
		msg := c.Message()
		m, err := msg.AsStrMap()
		if err != nil {
			return cachedEntry{}, false, false, nil
		}
		s = &dirSnapshot{entries: make(map[string]snapshotEntry, len(m))}
		for n, v := range m {
			ref, err := e.decodeCachedEntry(key, n, v)
			s.entries[n] = snapshotEntry{ref, err}
		}
		c.SetMemo(s)
	}
	en, present := s.entries[name]
	return en.ref, present, true, en.err
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
		st.changed, st.misses, st.names = changed, 0, nil
	}
	switch {
	case st.inFlight:
		return nil
	case st.fetched > changed && e.cache.Cached(dkey, cmdHGetAll):
		return nil // the listing is still cached; nothing to gain
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

// maxMissedNames bounds the names remembered per directory by missedBefore.
const maxMissedNames = 256

// missedBefore reports whether a lookup of name in dir already missed since
// the directory last changed (as far as this client knows), and remembers
// that this one did. A name looked up once is answered in one round trip
// that caches nothing (see lookupOnce); a name looked up again is worth
// reading through the cache, so that the lookups after it cost nothing.
func (p *dirPrefetch) missedBefore(dir Ino, name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.dirs[dir]
	if st == nil {
		return false
	}
	if st.names[name] {
		return true
	}
	if st.names == nil || len(st.names) >= maxMissedNames {
		st.names = make(map[string]bool)
	}
	st.names[name] = true
	return false
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

func (p *dirPrefetch) done(dir Ino, ready chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The state may have been dropped (the table starts over when full);
	// the waiters hold the channel, which is closed whatever happened.
	close(ready)
	if st := p.dirs[dir]; st != nil && st.ready == ready {
		st.inFlight = false
	}
}

// prefetchDir reads a directory with a tracked HGETALL (which then answers
// lookups, see listedEntry) and caches every child's attribute. Failures
// only cost the optimisation.
func (e *Engine) prefetchDir(ctx context.Context, dir Ino, dkey string, ready chan struct{}) {
	defer e.prefetch.done(dir, ready)
	n, err := e.cachedHLen(ctx, dkey)
	if err != nil || n == 0 || n > prefetchMaxEntries {
		return
	}
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
}
