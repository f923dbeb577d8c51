package vfs

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Opened describes a new handle: its number and how the kernel should treat
// the file's pages (keep what it cached, or bypass its cache).
type Opened struct {
	Fh        uint64
	KeepCache bool
	DirectIO  bool
}

// pageCachePolicy decides whether the kernel may keep the pages it cached
// of a file when the file is opened again: only when the file's mtime and
// length are what they were at its previous open by this mount, so that
// changes made by other clients are read again (close-to-open consistency).
type pageCachePolicy struct {
	mu   sync.Mutex
	seen map[Ino]fileVersion
}

type fileVersion struct {
	mtime  int64
	mtimeN uint32
	length uint64
}

func (p *pageCachePolicy) keep(ino Ino, a *Attr) bool {
	v := fileVersion{a.Mtime, a.Mtimensec, a.Length}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil || len(p.seen) > 100000 {
		p.seen = map[Ino]fileVersion{}
	}
	old, ok := p.seen[ino]
	p.seen[ino] = v
	return ok && old == v
}

// Open opens ino with the open(2) flags. An inode that another client
// deleted (or moved to the trash) since the kernel looked its name up is
// answered ESTALE, once: the kernel then looks the path up again and opens
// (or, with O_CREAT, creates) what the name holds now (see staleOpens).
func (v *VFS) Open(ctx context.Context, ino Ino, flags uint32) (Opened, syscall.Errno) {
	if IsInternal(ino) {
		return v.openInternal(ctx, ino, flags)
	}
	o, _, st := v.openFile(ctx, ino, flags)
	if st != 0 {
		return Opened{}, v.stale.answer(ino, st)
	}
	return o, 0
}

// openFile opens the node ino with the open(2) flags (permissions checked,
// O_TRUNC applied) and returns its attribute.
func (v *VFS) openFile(ctx context.Context, ino Ino, flags uint32) (Opened, Attr, syscall.Errno) {
	writable := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if writable || flags&syscall.O_TRUNC != 0 {
		if st := v.writeAllowed(); st != 0 {
			return Opened{}, Attr{}, st
		}
	}
	mino := v.toMeta(ino)
	attr, err := v.m.Open(ctx, mino, flags)
	if err != nil {
		return Opened{}, Attr{}, errno(err)
	}
	h := v.newFileHandle(ino, flags, attr)
	if flags&syscall.O_TRUNC != 0 {
		var st syscall.Errno
		if attr, st = v.truncateAtOpen(ctx, ino, h, attr); st != 0 {
			v.Release(ctx, ino, h.fh)
			return Opened{}, Attr{}, st
		}
	}
	return Opened{Fh: h.fh, KeepCache: v.pages.keep(mino, &attr)}, attr, 0
}

// truncateAtOpen applies O_TRUNC to the file h has just opened, as
// truncate(2) would (the kernel leaves it to the OPEN with FUSE's atomic
// O_TRUNC): through h when it may write, else by path, which checks write
// permission, as open(O_RDONLY|O_TRUNC) needs. A file already empty gets
// only its mtime and ctime set to now, as open(2) does.
func (v *VFS) truncateAtOpen(ctx context.Context, ino Ino, h *handle, attr Attr) (Attr, syscall.Errno) {
	fh := h.fh
	if !h.writable() {
		fh = 0
	}
	if v.withLocalLength(v.toMeta(ino), attr).Length == 0 {
		e, st := v.SetAttr(ctx, ino, codec.SetAttrMtimeNow|codec.SetAttrCtimeNow, &Attr{}, fh)
		return e.Attr, st
	}
	if st := v.truncate(ctx, ino, 0, fh); st != 0 {
		return Attr{}, st
	}
	attr.Length = 0
	return attr, 0
}

// Create creates and opens the regular file name in parent. Without O_EXCL
// an existing regular file is opened instead, as open(2) would have done had
// the kernel known the name (another client created it after the kernel's
// lookup): permissions are checked and O_TRUNC applied here, because the
// kernel takes the reply for a new file and checks neither. If that file
// is removed before it is opened, the name is created again (a few times).
func (v *VFS) Create(ctx context.Context, parent Ino, name string, mode, umask uint16, flags uint32) (Entry, Opened, syscall.Errno) {
	for attempt := 1; ; attempt++ {
		var attr Attr
		var found *meta.ExistsError
		e, st := v.create(parent, name, func(mparent Ino) (Ino, Attr, error) {
			ino, a, err := v.m.Create(ctx, mparent, name, mode&0o7777, v.umask(umask), flags|syscall.O_EXCL)
			attr = a
			if !errors.As(err, &found) {
				found = nil
			}
			return ino, a, err
		})
		if found == nil || flags&syscall.O_EXCL != 0 {
			if st != 0 {
				return Entry{}, Opened{}, st
			}
			h := v.newFileHandle(e.Ino, flags, attr)
			v.pages.keep(v.toMeta(e.Ino), &attr)
			return e, Opened{Fh: h.fh}, 0
		}
		if found.Attr.Typ == codec.TypeDirectory {
			return Entry{}, Opened{}, syscall.EISDIR
		}
		if found.Attr.Typ != codec.TypeFile {
			return Entry{}, Opened{}, syscall.EEXIST
		}
		o, attr, st := v.openFile(ctx, v.toKernel(found.Inode), flags)
		if st == 0 {
			return v.entry(found.Inode, attr), o, 0
		}
		// ENOENT, or EPERM of a file that has no flag refusing it (so
		// now in the trash): removed since it was found.
		ownEPERM := found.Attr.Flags&(codec.FlagImmutable|codec.FlagAppend) != 0
		if (st != syscall.ENOENT && (st != syscall.EPERM || ownEPERM)) || attempt == createAttempts {
			return Entry{}, Opened{}, st
		}
	}
}

// createAttempts bounds how often Create goes round when the existing file
// it found is removed before it can be opened.
const createAttempts = 4

// newFileHandle registers a handle of a node the engine opened; a regular
// file gets its content.
func (v *VFS) newFileHandle(ino Ino, flags uint32, attr Attr) *handle {
	h := &handle{ino: ino, flags: flags}
	if attr.Typ == codec.TypeFile && v.data != nil {
		h.file = v.data.Attach(v.toMeta(ino), flags)
	}
	v.handles.add(h)
	return h
}

// Read reads size bytes at off through handle fh into buf.
func (v *VFS) Read(ctx context.Context, ino Ino, fh uint64, off int64, buf []byte) (int, syscall.Errno) {
	h := v.handles.get(ino, fh)
	if h == nil {
		return 0, syscall.EBADF
	}
	if h.node != nil {
		return h.node.read(ctx, buf, off)
	}
	if h.file == nil {
		return 0, syscall.EBADF
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	n, err := h.file.ReadAt(ctx, buf, off)
	if err != nil && err != io.EOF {
		return 0, dataErrno(err)
	}
	return n, 0
}

// Write writes data at off through handle fh.
func (v *VFS) Write(ctx context.Context, ino Ino, fh uint64, off int64, data []byte) (int, syscall.Errno) {
	h := v.handles.get(ino, fh)
	if h == nil {
		return 0, syscall.EBADF
	}
	if h.node != nil {
		return h.node.write(ctx, v, data)
	}
	if h.file == nil || !h.writable() {
		return 0, syscall.EBADF
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	if uint64(off)+uint64(len(data)) > maxFileSize {
		return 0, syscall.EFBIG
	}
	n, err := h.file.WriteAt(ctx, data, off)
	if err != nil {
		return n, dataErrno(err)
	}
	return n, 0
}

// dataErrno maps a data-layer error: the engine's "no such file" while
// reading or writing means the file was deleted under the handle.
func dataErrno(err error) syscall.Errno {
	st := errno(err)
	switch st {
	case syscall.ENOENT, syscall.EPERM, syscall.EINVAL:
		return syscall.EBADF
	}
	return st
}

// Flush is a close(2) of a descriptor of handle fh by lock owner owner: it
// commits the handle's writes and drops the owner's POSIX locks.
func (v *VFS) Flush(ctx context.Context, ino Ino, fh, owner uint64) syscall.Errno {
	h := v.handles.get(ino, fh)
	if h == nil {
		return syscall.EBADF
	}
	if h.node != nil {
		h.node.flush()
		return 0
	}
	var st syscall.Errno
	if h.file != nil && h.writable() {
		pctx, done := patientContext(ctx, true, flushGrace)
		st = dataErrno(h.file.Flush(pctx))
		done()
	}
	v.releasePosixLocks(ctx, h, owner)
	return st
}

// Fsync commits the writes of handle fh.
func (v *VFS) Fsync(ctx context.Context, ino Ino, fh uint64) syscall.Errno {
	h := v.handles.get(ino, fh)
	if h == nil {
		return syscall.EBADF
	}
	if h.file != nil && h.writable() {
		ctx, done := patientContext(ctx, true, flushGrace)
		defer done()
		return dataErrno(h.file.Flush(ctx))
	}
	return 0
}

// Release closes handle fh: its writes are committed, its locks dropped,
// and the engine told that this client has one open file less.
func (v *VFS) Release(ctx context.Context, ino Ino, fh uint64) syscall.Errno {
	h := v.handles.remove(ino, fh)
	if h == nil {
		return syscall.EBADF
	}
	if h.node != nil {
		h.node.close()
		return 0
	}
	v.releaseAllLocks(ctx, h)
	if h.file != nil {
		return dataErrno(h.file.Close(context.WithoutCancel(ctx)))
	}
	return errno(v.m.Release(ctx, v.toMeta(ino)))
}

// Fallocate allocates, zeroes or punches [off, off+length) of the file of
// handle fh (mode: FALLOC_FL_* bits).
func (v *VFS) Fallocate(ctx context.Context, ino Ino, fh uint64, mode uint32, off, length uint64) syscall.Errno {
	if IsInternal(ino) {
		return syscall.EPERM
	}
	if int64(off) < 0 || int64(length) <= 0 {
		return syscall.EINVAL
	}
	h := v.handles.get(ino, fh)
	if h == nil || !h.writable() {
		return syscall.EBADF
	}
	if off+length > maxFileSize {
		return syscall.EFBIG
	}
	if h.file == nil {
		_, err := v.m.Fallocate(ctx, v.toMeta(ino), uint8(mode), off, length)
		return errno(err)
	}
	return errno(h.file.Fallocate(ctx, uint8(mode), off, length))
}

// CopyFileRange copies length bytes at offIn of handle fhIn's file to offOut
// of handle fhOut's file by reference (no data is copied: the new records
// point to the source's slices).
func (v *VFS) CopyFileRange(ctx context.Context, inIno Ino, fhIn uint64, offIn uint64, outIno Ino, fhOut uint64, offOut, length uint64, flags uint32) (uint64, syscall.Errno) {
	if IsInternal(inIno) {
		return 0, syscall.ENOTSUP
	}
	if IsInternal(outIno) {
		return 0, syscall.EPERM
	}
	if flags != 0 {
		return 0, syscall.EINVAL
	}
	hin, hout := v.handles.get(inIno, fhIn), v.handles.get(outIno, fhOut)
	if hin == nil || hout == nil || !hout.writable() {
		return 0, syscall.EBADF
	}
	if inIno == outIno && offIn < offOut+length && offOut < offIn+length {
		return 0, syscall.EINVAL
	}
	if offOut+length > maxFileSize {
		return 0, syscall.EFBIG
	}
	if hin.file == nil || hout.file == nil {
		n, _, err := v.m.CopyFileRange(ctx, v.toMeta(inIno), offIn, v.toMeta(outIno), offOut, length, flags)
		return n, errno(err)
	}
	n, err := hout.file.CopyRange(ctx, hin.file, offIn, offOut, length)
	return n, errno(err)
}
