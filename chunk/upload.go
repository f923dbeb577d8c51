package chunk

import (
	"context"
	"fmt"
	"time"
)

// putBlock compresses a block and stores it, trying again after failures
// (UploadRetries times), at most MaxUploads at a time in the process.
func (s *Store) putBlock(ctx context.Context, key string, data []byte) error {
	select {
	case s.uploads <- struct{}{}:
	case <-ctx.Done():
		return objectError("upload", key, ctx.Err())
	}
	defer func() { <-s.uploads }()

	bp := s.bodyBuffer(len(data))
	defer s.bodyPool.Put(bp)
	body, err := s.codec.Compress(*bp, data)
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
		if ctx.Err() != nil || attempt >= s.conf.UploadRetries {
			return objectError("upload", key, err)
		}
		s.log.Debug(fmt.Sprintf("upload object %s (attempt %d): %v", key, attempt+1, err))
	}
}

// bodyBuffer returns a pooled buffer for the compressed body of n bytes.
func (s *Store) bodyBuffer(n int) *[]byte {
	bound := s.codec.Bound(n)
	if bp, ok := s.bodyPool.Get().(*[]byte); ok && cap(*bp) >= bound {
		return bp
	}
	b := make([]byte, s.codec.Bound(s.conf.BlockSize))
	if cap(b) < bound {
		b = make([]byte, bound)
	}
	return &b
}
