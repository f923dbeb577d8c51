package chunk

import (
	"context"
	"fmt"
	"time"
)

// putBlock compresses a block and stores it, trying up to tries times, at
// most MaxUploads at a time in the process.
func (s *Store) putBlock(ctx context.Context, key string, data []byte, tries int) error {
	select {
	case s.uploads <- struct{}{}:
	case <-ctx.Done():
		return objectError("upload", key, ctx.Err())
	}
	defer func() { <-s.uploads }()

	buf := s.bodies.get(s.bodies.size)
	defer s.bodies.put(buf)
	body, err := s.codec.Compress(buf, data)
	if err != nil {
		return objectError("compress", key, err)
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(s.conf.RetryDelay(attempt))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return objectError("upload", key, fmt.Errorf("%w (after %d attempts, last: %v)", ctx.Err(), attempt, err))
			}
		}
		if err = s.storage.Put(ctx, key, body); err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt+1 >= tries {
			return objectError("upload", key, err)
		}
		s.log.Debug(fmt.Sprintf("upload object %s (attempt %d): %v", key, attempt+1, err))
	}
}

// bodyBuffers keeps a few buffers for compressed bodies.
type bodyBuffers = blockPool

func newBodyBuffers(size, keep int) *bodyBuffers { return newBlockPool(size, keep) }
