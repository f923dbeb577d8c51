package vfs

import (
	"context"
	"sync"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// DirEntry is one entry of a directory listing. With attributes (READDIRPLUS)
// Entry carries the attribute and cache timeouts; Entry.Ino is always set.
type DirEntry struct {
	Name    string
	Entry   Entry
	HasAttr bool
}

// dirHandle is an open directory: the listing is read from the engine when
// the kernel reads from offset 0 and served from memory after that, so that
// entries removed meanwhile (rm -r reads and deletes in turns) do not shift
// the offsets the kernel continues from.
type dirHandle struct {
	mu      sync.Mutex
	entries []DirEntry
	plus    bool // the listing has attributes
	loaded  bool
}

// OpenDir opens directory ino.
func (v *VFS) OpenDir(ctx context.Context, ino Ino) (uint64, syscall.Errno) {
	if IsInternal(ino) && ino != trashIno {
		return 0, syscall.ENOTDIR
	}
	if ino != trashIno {
		attr, err := v.m.GetAttr(ctx, v.toMeta(ino))
		if err != nil {
			return 0, errno(err)
		}
		if attr.Typ != codec.TypeDirectory {
			return 0, syscall.ENOTDIR
		}
	}
	return v.handles.add(&handle{ino: ino, dir: &dirHandle{}}), 0
}

// ReadDir returns the entries of directory handle fh from position off (the
// kernel's offset: the entry at position i has offset i+1); with plus their
// attributes too.
func (v *VFS) ReadDir(ctx context.Context, ino Ino, fh, off uint64, plus bool) ([]DirEntry, syscall.Errno) {
	h := v.handles.get(ino, fh)
	if h == nil || h.dir == nil {
		return nil, syscall.EBADF
	}
	d := h.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	if off == 0 || !d.loaded || (plus && !d.plus) {
		entries, st := v.list(ctx, ino, plus)
		if st != 0 {
			return nil, st
		}
		d.entries, d.plus, d.loaded = entries, plus, true
	}
	if off >= uint64(len(d.entries)) {
		return nil, 0
	}
	return d.entries[off:], 0
}

// list reads directory ino from the engine; the root's listing starts with
// the internal files. Without search permission a listing with attributes
// falls back to names and types.
func (v *VFS) list(ctx context.Context, ino Ino, plus bool) ([]DirEntry, syscall.Errno) {
	mino := v.toMeta(ino)
	entries, err := v.m.Readdir(ctx, mino, plus)
	if plus && errno(err) == syscall.EACCES {
		plus = false
		entries, err = v.m.Readdir(ctx, mino, false)
	}
	if ino == trashIno && errno(err) == syscall.ENOENT {
		// A volume without trash: an empty directory.
		entries = []meta.Entry{{Inode: trashIno, Name: "."}, {Inode: RootInode, Name: ".."}}
		err = nil
	}
	if err != nil {
		return nil, errno(err)
	}
	out := make([]DirEntry, 0, len(entries)+len(v.nodes))
	for i, e := range entries {
		de := DirEntry{Name: e.Name, Entry: Entry{Ino: v.toKernel(e.Inode), Attr: e.Attr}}
		if plus && e.Attr.Nlink > 0 && i >= 2 {
			de.Entry, de.HasAttr = v.entry(e.Inode, e.Attr), true
		}
		out = append(out, de)
		if i == 1 && ino == RootInode && !v.conf.HideInternal {
			for j := range v.nodes {
				if n := &v.nodes[j]; n.listed {
					out = append(out, DirEntry{Name: n.name, Entry: internalEntry(n), HasAttr: plus})
				}
			}
		}
	}
	return out, 0
}

// ReleaseDir closes directory handle fh.
func (v *VFS) ReleaseDir(ino Ino, fh uint64) {
	v.handles.remove(ino, fh)
}
