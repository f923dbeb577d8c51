// Package gc finds, and with Delete removes, what a volume keeps but no
// longer needs, as `juicefs gc` does: leaked metadata (inodes no entry
// names, chunk lists of missing files), files deleted but not yet purged,
// slices kept for the trash by compactions, expired trash, detached clone
// trees, and, when an object store is given, leaked objects (blocks of no
// slice in use, pending deletion or kept for the trash).
//
// The metadata work is the engine's (meta.Inspector finds, meta.Cleaner
// deletes); this package orders the steps, counts what they found and
// classifies the objects of the store.
package gc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
)

// DefaultSkipAge: objects younger than this may belong to a write in
// progress, and are left alone.
const DefaultSkipAge = time.Hour

// detachedAge: a clone tree still detached after this long was abandoned.
const detachedAge = 24 * time.Hour

// Options tune Run.
type Options struct {
	// Delete removes what was found: the trash is expired, detached clone
	// trees are removed, every deleted file is purged whatever its age,
	// leaked metadata and objects are deleted and slices nothing references
	// are released (through the engine's meta.Options.SliceDeleter).
	// Without it Run only reports (legacy slice references are still
	// migrated, as the official client does).
	Delete bool
	// Threads is the number of workers purging files and deleting objects
	// (default 10).
	Threads int
	// Store is the volume's object storage; nil skips the object scan.
	Store objstore.Store
	// SkipAfter: objects modified after it are skipped (zero: an hour ago,
	// DefaultSkipAge).
	SkipAfter time.Time
	// Log receives what was found and done (nil discards it).
	Log *slog.Logger
	// Progress, when set, shows the steps as they go; without it Run logs
	// the count of slices it checks objects against.
	Progress Progress
}

// Progress shows the steps of a run.
type Progress interface {
	// Stage starts a counter named name (withBytes: it also counts bytes).
	Stage(name string, withBytes bool) Counter
}

// Counter counts the items of one stage.
type Counter interface {
	Add(n, bytes int64)
	Done()
}

// Tally counts items and their bytes.
type Tally struct{ Count, Bytes int64 }

func (t *Tally) add(n, bytes int64) { t.Count += n; t.Bytes += bytes }

// Report is what Run found and did.
type Report struct {
	LeakedInodes []meta.LeakedInode
	LeakedChunks []meta.LeakedChunk
	// PendingFiles are the files deleted but not yet purged (each inode
	// once); CleanedFiles those purged.
	PendingFiles, CleanedFiles Tally
	// TrashSlices are the slices compactions keep for the trash;
	// CleanedSlices those released because the trash no longer needs them.
	TrashSlices, CleanedSlices Tally
	// UsedSlices are the slices the objects were checked against.
	UsedSlices Tally
	// Objects is the classification of the store's objects (ObjectsScanned
	// false: no store was given).
	Objects        objstore.LeakReport
	ObjectsScanned bool
	// Corrupt are the values the scan could not decode, each error naming
	// its key (Run's error wraps ErrCorrupt then).
	Corrupt []error
}

// LeakedMetadata is the number of leaked inodes and chunk lists found.
func (r *Report) LeakedMetadata() int { return len(r.LeakedInodes) + len(r.LeakedChunks) }

// run is one Run: its options and what it found so far.
type run struct {
	e    *meta.Engine
	f    *codec.Format
	opts Options
	log  *slog.Logger
	rep  *Report
}

// Run collects the garbage of the volume of e, whose format is f (as the
// engine loaded it). Failures of single deletions are logged and counted
// out; the error is for a step that could not run, or wraps ErrCorrupt when
// corrupt values were found (Report.Corrupt): Run then deletes no leaked
// inode or object such a value might reference, and reports the rest.
func Run(ctx context.Context, e *meta.Engine, f *codec.Format, opts Options) (*Report, error) {
	if opts.Threads <= 0 {
		opts.Threads = 10
	}
	if opts.SkipAfter.IsZero() {
		opts.SkipAfter = time.Now().Add(-DefaultSkipAge)
	}
	if opts.Progress == nil {
		opts.Progress = noProgress{}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &run{e: e, f: f, opts: opts, log: log, rep: &Report{}}
	trashEdge := time.Now().Add(-time.Duration(f.TrashDays) * 24 * time.Hour)
	if opts.Delete {
		r.expireTrash(ctx, trashEdge)
		r.removeDetachedTrees(ctx)
	}
	if err := r.deletedFiles(ctx); err != nil {
		return r.rep, err
	}
	if err := r.leaks(ctx); err != nil {
		return r.rep, err
	}
	slices, err := r.listSlices(ctx)
	if err != nil {
		return r.rep, fmt.Errorf("list all slices: %w", err)
	}
	if err := r.delayedSlices(ctx, trashEdge); err != nil {
		return r.rep, err
	}
	if opts.Store != nil {
		if err := r.objects(ctx, slices); err != nil {
			return r.rep, err
		}
	}
	if n := len(r.rep.Corrupt); n > 0 {
		return r.rep, fmt.Errorf("%w: %d values could not be decoded, the first: %v", ErrCorrupt, n, r.rep.Corrupt[0])
	}
	return r.rep, nil
}

// corrupt records values the scan could not decode.
func (r *run) corrupt(errs ...error) {
	for _, err := range errs {
		r.log.Error(err.Error())
	}
	r.rep.Corrupt = append(r.rep.Corrupt, errs...)
}

// expireTrash empties the trash of what is older than its retention.
func (r *run) expireTrash(ctx context.Context, edge time.Time) {
	c := r.opts.Progress.Stage("Cleaned trash", false)
	defer c.Done()
	if _, err := r.e.Cleanup().ExpireTrash(ctx, edge, func(n int) { c.Add(int64(n), 0) }); err != nil {
		r.log.Warn(fmt.Sprintf("clean up the trash: %v", err))
	}
}

// removeDetachedTrees removes clone trees left detached for a day.
func (r *run) removeDetachedTrees(ctx context.Context) {
	c := r.opts.Progress.Stage("Cleaned detached nodes", false)
	defer c.Done()
	if _, err := r.e.Cleanup().RemoveDetachedTrees(ctx, time.Now().Add(-detachedAge), func() { c.Add(1, 0) }); err != nil {
		r.log.Warn(fmt.Sprintf("clean up detached nodes: %v", err))
	}
}

// deletedFiles counts the files waiting in delfiles and, with Delete,
// purges all of them whatever their age.
func (r *run) deletedFiles(ctx context.Context) error {
	files, err := r.e.Inspect().DeletedFiles(ctx)
	if err != nil {
		return fmt.Errorf("scan deleted object: %w", err)
	}
	seen := map[meta.Ino]bool{}
	for _, df := range files {
		if !seen[df.Ino] {
			seen[df.Ino] = true
			r.rep.PendingFiles.add(1, int64(df.Length))
		}
	}
	if !r.opts.Delete || len(files) == 0 {
		return nil
	}
	c := r.opts.Progress.Stage("Cleaned pending files", true)
	_, err = r.e.Cleanup().PurgeDeletedFiles(ctx, files, r.opts.Threads, func(df meta.DeletedFile) {
		if seen[df.Ino] {
			delete(seen, df.Ino) // count each inode once, as juicefs does
			r.rep.CleanedFiles.add(1, int64(df.Length))
			c.Add(1, int64(df.Length))
		}
	})
	c.Done()
	if meta.IsCorruption(err) {
		r.corrupt(err)
	} else if err != nil {
		r.log.Warn(fmt.Sprintf("purge deleted files: %v", err))
	}
	return nil
}

// leaks finds leaked inodes and chunk lists, migrates legacy slice
// references and, with Delete, deletes the leaks and releases the slices
// nothing references.
func (r *run) leaks(ctx context.Context) error {
	found, err := r.e.Inspect().Leaks(ctx)
	if err != nil {
		return fmt.Errorf("list all slices: %w", err)
	}
	r.rep.LeakedInodes, r.rep.LeakedChunks = found.Inodes, found.Chunks
	r.corrupt(found.Corrupt...)
	// A corrupt entry may name any of the inodes that look leaked.
	deleteInodes := r.opts.Delete && len(found.Corrupt) == 0
	if r.opts.Delete && !deleteInodes && len(found.Inodes) > 0 {
		r.log.Warn(fmt.Sprintf("the %d leaked inodes are not deleted: a directory entry that could not be decoded may name them", len(found.Inodes)))
	}
	cl := r.e.Cleanup()
	for _, l := range found.Inodes {
		r.log.Info(fmt.Sprintf("found leaked inode %d (%s)", l.Ino, l.Attr.Typ))
		if !deleteInodes {
			continue
		}
		if kept, err := cl.DeleteLeakedInode(ctx, l.Ino); err != nil {
			r.log.Error(fmt.Sprintf("delete leaked inode %d: %v", l.Ino, err))
		} else if kept {
			r.log.Warn(fmt.Sprintf("leaked directory %d still has entries; left alone", l.Ino))
		}
	}
	for _, l := range found.Chunks {
		r.log.Info(fmt.Sprintf("found leaked chunk %s", l.Key))
		if r.opts.Delete {
			if err := cl.DeleteLeakedChunk(ctx, l); meta.IsCorruption(err) {
				r.corrupt(err)
			} else if err != nil {
				r.log.Error(fmt.Sprintf("delete leaked chunk %s: %v", l.Key, err))
			}
		}
	}
	if _, err := cl.MigrateLegacyRefs(ctx, r.opts.Delete); err != nil {
		return fmt.Errorf("list all slices: %w", err)
	}
	if r.opts.Delete {
		if _, err := cl.ReleaseUnreferencedSlices(ctx); meta.IsCorruption(err) {
			r.corrupt(err)
		} else if err != nil {
			return fmt.Errorf("list all slices: %w", err)
		}
	}
	return nil
}

// listSlices lists the slices the metadata references.
func (r *run) listSlices(ctx context.Context) (*meta.SliceReport, error) {
	c := r.opts.Progress.Stage("Listed slices", false)
	defer c.Done()
	rep, err := r.e.Inspect().Slices(ctx, meta.SliceScan{Pending: true, Progress: func() { c.Add(1, 0) }})
	if rep != nil {
		r.corrupt(rep.Corrupt...)
	}
	return rep, err
}

// delayedSlices counts the slices compactions keep for the trash and,
// with Delete, releases those kept since before edge.
func (r *run) delayedSlices(ctx context.Context, edge time.Time) error {
	delayed, err := r.e.Inspect().DelayedSlices(ctx)
	if err != nil {
		return fmt.Errorf("statistic: %w", err)
	}
	for _, d := range delayed {
		for _, s := range d.Slices {
			r.rep.TrashSlices.add(1, int64(s.Size))
			if r.opts.Delete && d.Time.Before(edge) {
				r.rep.CleanedSlices.add(1, int64(s.Size))
			}
		}
	}
	if r.opts.Delete {
		if _, err := r.e.Cleanup().ReleaseDelayedSlices(ctx, edge); err != nil {
			r.log.Warn(fmt.Sprintf("clean up delayed slices: %v", err))
		}
	}
	return nil
}

// objects classifies every object of the store against the slices the
// metadata knows and, with Delete, deletes the leaked ones.
func (r *run) objects(ctx context.Context, slices *meta.SliceReport) error {
	scan := &objstore.LeakScan{BlockSize: objstore.BlockSize(r.f), SkipAfter: r.opts.SkipAfter,
		Used: objstore.SliceSet{}, Pending: objstore.SliceSet{}, Delayed: objstore.SliceSet{},
		Warn: func(msg string) { r.log.Warn(msg) }}
	var bytes int64
	add := func(set objstore.SliceSet, ss []meta.SliceID) {
		for _, s := range ss {
			set[s.ID] = s.Size
			bytes += int64(s.Size)
		}
	}
	add(scan.Pending, slices.Pending)
	add(scan.Delayed, slices.Delayed)
	for _, ss := range slices.Used {
		add(scan.Used, ss)
	}
	r.rep.UsedSlices = Tally{Count: int64(len(scan.Used) + len(scan.Delayed)), Bytes: bytes}
	if _, quiet := r.opts.Progress.(noProgress); quiet {
		r.log.Info(fmt.Sprintf("using %d slices (%d bytes)", r.rep.UsedSlices.Count, r.rep.UsedSlices.Bytes))
	}
	c := r.opts.Progress.Stage("Scanned objects", false)
	defer c.Done()
	scan.OnObject = func() { c.Add(1, 0) }
	var stop func()
	switch {
	case r.opts.Delete && len(r.rep.Corrupt) > 0:
		// A value that could not be decoded may reference any object.
		r.log.Warn("the objects counted as leaked are not deleted: a value that could not be decoded may reference them")
	case r.opts.Delete:
		scan.OnLeak, stop = r.deleteObjects(ctx)
	}
	objs, err := scan.Run(ctx, r.opts.Store)
	if stop != nil {
		stop()
	}
	r.rep.Objects, r.rep.ObjectsScanned = objs, true
	if err != nil {
		return fmt.Errorf("list all blocks: %w", err)
	}
	return nil
}

// deleteObjects starts the workers deleting leaked objects: leak hands them
// one; stop waits for them once no more will come.
func (r *run) deleteObjects(ctx context.Context) (leak func(objstore.Object), stop func()) {
	keys := make(chan string, 10240)
	var wg sync.WaitGroup
	for range r.opts.Threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range keys {
				if err := r.opts.Store.Delete(ctx, key); err != nil {
					r.log.Warn(fmt.Sprintf("delete %s: %v", key, err))
				}
			}
		}()
	}
	return func(o objstore.Object) { keys <- o.Key }, func() { close(keys); wg.Wait() }
}

// noProgress shows nothing.
type noProgress struct{}

func (noProgress) Stage(string, bool) Counter { return noCounter{} }

type noCounter struct{}

func (noCounter) Add(int64, int64) {}
func (noCounter) Done()            {}
