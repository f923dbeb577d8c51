package chunk

import (
	"container/list"
	"sync"
)

// memCache keeps recently read blocks in memory, least recently used
// evicted first, up to a number of bytes. Blocks in it are never modified.
type memCache struct {
	capacity int64

	mu    sync.Mutex
	used  int64
	order *list.List // front: most recently used; values are *memEntry
	index map[string]*list.Element
}

type memEntry struct {
	key   string
	block []byte
}

func newMemCache(capacity int64) *memCache {
	return &memCache{capacity: capacity, order: list.New(), index: make(map[string]*list.Element)}
}

func (c *memCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.index[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*memEntry).block, true
}

// read copies the block's bytes from off into p, if the block is cached.
func (c *memCache) read(key string, p []byte, off int) bool {
	b, ok := c.get(key)
	if !ok || off+len(p) > len(b) {
		return false
	}
	copy(p, b[off:])
	return true
}

func (c *memCache) contains(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.index[key]
	return ok
}

func (c *memCache) put(key string, block []byte) {
	size := int64(len(block))
	if size > c.capacity {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.index[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	for c.used+size > c.capacity {
		c.evict(c.order.Back())
	}
	c.index[key] = c.order.PushFront(&memEntry{key, block})
	c.used += size
}

func (c *memCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.index[key]; ok {
		c.evict(el)
	}
}

func (c *memCache) evict(el *list.Element) {
	e := c.order.Remove(el).(*memEntry)
	delete(c.index, e.key)
	c.used -= int64(len(e.block))
}
