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
// `find` — the engine reads the whole directory once and caches every entry
// and every child attribute with one pipelined batch of cached reads. Each
// value is still cached and invalidated on its own, so nothing can go stale;
// a directory that keeps changing (files being created in it) is never
// prefetched, since every change would drop the work.
const (
	prefetchAfterMisses = 3                    // lookup misses before prefetching a directory
	prefetchQuiet       = 5 * time.Millisecond // the directory must not have changed for this long
	prefetchMaxEntries  = 4096                 // larger directories are never prefetched
	maxPrefetchTracked  = 4096                 // directories whose misses are counted
)

type dirPrefetch struct {
	mu   sync.Mutex
	dirs map[Ino]*prefetchState
}

type prefetchState struct {
	misses   int
	fetched  int64 // when the last prefetch started (unix ns)
	inFlight bool
}

// missed counts a lookup in dir that the cache could not answer and reports
// whether the caller should prefetch the directory now.
func (p *dirPrefetch) missed(e *Engine, dir Ino, dkey string) bool {
	if !e.CacheEnabled() {
		return false
	}
	changed := e.cache.LastChange(dkey)
	now := time.Now().UnixNano()
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
	switch {
	case st.inFlight:
		return false
	case st.fetched > changed:
		// Prefetched after the last change: the miss is a name that is not
		// there; fetching again would not help.
		return false
	case now-changed < int64(prefetchQuiet):
		st.misses = 0 // still changing
		return false
	}
	st.misses++
	if st.misses < prefetchAfterMisses {
		return false
	}
	st.misses, st.inFlight, st.fetched = 0, true, now
	return true
}

func (p *dirPrefetch) done(dir Ino) {
	p.mu.Lock()
	if st := p.dirs[dir]; st != nil {
		st.inFlight = false
	}
	p.mu.Unlock()
}

// prefetchDir caches every entry of a small directory and every child's
// attribute. Failures only cost the optimisation.
func (e *Engine) prefetchDir(ctx context.Context, dir Ino, dkey string) {
	defer e.prefetch.done(dir)
	n, err := e.cachedHLen(ctx, dkey)
	if err != nil || n == 0 || n > prefetchMaxEntries {
		return
	}
	m, err := e.rdb.Do(ctx, e.rdb.B().Hgetall().Key(dkey).Build()).AsStrMap()
	if err != nil {
		return
	}
	cmds := make([]rueidis.CacheableTTL, 0, 2*len(m))
	for name, v := range m {
		ent, err := e.decodeEntry(dkey, name, v)
		if err != nil {
			return
		}
		cmds = append(cmds,
			rueidis.CT(e.cacheable(e.rdb.B().Hget().Key(dkey).Field(name).Cache()), e.cacheTTL),
			rueidis.CT(e.cacheable(e.rdb.B().Get().Key(e.keys.Inode(ent.Inode)).Cache()), e.cacheTTL))
	}
	e.rdb.DoMultiCache(ctx, cmds...)
}
