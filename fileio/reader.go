package fileio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// readahead follows one handle's sequential reads: while each read starts
// near where the previous ones ended, the window of blocks fetched ahead
// doubles up to MaxReadahead; a jump resets it.
type readahead struct {
	next   int64 // where a sequential read would start
	window int
}

// ReadAt reads len(p) bytes at off, as io.ReaderAt does: fewer only at the
// end of the file, with io.EOF. It first commits this process's buffered
// writes of the file, so a reader sees them. Bytes of holes read as zeros.
// A block that cannot be read fails the read with an error wrapping
// syscall.EIO (logged once, naming the object and the reason); wrong bytes
// are never returned.
func (f *File) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, syscall.EINVAL
	}
	if w := f.fs.writer(f.ino); w != nil && w.pending() {
		if err := w.flush(ctx); err != nil {
			return 0, err
		}
	}
	attr, err := f.fs.meta.GetAttr(ctx, f.ino)
	if err != nil {
		return 0, err
	}
	if uint64(off) >= attr.Length {
		return 0, io.EOF
	}
	n := int(min(uint64(len(p)), attr.Length-uint64(off)))
	if err := f.fs.readFile(ctx, f.ino, p[:n], uint64(off)); err != nil {
		return 0, err
	}
	f.readAhead(off, n, attr.Length)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readFile fills p with the file's bytes from off, chunk by chunk; p must
// lie below the file's length.
func (fs *FS) readFile(ctx context.Context, ino meta.Ino, p []byte, off uint64) error {
	for len(p) > 0 {
		indx := uint32(off / codec.ChunkSize)
		coff := uint32(off % codec.ChunkSize)
		n := min(len(p), int(codec.ChunkSize-coff))
		if err := fs.readChunk(ctx, ino, indx, coff, p[:n]); err != nil {
			return err
		}
		p, off = p[n:], off+uint64(n)
	}
	return nil
}

// readChunk fills p from offset coff of chunk indx. A failure to read a
// block may come from a layout this client cached just before another
// client compacted the chunk (and deleted the old slices): the layout is
// then read again, and the read retried once with it.
func (fs *FS) readChunk(ctx context.Context, ino meta.Ino, indx, coff uint32, p []byte) error {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var layout []codec.Slice
		if layout, err = fs.meta.Read(ctx, ino, indx); err != nil {
			return err
		}
		if err = fs.readLayout(ctx, layout, coff, p); err == nil {
			return nil
		}
		if ctx.Err() != nil || !errors.Is(err, syscall.EIO) {
			return err
		}
		if ierr := fs.meta.InvalidateChunkCache(ctx, ino, indx); ierr != nil {
			break
		}
	}
	fs.log.Error(fmt.Sprintf("read inode %d chunk %d: %v", ino, indx, err))
	return err
}

// readLayout fills p from chunk offset coff of a chunk whose visible
// layout is given; bytes past the layout's end are zeros.
func (fs *FS) readLayout(ctx context.Context, layout []codec.Slice, coff uint32, p []byte) error {
	pos := uint32(0)
	start, end := coff, coff+uint32(len(p))
	filled := uint32(0) // bytes of p set so far (from coff)
	for _, s := range layout {
		if pos >= end {
			break
		}
		from, to := max(pos, start), min(pos+s.Len, end)
		if from < to {
			dst := p[from-start : to-start]
			if s.ID == 0 {
				clear(dst)
			} else if err := fs.store.ReadAt(ctx, s.ID, s.Size, dst, int(s.Off+(from-pos))); err != nil {
				return err
			}
			filled = to - start
		}
		pos += s.Len
	}
	clear(p[filled:])
	return nil
}

// readAhead starts fetching the blocks after a read of n bytes at off when
// the handle reads sequentially.
func (f *File) readAhead(off int64, n int, length uint64) {
	f.mu.Lock()
	ra := &f.ra
	bs := f.fs.store.BlockSize()
	// The kernel reads ahead itself and sends several reads at once, which
	// may arrive a little out of order: a read near where the stream is
	// still counts as sequential.
	near := off >= ra.next-int64(bs) && off <= ra.next+int64(bs)
	if off == 0 || ra.next != 0 && near {
		ra.window = min(max(2*ra.window, bs), f.fs.opts.MaxReadahead)
	} else {
		ra.window = 0
	}
	ra.next = max(ra.next, off+int64(n))
	if !near && off != 0 {
		ra.next = off + int64(n)
	}
	from, window := uint64(ra.next), ra.window
	f.mu.Unlock()
	if window == 0 || from >= length {
		return
	}
	f.fs.prefetch(context.Background(), f.ino, from, min(uint64(window), length-from))
}

// prefetch asks the chunk store to fetch the blocks holding [off, off+n)
// of ino in the background.
func (fs *FS) prefetch(ctx context.Context, ino meta.Ino, off, n uint64) {
	for n > 0 {
		indx := uint32(off / codec.ChunkSize)
		coff := uint32(off % codec.ChunkSize)
		m := min(n, codec.ChunkSize-uint64(coff))
		layout, err := fs.meta.Read(ctx, ino, indx)
		if err != nil {
			return
		}
		pos := uint32(0)
		for _, s := range layout {
			from, to := max(pos, coff), min(pos+s.Len, coff+uint32(m))
			if s.ID != 0 && from < to {
				fs.store.Prefetch(s.ID, s.Size, int(s.Off+(from-pos)), int(to-from))
			}
			pos += s.Len
		}
		off, n = off+m, n-m
	}
}
