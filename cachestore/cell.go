package cachestore

import (
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
}

type memo struct{ v any }

// Message returns the cached reply.
func (c *Cell) Message() rueidis.RedisMessage { return c.msg }

// Valid reports whether the value is still cached and unexpired.
func (c *Cell) Valid() bool { return !c.dead.Load() && monoMs() < c.expireAt }

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

// CountHit counts a read answered from what a caller derived from a cell it
// kept (see Cell), which the store does not see, as a hit.
func (r *Registry) CountHit() { r.hits.Add(1) }

// start is the origin of monoMs.
var start = time.Now()

// monoMs is the clock of expiry: milliseconds on the monotonic clock, which
// costs one reading (time.Now reads the wall clock too).
func monoMs() int64 { return int64(time.Since(start) / time.Millisecond) }
