package meta

import (
	"context"
	"sync"
	"syscall"
)

// Batch sizes of the shared id counters, as the official client uses them.
// Each client reserves a range with one INCRBY and hands ids out locally.
const (
	inodeBatch = 1024
	sliceBatch = 4096
)

// idAllocator hands out ids from ranges reserved with INCRBY on a shared
// counter (nextinode, nextchunk). The counter holds the highest id reserved
// by any client. The next range is fetched in the background when about a
// tenth of the current one is left, so allocation rarely waits for Redis.
type idAllocator struct {
	e         *Engine
	key       string
	batch     int64
	skipBelow uint64 // ids below this are never handed out (0 and the root)

	mu       sync.Mutex
	next     uint64 // next id to hand out
	end      uint64 // one past the last id of the current range
	spare    [2]uint64
	hasSpare bool
	fetching bool
	fetched  *sync.Cond
	lastErr  error
}

func (a *idAllocator) cond() *sync.Cond {
	if a.fetched == nil {
		a.fetched = sync.NewCond(&a.mu)
	}
	return a.fetched
}

// Next returns a new id.
func (a *idAllocator) Next(ctx context.Context) (uint64, error) {
	if a.e.readOnly() {
		return 0, syscall.EROFS
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		for a.next < a.end {
			id := a.next
			a.next++
			if uint64(a.end-a.next) == uint64(a.batch/10) && !a.hasSpare && !a.fetching {
				a.prefetch()
			}
			if id >= a.skipBelow {
				return id, nil
			}
		}
		if a.hasSpare {
			a.next, a.end = a.spare[0], a.spare[1]
			a.hasSpare = false
			continue
		}
		if !a.fetching {
			a.fetching = true
			a.mu.Unlock()
			lo, hi, err := a.reserve(ctx)
			a.mu.Lock()
			a.fetching = false
			a.cond().Broadcast()
			if err != nil {
				return 0, err
			}
			a.next, a.end = lo, hi
			continue
		}
		// Another goroutine is reserving: wait for it.
		a.cond().Wait()
		if a.lastErr != nil && a.next >= a.end && !a.hasSpare {
			err := a.lastErr
			a.lastErr = nil
			return 0, err
		}
	}
}

// prefetch reserves the next range in the background. Called with mu held.
func (a *idAllocator) prefetch() {
	a.fetching = a.e.spawn(nil, func() {
		lo, hi, err := a.reserve(a.e.life)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.fetching = false
		if err == nil {
			a.spare = [2]uint64{lo, hi}
			a.hasSpare = true
		} else {
			a.lastErr = err
		}
		a.cond().Broadcast()
	})
}

// discard drops the ids reserved but not handed out yet, so that the next
// one comes from a fresh range: used when an id turned out to be taken,
// which happens only if the shared counter went back (a failover lost its
// last increments, see docs/deployments.md).
func (a *idAllocator) discard() {
	a.mu.Lock()
	a.next = a.end
	a.hasSpare = false
	a.mu.Unlock()
}

// reserve reserves the next range. INCRBY is sent again after a fault (its
// reply lost, the server restarting, a failover): a range reserved twice
// only leaves unused ids, which is harmless.
func (a *idAllocator) reserve(ctx context.Context) (lo, hi uint64, err error) {
	v, err := a.e.rdb.Do(ctx, a.e.rdb.B().Incrby().Key(a.key).Increment(a.batch).Build().ToRetryable()).AsInt64()
	if err != nil {
		return 0, 0, a.e.redisErr("INCRBY "+a.key, err)
	}
	return uint64(v - a.batch + 1), uint64(v + 1), nil
}

// NewInode allocates an inode number.
func (e *Engine) newInode(ctx context.Context) (Ino, error) {
	id, err := e.inodes.Next(ctx)
	return Ino(id), err
}

// NewSlice allocates a slice id from the volume's shared slice counter.
func (e *Engine) NewSlice(ctx context.Context) (uint64, error) {
	return e.slices.Next(ctx)
}
