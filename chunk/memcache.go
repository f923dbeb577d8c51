package chunk

import (
	"sync"
	"sync/atomic"
	"time"
)

// memCache keeps recently read blocks in memory up to a number of bytes,
// and owns them: readers copy out under its read lock, so a block evicted
// (under the write lock) has no reader left and its buffer is handed to the
// block pool for the next download. Eviction is "2-random": of two cached
// blocks picked at random, the one read longer ago goes.
type memCache struct {
	capacity int64
	pool     *blockPool

	mu      sync.RWMutex
	used    int64
	entries *sampleSet[*memEntry]
}

type memEntry struct {
	block []byte
	atime atomic.Int64
}

func memLastUse(e *memEntry) int64 { return e.atime.Load() }

func newMemCache(capacity int64, pool *blockPool) *memCache {
	return &memCache{capacity: capacity, pool: pool, entries: newSampleSet[*memEntry]()}
}

// read copies the block's bytes from off into p, if the block is cached.
func (c *memCache) read(key string, p []byte, off int) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries.get(key)
	if !ok || off+len(p) > len(e.block) {
		return false
	}
	copy(p, e.block[off:])
	e.atime.Store(time.Now().UnixNano())
	return true
}

func (c *memCache) contains(key string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.entries.get(key)
	return ok
}

// put hands block to the cache, which owns it from then on. It reports
// false (and the caller keeps the block) when the cache cannot hold it.
func (c *memCache) put(key string, block []byte) bool {
	size := int64(len(block))
	if size > c.capacity {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries.get(key); ok {
		return false
	}
	for c.used+size > c.capacity && c.entries.len() > 0 {
		c.evict(c.entries.victim(memLastUse))
	}
	e := &memEntry{block: block}
	e.atime.Store(time.Now().UnixNano())
	c.entries.add(key, e)
	c.used += size
	return true
}

func (c *memCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evict(key)
}

// evict drops key and recycles its buffer; c.mu is held for writing.
func (c *memCache) evict(key string) {
	e, ok := c.entries.remove(key)
	if !ok {
		return
	}
	c.used -= int64(len(e.block))
	c.pool.put(e.block)
}

// blockPool keeps a few buffers of a full block for downloads and for the
// blocks writers fill. Unlike a sync.Pool it survives garbage collections,
// which multi-megabyte buffers trigger often; and a buffer from it is not
// zeroed again.
type blockPool struct {
	size int
	free chan []byte
}

func newBlockPool(size, keep int) *blockPool {
	return &blockPool{size: size, free: make(chan []byte, keep)}
}

// get returns a buffer of n bytes (at most the pool's size), with
// unspecified content.
func (p *blockPool) get(n int) []byte {
	if n == p.size {
		select {
		case b := <-p.free:
			return b[:n]
		default:
		}
	}
	return make([]byte, n)
}

func (p *blockPool) put(b []byte) {
	if cap(b) != p.size {
		return
	}
	select {
	case p.free <- b[:p.size]:
	default:
	}
}
