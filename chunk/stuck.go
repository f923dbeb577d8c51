package chunk

import (
	"fmt"
	"sync"
	"time"
)

// A cache disk can hang rather than fail (a dead network file system, a
// dying drive): its operations never return. The operations of a cache
// directory are timed; one that has run longer than maxIODuration makes
// the directory step aside, so that later reads and writes go to the
// object storage instead of joining it (the stuck one waits for the disk,
// as nothing can interrupt it).
const maxIODuration = 30 * time.Second

// ioClock keeps the start times of a directory's operations in flight.
type ioClock struct {
	mu      sync.Mutex
	next    uint64
	started map[uint64]time.Time
}

// begin registers an operation; call the result when it ends.
func (k *ioClock) begin() func() {
	k.mu.Lock()
	if k.started == nil {
		k.started = map[uint64]time.Time{}
	}
	id := k.next
	k.next++
	k.started[id] = time.Now()
	k.mu.Unlock()
	return func() {
		k.mu.Lock()
		delete(k.started, id)
		k.mu.Unlock()
	}
}

// oldest is how long the oldest operation in flight has run (0: none).
func (k *ioClock) oldest() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	var d time.Duration
	for _, t := range k.started {
		d = max(d, time.Since(t))
	}
	return d
}

// checkStuck steps the directory aside while one of its operations has
// been running for longer than its limit. A directory already aside stays
// aside as long as that operation has not returned (a hung disk would
// catch a new operation on each return otherwise).
func (c *diskCache) checkStuck() {
	d := c.clock.oldest()
	if d <= c.maxIO {
		return
	}
	if c.down() {
		c.downTill.Store(time.Now().Add(stepAside).UnixNano())
		return
	}
	c.failed("operation", "", fmt.Errorf("stuck for %v", d.Round(time.Second)))
}
