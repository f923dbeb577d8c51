package meta

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

// The hourly maintenance of the trash and of slice references: expired hour
// directories of the trash are emptied and removed, slices kept alive for the
// trash after a compaction (delSlices) are released once the trash no longer
// needs them, and slice reference counts left negative or at the transient
// "0" marker are cleaned. Like the official client, each job runs in every
// client with background jobs and an election key picks one runner per hour.

// trashRetryLimit bounds how often ExpireTrash retries emptying one
// hour directory that keeps failing; the official client retries until its
// context ends, which for a command without a deadline means forever.
const trashRetryLimit = 10

// startMaintenanceJobs starts the hourly trash and slice-reference jobs.
func (e *Engine) startMaintenanceJobs(ctx context.Context) {
	e.goSession(func() { e.trashJobLoop(ctx) })
	e.goSession(func() {
		e.periodic(ctx, cleanupInterval, e.keys.NextCleanupSlices(), func(ctx context.Context) {
			if _, err := e.Cleanup().ReleaseUnreferencedSlices(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn(fmt.Sprintf("clean up slice references: %v", err))
			}
		})
	})
}

// trashJobLoop runs the trash job about every hour while the trash root
// exists, elected through lastCleanupTrash.
func (e *Engine) trashJobLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(cleanupInterval)):
		}
		if _, ok, err := e.cachedGet(ctx, e.keys.Inode(TrashInode)); err != nil || !ok {
			if err != nil && ctx.Err() == nil {
				e.log.Warn(fmt.Sprintf("getattr of the trash root: %v", err))
			}
			continue
		}
		won, err := e.electJob(ctx, e.keys.LastCleanupTrash(), int64(cleanupInterval.Seconds()*0.9))
		if err != nil {
			e.log.Warn(fmt.Sprintf("checking counter %s: %v", e.keys.LastCleanupTrash(), err))
			continue
		}
		if won {
			jctx, cancel := context.WithTimeout(ctx, 50*time.Minute)
			e.runTrashJob(jctx)
			cancel()
		}
	}
}

// runTrashJob expires hour directories and delayed slices in parallel.
func (e *Engine) runTrashJob(ctx context.Context) {
	days := 0
	if f := e.format.Load(); f != nil {
		days = f.TrashDays
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		edge := e.now().Add(-time.Duration(24*days+2) * time.Hour)
		if n, err := e.Cleanup().ExpireTrash(ctx, edge, nil); err != nil && ctx.Err() == nil {
			e.log.Warn(fmt.Sprintf("clean up trash: deleted %d entries, then: %v", n, err))
		}
	}()
	go func() {
		defer wg.Done()
		edge := e.now().Add(-time.Duration(days) * 24 * time.Hour)
		if n, err := e.Cleanup().ReleaseDelayedSlices(ctx, edge); err != nil && ctx.Err() == nil {
			e.log.Warn(fmt.Sprintf("clean up delayed slices: released %d slices, then: %v", n, err))
		}
	}()
	wg.Wait()
}

// ExpireTrash deletes, oldest first, every trash hour directory whose
// hour starts before edge: its entries are removed for good (skip-trash
// deletes, one worker) and the directory itself is removed from the trash
// root. It stops at the first directory that is not old enough. Names that
// are not hours are skipped with a warning. progress, when set, receives
// about once a second the number of entries deleted since its last call.
// It returns the number of entries deleted.
func (c Cleaner) ExpireTrash(ctx context.Context, edge time.Time, progress func(n int)) (int, error) {
	e := c.e
	if e.readOnly() {
		return 0, syscall.EROFS
	}
	ctx = WithCaller(ctx, rootCaller)
	entries, err := e.listEntries(ctx, TrashInode)
	if err != nil {
		return 0, fmt.Errorf("list the trash: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Inode < entries[j].Inode })
	s := e.newRmrState(true, 1, nil)
	done := make(chan struct{})
	var reporter sync.WaitGroup
	if progress != nil {
		reporter.Add(1)
		go func() {
			defer reporter.Done()
			reportDeltas(&s.count, progress, done)
		}()
	}
	defer func() {
		close(done)
		reporter.Wait()
	}()
	failures := 0
	for len(entries) > 0 {
		if err := ctx.Err(); err != nil {
			return int(s.count.Load()), err
		}
		ent := entries[0]
		hour, ok := codec.ParseTrashHourName(ent.Name)
		if !ok {
			e.log.Warn(fmt.Sprintf("bad entry in the trash: %q is not an hour directory", ent.Name))
			entries = entries[1:]
			continue
		}
		if !hour.Before(edge) {
			break
		}
		if _, err := s.emptyDir(ctx, ent.Inode); err != nil {
			if ctx.Err() != nil {
				return int(s.count.Load()), ctx.Err()
			}
			e.log.Warn(fmt.Sprintf("empty trash directory %s (inode %d): %v", ent.Name, ent.Inode, err))
			if failures++; failures < trashRetryLimit {
				if err := sleepCtx(ctx, time.Duration(failures)*100*time.Millisecond); err != nil {
					return int(s.count.Load()), err
				}
				continue
			}
			e.log.Warn(fmt.Sprintf("giving up on trash directory %s after %d attempts", ent.Name, failures))
		} else if err := e.removeTrashHour(ctx, ent.Name); err != nil && !errors.Is(err, syscall.ENOENT) {
			e.log.Warn(fmt.Sprintf("remove trash directory %s: %v", ent.Name, err))
		}
		failures = 0
		entries = entries[1:]
	}
	return int(s.count.Load()), nil
}

// reportDeltas calls progress once a second with how much *count grew, and
// a last time when done is closed.
func reportDeltas(count *atomic.Int64, progress func(int), done <-chan struct{}) {
	var last int64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	report := func() {
		if cur := count.Load(); cur != last {
			progress(int(cur - last))
			last = cur
		}
	}
	for {
		select {
		case <-done:
			report()
			return
		case <-tick.C:
			report()
		}
	}
}

// removeTrashHour removes an emptied hour directory from the trash root,
// the way the official client's cleaner does: directly, without touching the
// trash root's attribute; the counters lose the directory's 4096 bytes and
// one inode. Unlike the official client it also takes the directory out of
// the trash root's directory statistics (which it added at creation), so
// that they stay equal to a recount.
func (e *Engine) removeTrashHour(ctx context.Context, name string) error {
	var r *removal
	dkey := e.keys.Entries(TrashInode)
	err := e.runTx(ctx, func(tx *Tx) error {
		ent, ev, err := e.txEntry(tx, dkey, name)
		if err != nil {
			return err
		}
		if ent.Typ != codec.TypeDirectory {
			return syscall.ENOTDIR
		}
		if nonEmpty, err := tx.Exists(e.keys.Entries(ent.Inode)); err != nil {
			return err
		} else if nonEmpty {
			return syscall.ENOTEMPTY
		}
		r = newRemoval(TrashInode, name, ent, ev, 0)
		if err := e.txRemovedNode(tx, r, TrashInode, name); err != nil {
			return err
		}
		tx.HDel(dkey, name)
		e.queueDeleteDir(tx, r.ino)
		tx.Touches(TrashInode)
		tx.Account(func() {
			e.afterDeleteDir(r.ino, r.hasAttr, &r.attr)
			e.stats.dirStat(TrashInode, 0, -4096, -1)
		})
		tx.Log("RMDIR(%d,%s,0):%d", TrashInode, logEscape(name), r.ino)
		return nil
	})
	if err != nil {
		return err
	}
	e.trash.mu.Lock()
	if e.trash.ino == r.ino {
		e.trash.name, e.trash.ino = "", 0
	}
	e.trash.mu.Unlock()
	return nil
}

// ReleaseDelayedSlices releases the slices that compactions kept for the
// trash (delSlices) when the compaction happened before edge: every listed
// slice loses one reference, the field is deleted, and slices left without
// references are released. It returns how many slices were released.
func (c Cleaner) ReleaseDelayedSlices(ctx context.Context, edge time.Time) (int, error) {
	e := c.e
	if e.readOnly() {
		return 0, syscall.EROFS
	}
	key := e.keys.DelSlices()
	var fields []string
	err := e.hscan(ctx, key, func(field, _ string) error {
		fields = append(fields, field)
		return nil
	})
	if err != nil {
		return 0, err
	}
	released := 0
	for _, field := range fields {
		if err := ctx.Err(); err != nil {
			return released, err
		}
		id, ts, ok := codec.ParseDelSlicesField(field)
		if !ok {
			e.log.Warn(fmt.Sprintf("invalid field %q in %s", field, key))
			continue
		}
		if ts >= edge.Unix() {
			continue
		}
		freed, err := e.expireDelayedSlices(ctx, field, id, ts)
		if err != nil {
			e.log.Warn(fmt.Sprintf("clean up %s %s: %v", key, field, err))
			continue
		}
		for _, s := range freed {
			e.releaseSlice(ctx, s.ID, s.Size)
			released++
		}
	}
	return released, nil
}

// expireDelayedSlices drops one delSlices field and a reference of each
// slice it lists, returning the slices left without references.
func (e *Engine) expireDelayedSlices(ctx context.Context, field string, id uint64, ts int64) ([]codec.DelSliceRecord, error) {
	key := e.keys.DelSlices()
	var recs []codec.DelSliceRecord
	var freed []codec.DelSliceRecord
	err := e.runTx(ctx, func(tx *Tx) error {
		recs, freed = nil, nil
		v, ok, err := tx.HGet(key, field)
		if err != nil || !ok {
			return err
		}
		if recs, err = codec.UnmarshalDelSliceRecords(v); err != nil {
			return codec.CorruptField(key, field, err)
		}
		first := tx.WriteIndex()
		for _, r := range recs {
			tx.HIncrBy(e.keys.SliceRef(), e.keys.SliceRefField(r.ID, r.Size), -1)
		}
		tx.HDel(key, field)
		tx.Log("CLEANUP_DELAYED_SLICES(%d,%d)", id, ts)
		tx.AfterResults(func(res []rueidis.RedisMessage) {
			for i, r := range recs {
				if n, err := res[first+i].AsInt64(); err == nil && n < 0 {
					freed = append(freed, r)
				}
			}
		})
		return nil
	})
	return freed, err
}

// ReleaseUnreferencedSlices is the hourly slice-reference job (and part of `gc
// --delete`): every slice whose reference count is negative is released,
// and "0" markers left by compactions are removed if still 0. It returns how
// many negative counts it found. Counts that are not integers are left
// alone and reported as corruption (the error, after the others were
// released).
func (c Cleaner) ReleaseUnreferencedSlices(ctx context.Context) (int, error) {
	e := c.e
	if e.readOnly() {
		return 0, syscall.EROFS
	}
	type ref struct {
		field string
		count int64
	}
	var refs []ref
	var corrupted []error
	err := e.hscan(ctx, e.keys.SliceRef(), func(field, value string) error {
		n, err := codec.ParseInt(e.keys.SliceRef(), field, value)
		if err != nil {
			corrupted = append(corrupted, err)
		} else if n <= 0 {
			refs = append(refs, ref{field, n})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range refs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if r.count == 0 {
			if err := e.dropZeroSliceRef(ctx, r.field); err != nil {
				e.log.Warn(fmt.Sprintf("drop zero reference %s: %v", r.field, err))
			}
			continue
		}
		id, size, ok := e.keys.ParseSliceRefField(r.field)
		if !ok || id == 0 || size == 0 {
			continue
		}
		e.releaseSlice(ctx, id, size)
		n++
	}
	return n, errors.Join(corrupted...)
}

// dropZeroSliceRef deletes a sliceRef field if it still holds "0" (an
// absent field means the same single reference).
func (e *Engine) dropZeroSliceRef(ctx context.Context, field string) error {
	return e.runTx(ctx, func(tx *Tx) error {
		v, ok, err := tx.HGet(e.keys.SliceRef(), field)
		if err != nil || !ok {
			return err
		}
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n != 0 {
			return nil
		}
		tx.HDel(e.keys.SliceRef(), field)
		return nil
	})
}
