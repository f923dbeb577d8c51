package chunk

import (
	"context"
	"sync"
)

// budget accounts the memory of write buffers against the --buffer-size
// limit. Writers wait in acquire while the limit is exceeded and uploads
// are under way (each finished upload gives memory back); when nothing is
// being uploaded, waiting could never end, so they go on and the caller's
// flushing policy must bring usage down.
type budget struct {
	limit int64

	mu       sync.Mutex
	cond     *sync.Cond
	used     int64
	inflight int // uploads that will release memory when done
}

func newBudget(limit int64) *budget {
	b := &budget{limit: limit}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire charges n bytes, first waiting while the budget is exceeded and
// uploads are in flight, or until ctx is done.
func (b *budget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit && b.inflight > 0 {
		stop := context.AfterFunc(ctx, func() {
			b.mu.Lock()
			b.cond.Broadcast()
			b.mu.Unlock()
		})
		defer stop()
		for b.used+n > b.limit && b.inflight > 0 && ctx.Err() == nil {
			b.cond.Wait()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	b.used += n
	return nil
}

// charge adds n bytes without waiting (growing a buffer already granted).
func (b *budget) charge(n int64) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

// release gives n bytes back.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.cond.Broadcast()
	b.mu.Unlock()
}

// startUpload and endUpload bracket an upload that will release memory.
func (b *budget) startUpload() {
	b.mu.Lock()
	b.inflight++
	b.mu.Unlock()
}

func (b *budget) endUpload() {
	b.mu.Lock()
	b.inflight--
	b.cond.Broadcast()
	b.mu.Unlock()
}

// Used returns the bytes charged now.
func (b *budget) usage() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
