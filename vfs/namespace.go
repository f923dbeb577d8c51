package vfs

import (
	"context"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Limits of names, as Linux and JuiceFS have them.
const (
	maxName        = 255
	maxSymlinkPath = 4096
	// maxFileSize: 2^31 chunks of 64 MiB.
	maxFileSize = uint64(codec.ChunkSize) << 31
)

// Entry is a reply naming an inode: its number and attribute, and how long
// the kernel may cache the name and the attribute. Ino 0 is a negative
// entry: the name does not exist, which the kernel may remember for
// EntryTimeout.
type Entry struct {
	Ino          Ino
	Attr         Attr
	EntryTimeout time.Duration
	AttrTimeout  time.Duration
}

// entry builds the reply for engine inode ino (numbers as the engine has
// them) with the cache timeouts of its type.
func (v *VFS) entry(ino Ino, attr Attr) Entry {
	e := Entry{Ino: v.toKernel(ino), Attr: v.withLocalLength(ino, attr), AttrTimeout: v.conf.AttrTimeout,
		EntryTimeout: v.conf.EntryTimeout}
	if attr.Typ == codec.TypeDirectory {
		e.EntryTimeout = v.conf.DirEntryTimeout
	}
	return e
}

func internalEntry(n *internalNode) Entry {
	return Entry{Ino: n.ino, Attr: n.attr, EntryTimeout: internalTTL, AttrTimeout: internalTTL}
}

// withLocalLength reports a regular file's length including the writes
// this process still buffers.
func (v *VFS) withLocalLength(ino Ino, attr Attr) Attr {
	if attr.Typ == codec.TypeFile && v.data != nil {
		attr.Length = max(attr.Length, v.data.BufferedLength(ino))
	}
	return attr
}

func checkName(name string) syscall.Errno {
	if len(name) > maxName {
		return syscall.ENAMETOOLONG
	}
	return 0
}

func (v *VFS) writeAllowed() syscall.Errno {
	if v.conf.ReadOnly {
		return syscall.EROFS
	}
	return 0
}

// Lookup finds name in directory parent.
func (v *VFS) Lookup(ctx context.Context, parent Ino, name string) (Entry, syscall.Errno) {
	if st := checkName(name); st != 0 {
		return Entry{}, st
	}
	if n := v.nodes.byName(parent, name); n != nil {
		return internalEntry(n), 0
	}
	ino, attr, err := v.m.Lookup(ctx, v.toMeta(parent), name)
	if err != nil {
		st := errno(err)
		if st == syscall.ENOENT && v.conf.NegEntryTimeout > 0 {
			return Entry{EntryTimeout: v.conf.NegEntryTimeout}, 0
		}
		return Entry{}, st
	}
	v.stale.named(v.toMeta(parent), v.toKernel(ino), &attr)
	return v.entry(ino, attr), 0
}

// GetAttr returns the attribute of ino.
func (v *VFS) GetAttr(ctx context.Context, ino Ino) (Entry, syscall.Errno) {
	if n := v.nodes.byIno(ino); n != nil {
		return internalEntry(n), 0
	}
	attr, err := v.m.GetAttr(ctx, v.toMeta(ino))
	if err != nil {
		return Entry{}, errno(err)
	}
	return v.entry(v.toMeta(ino), attr), 0
}

// SetAttr changes the attributes of ino selected by set to those in attr
// (the size is attr.Length). fh is the handle the change goes through, 0
// for a change by path.
func (v *VFS) SetAttr(ctx context.Context, ino Ino, set codec.SetAttrMask, attr *Attr, fh uint64) (Entry, syscall.Errno) {
	if IsInternal(ino) {
		return v.GetAttr(ctx, ino) // accepted, changes nothing
	}
	if st := v.writeAllowed(); st != 0 {
		return Entry{}, st
	}
	mino := v.toMeta(ino)
	if set&codec.SetAttrSize != 0 {
		if st := v.truncate(ctx, ino, attr.Length, fh); st != 0 {
			return Entry{}, st
		}
		set &^= codec.SetAttrSize
	}
	var res Attr
	var err error
	if set&^(codec.SetAttrCtime|codec.SetAttrCtimeNow) != 0 {
		res, err = v.m.SetAttr(ctx, mino, set, attr)
		if err == nil && set&(codec.SetAttrMtime|codec.SetAttrMtimeNow) != 0 && v.data != nil {
			v.data.SetMtime(mino, time.Unix(res.Mtime, int64(res.Mtimensec)))
		}
	} else {
		res, err = v.m.GetAttr(ctx, mino)
	}
	if err != nil {
		return Entry{}, errno(err)
	}
	return v.entry(mino, res), 0
}

// truncate sets the length of file ino; through handle fh when it is not 0
// (which must then be writable, and skips the permission check).
func (v *VFS) truncate(ctx context.Context, ino Ino, length, fh uint64) syscall.Errno {
	if length >= maxFileSize {
		return syscall.EFBIG
	}
	var flags uint8
	skipCheck := false
	if fh != 0 {
		h := v.handles.get(ino, fh)
		if h == nil {
			return syscall.EBADF
		}
		if !h.writable() {
			return syscall.EACCES
		}
		flags, skipCheck = 1, true
	}
	mino := v.toMeta(ino)
	var err error
	if v.data != nil {
		_, err = v.data.Truncate(ctx, mino, length, flags, skipCheck)
	} else {
		_, err = v.m.Truncate(ctx, mino, flags, length, skipCheck)
	}
	return errno(err)
}

// Mknod creates a regular file, FIFO, socket or device node; mode carries
// the type bits (S_IF*).
func (v *VFS) Mknod(ctx context.Context, parent Ino, name string, mode uint32, umask uint16, rdev uint32) (Entry, syscall.Errno) {
	typ, ok := codec.FileTypeFromStatMode(mode)
	if !ok || typ == codec.TypeDirectory || typ == codec.TypeSymlink {
		return Entry{}, syscall.EPERM
	}
	return v.create(parent, name, func(mparent Ino) (Ino, Attr, error) {
		return v.m.Mknod(ctx, mparent, name, typ, uint16(mode&0o7777), v.umask(umask), rdev)
	})
}

// Mkdir creates a directory.
func (v *VFS) Mkdir(ctx context.Context, parent Ino, name string, mode, umask uint16) (Entry, syscall.Errno) {
	return v.create(parent, name, func(mparent Ino) (Ino, Attr, error) {
		return v.m.Mkdir(ctx, mparent, name, mode&0o7777, v.umask(umask))
	})
}

// Symlink creates a symbolic link to target.
func (v *VFS) Symlink(ctx context.Context, parent Ino, name, target string) (Entry, syscall.Errno) {
	if len(target) >= maxSymlinkPath {
		return Entry{}, syscall.ENAMETOOLONG
	}
	return v.create(parent, name, func(mparent Ino) (Ino, Attr, error) {
		return v.m.Symlink(ctx, mparent, name, target)
	})
}

// umask is the umask of a new node: the caller's, or the mount's --umask.
func (v *VFS) umask(caller uint16) uint16 {
	if v.conf.Umask != nil {
		return *v.conf.Umask
	}
	return caller
}

// create checks what every creation of a name checks, then runs make.
func (v *VFS) create(parent Ino, name string, make func(mparent Ino) (Ino, Attr, error)) (Entry, syscall.Errno) {
	if st := checkName(name); st != 0 {
		return Entry{}, st
	}
	if v.nodes.reserved(parent, name) {
		return Entry{}, syscall.EEXIST
	}
	if st := v.writeAllowed(); st != 0 {
		return Entry{}, st
	}
	ino, attr, err := make(v.toMeta(parent))
	if err != nil {
		return Entry{}, errno(err)
	}
	return v.entry(ino, attr), 0
}

// Readlink returns the target of symbolic link ino.
func (v *VFS) Readlink(ctx context.Context, ino Ino) (string, syscall.Errno) {
	if IsInternal(ino) && ino != trashIno {
		return "", syscall.EINVAL
	}
	target, err := v.m.ReadLink(ctx, v.toMeta(ino))
	return target, errno(err)
}

// Unlink removes the non-directory name from parent (to the trash when the
// volume has one).
func (v *VFS) Unlink(ctx context.Context, parent Ino, name string) syscall.Errno {
	return v.remove(parent, name, func(mparent Ino) error { return v.m.Unlink(ctx, mparent, name, false) })
}

// Rmdir removes the empty directory name from parent.
func (v *VFS) Rmdir(ctx context.Context, parent Ino, name string) syscall.Errno {
	return v.remove(parent, name, func(mparent Ino) error { return v.m.Rmdir(ctx, mparent, name, false) })
}

func (v *VFS) remove(parent Ino, name string, rm func(mparent Ino) error) syscall.Errno {
	if st := checkName(name); st != 0 {
		return st
	}
	if v.nodes.reserved(parent, name) {
		return syscall.EPERM
	}
	if st := v.writeAllowed(); st != 0 {
		return st
	}
	return errno(rm(v.toMeta(parent)))
}

// Rename moves name in parent to newName in newParent; flags are those of
// renameat2 (RENAME_NOREPLACE, RENAME_EXCHANGE).
func (v *VFS) Rename(ctx context.Context, parent Ino, name string, newParent Ino, newName string, flags uint32) syscall.Errno {
	if st := checkName(name); st != 0 {
		return st
	}
	if st := checkName(newName); st != 0 {
		return st
	}
	if v.nodes.reserved(parent, name) || v.nodes.reserved(newParent, newName) {
		return syscall.EPERM
	}
	if st := v.writeAllowed(); st != 0 {
		return st
	}
	_, _, err := v.m.Rename(ctx, v.toMeta(parent), name, v.toMeta(newParent), newName, flags)
	return errno(err)
}

// Link adds the name newName in newParent for ino.
func (v *VFS) Link(ctx context.Context, ino, newParent Ino, newName string) (Entry, syscall.Errno) {
	if IsInternal(ino) {
		return Entry{}, syscall.EPERM
	}
	return v.create(newParent, newName, func(mparent Ino) (Ino, Attr, error) {
		mino := v.toMeta(ino)
		attr, err := v.m.Link(ctx, mino, mparent, newName)
		return mino, attr, err
	})
}

// StatFS returns the capacity and usage seen from ino: the volume's, or
// that of the nearest directory quota above ino.
func (v *VFS) StatFS(ctx context.Context, ino Ino) (total, avail, files, ffree uint64) {
	if IsInternal(ino) {
		ino = RootInode
	}
	st := v.m.StatFS(ctx, v.toMeta(ino))
	return st.TotalSpace, st.AvailSpace, st.UsedInodes + st.AvailInodes, st.AvailInodes
}
