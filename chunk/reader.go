package chunk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rueidisfs/rueidisfs/compress"
)

// ReadAt fills p with the bytes of slice id (size bytes long) from slice
// offset off. The range must lie inside the slice. Blocks come from the
// memory cache, the disk cache or the object storage; a block that cannot
// be read (missing, short, corrupt, undecodable object) fails the read with
// an error wrapping ErrIO that names the object and the reason. Wrong bytes
// are never returned.
func (s *Store) ReadAt(ctx context.Context, id uint64, size uint32, p []byte, off int) error {
	if off < 0 || off+len(p) > int(size) {
		return fmt.Errorf("slice %d (%d bytes): read of %d bytes at %d is outside it (%w)", id, size, len(p), off, ErrIO)
	}
	bs := s.conf.BlockSize
	for len(p) > 0 {
		indx, boff := off/bs, off%bs
		blen := s.blockLen(size, indx)
		n := min(len(p), blen-boff)
		if err := s.readBlock(ctx, s.blockKey(id, indx, blen), blen, p[:n], boff); err != nil {
			return err
		}
		p, off = p[n:], off+n
	}
	return nil
}

// readBlock fills p from offset boff of the block named key, blen bytes
// long.
func (s *Store) readBlock(ctx context.Context, key string, blen int, p []byte, boff int) error {
	start := time.Now()
	if s.mem.read(key, p, boff) {
		if s.conf.CacheDir == "memory" {
			s.metrics.hit(len(p), start)
		}
		return nil
	}
	if s.disk != nil && s.disk.read(key, blen, p, boff) || s.wb != nil && s.wb.read(key, blen, p, boff) {
		s.metrics.hit(len(p), start)
		return nil
	}
	s.metrics.miss(len(p))
	// Uncompressed: a small part of a block is read with a range request,
	// and the whole block fetched for the cache in the background, unless
	// the whole block is on its way already (readahead): then the reader
	// waits for it rather than read the same bytes twice.
	if s.codec.Seekable() && !s.conf.WholeObjects && boff > 0 && len(p) <= blen/4 && !s.prefetch.pendingKey(key) {
		err := s.readRange(ctx, key, p, boff)
		if err == nil {
			s.prefetch.add(key, blen)
			return nil
		}
		if ctx.Err() != nil {
			return objectError("read", key, err)
		}
		// Fall back to the whole object, which tells more.
	}
	return s.fetch(ctx, key, blen, p, boff)
}

// readRange reads exactly len(p) bytes of key from off.
func (s *Store) readRange(ctx context.Context, key string, p []byte, off int) error {
	if err := s.downloadSlot(ctx); err != nil {
		return err
	}
	defer func() { <-s.downloads }()
	r, err := s.storage.Get(ctx, key, int64(off), int64(len(p)))
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("object shorter than %d bytes", off+len(p))
		}
		return err
	}
	return nil
}

func (s *Store) downloadSlot(ctx context.Context) error {
	select {
	case s.downloads <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch fills p from offset boff of the block named key (blen bytes),
// downloading the block once for all concurrent readers into the memory
// cache, and copying from there. When the cache cannot keep the block, the
// reader downloads it on its own.
func (s *Store) fetch(ctx context.Context, key string, blen int, p []byte, boff int) error {
	for attempt := 0; attempt < 2 && int64(blen) <= s.mem.capacity; attempt++ {
		ch := s.fetches.DoChan(key, func() (any, error) {
			// Shared by several callers: not bound to the first one's
			// context, which may be cancelled while others still wait.
			return nil, s.download(context.WithoutCancel(ctx), key, blen, s.cachesDownloads(blen))
		})
		select {
		case r := <-ch:
			if r.Err != nil {
				return r.Err
			}
		case <-ctx.Done():
			return objectError("read", key, ctx.Err())
		}
		if s.mem.read(key, p, boff) {
			return nil
		}
	}
	block := make([]byte, blen)
	if err := s.getBlock(ctx, key, block); err != nil {
		return err
	}
	if s.disk != nil && s.cachesDownloads(blen) {
		s.disk.store(key, block)
	}
	copy(p, block[boff:])
	return nil
}

// cachesDownloads reports whether a block of blen bytes read from the
// object storage goes to the disk cache: with CachePartialOnly only short
// blocks do.
func (s *Store) cachesDownloads(blen int) bool {
	return !s.conf.CachePartialOnly || blen < s.conf.BlockSize
}

// download GETs the object key, decodes it into a block of blen bytes and
// hands it to the memory cache, and to the disk cache with toDisk.
func (s *Store) download(ctx context.Context, key string, blen int, toDisk bool) error {
	if s.mem.contains(key) {
		return nil // filled while this download waited its turn
	}
	if err := s.downloadSlot(ctx); err != nil {
		return objectError("read", key, err)
	}
	block := s.blocks.get(blen)
	err := s.getBlock(ctx, key, block)
	<-s.downloads
	if err != nil {
		s.blocks.put(block)
		return err
	}
	if s.disk != nil && toDisk {
		s.disk.store(key, block)
	}
	if !s.mem.put(key, block) {
		s.blocks.put(block)
	}
	return nil
}

// getBlock reads the object key and decodes it into block. The body may be
// at most the compress bound of the block: a longer object is refused
// (one more byte is read to tell).
func (s *Store) getBlock(ctx context.Context, key string, block []byte) error {
	r, err := s.storage.Get(ctx, key, 0, -1)
	if err != nil {
		return objectError("read", key, err)
	}
	defer r.Close()
	var buf []byte
	if s.codec.Seekable() {
		// Uncompressed: read straight into the block (and one byte past).
		var extra [1]byte
		n, err := io.ReadFull(r, block)
		if err == nil {
			if m, _ := r.Read(extra[:]); m > 0 {
				return objectError("read", key, fmt.Errorf("object longer than its block of %d bytes", len(block)))
			}
			return nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return objectError("decode", key, fmt.Errorf("%w: %d bytes stored for a block of %d", compress.ErrCorrupt, n, len(block)))
		}
		return objectError("read", key, err)
	}
	buf = s.bodies.get(s.bodies.size)
	defer s.bodies.put(buf)
	limit := s.codec.Bound(len(block)) + 1
	if len(buf) < limit {
		buf = make([]byte, limit)
	}
	n, err := io.ReadFull(r, buf[:limit])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return objectError("read", key, err)
	}
	if n == limit {
		return objectError("read", key, fmt.Errorf("object longer than the %d bytes a %d-byte block can take", limit-1, len(block)))
	}
	if err := s.codec.Decompress(block, buf[:n]); err != nil {
		return objectError("decode", key, err)
	}
	return nil
}

// cacheWritten keeps a block just uploaded in the caches, and reports
// whether the memory cache kept the buffer itself (the disk cache copies
// it).
func (s *Store) cacheWritten(key string, block []byte) bool {
	if s.disk != nil {
		s.disk.store(key, block)
		return false
	}
	return s.mem.put(key, block)
}
