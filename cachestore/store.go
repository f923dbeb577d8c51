// Package cachestore is the client-side cache behind rueidisfs' read paths.
//
// rueidis implements Redis server-assisted client-side caching: a cacheable
// read (DoCache, DoMultiCache) is sent as CLIENT CACHING YES + the command on a
// connection in CLIENT TRACKING OPTIN mode, the reply is kept in a per-connection
// CacheStore, and Redis pushes an "invalidate" message on that connection when
// any client modifies the key. rueidis lets the application supply that store;
// this package provides one that adds what a file system needs on top of plain
// server invalidation:
//
//   - Read-your-writes. Redis sends the invalidation for a key only after the
//     reply of the write that changed it, so for a moment after a write returns
//     the old value may still be served, and a read that was already in flight
//     may even insert it again. [Registry.Invalidate] is called by the engine as
//     soon as a write has been acknowledged: it drops the cached values of the
//     written keys in every connection's store and marks reads still in flight
//     for those keys as stale, so their (possibly old) replies reach only the
//     callers that raced with the write and are never cached, and later readers
//     never join them.
//   - Bounded memory: a maximum number of entries per connection (LRU) and a
//     TTL on every entry, so even a lost invalidation cannot keep a value longer
//     than the TTL.
//   - Statistics: hits, misses, invalidations received from Redis, local
//     invalidations, evictions and live entries, for status output and
//     Prometheus.
//
// A Store belongs to one connection. rueidis creates one per connection through
// the NewCacheStoreFn returned by [Registry.NewStoreFn]; the Registry ties the
// stores of one client together.
package cachestore

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// ErrClosed is delivered to readers waiting on a store whose connection broke.
var ErrClosed = errors.New("cachestore: connection closed")

// ErrRetry is delivered to readers that joined a read which can no longer be
// matched with its reply, because another caller gave up a read of the same
// command on the same connection (see Store.Cancel). The read was not
// answered for them; they should send it again.
var ErrRetry = errors.New("cachestore: joined read abandoned by its sender; read again")

// Stats is a snapshot of the counters of a Registry.
type Stats struct {
	Hits               uint64 // reads answered from the cache
	Misses             uint64 // reads sent to Redis
	Joined             uint64 // reads that waited for an identical read already in flight
	Invalidations      uint64 // keys invalidated by Redis push messages
	Flushes            uint64 // whole-cache invalidations (FLUSHDB, FLUSHALL, reconnect)
	LocalInvalidations uint64 // keys invalidated locally after this client's own writes
	StaleReplies       uint64 // replies not cached because a local write raced with them
	Abandoned          uint64 // reads given up by their caller before the reply (see Store.Cancel)
	Evictions          uint64 // entries dropped to respect the size limit
	Entries            int64  // entries currently cached, over all connections
}

// Registry groups the stores of one rueidis client. It is safe for concurrent
// use. The zero value is not usable; call NewRegistry.
type Registry struct {
	maxEntries int

	mu     sync.Mutex
	stores atomic.Pointer[[]*Store] // copy-on-write: read on every Cached call

	// changes remembers when keys were last invalidated (locally or by
	// Redis), so that callers can tell busy keys from quiet ones (see
	// LastChange).
	changes *changeTable
	clock   func() time.Time // what Now() reads; nil: the monotonic clock
	start   time.Time        // origin of Now()
	// epoch changes whenever change times may have been lost: a
	// connection (and its tracking) broke, or everything was invalidated.
	// Whoever relies on "no change since T" must also check that the
	// epoch did not move.
	epoch atomic.Uint64

	// cells indexes the values cached on every connection by key and
	// command (rueidis' cache key without the key), so that a hit costs one
	// lookup whatever the number of connections. Stores add the values
	// they cache and remove those they drop (under their own lock, then
	// this one); when two connections cache the same command, the index
	// holds the newer.
	cellMu sync.RWMutex
	cells  map[string]map[string]*Cell

	hits, misses, joined, invalidations, flushes atomic.Uint64
	localInvalidations, staleReplies, evictions  atomic.Uint64
	abandoned                                    atomic.Uint64
	entries                                      atomic.Int64
}

// NewRegistry returns a registry whose stores keep at most maxEntries entries
// each (per connection). maxEntries <= 0 means 1.
func NewRegistry(maxEntries int) *Registry { return NewRegistryClock(maxEntries, nil) }

// NewRegistryClock is NewRegistry with the clock of Now and LastChange
// (tests move a fake one instead of sleeping; nil is the system's
// monotonic clock).
func NewRegistryClock(maxEntries int, clock func() time.Time) *Registry {
	if maxEntries <= 0 {
		maxEntries = 1
	}
	start := time.Now()
	if clock != nil {
		start = clock()
	}
	// Now() starts at 1: a change time of 0 means none known.
	r := &Registry{maxEntries: maxEntries, changes: newChangeTable(), clock: clock, start: start.Add(-1),
		cells: make(map[string]map[string]*Cell)}
	r.stores.Store(&[]*Store{})
	return r
}

// NewStoreFn returns the function to put in rueidis.ClientOption.NewCacheStoreFn.
func (r *Registry) NewStoreFn() rueidis.NewCacheStoreFn {
	return func(rueidis.CacheStoreOption) rueidis.CacheStore {
		s := &Store{reg: r, keys: make(map[string]*keyState), lru: list.New()}
		storeOpened()
		r.mu.Lock()
		old := *r.stores.Load()
		stores := append(append(make([]*Store, 0, len(old)+1), old...), s)
		r.stores.Store(&stores)
		r.mu.Unlock()
		return s
	}
}

// Invalidate drops every cached value of the given keys in every connection's
// store and marks reads of them that are still in flight as stale. Call it
// after a write to those keys has been acknowledged by Redis and before the
// operation returns to its caller.
func (r *Registry) Invalidate(keys ...string) {
	if len(keys) == 0 {
		return
	}
	r.localInvalidations.Add(uint64(len(keys)))
	for _, s := range r.snapshot() {
		s.invalidateLocal(keys)
	}
	// Noted after the values are gone, never before: whoever reads the
	// clock after this (Now) and then reads a key must not find the old
	// value still cached, or a snapshot built from it would look newer
	// than the change (TestReadYourWrites caught this).
	r.noteChange(keys...)
}

// InvalidateAll drops everything cached by this client and marks every read in
// flight as stale. Used after operations whose written keys are not known in
// advance (bulk loads, destroy).
func (r *Registry) InvalidateAll() {
	r.flushes.Add(1)
	for _, s := range r.snapshot() {
		s.flush(nil, true)
	}
	r.epoch.Add(1) // after the flush, as in Invalidate
}

// Stats returns the current counters.
func (r *Registry) Stats() Stats {
	return Stats{
		Hits:               r.hits.Load(),
		Misses:             r.misses.Load(),
		Joined:             r.joined.Load(),
		Invalidations:      r.invalidations.Load(),
		Flushes:            r.flushes.Load(),
		LocalInvalidations: r.localInvalidations.Load(),
		StaleReplies:       r.staleReplies.Load(),
		Abandoned:          r.abandoned.Load(),
		Evictions:          r.evictions.Load(),
		Entries:            r.entries.Load(),
	}
}

// Now is the registry's clock (nanoseconds since it was made), the one
// LastChange uses: take it before sending a read to later ask whether the
// key changed since.
func (r *Registry) Now() int64 {
	if r.clock == nil {
		return int64(time.Since(r.start)) // one monotonic reading, no wall clock
	}
	return int64(r.clock().Sub(r.start))
}

// NoteChange records that keys are changing now without dropping anything
// cached: the engine calls it before it sends a write, so that LastChange
// covers writes still in flight, not only acknowledged ones.
func (r *Registry) NoteChange(keys ...string) { r.noteChange(keys...) }

func (r *Registry) noteChange(keys ...string) {
	now := r.Now()
	for _, k := range keys {
		r.changes.note(k, now)
	}
}

// Epoch returns the current epoch (see Registry.epoch): while it stays the
// same, LastChange knows every invalidation this client received.
func (r *Registry) Epoch() uint64 { return r.epoch.Load() }

// LastChange returns when key was last invalidated (by Redis or locally),
// on the clock of Now, or later (see changeTable); 0 when not known.
func (r *Registry) LastChange(key string) int64 { return r.changes.last(key) }

// snapshot returns the live stores; the slice must not be modified.
func (r *Registry) snapshot() []*Store { return *r.stores.Load() }

func (r *Registry) forget(s *Store) {
	r.mu.Lock()
	old := *r.stores.Load()
	stores := make([]*Store, 0, len(old))
	for _, o := range old {
		if o != s {
			stores = append(stores, o)
		}
	}
	r.stores.Store(&stores)
	r.mu.Unlock()
}

// Store is the cache of one connection. It implements rueidis.CacheStore.
//
// Invariant: a cached value is only ever inserted by the reply of a read that
// was not overtaken by a local invalidation of its key. Replies on one
// connection arrive in the order the reads were sent, and a new flight is
// started only when the newest one is stale, so the reply that resolves the
// newest flight is the reply of the read sent last: the only one that may be
// cached. Replies are matched with flights by counting, oldest first; a read
// whose caller gave up before its reply arrived breaks the count (see
// Cancel), and the entry then stops caching until the count is whole again.
type Store struct {
	reg *Registry

	mu     sync.RWMutex
	keys   map[string]*keyState
	lru    *list.List // of *entry, least recently used at the front
	closed bool
}

var _ rueidis.CacheStore = (*Store)(nil)

type keyState struct {
	cmds map[string]*entry
}

// entry is one cached command of one key: a complete value and/or the reads of
// it currently in flight on this connection.
type entry struct {
	key, cmd string
	elem     *list.Element // non-nil while a value is cached
	cell     *Cell         // the value, while elem is non-nil
	hits     atomic.Uint32
	flights  []*flight // oldest first
	// unpaired: a caller gave up a read of this command that may or may
	// not have reached Redis, so there may be one flight more than
	// replies to come. Until every flight has been answered, no reply is
	// cached and no reader joins a flight.
	unpaired bool
}

// flight is one read of a (key, command) sent to Redis and not answered yet.
type flight struct {
	done     chan struct{}
	val      rueidis.RedisMessage
	err      error
	ttl      time.Duration
	stale    bool // overtaken by a local write: do not cache, do not let new readers join
	resolved bool // done is closed: val and err are final
}

// resolve hands the result to the readers waiting on f, once; a flight whose
// joined readers were already released stays in the queue until its reply
// comes, so that replies keep meeting the flights they belong to.
func (f *flight) resolve(val rueidis.RedisMessage, err error) {
	if f.resolved {
		return
	}
	f.val, f.err, f.resolved = val, err, true
	close(f.done)
}

// Wait implements rueidis.CacheEntry.
func (f *flight) Wait(ctx context.Context) (rueidis.RedisMessage, error) {
	if ctx.Done() == nil {
		<-f.done
		return f.val, f.err
	}
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		return rueidis.RedisMessage{}, ctx.Err()
	}
}

// promoteEvery moves a hit entry to the back of the LRU list only once every so
// many hits, so the hot read path stays under the read lock.
const promoteEvery = 64

// Flight implements rueidis.CacheStore. Expiry is measured on the
// package's monotonic clock (see Cell), not on rueidis' now.
func (s *Store) Flight(key, cmd string, ttl time.Duration, _ time.Time) (rueidis.RedisMessage, rueidis.CacheEntry) {
	nowMs := monoMs()
	if c := s.hit(key, cmd, nil, nowMs); c != nil {
		return c.msg, nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// The connection is going away: let rueidis send the read uncached.
		s.reg.misses.Add(1)
		return rueidis.RedisMessage{}, nil
	}
	ks := s.keys[key]
	if ks == nil {
		ks = &keyState{cmds: make(map[string]*entry, 1)}
		s.keys[key] = ks
	}
	e := ks.cmds[cmd]
	if e == nil {
		e = &entry{key: key, cmd: cmd}
		ks.cmds[cmd] = e
	}
	if e.elem != nil {
		if e.cell.expireAt > nowMs {
			s.reg.hits.Add(1)
			return e.cell.msg, nil
		}
		s.dropValue(e)
	}
	if n := len(e.flights); n > 0 && !e.flights[n-1].stale {
		s.reg.joined.Add(1)
		return rueidis.RedisMessage{}, e.flights[n-1]
	}
	s.reg.misses.Add(1)
	e.flights = append(e.flights, &flight{done: make(chan struct{}), ttl: ttl, stale: e.unpaired})
	return rueidis.RedisMessage{}, nil
}

// hit returns the unexpired cell cached for key and the command cmd, or
// cmdBytes when not nil (a command composed in a buffer: looking it up
// allocates nothing), counting the hit; nil otherwise. Read lock only.
func (s *Store) hit(key, cmd string, cmdBytes []byte, nowMs int64) *Cell {
	s.mu.RLock()
	ks := s.keys[key]
	if ks == nil {
		s.mu.RUnlock()
		return nil
	}
	var e *entry
	if cmdBytes == nil {
		e = ks.cmds[cmd]
	} else {
		e = ks.cmds[string(cmdBytes)]
	}
	if e == nil || e.elem == nil || e.cell.expireAt <= nowMs {
		s.mu.RUnlock()
		return nil
	}
	c := e.cell
	promote := e.hits.Add(1)%promoteEvery == 0
	s.mu.RUnlock()
	s.reg.hits.Add(1)
	if promote {
		s.mu.Lock()
		if e.elem != nil {
			s.lru.MoveToBack(e.elem)
		}
		s.mu.Unlock()
	}
	return c
}

// Update implements rueidis.CacheStore: the reply of the oldest flight of
// (key, cmd) has arrived.
func (s *Store) Update(key, cmd string, val rueidis.RedisMessage) (pxat int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key, cmd)
	if e == nil || len(e.flights) == 0 {
		return 0
	}
	f := e.popFlight()
	pxat = time.Now().Add(f.ttl).UnixMilli()
	f.resolve(val, nil)
	if f.stale || s.closed {
		s.reg.staleReplies.Add(1)
		s.cleanup(e)
		return pxat
	}
	if e.elem != nil {
		s.dropValue(e)
	}
	e.cell = &Cell{msg: val, expireAt: monoMs() + f.ttl.Milliseconds(), store: s, entry: e}
	e.elem = s.lru.PushBack(e)
	s.reg.index(e)
	s.reg.entries.Add(1)
	s.evict()
	return pxat
}

// Cancel implements rueidis.CacheStore: a read of (key, cmd) failed.
//
// An error from Redis or from the connection answers the oldest flight, as a
// reply would. A context error does not: rueidis reports it when the caller
// stopped waiting, whether or not the read had been written to the
// connection, so its reply may still come or never will. Dropping a flight
// for it would let that late reply answer (and be cached for) a newer read,
// one that may have been sent after this client's own write
// (read-your-writes broken); keeping it may leave the newest flight without
// a reply. So the flights stay, none is cached, readers that joined the
// newest one are told to read again (ErrRetry, never another caller's
// context error), and no reader joins until every flight has been answered.
func (s *Store) Cancel(key, cmd string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(key, cmd)
	if e == nil || len(e.flights) == 0 {
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		s.reg.abandoned.Add(1)
		e.unpaired = true
		for _, f := range e.flights {
			f.stale = true
		}
		e.flights[len(e.flights)-1].resolve(rueidis.RedisMessage{}, ErrRetry)
		return
	}
	e.popFlight().resolve(rueidis.RedisMessage{}, err)
	s.cleanup(e)
}

// popFlight removes the oldest flight, the one the next reply answers. The
// count is whole again when none is left.
func (e *entry) popFlight() *flight {
	f := e.flights[0]
	e.flights[0] = nil
	e.flights = e.flights[1:]
	if len(e.flights) == 0 {
		e.unpaired = false
	}
	return f
}

// Delete implements rueidis.CacheStore: Redis invalidated keys (nil: all of
// them). Reads in flight are kept: on one connection their replies are
// ordered with the invalidation, so they carry values at least as new.
func (s *Store) Delete(keys []rueidis.RedisMessage) {
	if keys == nil {
		s.reg.flushes.Add(1)
		s.flush(nil, false)
		s.reg.epoch.Add(1) // after the flush, as in Registry.Invalidate
		return
	}
	s.reg.invalidations.Add(uint64(len(keys)))
	names := make([]string, 0, len(keys))
	for i := range keys {
		if k, err := keys[i].ToString(); err == nil {
			names = append(names, k)
		}
	}
	s.mu.Lock()
	for _, k := range names {
		if ks := s.keys[k]; ks != nil {
			for _, e := range ks.cmds {
				if e.elem != nil {
					s.dropValue(e)
				}
				s.cleanup(e)
			}
		}
	}
	s.mu.Unlock()
	s.reg.noteChange(names...) // after the drop, as in Registry.Invalidate
}

// Close implements rueidis.CacheStore: the connection broke. Everything is
// dropped and waiting readers get the error.
func (s *Store) Close(err error) {
	if err == nil {
		err = ErrClosed
	}
	s.flush(err, true)
	s.mu.Lock()
	wasClosed := s.closed
	s.closed = true
	s.mu.Unlock()
	if !wasClosed {
		storeClosed()
	}
	s.reg.forget(s)
	// The connection's tracking is gone with it; the epoch moves after the
	// values are gone, as in Registry.Invalidate.
	s.reg.epoch.Add(1)
}

func (s *Store) invalidateLocal(keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		ks := s.keys[k]
		if ks == nil {
			continue
		}
		for _, e := range ks.cmds {
			if e.elem != nil {
				s.dropValue(e)
			}
			for _, f := range e.flights {
				f.stale = true
			}
			s.cleanup(e)
		}
	}
}

// flush drops every cached value. With failErr != nil pending readers are
// released with that error; with markStale pending flights become stale.
func (s *Store) flush(failErr error, markStale bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, ks := range s.keys {
		for _, e := range ks.cmds {
			if e.elem != nil {
				s.dropValue(e)
			}
			if failErr != nil {
				for _, f := range e.flights {
					f.resolve(rueidis.RedisMessage{}, failErr)
				}
				e.flights = nil
			} else if markStale {
				for _, f := range e.flights {
					f.stale = true
				}
			}
		}
		if failErr != nil {
			delete(s.keys, k)
		}
	}
	if failErr == nil {
		for _, ks := range s.keys {
			for _, e := range ks.cmds {
				s.cleanup(e)
			}
		}
	}
}

func (s *Store) lookup(key, cmd string) *entry {
	if ks := s.keys[key]; ks != nil {
		return ks.cmds[cmd]
	}
	return nil
}

func (s *Store) dropValue(e *entry) {
	s.reg.unindex(e)
	s.lru.Remove(e.elem)
	e.elem = nil
	e.cell.dead.Store(true)
	e.cell = nil
	s.reg.entries.Add(-1)
}

// index adds the value of e to the registry's index (see Registry.cells).
// The caller holds e's store's lock.
func (r *Registry) index(e *entry) {
	r.cellMu.Lock()
	cmds := r.cells[e.key]
	if cmds == nil {
		cmds = make(map[string]*Cell, 1)
		r.cells[e.key] = cmds
	}
	cmds[e.cmd] = e.cell
	r.cellMu.Unlock()
}

// unindex removes the value of e from the index, unless another
// connection's value replaced it there. The caller holds e's store's lock.
func (r *Registry) unindex(e *entry) {
	r.cellMu.Lock()
	if cmds := r.cells[e.key]; cmds[e.cmd] == e.cell {
		delete(cmds, e.cmd)
		if len(cmds) == 0 {
			delete(r.cells, e.key)
		}
	}
	r.cellMu.Unlock()
}

// promote moves the entry of c to the back of its store's LRU list, if c is
// still its value.
func (s *Store) promote(c *Cell) {
	s.mu.Lock()
	if e := c.entry; e.cell == c && e.elem != nil {
		s.lru.MoveToBack(e.elem)
	}
	s.mu.Unlock()
}

// cleanup forgets an entry that holds neither a value nor flights.
func (s *Store) cleanup(e *entry) {
	if e.elem != nil || len(e.flights) > 0 {
		return
	}
	ks := s.keys[e.key]
	if ks == nil {
		return
	}
	if ks.cmds[e.cmd] == e {
		delete(ks.cmds, e.cmd)
	}
	if len(ks.cmds) == 0 {
		delete(s.keys, e.key)
	}
}

func (s *Store) evict() {
	for s.lru.Len() > s.reg.maxEntries {
		e := s.lru.Front().Value.(*entry)
		s.dropValue(e)
		s.cleanup(e)
		s.reg.evictions.Add(1)
	}
}

// Get returns the value cached on some connection for key and the command
// cmd with one argument arg (rueidis' cache key of the command is cmd+arg,
// e.g. "HGET"+field; arg "" for commands without one, such as GET), without
// building the command or fetching anything. A value cached on any
// connection is as current as one on the connection rueidis would pick:
// each is tracked by Redis on its own connection, and Invalidate drops it
// from all of them. It counts a hit; a miss is not counted (the caller
// then reads through rueidis, which counts it).
func (r *Registry) Get(key, cmd, arg string) (rueidis.RedisMessage, bool) {
	if c := r.Cell(key, cmd, arg); c != nil {
		return c.msg, true
	}
	return rueidis.RedisMessage{}, false
}

// Cell is Get returning the cell that holds the value (nil when none), so
// that the caller can keep what it derives from the value with it (see
// Cell.Memo).
func (r *Registry) Cell(key, cmd, arg string) *Cell {
	r.cellMu.RLock()
	c := cellOf(r.cells[key], cmd, arg)
	r.cellMu.RUnlock()
	return r.hit(c)
}

// CellOfKey is Cell with the key in a buffer: looking it up allocates
// nothing (making a string of a key costs a cached lookup more than the
// lookup itself).
func (r *Registry) CellOfKey(key []byte, cmd, arg string) *Cell {
	r.cellMu.RLock()
	c := cellOf(r.cells[string(key)], cmd, arg)
	r.cellMu.RUnlock()
	return r.hit(c)
}

// Reuse returns c, a cell the caller kept from an earlier Cell, if its
// value is still cached and unexpired, counting a hit as Cell does; nil
// otherwise (c nil included). It spares the look-up in the index.
func (r *Registry) Reuse(c *Cell) *Cell { return r.hit(c) }

// cellOf returns the cell of the command cmd with argument arg among the
// cells of a key (see Cell); r.cellMu is held.
func cellOf(cmds map[string]*Cell, cmd, arg string) *Cell {
	if arg == "" {
		return cmds[cmd]
	}
	if cmds == nil {
		return nil
	}
	var buf [128]byte
	return cmds[string(append(append(buf[:0], cmd...), arg...))]
}

// hit returns c if it holds a live value, counting the hit; nil otherwise.
func (r *Registry) hit(c *Cell) *Cell {
	if c == nil || c.dead.Load() || c.expireAt <= coarseMs() {
		return nil
	}
	if c.hits.Add(1)%promoteEvery == 0 {
		c.store.promote(c)
	}
	r.hits.Add(1)
	return c
}

// Cached reports whether a complete, unexpired value of (key, cmd) is cached
// on some connection, without fetching anything. cmd is rueidis' cache key of
// the command: the command name and its arguments other than the key,
// concatenated (e.g. "GET", or "HGET"+field). Callers use it only to choose
// between a cached read and another strategy, never for correctness.
func (r *Registry) Cached(key, cmd string) bool {
	r.cellMu.RLock()
	c := r.cells[key][cmd]
	r.cellMu.RUnlock()
	return c != nil && !c.dead.Load() && c.expireAt > coarseMs()
}
