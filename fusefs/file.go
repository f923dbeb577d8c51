package fusefs

import (
	"fmt"
	"math"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/vfs"
)

func fillOpen(o vfs.Opened, out *fuse.OpenOut) {
	out.Fh = o.Fh
	if o.KeepCache {
		out.OpenFlags |= fuse.FOPEN_KEEP_CACHE
	}
	if o.DirectIO {
		out.OpenFlags |= fuse.FOPEN_DIRECT_IO
	}
}

// Create implements fuse.RawFileSystem.
func (fs *FS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, in.Umask)
	e, o, st := fs.v.Create(ctx, vfs.Ino(in.NodeId), name, uint16(in.Mode), uint16(in.Umask), in.Flags)
	fs.v.Observe(ctx, "create", st, start, func() string {
		return fmt.Sprintf("(%d,%s,0%o):%s [fh:%d]", in.NodeId, name, in.Mode, entryString(&e), o.Fh)
	})
	if st == 0 {
		fillEntry(&e, &out.EntryOut)
		fillOpen(o, &out.OpenOut)
	}
	return status(st)
}

// Open implements fuse.RawFileSystem.
func (fs *FS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	o, st := fs.v.Open(ctx, vfs.Ino(in.NodeId), in.Flags)
	fs.v.Observe(ctx, "open", st, start, func() string { return fmt.Sprintf("(%d,%#x) [fh:%d]", in.NodeId, in.Flags, o.Fh) })
	if st == 0 {
		fillOpen(o, out)
	}
	return status(st)
}

// Read implements fuse.RawFileSystem.
func (fs *FS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	size := min(int(in.Size), len(buf))
	n, st := fs.v.Read(ctx, vfs.Ino(in.NodeId), in.Fh, int64(in.Offset), buf[:size])
	if vfs.IsInternal(vfs.Ino(in.NodeId)) {
		// Reading .accesslog must not feed itself; internal files are no
		// workload anyway.
		return fuse.ReadResultData(buf[:n]), status(st)
	}
	fs.v.Observe(ctx, "read", st, start, func() string {
		return fmt.Sprintf("(%d,%d,%d,%d): (%d)", in.NodeId, in.Size, in.Offset, in.Fh, n)
	})
	if st != 0 {
		return nil, status(st)
	}
	fs.v.ObserveIO(false, n)
	return fuse.ReadResultData(buf[:n]), fuse.OK
}

// Write implements fuse.RawFileSystem.
func (fs *FS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	n, st := fs.v.Write(ctx, vfs.Ino(in.NodeId), in.Fh, int64(in.Offset), data)
	fs.v.Observe(ctx, "write", st, start, func() string {
		return fmt.Sprintf("(%d,%d,%d,%d)", in.NodeId, len(data), in.Offset, in.Fh)
	})
	if st == 0 {
		fs.v.ObserveIO(true, n)
	}
	return uint32(n), status(st)
}

// Flush implements fuse.RawFileSystem: a close(2) of a descriptor.
func (fs *FS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	start, ctx := time.Now(), fs.interruptibleCtx(cancel, &in.InHeader)
	st := fs.v.Flush(ctx, vfs.Ino(in.NodeId), in.Fh, in.LockOwner)
	fs.v.Observe(ctx, "flush", st, start, func() string { return fmt.Sprintf("(%d,%d,%016X)", in.NodeId, in.Fh, in.LockOwner) })
	return status(st)
}

// Fsync implements fuse.RawFileSystem.
func (fs *FS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	start, ctx := time.Now(), fs.interruptibleCtx(cancel, &in.InHeader)
	st := fs.v.Fsync(ctx, vfs.Ino(in.NodeId), in.Fh)
	fs.v.Observe(ctx, "fsync", st, start, func() string { return fmt.Sprintf("(%d,%d)", in.NodeId, in.FsyncFlags) })
	return status(st)
}

// Release implements fuse.RawFileSystem: the last close of an open file.
func (fs *FS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	st := fs.v.Release(ctx, vfs.Ino(in.NodeId), in.Fh)
	fs.v.Observe(ctx, "release", st, start, func() string { return fmt.Sprintf("(%d,%d)", in.NodeId, in.Fh) })
}

// Fallocate implements fuse.RawFileSystem.
func (fs *FS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	st := fs.v.Fallocate(ctx, vfs.Ino(in.NodeId), in.Fh, in.Mode, in.Offset, in.Length)
	fs.v.Observe(ctx, "fallocate", st, start, func() string {
		return fmt.Sprintf("(%d,%d,%d,%d)", in.NodeId, in.Mode, in.Offset, in.Length)
	})
	return status(st)
}

// maxCopy bounds one copy_file_range reply, whose length is 32 bits.
const maxCopy = math.MaxUint32 - codec.ChunkSize + 1

// CopyFileRange implements fuse.RawFileSystem.
func (fs *FS) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	length := min(in.Len, maxCopy)
	n, st := fs.v.CopyFileRange(ctx, vfs.Ino(in.NodeId), in.FhIn, in.OffIn, vfs.Ino(in.NodeIdOut), in.FhOut, in.OffOut, length, uint32(in.Flags))
	fs.v.Observe(ctx, "copy_file_range", st, start, func() string {
		return fmt.Sprintf("(%d,%d,%d,%d,%d,%d): (%d)", in.NodeId, in.OffIn, in.NodeIdOut, in.OffOut, in.Len, in.Flags, n)
	})
	return uint32(n), status(st)
}

// OpenDir implements fuse.RawFileSystem.
func (fs *FS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	fh, st := fs.v.OpenDir(ctx, vfs.Ino(in.NodeId))
	fs.v.Observe(ctx, "opendir", st, start, func() string { return fmt.Sprintf("(%d) [fh:%d]", in.NodeId, fh) })
	out.Fh = fh
	return status(st)
}

// ReadDir implements fuse.RawFileSystem.
func (fs *FS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return fs.readDir(cancel, in, out, false)
}

// ReadDirPlus implements fuse.RawFileSystem.
func (fs *FS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return fs.readDir(cancel, in, out, true)
}

func (fs *FS) readDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	entries, st := fs.v.ReadDir(ctx, vfs.Ino(in.NodeId), in.Fh, in.Offset, plus)
	n := 0
	for i := range entries {
		e := &entries[i]
		de := fuse.DirEntry{Name: e.Name, Ino: uint64(e.Entry.Ino), Mode: e.Entry.Attr.SMode(), Off: in.Offset + uint64(i) + 1}
		if !plus {
			if !out.AddDirEntry(de) {
				break
			}
		} else {
			eo := out.AddDirLookupEntry(de)
			if eo == nil {
				break
			}
			if e.HasAttr {
				fillEntry(&e.Entry, eo)
			}
		}
		n++
	}
	op := "readdir"
	if plus {
		op = "readdirplus"
	}
	fs.v.Observe(ctx, op, st, start, func() string {
		return fmt.Sprintf("(%d,%d,%d): (%d)", in.NodeId, in.Size, in.Offset, n)
	})
	return status(st)
}

// ReleaseDir implements fuse.RawFileSystem.
func (fs *FS) ReleaseDir(in *fuse.ReleaseIn) {
	start, ctx := time.Now(), fs.ctx(nil, &in.InHeader, 0)
	fs.v.ReleaseDir(vfs.Ino(in.NodeId), in.Fh)
	fs.v.Observe(ctx, "releasedir", 0, start, func() string { return fmt.Sprintf("(%d)", in.NodeId) })
}

// FsyncDir implements fuse.RawFileSystem: directories have nothing
// buffered.
func (fs *FS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status { return fuse.OK }

// GetLk implements fuse.RawFileSystem.
func (fs *FS) GetLk(cancel <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	start, ctx := time.Now(), fs.ctx(cancel, &in.InHeader, 0)
	l := codec.PosixLock{Type: in.Lk.Typ, Start: in.Lk.Start, End: in.Lk.End, Pid: in.Lk.Pid}
	got, st := fs.v.Getlk(ctx, vfs.Ino(in.NodeId), in.Fh, in.Owner, l)
	fs.v.Observe(ctx, "getlk", st, start, func() string {
		return fmt.Sprintf("(%d,%016X): (%d,%d,%d,%d)", in.NodeId, in.Owner, got.Type, got.Start, got.End, got.Pid)
	})
	if st == 0 {
		out.Lk = fuse.FileLock{Typ: got.Type, Start: got.Start, End: got.End, Pid: got.Pid}
	}
	return status(st)
}

// SetLk implements fuse.RawFileSystem.
func (fs *FS) SetLk(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	return fs.setLk(cancel, in, false)
}

// SetLkw implements fuse.RawFileSystem.
func (fs *FS) SetLkw(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	return fs.setLk(cancel, in, true)
}

func (fs *FS) setLk(cancel <-chan struct{}, in *fuse.LkIn, block bool) fuse.Status {
	start, ctx := time.Now(), fs.interruptibleCtx(cancel, &in.InHeader)
	var st syscall.Errno
	op := "setlk"
	if in.LkFlags&fuse.LK_FLOCK != 0 {
		op = "flock"
		st = fs.v.Flock(ctx, vfs.Ino(in.NodeId), in.Fh, in.Owner, in.Lk.Typ, block)
	} else {
		l := codec.PosixLock{Type: in.Lk.Typ, Start: in.Lk.Start, End: in.Lk.End, Pid: in.Lk.Pid}
		st = fs.v.Setlk(ctx, vfs.Ino(in.NodeId), in.Fh, in.Owner, l, block)
	}
	fs.v.Observe(ctx, op, st, start, func() string {
		return fmt.Sprintf("(%d,%d,%016X,%d,%d,%d,%t)", in.NodeId, in.Fh, in.Owner, in.Lk.Typ, in.Lk.Start, in.Lk.End, block)
	})
	return status(st)
}
