package cli

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// The warmup command of the control file (1004), as juicefs's and
// rueidisfs's `warmup` send it: fill the mount's cache with the blocks of
// the files named, drop them from it (--evict), or tell how much of them
// it holds and where (--check). It works slice by slice, as juicefs does:
// every block of every slice a file refers to.

// Warmup actions (the optional last byte of the request).
const (
	warmupFill  = 0
	warmupEvict = 1
	warmupCheck = 2
)

// warmupReply is the reply of warmup; mu guards Locations and MissBytes,
// the counters are updated atomically.
type warmupReply struct {
	mu                                           sync.Mutex
	FileCount, SliceCount, TotalBytes, MissBytes uint64
	Locations                                    map[string]uint64
}

// controlWarmup runs a warmup request: paths relative to the mount point,
// or "inode:N".
func controlWarmup(ctx context.Context, e *meta.Engine, d *dataPath, r *controlRequest, reply *vfs.ControlReply) syscall.Errno {
	paths := strings.Split(string(r.take(int(r.u32()))), "\n")
	threads := int(r.u16())
	background := r.u8() != 0
	action := r.optU8(warmupFill)
	if r.bad || action > warmupCheck {
		return syscall.EINVAL
	}
	resp := &warmupReply{Locations: map[string]uint64{}}
	run := func(ctx context.Context) {
		w := &warmer{e: e, d: d, root: reply.Root(), toMeta: reply.MetaIno, threads: max(threads, 1), action: action, resp: resp,
			progress: func() { reply.Progress(atomic.LoadUint64(&resp.FileCount), atomic.LoadUint64(&resp.TotalBytes)) }}
		w.run(ctx, paths)
	}
	out := resp
	if background {
		go run(context.WithoutCancel(ctx))
		out = &warmupReply{} // what the background work finds is not reported
	} else {
		run(ctx)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return syscall.EIO
	}
	reply.Data(b)
	return 0
}

// warmer works through the files with a few workers.
type warmer struct {
	e        *meta.Engine
	root     meta.Ino // the mount's root
	toMeta   func(meta.Ino) meta.Ino
	d        *dataPath
	threads  int
	action   byte
	resp     *warmupReply
	progress func()
}

func (w *warmer) run(ctx context.Context, paths []string) {
	todo := make(chan meta.Ino, 1024)
	var wg sync.WaitGroup
	for i := 0; i < w.threads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ino := range todo {
				w.file(ctx, ino)
				atomic.AddUint64(&w.resp.FileCount, 1)
				w.progress()
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

// file applies the action to every slice of file ino. A slice that cannot
// be read is not cached: warmup has nothing else to do about it.
func (w *warmer) file(ctx context.Context, ino meta.Ino) {
	attr, err := w.e.GetAttr(ctx, ino)
	if err != nil {
		return
	}
	store := w.d.store
	seen := map[uint64]bool{}
	for indx := uint64(0); indx*codec.ChunkSize < attr.Length && ctx.Err() == nil; indx++ {
		slices, err := w.e.Read(ctx, ino, uint32(indx))
		if err != nil {
			return
		}
		for _, s := range slices {
			if s.ID == 0 || seen[s.ID] {
				continue
			}
			seen[s.ID] = true
			atomic.AddUint64(&w.resp.SliceCount, 1)
			atomic.AddUint64(&w.resp.TotalBytes, uint64(s.Size))
			switch w.action {
			case warmupFill:
				_ = store.FillCache(ctx, s.ID, s.Size)
			case warmupEvict:
				store.EvictCache(s.ID, s.Size)
			case warmupCheck:
				store.CheckCache(s.ID, s.Size, w.count)
			}
		}
		w.progress()
	}
}

// count adds a block's length to the bytes cached in dir, or missing.
func (w *warmer) count(cached bool, dir string, blen int) {
	w.resp.mu.Lock()
	defer w.resp.mu.Unlock()
	if cached {
		w.resp.Locations[dir] += uint64(blen)
	} else {
		w.resp.MissBytes += uint64(blen)
	}
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
