package chunk

import (
	"context"
	"sync"
)

// prefetcher downloads whole blocks into the caches in the background:
// ahead of sequential readers, and after a range read of an uncompressed
// block. Requests beyond what the queue holds are dropped: prefetching is
// only ever a guess.
type prefetcher struct {
	s     *Store
	queue chan prefetchItem

	mu      sync.Mutex
	pending map[string]bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

type prefetchItem struct {
	key  string
	blen int
}

func newPrefetcher(s *Store, workers int) *prefetcher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &prefetcher{s: s, queue: make(chan prefetchItem, 64*workers), pending: map[string]bool{}, ctx: ctx, cancel: cancel}
	for range workers {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

func (p *prefetcher) add(key string, blen int) {
	if p.s.mem.contains(key) || (p.s.disk != nil && p.s.disk.contains(key)) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending[key] || p.ctx.Err() != nil {
		return
	}
	select {
	case p.queue <- prefetchItem{key, blen}:
		p.pending[key] = true
	default:
	}
}

// pendingKey tells whether the block key is queued or being downloaded.
func (p *prefetcher) pendingKey(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending[key]
}

func (p *prefetcher) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case it := <-p.queue:
			// Errors are the reader's to report when it gets there.
			_, _, _ = p.s.fetches.Do(it.key, func() (any, error) { return nil, p.s.download(p.ctx, it.key, it.blen, true) })
			p.mu.Lock()
			delete(p.pending, it.key)
			p.mu.Unlock()
		}
	}
}

func (p *prefetcher) close() {
	p.cancel()
	p.wg.Wait()
}

// Prefetch starts downloading, in the background, the blocks of slice id
// (size bytes) holding bytes [off, off+n), unless they are cached.
func (s *Store) Prefetch(id uint64, size uint32, off, n int) {
	bs := s.conf.BlockSize
	end := min(off+n, int(size))
	for indx := off / bs; off >= 0 && indx*bs < end; indx++ {
		blen := s.blockLen(size, indx)
		s.prefetch.add(s.blockKey(id, indx, blen), blen)
	}
}
