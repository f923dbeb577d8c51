package cli

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
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

// warmupReply is the reply of warmup (1004).
type warmupReply struct {
	FileCount, SliceCount, TotalBytes, MissBytes uint64
	Locations                                    map[string]uint64
}

// controlWarmup reads the files named in the request (paths relative to the
// mount point, or "inode:N") through the mount's data path, which leaves
// their blocks in its cache.
func controlWarmup(ctx context.Context, e *meta.Engine, d *dataPath, r *controlRequest, reply *vfs.ControlReply) syscall.Errno {
	paths := strings.Split(string(r.take(int(r.u32()))), "\n")
	threads := int(r.u16())
	background := r.u8() != 0
	action := r.optU8(0)
	if r.bad {
		return syscall.EINVAL
	}
	if action != 0 {
		return syscall.ENOTSUP // evict and check are not supported
	}
	resp := warmupReply{Locations: map[string]uint64{}}
	run := func(ctx context.Context) {
		var files, bytes atomic.Uint64
		w := &warmer{e: e, d: d, root: reply.Root(), toMeta: reply.MetaIno, threads: max(threads, 1), progress: func(nf, nb uint64) {
			reply.Progress(files.Add(nf), bytes.Add(nb))
		}}
		w.run(ctx, paths)
		resp.FileCount, resp.TotalBytes = files.Load(), bytes.Load()
	}
	if background {
		go run(context.WithoutCancel(ctx))
	} else {
		run(ctx)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return syscall.EIO
	}
	reply.Data(b)
	return 0
}

// warmer reads whole files with a few workers.
type warmer struct {
	e        *meta.Engine
	root     meta.Ino // the mount's root
	toMeta   func(meta.Ino) meta.Ino
	d        *dataPath
	threads  int
	progress func(files, bytes uint64)
}

func (w *warmer) run(ctx context.Context, paths []string) {
	todo := make(chan meta.Ino, 1024)
	var wg sync.WaitGroup
	for i := 0; i < w.threads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ino := range todo {
				n, _ := w.readFile(ctx, ino) // a file that cannot be read is not cached: nothing else to do
				w.progress(1, n)
			}
		}()
	}
	for _, p := range paths {
		ino, attr, err := w.resolve(ctx, p)
		if err != nil {
			continue
		}
		w.walk(ctx, ino, attr, todo)
	}
	close(todo)
	wg.Wait()
}

// resolve finds a path of the request: relative to the mount's root
// (symbolic links are not followed), or "inode:N" as the mount shows it.
func (w *warmer) resolve(ctx context.Context, p string) (meta.Ino, meta.Attr, error) {
	if s, ok := strings.CutPrefix(p, "inode:"); ok {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, meta.Attr{}, syscall.EINVAL
		}
		ino := w.toMeta(meta.Ino(n))
		attr, err := w.e.GetAttr(ctx, ino)
		return ino, attr, err
	}
	ino := w.root
	attr, err := w.e.GetAttr(ctx, ino)
	for _, name := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' }) {
		if err != nil {
			break
		}
		ino, attr, err = w.e.Lookup(ctx, ino, name)
	}
	return ino, attr, err
}

// walk queues the files at and below ino (symbolic links are not followed).
func (w *warmer) walk(ctx context.Context, ino meta.Ino, attr meta.Attr, todo chan<- meta.Ino) {
	switch attr.Typ {
	case codec.TypeFile:
		todo <- ino
	case codec.TypeDirectory:
		entries, err := w.e.Readdir(ctx, ino, true)
		if err != nil {
			return
		}
		for _, ent := range entries {
			if ent.Name != "." && ent.Name != ".." && ctx.Err() == nil {
				w.walk(ctx, ent.Inode, ent.Attr, todo)
			}
		}
	}
}

func (w *warmer) readFile(ctx context.Context, ino meta.Ino) (uint64, error) {
	f, _, err := w.d.fs.Open(ctx, ino, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close(ctx)
	n, err := f.WriteTo(ctx, io.Discard, 4<<20)
	return uint64(n), err
}
