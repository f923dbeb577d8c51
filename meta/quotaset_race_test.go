package meta_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
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
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			quotaSetWhileWriting(t, uint64(round), round%2 == 0, false, func(setter *meta.Engine, _ func(int64)) error {
				_, err := setter.Quotas().Set(bg, meta.QuotaDir, "/D", -1, -1, false, false)
				return err
			})
		})
	}
}

// TestQuotaRepairWhileWriting: `quota check --repair` of a directory quota
// run again and again, and the quota deleted and set again, while other
// clients write inside and outside it and hold unflushed usage (some flush
// every few milliseconds, one only every 3 seconds): once the writes
// stopped and were flushed, the stored usage is exactly the tree's.
func TestQuotaRepairWhileWriting(t *testing.T) {
	seeds := 4
	if s := os.Getenv("QUOTA_REPAIR_SEEDS"); s != "" {
		seeds, _ = strconv.Atoi(s)
	}
	for round := range seeds {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			quotaSetWhileWriting(t, uint64(100+round), true, true, func(admin *meta.Engine, awaitMore func(int64)) error {
				r := rand.New(rand.NewPCG(uint64(round), 7))
				for i := range 8 {
					if r.IntN(4) == 0 {
						if err := admin.Quotas().Delete(bg, meta.QuotaDir, "/D"); err != nil {
							return fmt.Errorf("delete %d: %w", i, err)
						}
						awaitMore(int64(r.IntN(100)))
						if _, err := admin.Quotas().Set(bg, meta.QuotaDir, "/D", -1, -1, false, false); err != nil {
							return fmt.Errorf("set again %d: %w", i, err)
						}
					} else if _, err := admin.Quotas().Check(bg, meta.QuotaDir, "/D", r.IntN(2) == 0, true); err != nil {
						return fmt.Errorf("repair %d: %w", i, err)
					}
					awaitMore(int64(r.IntN(150)))
				}
				return nil
			})
		})
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

// quotaSetWhileWriting runs admin (on an engine of its own; awaitMore(n)
// waits for n more writer operations) while writers work on a volume with
// directories /D and /out; with quotaFirst, /D has its quota before the
// writers start.
func quotaSetWhileWriting(t *testing.T, seed uint64, dirStats, quotaFirst bool, admin func(setter *meta.Engine, awaitMore func(int64)) error) {
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
	if quotaFirst {
		if _, err := e.Quotas().Set(ctx, meta.QuotaDir, "/D", -1, -1, false, false); err != nil {
			t.Fatal(err)
		}
	}
	writers := make([]*quotaWriter, 3)
	for i := range writers {
		// Writers flush their quota usage at different paces: some land
		// during the counts, some long after.
		period := []time.Duration{0, 20 * time.Millisecond, 200 * time.Millisecond}[i%3]
		w := &quotaWriter{e: v.open(meta.Options{QuotaFlushPeriod: period}), rnd: rand.New(rand.NewPCG(seed, uint64(i))), id: i}
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
	if err := admin(setter, func(n int64) { awaitOps(ops.Load() + n) }); err != nil {
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
