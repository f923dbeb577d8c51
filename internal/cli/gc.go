package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fileio"
	"github.com/rueidisfs/rueidisfs/gc"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
)

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
			&cli.BoolFlag{Name: "compact", Usage: "first compact every chunk of more than one slice (as compact does for files)"},
			&cli.BoolFlag{Name: "delete", Usage: "delete leaked objects and metadata, expired trash, and pending deleted files and slices"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"p"}, Value: 10, Usage: "number of threads deleting files and leaked objects"},
		},
		Action: a.gc,
	}
}

func (a *app) gc(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	del, threads, compact := c.Bool("delete"), c.Int("threads"), c.Bool("compact")
	if (del || compact) && threads <= 0 {
		return errors.New("threads should be greater than 0 to delete or compact objects")
	}
	opts := gc.Options{Delete: del, Threads: threads, Log: a.log, SkipAfter: a.gcSkipAfter()}
	var deletedSlices atomic.Int64
	var store objstore.Store
	var chunks *chunk.Store // with --compact: merged slices are written through it
	var chunksErr error
	e, f, err := a.openVolumeWith(c, meta.Options{NoBackgroundJobs: true,
		SliceDeleter: func(f *codec.Format) (meta.DeleteSliceFunc, error) {
			store = a.openStore(f, "leaked objects are not searched, and the data of what --delete removes stays in the storage")
			if compact {
				if chunks, chunksErr = a.openChunkStore(c, f); chunksErr != nil {
					return nil, chunksErr
				}
				return func(ctx context.Context, id uint64, size uint32) error {
					err := chunks.Remove(ctx, id, size)
					if err == nil {
						deletedSlices.Add(1)
					}
					return err
				}, nil
			}
			if !del {
				return nil, nil
			}
			return storeSliceDeleter(store, f, func() { deletedSlices.Add(1) }), nil
		},
		Compact: fileio.Compactor(func() *chunk.Store { return chunks }),
	})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	if chunks != nil {
		defer chunks.Close()
	} else if compact {
		return fmt.Errorf("--compact needs the volume's object storage: %v", chunksErr)
	}
	ctx := c.Context
	// A session without registration flushes statistics as gc goes.
	if err := e.NewSession(ctx, false); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	prog := a.newProgress()
	defer prog.Wait()
	opts.Store = store
	if prog.p != nil {
		opts.Progress = prog
	}
	if compact {
		spin := prog.Spin("Compacted chunks", false)
		n, err := e.CompactAll(ctx, threads, func() { spin.Add(1, 0) })
		spin.Done()
		if err != nil {
			return err
		}
		if prog.p == nil {
			a.log.Info(fmt.Sprintf("Compacted %d chunks", n))
		}
	}
	rep, err := gc.Run(ctx, e, f, opts)
	if err != nil && !errors.Is(err, gc.ErrCorrupt) {
		return err
	}
	prog.Wait()
	if del && prog.p == nil {
		a.log.Info(fmt.Sprintf("Deleted %d pending slices", deletedSlices.Load()))
	}
	a.logGCReport(rep, del)
	return err // corruption: what it may reference was kept
}

// gcSkipAfter is the modification time after which gc leaves objects alone:
// an hour ago, or JFS_GC_SKIPPEDTIME seconds ago when set.
func (a *app) gcSkipAfter() time.Time {
	maxMtime := time.Now().Add(-gc.DefaultSkipAge)
	if s := a.getenv("JFS_GC_SKIPPEDTIME"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil {
			maxMtime = time.Now().Add(-time.Duration(secs) * time.Second)
		} else {
			a.log.Error(fmt.Sprintf("parse JFS_GC_SKIPPEDTIME=%s: %s", s, err))
		}
	}
	return maxMtime
}

// logGCReport prints gc's summary lines, as juicefs does.
func (a *app) logGCReport(rep *gc.Report, del bool) {
	a.log.Info(fmt.Sprintf("found %d leaked inodes, %d leaked chunk lists, %d pending deleted files (%d bytes), %d trash slices (%d bytes)",
		len(rep.LeakedInodes), len(rep.LeakedChunks), rep.PendingFiles.Count, rep.PendingFiles.Bytes, rep.TrashSlices.Count, rep.TrashSlices.Bytes))
	objs := rep.Objects
	if rep.ObjectsScanned {
		a.log.Info(fmt.Sprintf("scanned %d objects, %d valid, %d pending delete (%d bytes), %d compacted (%d bytes), %d leaked (%d bytes), %d delslices (%d bytes), %d delfiles (%d bytes), %d skipped (%d bytes)",
			objs.Scanned, objs.Valid.Count, objs.Pending.Count, objs.Pending.Bytes, objs.Compacted.Count, objs.Compacted.Bytes,
			objs.Leaked.Count, objs.Leaked.Bytes, rep.CleanedSlices.Count, rep.CleanedSlices.Bytes,
			rep.CleanedFiles.Count, rep.CleanedFiles.Bytes, objs.Skipped.Count, objs.Skipped.Bytes))
	} else {
		a.log.Info(fmt.Sprintf("%d delslices (%d bytes), %d delfiles (%d bytes) cleaned; objects not scanned",
			rep.CleanedSlices.Count, rep.CleanedSlices.Bytes, rep.CleanedFiles.Count, rep.CleanedFiles.Bytes))
	}
	if !del && len(rep.Corrupt) == 0 && (objs.Leaked.Count > 0 || rep.LeakedMetadata() > 0) {
		a.log.Info("Please add `--delete` to clean leaked objects")
	}
}
