package cli

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"sync/atomic"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// The commands a mount runs for the tools that write to its .control file
// (juicefs's info, summary, rmr, compact, warmup and clone, and
// rueidisfs's warmup), with the caller's identity, replying in JuiceFS's shapes so
// that the official tools read them.

// controlRequest reads the fields of a request body.
type controlRequest struct {
	b   []byte
	bad bool
}

func (r *controlRequest) more() bool { return len(r.b) > 0 }

func (r *controlRequest) take(n int) []byte {
	if len(r.b) < n {
		r.bad = true
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *controlRequest) u8() uint8   { return r.take(1)[0] }
func (r *controlRequest) u16() uint16 { return binary.BigEndian.Uint16(r.take(2)) }
func (r *controlRequest) u32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *controlRequest) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }

// optU8 reads an optional trailing byte (older clients send fewer fields).
func (r *controlRequest) optU8(def uint8) uint8 {
	if !r.more() {
		return def
	}
	return r.u8()
}

// controlHandler runs the commands of the mount's .control file.
func (a *app) controlHandler(e *meta.Engine, d *dataPath) vfs.ControlHandler {
	return func(ctx context.Context, cmd uint32, body []byte, reply *vfs.ControlReply) syscall.Errno {
		r := &controlRequest{b: body}
		var st syscall.Errno
		switch cmd {
		case vfs.CtlRmr:
			st = controlRmr(ctx, e, r, reply)
		case vfs.CtlInfo:
			st = controlInfo(ctx, e, r, reply)
		case vfs.CtlSummary:
			st = controlSummary(ctx, e, r, reply)
		case vfs.CtlCompact:
			st = controlCompact(ctx, e, r, reply)
		case vfs.CtlWarmup:
			st = controlWarmup(ctx, e, d, r, reply)
		case vfs.CtlClone:
			st = a.controlClone(ctx, e, r, reply)
		default:
			return syscall.EINVAL
		}
		if r.bad {
			return syscall.EINVAL
		}
		return st
	}
}

func controlRmr(ctx context.Context, e *meta.Engine, r *controlRequest, reply *vfs.ControlReply) syscall.Errno {
	seen := meta.Ino(r.u64())
	name := string(r.take(int(r.u8())))
	skipTrash := r.optU8(0)&1 != 0
	threads := int(r.optU8(50))
	if r.bad {
		return syscall.EINVAL
	}
	_, err := e.Remove(ctx, reply.MetaIno(seen), name, skipTrash, max(threads, 1), func(n int) { reply.Progress(uint64(n), 0) })
	if err == nil {
		reply.InvalidateEntry(seen, name)
	}
	return meta.ToErrno(err)
}

// infoReply is the reply of info (1005) as JuiceFS shapes it.
type infoReply struct {
	Ino           meta.Ino
	Failed        bool
	Reason        string
	Summary       meta.Summary
	Paths         []string
	Chunks        []infoChunk  `json:",omitempty"`
	Objects       []infoObject `json:",omitempty"`
	PLocks        []infoPlock
	FLocks        []infoFlock
	Tier          infoTier
	RestoreStatus string
}

type infoChunk struct {
	ChunkIndex     uint64
	Id             uint64 // JuiceFS's spelling
	Size, Off, Len uint32
}

type infoObject struct {
	ChunkIndex     uint64
	Key            string
	Size, Off, Len uint32
}

type infoPlock struct {
	Sid, Owner uint64
	Type, Pid  uint32
	Start, End uint64
}

type infoFlock struct {
	Sid, Owner uint64
	Type       string
}

type infoTier struct {
	ID           uint8
	StorageClass string
	Tag          string
}

func controlInfo(ctx context.Context, e *meta.Engine, r *controlRequest, reply *vfs.ControlReply) syscall.Errno {
	ino := reply.MetaIno(meta.Ino(r.u64()))
	recursive := r.optU8(1) != 0
	raw := r.optU8(0) != 0
	strict := r.optU8(0) != 0
	if r.bad {
		return syscall.EINVAL
	}
	info := infoReply{Ino: ino}
	sum, err := e.GetSummary(ctx, ino, recursive, strict)
	reply.Progress(sum.Files, sum.Size)
	if err != nil {
		info.Failed, info.Reason = true, meta.ToErrno(err).Error()
	} else if err := fillInfo(ctx, e, &info, sum, raw); err != nil {
		info.Failed, info.Reason = true, err.Error()
	}
	b, err := json.Marshal(info)
	if err != nil {
		return syscall.EIO
	}
	reply.Data(b)
	return 0
}

func fillInfo(ctx context.Context, e *meta.Engine, info *infoReply, sum meta.Summary, raw bool) error {
	info.Summary = sum
	f := e.Format()
	if attr, err := e.GetAttr(ctx, info.Ino); err == nil {
		t := f.Tiers[attr.Tier]
		info.Tier = infoTier{ID: attr.Tier, StorageClass: t.StorageClass, Tag: t.Tag}
	}
	info.Paths, _ = e.GetPaths(ctx, info.Ino)
	if sum.Files == 1 && sum.Dirs == 0 {
		for indx := uint64(0); indx*codec.ChunkSize < sum.Length; indx++ {
			slices, err := e.Read(ctx, info.Ino, uint32(indx))
			if err != nil {
				return err
			}
			for _, s := range slices {
				if raw {
					info.Chunks = append(info.Chunks, infoChunk{indx, s.ID, s.Size, s.Off, s.Len})
					continue
				}
				for _, o := range objstore.SliceObjects(f, s) {
					info.Objects = append(info.Objects, infoObject{indx, o.Key, o.Size, o.Off, o.Len})
				}
			}
		}
	}
	flocks, plocks, err := e.Inspect().Locks(ctx, info.Ino)
	if err != nil {
		return err
	}
	for _, fl := range flocks {
		info.FLocks = append(info.FLocks, infoFlock{fl.Sid, fl.Owner, fl.Type})
	}
	for _, pl := range plocks {
		info.PLocks = append(info.PLocks, infoPlock{pl.Sid, pl.Owner, pl.Lock.Type, pl.Lock.Pid, pl.Lock.Start, pl.Lock.End})
	}
	return nil
}

// summaryReply is the reply of summary (1007).
type summaryReply struct {
	Errno syscall.Errno
	Tree  *meta.TreeSummary
}

func controlSummary(ctx context.Context, e *meta.Engine, r *controlRequest, reply *vfs.ControlReply) syscall.Errno {
	ino := reply.MetaIno(meta.Ino(r.u64()))
	depth := r.optU8(3)
	topN := r.optU8(10)
	strict := r.optU8(0) != 0
	if r.bad {
		return syscall.EINVAL
	}
	var files, size atomic.Uint64
	tree, err := e.GetTreeSummary(ctx, ino, depth, topN, strict, func(count, bytes uint64) {
		reply.Progress(files.Add(count), size.Add(bytes))
	})
	if tree == nil {
		tree = &meta.TreeSummary{Inode: ino, Type: codec.TypeDirectory}
	}
	b, jerr := json.Marshal(summaryReply{Errno: meta.ToErrno(err), Tree: tree})
	if jerr != nil {
		return syscall.EIO
	}
	reply.Data(b)
	return 0
}

func controlCompact(ctx context.Context, e *meta.Engine, r *controlRequest, reply *vfs.ControlReply) syscall.Errno {
	ino := reply.MetaIno(meta.Ino(r.u64()))
	_ = r.u16() // concurrency: chunks are compacted one after the other
	if r.bad {
		return syscall.EINVAL
	}
	attr, err := e.GetAttr(ctx, ino)
	if err != nil {
		return meta.ToErrno(err)
	}
	// Files are compacted one after the other, as they are found.
	files := make(chan meta.Ino)
	walked := make(chan error, 1)
	go func() {
		walked <- walkFiles(ctx, e, ino, attr.Typ, files)
		close(files)
	}()
	var total, done uint64
	for file := range files {
		if a, err := e.GetAttr(ctx, file); err == nil {
			total += (a.Length + codec.ChunkSize - 1) / codec.ChunkSize
		}
		reply.Progress(total, done)
		if err := e.Compact(ctx, file, func(uint32) { done++; reply.Progress(total, done) }); err != nil {
			for range files {
			}
			return meta.ToErrno(err)
		}
	}
	return meta.ToErrno(<-walked)
}
