package chunk

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// pageSize is the step in which block buffers grow, so that a small file
// does not allocate a whole block.
const pageSize = 64 << 10

// ErrWriterDone is returned by a Writer used after Finish or Abort.
var ErrWriterDone = errors.New("slice writer already finished")

// Writer buffers and uploads one new slice. Bytes are written at slice
// offsets; a gap before a write is filled with zeros (a slice is always
// contiguous from offset 0). Complete blocks may be uploaded early with
// FlushTo; they can then no longer change. Finish uploads the rest and
// waits for every upload: only then may the slice be committed.
//
// A Writer is used by one goroutine at a time; its uploads run in the
// background.
type Writer struct {
	s  *Store
	id uint64

	blocks   [][]byte // buffered bytes of each block not yet handed off
	charged  []int64  // budget charged for each block's buffer
	length   int      // bytes written so far
	flushed  int      // blocks handed to an upload
	finished bool

	wg       sync.WaitGroup
	ctx      context.Context // cancelled when an upload fails for good
	cancel   context.CancelFunc
	mu       sync.Mutex
	err      error    // first upload failure
	uploaded []string // keys stored, for Abort
	staged   []string // keys staged for a later upload, for Abort

	writeback bool // blocks may be staged (Config.Writeback)
}

// NewWriter starts slice id. The id comes from the metadata engine and is
// never reused.
func (s *Store) NewWriter(id uint64) *Writer {
	ctx, cancel := context.WithCancel(context.Background())
	return &Writer{s: s, id: id, ctx: ctx, cancel: cancel, writeback: s.wb != nil && s.wb.enabled}
}

// SetWriteback turns staging off (or back on, if the store stages) for
// the blocks not yet handed to an upload: a slice that replaces others
// (compaction) must be in the object storage before it is committed.
func (w *Writer) SetWriteback(on bool) { w.writeback = on && w.s.wb != nil && w.s.wb.enabled }

// ID is the slice id.
func (w *Writer) ID() uint64 { return w.id }

// Len is the slice's length so far.
func (w *Writer) Len() int { return w.length }

// FlushedLen is the length of the prefix already handed to uploads, which
// WriteAt may no longer change.
func (w *Writer) FlushedLen() int { return w.flushed * w.s.conf.BlockSize }

// WriteAt writes p at slice offset off, which must not be below
// FlushedLen, and off+len(p) must not exceed ChunkSize. It may wait for
// buffer memory (see Config.BufferSize) until ctx is done.
func (w *Writer) WriteAt(ctx context.Context, p []byte, off int) error {
	if w.finished {
		return ErrWriterDone
	}
	if off < w.FlushedLen() || off+len(p) > ChunkSize || off < 0 {
		return fmt.Errorf("slice %d: write of %d bytes at %d outside [%d, %d]", w.id, len(p), off, w.FlushedLen(), ChunkSize)
	}
	if err := w.failed(); err != nil {
		return err
	}
	if off > w.length {
		// Zeros up to the write.
		if err := w.extend(ctx, off); err != nil {
			return err
		}
	}
	bs := w.s.conf.BlockSize
	for len(p) > 0 {
		indx, boff := off/bs, off%bs
		n := min(len(p), bs-boff)
		buf, err := w.block(ctx, indx, boff, boff+n)
		if err != nil {
			return err
		}
		copy(buf[boff:], p[:n])
		p, off = p[n:], off+n
	}
	w.length = max(w.length, off)
	return nil
}

// extend grows the buffers to cover [0, end) (with zeros).
func (w *Writer) extend(ctx context.Context, end int) error {
	bs := w.s.conf.BlockSize
	for pos := w.length; pos < end; {
		indx := pos / bs
		blockEnd := min(end, (indx+1)*bs)
		if _, err := w.block(ctx, indx, blockEnd-indx*bs, blockEnd-indx*bs); err != nil {
			return err
		}
		pos = blockEnd
	}
	w.length = end
	return nil
}

// block returns the buffer of block indx, at least n bytes long: zeros
// where nothing was written, except from fill on, which the caller
// overwrites at once.
func (w *Writer) block(ctx context.Context, indx, fill, n int) ([]byte, error) {
	for len(w.blocks) <= indx {
		w.blocks = append(w.blocks, nil)
		w.charged = append(w.charged, 0)
	}
	b := w.blocks[indx]
	if len(b) >= n {
		return b, nil
	}
	if cap(b) < n {
		bs := w.s.conf.BlockSize
		c := min(bs, max(2*cap(b), (n+pageSize-1)/pageSize*pageSize))
		if indx > 0 {
			c = bs // later blocks of a long slice fill up: no regrowth
		}
		grow := int64(c) - w.charged[indx]
		var err error
		if w.charged[indx] == 0 {
			err = w.s.buffers.acquire(ctx, grow)
		} else {
			w.s.buffers.charge(grow)
		}
		if err != nil {
			return nil, err
		}
		w.charged[indx] += grow
		var nb []byte
		if c == bs {
			// A whole block, mostly: reuse one (its content is
			// unspecified; the caller's bytes and the zeros below
			// overwrite what is used).
			nb = w.s.blocks.get(bs)[:len(b)]
		} else {
			nb = make([]byte, len(b), c)
		}
		copy(nb, b)
		b = nb
	}
	if old := len(b); n > old {
		b = b[:n]
		clear(b[old:max(old, min(fill, n))])
	}
	w.blocks[indx] = b
	return b, nil
}

// FlushTo hands every complete block below slice offset off to an upload
// in the background. Those blocks can no longer be written.
func (w *Writer) FlushTo(off int) {
	bs := w.s.conf.BlockSize
	for ; w.flushed < len(w.blocks) && (w.flushed+1)*bs <= min(off, w.length); w.flushed++ {
		w.upload(w.flushed)
	}
}

// Finish uploads the remaining blocks and waits for all uploads (with
// writeback: until they are uploaded or staged). On success the slice is
// stored and Len bytes long; on failure every block already stored is
// deleted again and the error names the object and the reason. Either way
// the writer is done.
func (w *Writer) Finish(ctx context.Context) error {
	if w.finished {
		return ErrWriterDone
	}
	w.finished = true
	for ; w.flushed < len(w.blocks); w.flushed++ {
		w.upload(w.flushed)
	}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		w.fail(ctx.Err())
		<-done
	}
	if err := w.failed(); err != nil {
		w.deleteUploaded()
		return err
	}
	w.cancel()
	return nil
}

// Abort drops the slice: buffered bytes are freed, uploads stopped and
// blocks already stored deleted.
func (w *Writer) Abort() {
	w.finished = true
	w.fail(context.Canceled)
	for i := w.flushed; i < len(w.blocks); i++ {
		w.freeBlock(i)
	}
	w.wg.Wait()
	w.deleteUploaded()
}

func (w *Writer) freeBlock(i int) {
	w.s.buffers.release(w.charged[i])
	w.charged[i] = 0
	w.s.blocks.put(w.blocks[i]) // never handed to anyone
	w.blocks[i] = nil
}

// fail records the first failure and stops the other uploads.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancel()
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) deleteUploaded() {
	w.mu.Lock()
	keys, staged := w.uploaded, w.staged
	w.uploaded, w.staged = nil, nil
	w.mu.Unlock()
	for _, key := range keys {
		if err := w.s.storage.Delete(context.Background(), key); err != nil {
			w.s.log.Warn(fmt.Sprintf("delete object %s of an abandoned slice: %v (left for gc)", key, err))
		}
		w.s.forgetBlock(key)
	}
	for _, key := range staged {
		w.s.forgetBlock(key)
	}
}

// upload stores block indx in the background.
func (w *Writer) upload(indx int) {
	data := w.blocks[indx]
	if len(data) == 0 {
		// Cannot happen: extend gives every block below the length its
		// bytes. Refuse rather than store an empty block.
		w.fail(fmt.Errorf("slice %d: block %d has no data", w.id, indx))
		return
	}
	charged := w.charged[indx]
	w.blocks[indx], w.charged[indx] = nil, 0
	key := w.s.blockKey(w.id, indx, len(data))
	stage := w.writeback && w.s.wb.stages(len(data))
	w.wg.Add(1)
	w.s.buffers.startUpload()
	go func() {
		defer w.wg.Done()
		defer w.s.buffers.endUpload()
		defer w.s.buffers.release(charged)
		if stage && w.s.wb.stage(key, data) {
			w.mu.Lock()
			w.staged = append(w.staged, key)
			w.mu.Unlock()
			return
		}
		if err := w.s.putBlock(w.ctx, key, data, w.s.conf.UploadRetries+1); err != nil {
			// Not reused: a failed request's body may still be read
			// by the storage client's transport.
			w.fail(err)
			return
		}
		w.mu.Lock()
		w.uploaded = append(w.uploaded, key)
		w.mu.Unlock()
		if (len(data) < w.s.conf.BlockSize || w.s.conf.CacheLargeWrite) && w.s.cacheWritten(key, data) {
			return // the memory cache keeps it
		}
		if !stage { // a staging write that timed out may still read it
			w.s.blocks.put(data)
		}
	}()
}
