// Package fusefs serves a vfs.VFS to the kernel through go-fuse's raw
// (inode and handle based) protocol interface. It only translates: kernel
// requests become VFS calls, VFS results become replies, errno values pass
// through, and the kernel's interruption of a request becomes the
// cancellation of the call's context (which the VFS reports as EINTR).
// Every request is observed for the metrics and the access log.
package fusefs

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// blockSize is the st_blksize the mount reports: the preferred I/O size.
const blockSize = 1 << 16

// FS is the kernel-facing side of a mount.
type FS struct {
	fuse.RawFileSystem // ENOSYS for what is not implemented here
	v                  *vfs.VFS
	server             *fuse.Server
}

// New returns the kernel-facing side of v.
func New(v *vfs.VFS) *FS {
	return &FS{RawFileSystem: fuse.NewDefaultRawFileSystem(), v: v}
}

// String names the file system in go-fuse's debug output.
func (fs *FS) String() string { return "rueidisfs" }

// Init keeps the server for notifications.
func (fs *FS) Init(s *fuse.Server) { fs.server = s }

// request is the context of one kernel request, cancelled when cancel is
// closed (nil: never). It allocates nothing and starts no goroutine.
type request struct{ cancel <-chan struct{} }

func (r request) Deadline() (time.Time, bool) { return time.Time{}, false }
func (r request) Done() <-chan struct{}       { return r.cancel }
func (r request) Value(any) any               { return nil }
func (r request) Err() error {
	select {
	case <-r.cancel:
		return context.Canceled
	default:
		return nil
	}
}

// ctx builds the context of a request: its caller. It is never cancelled:
// the kernel interrupts a request whenever the calling thread receives a
// signal, and Go programs receive preemption signals all the time, so an
// ordinary request runs to its end (it takes milliseconds) rather than fail
// with EINTR.
func (fs *FS) ctx(_ <-chan struct{}, h *fuse.InHeader, umask uint32) context.Context {
	return fs.v.CallerContext(request{}, h.Uid, h.Gid, h.Pid, uint16(umask))
}

// interruptibleCtx is ctx for the requests that may wait for long (a
// blocking lock, a flush waiting for uploads): the kernel's interrupt
// cancels them, and the VFS honours it once they have waited a while.
func (fs *FS) interruptibleCtx(cancel <-chan struct{}, h *fuse.InHeader) context.Context {
	return fs.v.CallerContext(request{cancel}, h.Uid, h.Gid, h.Pid, 0)
}

func status(st syscall.Errno) fuse.Status { return fuse.Status(st) }

// fillAttr converts an attribute for the kernel.
func fillAttr(ino vfs.Ino, a *vfs.Attr, out *fuse.Attr) {
	out.Ino = uint64(ino)
	out.Mode = a.SMode()
	out.Nlink = a.Nlink
	out.Uid, out.Gid = a.Uid, a.Gid
	out.Atime, out.Atimensec = uint64(a.Atime), a.Atimensec
	out.Mtime, out.Mtimensec = uint64(a.Mtime), a.Mtimensec
	out.Ctime, out.Ctimensec = uint64(a.Ctime), a.Ctimensec
	out.Blksize = blockSize
	out.Rdev, out.Size, out.Blocks = 0, 0, 0
	switch a.Typ {
	case codec.TypeFile, codec.TypeDirectory, codec.TypeSymlink:
		out.Size = a.Length
		out.Blocks = (a.Length + 511) / 512
	case codec.TypeBlockDev, codec.TypeCharDev:
		out.Rdev = a.Rdev
	}
}

func fillEntry(e *vfs.Entry, out *fuse.EntryOut) {
	out.NodeId = uint64(e.Ino)
	out.Generation = 1
	out.SetEntryTimeout(e.EntryTimeout)
	if e.Ino == 0 {
		return // negative entry
	}
	out.SetAttrTimeout(e.AttrTimeout)
	fillAttr(e.Ino, &e.Attr, &out.Attr)
}

func entryString(e *vfs.Entry) string {
	if e.Ino == 0 {
		return "(0)"
	}
	return fmt.Sprintf("(%d,[%s:0%06o,%d,%d,%d,%d])", e.Ino, e.Attr.Typ, e.Attr.SMode(), e.Attr.Nlink, e.Attr.Uid, e.Attr.Gid, e.Attr.Length)
}

// Lookup implements fuse.RawFileSystem.
func (fs *FS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, h, 0)
	e, st := fs.v.Lookup(ctx, vfs.Ino(h.NodeId), name)
	fs.v.Observe(ctx, "lookup", st, start, func() string { return fmt.Sprintf("(%d,%s):%s", h.NodeId, name, entryString(&e)) })
	if st == 0 {
		fillEntry(&e, out)
	}
	return status(st)
}

// Forget implements fuse.RawFileSystem: the VFS counts no lookups.
func (fs *FS) Forget(nodeid, nlookup uint64) {}

// GetAttr implements fuse.RawFileSystem.
func (fs *FS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	e, st := fs.v.GetAttr(ctx, vfs.Ino(in.NodeId))
	fs.v.Observe(ctx, "getattr", st, start, func() string { return fmt.Sprintf("(%d):%s", in.NodeId, entryString(&e)) })
	if st == 0 {
		out.SetTimeout(e.AttrTimeout)
		fillAttr(e.Ino, &e.Attr, &out.Attr)
	}
	return status(st)
}

// SetAttr implements fuse.RawFileSystem.
func (fs *FS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	set, attr := setAttrRequest(in)
	var fh uint64
	if in.Valid&fuse.FATTR_FH != 0 {
		fh = in.Fh
	}
	e, st := fs.v.SetAttr(ctx, vfs.Ino(in.NodeId), set, &attr, fh)
	fs.v.Observe(ctx, "setattr", st, start, func() string {
		return fmt.Sprintf("(%d,0x%X,[%s]):%s", in.NodeId, in.Valid, setAttrString(in), entryString(&e))
	})
	if st == 0 {
		out.SetTimeout(e.AttrTimeout)
		fillAttr(e.Ino, &e.Attr, &out.Attr)
	}
	return status(st)
}

// setAttrRequest converts the kernel's setattr request.
func setAttrRequest(in *fuse.SetAttrIn) (codec.SetAttrMask, vfs.Attr) {
	var set codec.SetAttrMask
	var a vfs.Attr
	v := in.Valid
	if v&fuse.FATTR_MODE != 0 {
		set |= codec.SetAttrMode
		a.Mode = uint16(in.Mode & 0o7777)
	}
	if v&fuse.FATTR_UID != 0 {
		set |= codec.SetAttrUID
		a.Uid = in.Uid
	}
	if v&fuse.FATTR_GID != 0 {
		set |= codec.SetAttrGID
		a.Gid = in.Gid
	}
	if v&fuse.FATTR_SIZE != 0 {
		set |= codec.SetAttrSize
		a.Length = in.Size
	}
	if v&fuse.FATTR_ATIME_NOW != 0 {
		set |= codec.SetAttrAtimeNow
	} else if v&fuse.FATTR_ATIME != 0 {
		set |= codec.SetAttrAtime
		a.Atime, a.Atimensec = int64(in.Atime), in.Atimensec
	}
	if v&fuse.FATTR_MTIME_NOW != 0 {
		set |= codec.SetAttrMtimeNow
	} else if v&fuse.FATTR_MTIME != 0 {
		set |= codec.SetAttrMtime
		a.Mtime, a.Mtimensec = int64(in.Mtime), in.Mtimensec
	}
	if v&fuse.FATTR_CTIME != 0 {
		set |= codec.SetAttrCtime
		a.Ctime, a.Ctimensec = int64(in.Ctime), in.Ctimensec
	}
	return set, a
}

func setAttrString(in *fuse.SetAttrIn) string {
	s := ""
	if in.Valid&fuse.FATTR_MODE != 0 {
		s += fmt.Sprintf("mode=0%o;", in.Mode)
	}
	if in.Valid&fuse.FATTR_UID != 0 {
		s += fmt.Sprintf("uid=%d;", in.Uid)
	}
	if in.Valid&fuse.FATTR_GID != 0 {
		s += fmt.Sprintf("gid=%d;", in.Gid)
	}
	if in.Valid&fuse.FATTR_SIZE != 0 {
		s += fmt.Sprintf("size=%d;", in.Size)
	}
	return s
}

// StatFs implements fuse.RawFileSystem.
func (fs *FS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, h, 0)
	total, avail, files, ffree := fs.v.StatFS(ctx, vfs.Ino(h.NodeId))
	const bsize = 4096
	out.Bsize, out.Frsize, out.NameLen = bsize, bsize, 255
	out.Blocks = max(total/bsize, 1)
	out.Bfree, out.Bavail = avail/bsize, avail/bsize
	out.Files, out.Ffree = files, ffree
	fs.v.Observe(ctx, "statfs", 0, start, func() string {
		return fmt.Sprintf("(%d): (%d,%d,%d,%d)", h.NodeId, total, avail, files, ffree)
	})
	return fuse.OK
}
