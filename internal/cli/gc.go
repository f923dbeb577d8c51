package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
)

// gcSkipAge: objects younger than this may belong to a write in progress,
// gc leaves them alone (JFS_GC_SKIPPEDTIME, in seconds, overrides it).
const gcSkipAge = time.Hour

func (a *app) gcCommand() *cli.Command {
	return &cli.Command{
		Name:      "gc",
		Usage:     "Garbage collector of objects in data storage",
		ArgsUsage: "META-URL",
		Category:  "ADMIN",
		Description: `Finds what a volume keeps but no longer needs, as juicefs gc does: leaked
metadata (inodes no entry names, chunk lists of missing files), files deleted
but not yet purged, slices kept for the trash by compactions, and, on a file
storage, leaked objects (blocks of no slice in use, pending deletion or kept
for the trash). Without --delete it only reports; with --delete it expires
the trash, removes detached clone trees, purges every deleted file, deletes
the leaked metadata and objects and releases the slices nothing references.
Objects modified within the last hour are skipped (JFS_GC_SKIPPEDTIME sets
another age, in seconds). Objects can be scanned on a file storage only.

Examples:
$ rueidisfs gc redis://localhost/1
$ rueidisfs gc redis://localhost/1 --delete --threads 20`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "compact", Usage: "compact small slices into bigger ones (not supported yet: needs the data path)"},
			&cli.BoolFlag{Name: "delete", Usage: "delete leaked objects and metadata, expired trash, and pending deleted files and slices"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"p"}, Value: 10, Usage: "number of threads deleting files and leaked objects"},
		},
		Action: a.gc,
	}
}

// gcTally counts the objects and bytes of one class of what gc found.
type gcTally struct{ n, bytes atomic.Int64 }

func (t *gcTally) add(n, bytes int64) { t.n.Add(n); t.bytes.Add(bytes) }

func (a *app) gc(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	del, threads := c.Bool("delete"), c.Int("threads")
	if c.Bool("compact") {
		return errors.New("--compact is not supported yet: compaction rewrites file data, and rueidisfs has no data path yet (run `juicefs gc --compact`)")
	}
	if del && threads <= 0 {
		return errors.New("threads should be greater than 0 to delete or compact objects")
	}
	maxMtime := time.Now().Add(-gcSkipAge)
	if s := a.getenv("JFS_GC_SKIPPEDTIME"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil {
			maxMtime = time.Now().Add(-time.Duration(secs) * time.Second)
		} else {
			a.log.Error(fmt.Sprintf("parse JFS_GC_SKIPPEDTIME=%s: %s", s, err))
		}
	}
	e, f, err := a.openVolume(c)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	ctx := c.Context
	store := a.openStore(f, "leaked objects are not searched, and the data of what --delete removes stays in the storage")
	var deletedSlices atomic.Int64
	if del {
		installSliceDeleter(e, store, f, func() { deletedSlices.Add(1) })
	}
	// A session without registration flushes statistics as gc goes.
	if err := e.NewSession(ctx, false); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	prog := a.newProgress()
	defer prog.Wait()
	edge := time.Now().Add(-time.Duration(f.TrashDays) * 24 * time.Hour)
	if del {
		spin := prog.Spin("Cleaned trash", false)
		if _, err := e.CleanupTrashBefore(ctx, edge, func(n int) { spin.Add(int64(n), 0) }); err != nil {
			a.log.Warn(fmt.Sprintf("clean up the trash: %v", err))
		}
		spin.Done()
		spin = prog.Spin("Cleaned detached nodes", false)
		if _, err := e.CleanupDetachedNodesBefore(ctx, time.Now().Add(-24*time.Hour), func() { spin.Add(1, 0) }); err != nil {
			a.log.Warn(fmt.Sprintf("clean up detached nodes: %v", err))
		}
		spin.Done()
	}
	var pendingFiles, cleanedFiles gcTally
	if err := a.gcDeletedFiles(ctx, e, prog, del, threads, &pendingFiles, &cleanedFiles); err != nil {
		return err
	}

	spin := prog.Spin("Listed slices", false)
	rep, err := e.ListSlices(ctx, true, del, func() { spin.Add(1, 0) })
	spin.Done()
	if err != nil {
		return fmt.Errorf("list all slices: %w", err)
	}
	var trashSlices, cleanedSlices gcTally
	if err := a.gcDelayedSlices(ctx, e, del, edge, &trashSlices, &cleanedSlices); err != nil {
		return err
	}

	var objs objstore.LeakReport
	if store != nil {
		if objs, err = a.gcObjects(ctx, f, store, prog, rep, del, threads, maxMtime); err != nil {
			return err
		}
	}
	prog.Wait()
	if del && prog.p == nil {
		a.log.Info(fmt.Sprintf("Deleted %d pending slices", deletedSlices.Load()))
	}
	leakedMeta := len(rep.LeakedInodes) + len(rep.LeakedChunks)
	a.log.Info(fmt.Sprintf("found %d leaked inodes, %d leaked chunk lists, %d pending deleted files (%d bytes), %d trash slices (%d bytes)",
		len(rep.LeakedInodes), len(rep.LeakedChunks), pendingFiles.n.Load(), pendingFiles.bytes.Load(), trashSlices.n.Load(), trashSlices.bytes.Load()))
	if store != nil {
		a.log.Info(fmt.Sprintf("scanned %d objects, %d valid, %d pending delete (%d bytes), %d compacted (%d bytes), %d leaked (%d bytes), %d delslices (%d bytes), %d delfiles (%d bytes), %d skipped (%d bytes)",
			objs.Scanned, objs.Valid.Count, objs.Pending.Count, objs.Pending.Bytes, objs.Compacted.Count, objs.Compacted.Bytes,
			objs.Leaked.Count, objs.Leaked.Bytes, cleanedSlices.n.Load(), cleanedSlices.bytes.Load(),
			cleanedFiles.n.Load(), cleanedFiles.bytes.Load(), objs.Skipped.Count, objs.Skipped.Bytes))
	} else {
		a.log.Info(fmt.Sprintf("%d delslices (%d bytes), %d delfiles (%d bytes) cleaned; objects not scanned",
			cleanedSlices.n.Load(), cleanedSlices.bytes.Load(), cleanedFiles.n.Load(), cleanedFiles.bytes.Load()))
	}
	if !del && (objs.Leaked.Count > 0 || leakedMeta > 0) {
		a.log.Info("Please add `--delete` to clean leaked objects")
	}
	return nil
}

// gcDeletedFiles counts the files waiting in delfiles and, with del,
// purges all of them whatever their age.
func (a *app) gcDeletedFiles(ctx context.Context, e *meta.Engine, prog *progress, del bool, threads int, pending, cleaned *gcTally) error {
	files, err := e.ListDeletedFiles(ctx)
	if err != nil {
		return fmt.Errorf("scan deleted object: %w", err)
	}
	seen := map[meta.Ino]bool{}
	for _, df := range files {
		if !seen[df.Ino] {
			seen[df.Ino] = true
			pending.add(1, int64(df.Length))
		}
	}
	if !del || len(files) == 0 {
		return nil
	}
	spin := prog.Spin("Cleaned pending files", true)
	_, err = e.PurgeDeletedFiles(ctx, files, threads, func(df meta.DeletedFile) {
		if seen[df.Ino] {
			delete(seen, df.Ino) // count each inode once, as juicefs does
			cleaned.add(1, int64(df.Length))
			spin.Add(1, int64(df.Length))
		}
	})
	spin.Done()
	if err != nil {
		a.log.Warn(fmt.Sprintf("purge deleted files: %v", err))
	}
	return nil
}

// gcDelayedSlices counts the slices compactions keep for the trash and,
// with del, releases those kept since before edge.
func (a *app) gcDelayedSlices(ctx context.Context, e *meta.Engine, del bool, edge time.Time, trash, cleaned *gcTally) error {
	delayed, err := e.ListDelayedSlices(ctx)
	if err != nil {
		return fmt.Errorf("statistic: %w", err)
	}
	for _, d := range delayed {
		for _, s := range d.Slices {
			trash.add(1, int64(s.Size))
			if del && d.Time.Before(edge) {
				cleaned.add(1, int64(s.Size))
			}
		}
	}
	if del {
		if _, err := e.CleanupDelayedSlices(ctx, edge); err != nil {
			a.log.Warn(fmt.Sprintf("clean up delayed slices: %v", err))
		}
	}
	return nil
}

// gcObjects classifies every object of the storage against the slices the
// metadata knows and, with del, deletes the leaked ones with threads
// workers.
func (a *app) gcObjects(ctx context.Context, f *codec.Format, store objstore.Store, prog *progress, rep *meta.SliceReport,
	del bool, threads int, maxMtime time.Time) (objstore.LeakReport, error) {
	scan := &objstore.LeakScan{BlockSize: objstore.BlockSize(f), SkipAfter: maxMtime,
		Used: objstore.SliceSet{}, Pending: objstore.SliceSet{}, Delayed: objstore.SliceSet{},
		Warn: func(msg string) { a.log.Warn(msg) }}
	var bytes uint64
	for _, s := range rep.Pending {
		scan.Pending[s.ID] = s.Size
		bytes += uint64(s.Size)
	}
	for _, s := range rep.Delayed {
		scan.Delayed[s.ID] = s.Size
		bytes += uint64(s.Size)
	}
	for _, ss := range rep.Used {
		for _, s := range ss {
			scan.Used[s.ID] = s.Size
			bytes += uint64(s.Size)
		}
	}
	if prog.p == nil {
		a.log.Info(fmt.Sprintf("using %d slices (%d bytes)", len(scan.Used)+len(scan.Delayed), bytes))
	}
	spin := prog.Spin("Scanned objects", false)
	scan.OnObject = func() { spin.Add(1, 0) }
	leaked := make(chan string, 10240)
	var wg sync.WaitGroup
	if del {
		for range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for key := range leaked {
					if err := store.Delete(ctx, key); err != nil {
						a.log.Warn(fmt.Sprintf("delete %s: %v", key, err))
					}
				}
			}()
		}
		scan.OnLeak = func(o objstore.Object) { leaked <- o.Key }
	}
	objs, err := scan.Run(ctx, store)
	close(leaked)
	wg.Wait()
	spin.Done()
	if err != nil {
		return objs, fmt.Errorf("list all blocks: %w", err)
	}
	return objs, nil
}
