package chunk

import (
	"context"
	"errors"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// What `warmup` asks of the chunk store, slice by slice: fill the disk
// cache with every block of a slice, drop them from it, or tell which are
// cached where.

// FillCache downloads the blocks of slice id (size bytes) that the disk
// cache does not hold and writes them there at once (also with
// CachePartialOnly: warming up asks for them). Without a disk cache the
// blocks go to the memory cache. It returns the last error; every block is
// tried.
func (s *Store) FillCache(ctx context.Context, id uint64, size uint32) error {
	var last error
	for i, blen := range objstore.BlockSizes(s.conf.BlockSize, size) {
		key := s.blockKey(id, i, blen)
		if s.disk == nil {
			if !s.mem.contains(key) {
				if err := s.download(ctx, key, blen, false); err != nil {
					last = err
				}
			}
			continue
		}
		if s.disk.contains(key) {
			continue
		}
		block := make([]byte, blen)
		if err := s.getBlock(ctx, key, block); err != nil {
			last = err
			continue
		}
		if err := s.disk.pick(key).storeNow(key, block); err != nil {
			last = err
		}
	}
	return last
}

// EvictCache drops the blocks of slice id (size bytes) from the caches;
// staged blocks (not uploaded yet) stay.
func (s *Store) EvictCache(id uint64, size uint32) {
	for i, blen := range objstore.BlockSizes(s.conf.BlockSize, size) {
		key := s.blockKey(id, i, blen)
		s.mem.remove(key)
		if s.disk != nil {
			if d := s.disk.find(key); d != nil && !d.isStaged(key) {
				d.remove(key)
			}
		}
	}
}

// CheckCache calls found for every block of slice id (size bytes) with
// whether the disk cache holds it, the cache directory (with the volume's
// UUID and a trailing separator; "" when not cached) and its length.
func (s *Store) CheckCache(id uint64, size uint32, found func(cached bool, dir string, blen int)) {
	for i, blen := range objstore.BlockSizes(s.conf.BlockSize, size) {
		key := s.blockKey(id, i, blen)
		if s.disk == nil {
			found(false, "", blen)
			continue
		}
		if d := s.disk.find(key); d != nil {
			found(true, d.dir, blen) // with the trailing separator, as juicefs shows it
		} else {
			found(false, "", blen)
		}
	}
}

// storeNow writes a block to the cache directory and indexes it, unless
// the directory is failing or short of space.
func (c *diskCache) storeNow(key string, block []byte) error {
	if c.down() || c.lowSpace.Load() {
		return errors.New("the cache directory is short of space or failing")
	}
	c.mu.Lock()
	full := c.full()
	c.mu.Unlock()
	if full {
		return errors.New("the cache is full (eviction none)")
	}
	end := c.clock.begin()
	err := writeCacheFile(c.path(key), block, c.checksum != ChecksumNone, c.fileMode, c.dirMode)
	end()
	if err != nil {
		c.failed("write", key, err)
		return err
	}
	c.metrics.cacheWrites.Inc()
	c.metrics.cacheWriteBytes.Add(float64(len(block)))
	c.add(key, len(block), time.Now().UnixNano(), false)
	return nil
}

func (c *diskCache) isStaged(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.index.get(key)
	return ok && e.staged
}
