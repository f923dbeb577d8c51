package cachestore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Cell is one cached value: the reply of one command of one key, for as
// long as the cache holds it. A cell dies when its value leaves the cache
// for any reason (an invalidation by Redis or by this client, a newer
// reply, eviction, a flush, its connection closing) and never comes back
// to life: a later value of the same command gets a new cell. Whatever a
// caller derives from the value (a decoded form, see Memo) therefore lives
// exactly as long as the value, and a caller that keeps the cell can tell
// with Valid, without looking the key up again, whether what it derived is
// still current.
type Cell struct {
	msg      rueidis.RedisMessage
	expireAt int64 // monoMs after which the value is not used
	dead     atomic.Bool
	memo     atomic.Pointer[memo]

	store *Store        // the connection's store that cached it
	entry *entry        // its entry there
	hits  atomic.Uint32 // hits through the registry (see Registry.Cell)
}

type memo struct{ v any }

// Message returns the cached reply.
func (c *Cell) Message() rueidis.RedisMessage { return c.msg }

// Valid reports whether the value is still cached and unexpired (on the
// coarse clock, see coarseMs).
func (c *Cell) Valid() bool { return !c.dead.Load() && coarseMs() < c.expireAt }

// Memo returns what SetMemo attached to the cell, or nil.
func (c *Cell) Memo() any {
	if m := c.memo.Load(); m != nil {
		return m.v
	}
	return nil
}

// SetMemo attaches v, something derived from the cell's value alone (so
// that any caller deriving it again would get the same), to the cell. It
// must not be modified afterwards: every reader of the cell shares it.
func (c *Cell) SetMemo(v any) { c.memo.Store(&memo{v}) }

// start is the origin of monoMs.
var start = time.Now()

// monoMs is the clock of expiry: milliseconds on the monotonic clock, which
// costs one reading (time.Now reads the wall clock too).
func monoMs() int64 { return int64(time.Since(start) / time.Millisecond) }

// Expiry of hits is checked on a coarse clock: monoMs as it was at the last
// tick, ticks coming every coarseTick while any store exists. Reading a
// clock costs from 20 ns to a few hundred on a virtual machine, several
// times what a hit costs otherwise; a value may then be used up to
// coarseTick past its TTL, which is a bound against lost invalidations, not
// an exact life.
const coarseTick = 100 * time.Millisecond

var coarse struct {
	ms     atomic.Int64
	mu     sync.Mutex
	stores int  // live stores, of every registry
	timer  bool // a tick is scheduled
}

// coarseMs returns the coarse clock.
func coarseMs() int64 { return coarse.ms.Load() }

// storeOpened counts a new store and starts the ticks.
func storeOpened() {
	coarse.mu.Lock()
	defer coarse.mu.Unlock()
	coarse.stores++
	coarse.ms.Store(monoMs())
	if !coarse.timer {
		coarse.timer = true
		time.AfterFunc(coarseTick, tick)
	}
}

// storeClosed counts a closed store; the ticks stop with the last one.
func storeClosed() {
	coarse.mu.Lock()
	coarse.stores--
	coarse.mu.Unlock()
}

// tick advances the coarse clock and schedules the next tick while stores
// exist (between ticks no goroutine runs).
func tick() {
	coarse.ms.Store(monoMs())
	coarse.mu.Lock()
	defer coarse.mu.Unlock()
	if coarse.stores > 0 {
		time.AfterFunc(coarseTick, tick)
	} else {
		coarse.timer = false
	}
}
