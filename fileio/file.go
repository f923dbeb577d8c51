package fileio

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/meta"
)

// Open flags the API looks at (the values of Linux).
const (
	accMode  = 0o3
	oWronly  = 0o1
	oRdwr    = 0o2
	oTrunc   = 0o1000
	oAppend  = 0o2000
	writable = oWronly | oRdwr
)

// File is one open handle of a regular file. Its methods are safe for
// concurrent use; the handles of one inode share their buffered writes.
type File struct {
	fs    *FS
	ino   meta.Ino
	flags uint32
	w     *fileWriter // nil for a read-only handle

	mu     sync.Mutex
	ra     readahead
	closed bool
}

// Open opens ino with the open(2) flags given: the engine checks the
// caller's permissions and registers the file as open in this client (an
// unlinked open file keeps its data until closed). O_TRUNC truncates it.
func (fs *FS) Open(ctx context.Context, ino meta.Ino, flags uint32) (*File, meta.Attr, error) {
	attr, err := fs.meta.Open(ctx, ino, flags)
	if err != nil {
		return nil, meta.Attr{}, err
	}
	f := fs.Attach(ino, flags)
	if flags&oTrunc != 0 && flags&accMode != 0 && attr.Length != 0 {
		if attr, err = f.truncate(ctx, 0, 1); err != nil {
			f.Close(ctx)
			return nil, meta.Attr{}, err
		}
	}
	return f, attr, nil
}

// Attach returns a handle of ino that the engine already registered as
// open (by meta.Engine.Create or Open); Close releases it.
func (fs *FS) Attach(ino meta.Ino, flags uint32) *File {
	f := &File{fs: fs, ino: ino, flags: flags}
	if flags&accMode != 0 {
		f.w = fs.writerRef(ino)
	}
	return f
}

// Ino is the file's inode number.
func (f *File) Ino() meta.Ino { return f.ino }

// Writable reports whether the handle was opened for writing.
func (f *File) Writable() bool { return f.w != nil }

// WriteAt buffers p at offset off. The data is committed by Flush, Close,
// or within seconds in the background. An error from an earlier write of
// the file (by any handle of this process) is returned until every handle
// is closed.
func (f *File) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	if f.w == nil {
		return 0, syscall.EBADF
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	if uint64(off)+uint64(len(p)) >= MaxFileSize {
		return 0, syscall.EFBIG
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := f.w.write(ctx, p, uint64(off)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush commits what the file's handles wrote so far: when it returns nil,
// the data is stored and recorded, visible to every client.
func (f *File) Flush(ctx context.Context) error {
	if f.w == nil {
		return nil
	}
	return f.w.flush(ctx)
}

// Fsync is Flush (the data is durable once in the object storage and
// Redis).
func (f *File) Fsync(ctx context.Context) error { return f.Flush(ctx) }

// Truncate sets the file's length through this handle (no permission
// check beyond the handle's mode), after committing buffered writes.
func (f *File) Truncate(ctx context.Context, length uint64) (meta.Attr, error) {
	if f.w == nil {
		return meta.Attr{}, syscall.EBADF
	}
	return f.truncate(ctx, length, 1)
}

func (f *File) truncate(ctx context.Context, length uint64, flags uint8) (meta.Attr, error) {
	return f.fs.Truncate(ctx, f.ino, length, flags, flags == 1)
}

// Truncate sets the length of ino after committing its buffered writes:
// flags 1 through an open handle (permission not checked), 0 by path.
func (fs *FS) Truncate(ctx context.Context, ino meta.Ino, length uint64, flags uint8, skipPermCheck bool) (meta.Attr, error) {
	if length >= MaxFileSize {
		return meta.Attr{}, syscall.EFBIG
	}
	if err := fs.Flush(ctx, ino); err != nil {
		return meta.Attr{}, err
	}
	attr, err := fs.meta.Truncate(ctx, ino, flags, length, skipPermCheck)
	return attr, err
}

// Fallocate allocates or punches the range [off, off+size) after
// committing buffered writes (modes as fallocate(2)).
func (f *File) Fallocate(ctx context.Context, mode uint8, off, size uint64) error {
	if f.w == nil {
		return syscall.EBADF
	}
	if off+size >= MaxFileSize {
		return syscall.EFBIG
	}
	if err := f.Flush(ctx); err != nil {
		return err
	}
	_, err := f.fs.meta.Fallocate(ctx, f.ino, mode, off, size)
	return err
}

// CopyRange copies size bytes from src at offIn to f at offOut without
// moving data: the new records reference src's slices. Both files are
// flushed first. It returns the bytes copied.
func (f *File) CopyRange(ctx context.Context, src *File, offIn, offOut, size uint64) (uint64, error) {
	if f.w == nil {
		return 0, syscall.EBADF
	}
	if offIn+size >= MaxFileSize || offOut+size >= MaxFileSize {
		return 0, syscall.EFBIG
	}
	if err := f.fs.Flush(ctx, src.ino); err != nil {
		return 0, err
	}
	if err := f.Flush(ctx); err != nil {
		return 0, err
	}
	n, _, err := f.fs.meta.CopyFileRange(ctx, src.ino, offIn, f.ino, offOut, size, 0)
	return n, err
}

// SetMtime makes buffered writes commit with mtime t instead of the time
// they were written (for a setattr of the mtime while data is buffered).
func (fs *FS) SetMtime(ino meta.Ino, t time.Time) {
	if w := fs.writer(ino); w != nil {
		w.setMtime(t)
	}
}

// Close flushes the handle's file (for a writable handle) and releases it.
// The flush's error is returned; the handle is released either way.
func (f *File) Close(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.mu.Unlock()
	var err error
	if f.w != nil {
		err = f.w.flush(ctx)
		f.fs.writerUnref(f.w)
	}
	if rerr := f.fs.meta.Release(ctx, f.ino); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// WriteTo copies the whole file from offset 0 to w (for tools such as
// `cat`), in pieces of bufSize bytes.
func (f *File) WriteTo(ctx context.Context, w io.Writer, bufSize int) (int64, error) {
	buf := make([]byte, bufSize)
	var off int64
	for {
		n, err := f.ReadAt(ctx, buf, off)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return off, fmt.Errorf("write output: %w", werr)
			}
			off += int64(n)
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}
