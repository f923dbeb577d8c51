package meta_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestQuotaSetWhileWriting: a new directory quota set while other clients
// (engines of their own, as other processes would be) create, write,
// truncate, fallocate, link, rename (files and directories, into and out of
// the quota's tree, before, while and after it is set) and remove files
// inside and outside it must have exactly the usage of its tree once the
// writes stopped and were flushed. In half the rounds the volume starts
// without directory statistics, which `quota set` turns on.
func TestQuotaSetWhileWriting(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprint(round), func(t *testing.T) { quotaSetWhileWriting(t, uint64(round), round%2 == 0) })
	}
}

// quotaWriter is one client's share of the workload: the names it made.
type quotaWriter struct {
	e       *meta.Engine
	rnd     *rand.Rand
	id      int
	names   []quotaName
	ownDirs []meta.Ino // directories only this writer moves
	// ownParents are where they are
	ownParents []meta.Ino
	seq        int
}

type quotaName struct {
	parent meta.Ino
	name   string
	ino    meta.Ino
}

func quotaSetWhileWriting(t *testing.T, seed uint64, dirStats bool) {
	vv := voltest.New(t, voltest.Options{NoCheck: !dirStats, Format: func(f *codec.Format) { f.DirStats = dirStats }})
	v := &volume{Volume: vv, t: t, url: vv.URL, e: vv.E, srv: vv.Srv, db: vv.DB}
	ctx := context.Background()
	e := v.e
	d := mustMkdir(t, e, ctx, meta.RootInode, "D", 0o777)
	out := mustMkdir(t, e, ctx, meta.RootInode, "out", 0o777)
	dirs := []meta.Ino{d, out, mustMkdir(t, e, ctx, d, "a", 0o777), mustMkdir(t, e, ctx, out, "x", 0o777)}
	fixed := len(dirs)
	// Enough entries for the count to take a while.
	for i := range 2000 {
		mustCreate(t, e, ctx, dirs[i%fixed], fmt.Sprintf("pre%d", i), 0o644)
	}
	writers := make([]*quotaWriter, 3)
	for i := range writers {
		w := &quotaWriter{e: v.open(meta.Options{}), rnd: rand.New(rand.NewPCG(seed, uint64(i))), id: i}
		for k := range 3 {
			dir := mustMkdir(t, w.e, ctx, dirs[k%fixed], fmt.Sprintf("w%d-dir%d", i, k), 0o777)
			w.ownDirs = append(w.ownDirs, dir)
			w.ownParents = append(w.ownParents, dirs[k%fixed])
		}
		writers[i] = w
	}
	for _, w := range writers {
		dirs = append(dirs, w.ownDirs...)
	}

	var ops atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, len(writers))
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := w.step(ctx, dirs, fixed); err != nil {
					errs <- err
					return
				}
				ops.Add(1)
			}
		}()
	}
	awaitOps := func(n int64) {
		for ops.Load() < n {
			select {
			case err := <-errs:
				t.Fatal(err)
			case <-time.After(time.Millisecond):
			}
		}
	}
	awaitOps(300)
	setter := v.open(meta.Options{})
	before, start := ops.Load(), time.Now()
	if _, err := setter.Quotas().Set(ctx, meta.QuotaDir, "/D", -1, -1, false, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d operations during the %v the quota took to set", ops.Load()-before, time.Since(start))
	awaitOps(ops.Load() + 300)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	engines := []*meta.Engine{setter}
	for _, w := range writers {
		w.e.Sync(ctx)
		engines = append(engines, w.e)
	}
	res, err := setter.Quotas().Check(ctx, meta.QuotaDir, "/D", true, false)
	if err != nil {
		t.Fatalf("after %d operations: %v (%+v)", ops.Load(), err, res.Mismatches)
	}
	if dirStats {
		v.check(engines...)
		return
	}
	// The directory statistics of changes made before a client learnt
	// that `quota set` turned them on are not kept (docs/commands.md).
	voltest.RecountWith(t, fsck.Options{SkipDirStats: true, SkipSliceCounter: true}, append([]*meta.Engine{v.e}, engines...)...)
}

// step runs one random operation.
func (w *quotaWriter) step(ctx context.Context, dirs []meta.Ino, fixed int) error {
	e, r := w.e, w.rnd
	dir := dirs[r.IntN(len(dirs))]
	w.seq++
	name := fmt.Sprintf("w%d-%d", w.id, w.seq)
	if len(w.names) < 5 {
		return w.create(ctx, dir, name)
	}
	i := r.IntN(len(w.names))
	n := w.names[i]
	var err error
	switch op := r.IntN(10); op {
	case 0, 1:
		return w.create(ctx, dir, name)
	case 2, 3:
		var id uint64
		if id, err = e.NewSlice(ctx); err == nil {
			size := uint32(1 + r.IntN(64<<10))
			err = e.Write(ctx, n.ino, 0, uint32(r.IntN(1<<20)), codec.Slice{ID: id, Size: size, Len: size}, time.Now())
		}
	case 4:
		_, err = e.Truncate(ctx, n.ino, 0, uint64(r.IntN(2<<20)), true)
	case 5:
		_, err = e.Fallocate(ctx, n.ino, 0, uint64(r.IntN(1<<20)), uint64(1+r.IntN(1<<20)))
	case 6:
		if _, _, err = e.Rename(ctx, n.parent, n.name, dir, name, 0); err == nil {
			w.names[i] = quotaName{dir, name, n.ino}
		}
	case 7:
		if err = e.Unlink(ctx, n.parent, n.name, false); err == nil {
			w.names = append(w.names[:i], w.names[i+1:]...)
		}
	case 8:
		if _, err = e.Link(ctx, n.ino, dir, name); err == nil {
			w.names = append(w.names, quotaName{dir, name, n.ino})
		}
	case 9:
		// One of this writer's own directories moves to a fixed one,
		// into or out of the quota's tree.
		k, to := r.IntN(len(w.ownDirs)), dirs[r.IntN(fixed)]
		if from := w.ownParents[k]; from != to {
			dn := fmt.Sprintf("w%d-dir%d", w.id, k)
			if _, _, err = e.Rename(ctx, from, dn, to, dn, 0); err == nil {
				w.ownParents[k] = to
			}
		}
	}
	if err != nil {
		return fmt.Errorf("writer %d, %s: %w", w.id, n.name, err)
	}
	return nil
}

func (w *quotaWriter) create(ctx context.Context, dir meta.Ino, name string) error {
	ino, _, err := w.e.Mknod(ctx, dir, name, codec.TypeFile, 0o644, 0, 0)
	if err != nil {
		return fmt.Errorf("writer %d, create %s: %w", w.id, name, err)
	}
	w.names = append(w.names, quotaName{dir, name, ino})
	return nil
}
