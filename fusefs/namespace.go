package fusefs

import (
	"fmt"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rueidisfs/rueidisfs/vfs"
)

// Mknod implements fuse.RawFileSystem.
func (fs *FS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, in.Umask)
	e, st := fs.v.Mknod(ctx, vfs.Ino(in.NodeId), name, in.Mode, uint16(in.Umask), in.Rdev)
	fs.v.Observe(ctx, "mknod", st, start, func() string {
		return fmt.Sprintf("(%d,%s,0%o,0x%08X):%s", in.NodeId, name, in.Mode, in.Rdev, entryString(&e))
	})
	if st == 0 {
		fillEntry(&e, out)
	}
	return status(st)
}

// Mkdir implements fuse.RawFileSystem.
func (fs *FS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, in.Umask)
	e, st := fs.v.Mkdir(ctx, vfs.Ino(in.NodeId), name, uint16(in.Mode), uint16(in.Umask))
	fs.v.Observe(ctx, "mkdir", st, start, func() string {
		return fmt.Sprintf("(%d,%s,0%o):%s", in.NodeId, name, in.Mode, entryString(&e))
	})
	if st == 0 {
		fillEntry(&e, out)
	}
	return status(st)
}

// Unlink implements fuse.RawFileSystem.
func (fs *FS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, h, 0)
	st := fs.v.Unlink(ctx, vfs.Ino(h.NodeId), name)
	fs.v.Observe(ctx, "unlink", st, start, func() string { return fmt.Sprintf("(%d,%s)", h.NodeId, name) })
	return status(st)
}

// Rmdir implements fuse.RawFileSystem.
func (fs *FS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, h, 0)
	st := fs.v.Rmdir(ctx, vfs.Ino(h.NodeId), name)
	fs.v.Observe(ctx, "rmdir", st, start, func() string { return fmt.Sprintf("(%d,%s)", h.NodeId, name) })
	return status(st)
}

// Rename implements fuse.RawFileSystem.
func (fs *FS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	st := fs.v.Rename(ctx, vfs.Ino(in.NodeId), oldName, vfs.Ino(in.Newdir), newName, in.Flags)
	fs.v.Observe(ctx, "rename", st, start, func() string {
		return fmt.Sprintf("(%d,%s,%d,%s,%d)", in.NodeId, oldName, in.Newdir, newName, in.Flags)
	})
	return status(st)
}

// Link implements fuse.RawFileSystem.
func (fs *FS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	e, st := fs.v.Link(ctx, vfs.Ino(in.Oldnodeid), vfs.Ino(in.NodeId), name)
	fs.v.Observe(ctx, "link", st, start, func() string {
		return fmt.Sprintf("(%d,%d,%s):%s", in.Oldnodeid, in.NodeId, name, entryString(&e))
	})
	if st == 0 {
		fillEntry(&e, out)
	}
	return status(st)
}

// Symlink implements fuse.RawFileSystem.
func (fs *FS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, h, 0)
	e, st := fs.v.Symlink(ctx, vfs.Ino(h.NodeId), name, target)
	fs.v.Observe(ctx, "symlink", st, start, func() string {
		return fmt.Sprintf("(%d,%s,%s):%s", h.NodeId, name, target, entryString(&e))
	})
	if st == 0 {
		fillEntry(&e, out)
	}
	return status(st)
}

// Readlink implements fuse.RawFileSystem.
func (fs *FS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	start, ctx := time.Now(), fs.ctx(cancel, h, 0)
	target, st := fs.v.Readlink(ctx, vfs.Ino(h.NodeId))
	fs.v.Observe(ctx, "readlink", st, start, func() string { return fmt.Sprintf("(%d): (%s)", h.NodeId, target) })
	return []byte(target), status(st)
}

// GetXAttr implements fuse.RawFileSystem.
func (fs *FS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, name string, dest []byte) (uint32, fuse.Status) {
	start, ctx := time.Now(), fs.ctx(cancel, h, 0)
	val, st := fs.v.GetXattr(ctx, vfs.Ino(h.NodeId), name)
	fs.v.Observe(ctx, "getxattr", st, start, func() string {
		return fmt.Sprintf("(%d,%s,%d): (%d)", h.NodeId, name, len(dest), len(val))
	})
	return copyOut(dest, val, st)
}

// ListXAttr implements fuse.RawFileSystem.
func (fs *FS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	start, ctx := time.Now(), fs.ctx(cancel, h, 0)
	val, st := fs.v.ListXattr(ctx, vfs.Ino(h.NodeId))
	fs.v.Observe(ctx, "listxattr", st, start, func() string {
		return fmt.Sprintf("(%d,%d): (%d)", h.NodeId, len(dest), len(val))
	})
	return copyOut(dest, val, st)
}

// copyOut answers a get/list xattr request: the size alone for a size
// query (empty dest), ERANGE when dest is too small.
func copyOut(dest, val []byte, st syscall.Errno) (uint32, fuse.Status) {
	if st != 0 {
		return 0, status(st)
	}
	if len(dest) == 0 {
		return uint32(len(val)), fuse.OK
	}
	if len(dest) < len(val) {
		return uint32(len(val)), fuse.ERANGE
	}
	return uint32(copy(dest, val)), fuse.OK
}

// SetXAttr implements fuse.RawFileSystem.
func (fs *FS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, name string, data []byte) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	st := fs.v.SetXattr(ctx, vfs.Ino(in.NodeId), name, data, in.Flags)
	fs.v.Observe(ctx, "setxattr", st, start, func() string {
		return fmt.Sprintf("(%d,%s,%d,%d)", in.NodeId, name, len(data), in.Flags)
	})
	return status(st)
}

// RemoveXAttr implements fuse.RawFileSystem.
func (fs *FS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, h, 0)
	st := fs.v.RemoveXattr(ctx, vfs.Ino(h.NodeId), name)
	fs.v.Observe(ctx, "removexattr", st, start, func() string { return fmt.Sprintf("(%d,%s)", h.NodeId, name) })
	return status(st)
}
