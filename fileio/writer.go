package fileio

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

const (
	// maxPendingSlices is how many uncommitted slices one file may have
	// before writes wait (juicefs's limit).
	maxPendingSlices = 1000
	// maxOpenPerChunk: a chunk's slices older than its newest few are
	// finished rather than kept open for more writes.
	maxOpenPerChunk = 5
)

// fileWriter holds the uncommitted writes of one inode, shared by all its
// handles in this process. Slices are committed in the order they were
// started, by one commit goroutine at a time; a failure is remembered and
// returned by every later write and flush until the last handle closes.
type fileWriter struct {
	fs   *FS
	ino  meta.Ino
	refs int // handles using it; guarded by fs.mu

	mu         sync.Mutex
	cond       *sync.Cond
	slices     []*sliceWriter // uncommitted, oldest first
	nextSeq    uint64         // sequence number of the next slice
	doneSeq    uint64         // every slice below it is committed or dropped
	err        error          // sticky failure
	committing bool           // the commit goroutine is running
}

// sliceWriter is one slice being written into chunk indx at chunk offset
// pos.
type sliceWriter struct {
	seq     uint64
	indx    uint32
	pos     uint32
	w       *chunk.Writer
	started time.Time
	lastMod time.Time
	frozen  bool
	done    chan struct{} // closed when the upload finished (err set)
	err     error
}

func (s *sliceWriter) end() uint32 { return s.pos + uint32(s.w.Len()) }

func newFileWriter(fs *FS, ino meta.Ino) *fileWriter {
	w := &fileWriter{fs: fs, ino: ino}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// write buffers p at file offset off.
func (w *fileWriter) write(ctx context.Context, p []byte, off uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.slices) >= maxPendingSlices && w.err == nil {
		w.cond.Wait()
	}
	if w.err != nil {
		return w.err
	}
	for len(p) > 0 {
		indx := uint32(off / codec.ChunkSize)
		coff := uint32(off % codec.ChunkSize)
		n := min(len(p), int(codec.ChunkSize-coff))
		if err := w.writeChunk(ctx, indx, coff, p[:n]); err != nil {
			return err
		}
		p, off = p[n:], off+uint64(n)
	}
	return nil
}

// writeChunk writes p at offset coff of chunk indx, extending a slice
// still open there when the write continues it, or starting a new one.
func (w *fileWriter) writeChunk(ctx context.Context, indx, coff uint32, p []byte) error {
	s := w.findSlice(indx, coff, uint32(len(p)))
	if s == nil {
		id, err := w.fs.meta.NewSlice(ctx)
		if err != nil {
			return err
		}
		s = &sliceWriter{seq: w.nextSeq, indx: indx, pos: coff, w: w.fs.store.NewWriter(id), started: time.Now(), done: make(chan struct{})}
		w.nextSeq++
		w.slices = append(w.slices, s)
	}
	if err := s.w.WriteAt(ctx, p, int(coff-s.pos)); err != nil {
		return err
	}
	s.lastMod = time.Now()
	s.w.FlushTo(s.w.Len())
	if s.end() == codec.ChunkSize {
		w.freeze(s)
	}
	return nil
}

// findSlice returns the open slice of chunk indx that a write of n bytes
// at coff continues: it starts within the slice's part not yet uploaded
// and at most at its end. Walking from the newest slice, it stops at the
// first one the write overlaps (a new slice must then hide it), and
// finishes slices older than the chunk's newest few.
func (w *fileWriter) findSlice(indx, coff, n uint32) *sliceWriter {
	seen := 0
	for i := len(w.slices) - 1; i >= 0; i-- {
		s := w.slices[i]
		if s.indx != indx {
			continue
		}
		if seen++; seen > maxOpenPerChunk {
			w.freeze(s)
			continue
		}
		if !s.frozen && coff >= s.pos+uint32(s.w.FlushedLen()) && coff <= s.end() {
			return s
		}
		if coff < s.end() && coff+n > s.pos {
			return nil
		}
	}
	return nil
}

// freeze ends writes to s and uploads the rest of it in the background.
// w.mu is held.
func (w *fileWriter) freeze(s *sliceWriter) {
	if s.frozen {
		return
	}
	s.frozen = true
	go func() {
		err := s.w.Finish(context.Background())
		w.mu.Lock()
		s.err = err
		close(s.done)
		w.mu.Unlock()
	}()
	if !w.committing {
		w.committing = true
		go w.commitLoop()
	}
}

// commitLoop commits the slices in order as their uploads finish, until
// none is left.
func (w *fileWriter) commitLoop() {
	ctx := context.Background()
	for {
		w.mu.Lock()
		if len(w.slices) == 0 {
			w.committing = false
			w.cond.Broadcast()
			w.mu.Unlock()
			return
		}
		s := w.slices[0]
		if !s.frozen {
			// The oldest slice is still open: nothing can be committed
			// before it; wait until a flush or the timer freezes it.
			w.committing = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		<-s.done
		err := w.commit(ctx, s)
		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = err
		}
		w.slices = w.slices[1:]
		w.doneSeq = s.seq + 1
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// commit records slice s in the metadata, or drops it after a failure. It
// returns the error that becomes the file's sticky error.
func (w *fileWriter) commit(ctx context.Context, s *sliceWriter) error {
	size := uint32(s.w.Len())
	w.mu.Lock()
	failed, mtime := w.err, s.lastMod
	w.mu.Unlock()
	switch {
	case s.err != nil:
		// Finish already deleted what it had stored.
		w.fs.log.Error(fmt.Sprintf("write inode %d: slice %d not stored: %v", w.ino, s.w.ID(), s.err))
		return fmt.Errorf("write inode %d: %w", w.ino, syscall.EIO)
	case failed != nil:
		// An earlier slice failed: later ones are not committed (their
		// data would land without what came before).
		w.drop(ctx, s, size)
		return nil
	case size == 0:
		return nil
	}
	err := w.fs.meta.Write(ctx, w.ino, s.indx, s.pos, codec.Slice{ID: s.w.ID(), Size: size, Off: 0, Len: size}, mtime)
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == syscall.ENOENT || errno == syscall.ENOSPC || errno == syscall.EDQUOT) {
		// Certainly not committed: the objects are garbage.
		w.drop(ctx, s, size)
		return errno
	}
	// The outcome may be unknown: keep the objects (gc removes them if the
	// slice was not recorded).
	w.fs.log.Error(fmt.Sprintf("write inode %d: commit slice %d (%d bytes) at chunk %d offset %d: %v", w.ino, s.w.ID(), size, s.indx, s.pos, err))
	return fmt.Errorf("write inode %d: commit: %w", w.ino, syscall.EIO)
}

func (w *fileWriter) drop(ctx context.Context, s *sliceWriter, size uint32) {
	if err := w.fs.store.Remove(ctx, s.w.ID(), size); err != nil {
		w.fs.log.Warn(fmt.Sprintf("delete uncommitted slice %d: %v (left for gc)", s.w.ID(), err))
	}
}

// flush finishes every slice buffered now and waits until they are
// committed. It returns the file's sticky error, if any.
func (w *fileWriter) flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.nextSeq
	for _, s := range w.slices {
		w.freeze(s)
	}
	if w.doneSeq < target && ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			w.mu.Lock()
			w.cond.Broadcast()
			w.mu.Unlock()
		})
		defer stop()
	}
	for w.doneSeq < target && ctx.Err() == nil {
		w.cond.Wait()
	}
	if w.err != nil {
		return w.err
	}
	return ctx.Err()
}

// pending reports whether writes are buffered.
func (w *fileWriter) pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.slices) > 0
}

// bufferedEnd is the largest file offset written and not yet committed.
func (w *fileWriter) bufferedEnd() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var end uint64
	for _, s := range w.slices {
		end = max(end, uint64(s.indx)*codec.ChunkSize+uint64(s.end()))
	}
	return end
}

// setMtime makes the pending slices commit with mtime t (a setattr of the
// mtime while data is buffered must not be undone by the commit).
func (w *fileWriter) setMtime(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.slices {
		s.lastMod = t
	}
}

// freezeStale finishes slices started long ago or idle for a while.
func (w *fileWriter) freezeStale(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	opts := &w.fs.opts
	for _, s := range w.slices {
		if !s.frozen && (now.Sub(s.started) > opts.FreezeAfter || (now.Sub(s.lastMod) > opts.FreezeIdle && now.Sub(s.started) > opts.FreezeIdle)) {
			w.freeze(s)
		}
	}
}
