package meta

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Cleaner deletes what a volume keeps but no longer needs: leaked inodes
// and chunk lists, detached clone trees, the data of deleted files, expired
// trash, slices nothing references (through Options.SliceDeleter) and stale
// sessions. Every deletion is a check-and-apply transaction that re-checks
// what made the thing garbage. It acts as root. Get one with
// Engine.Cleanup; the background jobs of a session use the same code.
type Cleaner struct{ e *Engine }

// Cleanup returns the engine's garbage cleaner.
func (e *Engine) Cleanup() Cleaner { return Cleaner{e} }

// The metadata side of `gc` and of `fsck` without a path: Inspector.Slices
// and Inspector.Leaks report which slices the metadata references and what
// leaked; checking objects against them (missing blocks, leaked objects,
// their deletion) needs the object store and is the data layer's job.

// DeleteLeakedInode deletes an inode Inspector.Leaks found: a regular file is queued in delfiles and its data purged (as
// a sustained inode at its last close); other nodes are deleted with their
// symlink target and directory statistics. A directory that still has
// entries is kept (kept = true).
func (c Cleaner) DeleteLeakedInode(ctx context.Context, ino Ino) (kept bool, err error) {
	e := c.e
	if e.readOnly() {
		return false, syscall.EROFS
	}
	var r *removal
	ikey := e.keys.Inode(ino)
	err = e.runTx(ctx, func(tx *Tx) error {
		r, kept = nil, false
		v, ok, err := tx.Get(ikey)
		if err != nil || !ok {
			return err
		}
		attr, err := e.decodeAttr(ikey, v)
		if err != nil {
			return err
		}
		if attr.Typ == codec.TypeDirectory {
			if nonEmpty, err := tx.Exists(e.keys.Entries(ino)); err != nil {
				return err
			} else if nonEmpty {
				kept = true
				return nil
			}
		}
		r = deletion(ino, attr)
		e.queueRemoval(tx, r, 0, e.now())
		tx.Log("DELSUSTAINED(0,%d)", ino)
		return nil
	})
	if !applied(err) || r == nil {
		return kept, err
	}
	e.afterDelete(r)
	if r.typ == codec.TypeFile {
		if err := e.deleteFileData(ctx, ino, r.attr.Length); err != nil {
			e.log.Warn(fmt.Sprintf("purge data of leaked inode %d: %v (left in delfiles)", ino, err))
		}
	}
	return false, err
}

// DeleteLeakedChunk deletes a chunk list Inspector.Leaks found, with its
// slice references (the slices left unreferenced are released).
func (c Cleaner) DeleteLeakedChunk(ctx context.Context, ch LeakedChunk) error {
	if c.e.readOnly() {
		return syscall.EROFS
	}
	return c.e.deleteChunk(ctx, ch.Ino, ch.Indx)
}

// LegacyRefs is what Cleaner.MigrateLegacyRefs did.
type LegacyRefs struct {
	// Migrated counts old-style k{id}_{size} reference keys whose count
	// was moved into sliceRef; Deleted those removed because they held 0
	// or less.
	Migrated, Deleted int
}

// MigrateLegacyRefs moves the counts of pre-sliceRef k{id}_{size} keys into
// sliceRef, as the official client does whenever it lists slices; with
// dropEmpty, keys left at 0 or below are removed.
func (c Cleaner) MigrateLegacyRefs(ctx context.Context, dropEmpty bool) (LegacyRefs, error) {
	e := c.e
	var rep LegacyRefs
	err := e.scanKeys(ctx, "k*", func(keys []string) error {
		type legacy struct {
			key   string
			field string
		}
		var refs []legacy
		var cmds []rueidisCompleted
		for _, k := range keys {
			if id, size, ok := e.keys.ParseLegacySliceRefKey(k); ok {
				refs = append(refs, legacy{k, e.keys.SliceRefField(id, size)})
				cmds = append(cmds, e.rdb.B().Get().Key(k).Build())
			}
		}
		for i, r := range e.rdb.DoMulti(ctx, cmds...) {
			v, err := r.ToString()
			if isNil(err) {
				continue
			}
			if err != nil {
				return e.redisErr("GET "+refs[i].key, err)
			}
			n, err := codec.ParseInt(refs[i].key, "", v)
			if err != nil {
				e.log.Warn(err.Error())
				continue
			}
			if n <= 0 {
				if dropEmpty {
					if err := e.rdb.Do(ctx, e.rdb.B().Del().Key(refs[i].key).Build()).Error(); err != nil {
						return e.redisErr("DEL "+refs[i].key, err)
					}
					rep.Deleted++
				}
				continue
			}
			key, field := refs[i].key, refs[i].field
			err = e.runTx(ctx, func(tx *Tx) error {
				cur, ok, err := tx.Get(key)
				if err != nil || !ok {
					return err
				}
				m, err := strconv.ParseInt(cur, 10, 64)
				if err != nil || m <= 0 {
					return err
				}
				tx.HIncrBy(e.keys.SliceRef(), field, m)
				tx.Do("DECRBY", key, strconv.FormatInt(m, 10))
				return nil
			})
			if err != nil {
				return err
			}
			e.log.Info(fmt.Sprintf("moved references of %s into %s", key, e.keys.SliceRef()))
			rep.Migrated++
		}
		return nil
	})
	return rep, err
}

// RemoveDetachedTrees removes the directory trees that clones left detached
// (not yet attached to their parent) before edge: each tree is emptied and
// its top directory deleted. It returns how many trees were removed;
// progress, when set, is called for each.
func (c Cleaner) RemoveDetachedTrees(ctx context.Context, edge time.Time, progress func()) (int, error) {
	e := c.e
	if e.readOnly() {
		return 0, syscall.EROFS
	}
	ctx = WithCaller(ctx, rootCaller)
	members, err := e.rdb.Do(ctx, e.rdb.B().Zrangebyscore().Key(e.keys.DetachedNodes()).Min("-inf").
		Max(strconv.FormatInt(edge.Unix(), 10)).Build()).AsStrSlice()
	if err != nil {
		return 0, e.redisErr("ZRANGEBYSCORE "+e.keys.DetachedNodes(), err)
	}
	n := 0
	for _, m := range members {
		v, err := strconv.ParseUint(m, 10, 64)
		if err != nil {
			continue
		}
		if err := e.cleanupDetachedNode(ctx, Ino(v)); err != nil {
			e.log.Error(fmt.Sprintf("remove detached tree %d: %v", v, err))
			continue
		}
		n++
		if progress != nil {
			progress()
		}
	}
	return n, nil
}

func (e *Engine) cleanupDetachedNode(ctx context.Context, ino Ino) error {
	if _, ok, err := e.Inspect().Attr(ctx, ino); err != nil {
		return err
	} else if ok {
		s := e.newRmrState(true, 10, nil)
		if _, err := s.emptyDir(ctx, ino); err != nil {
			return err
		}
	}
	var r *removal
	ikey := e.keys.Inode(ino)
	err := e.runTx(ctx, func(tx *Tx) error {
		r = nil
		v, ok, err := tx.Get(ikey)
		if err != nil {
			return err
		}
		tx.Do("ZREM", e.keys.DetachedNodes(), ino.String())
		if !ok {
			return nil
		}
		attr, err := e.decodeAttr(ikey, v)
		if err != nil {
			return err
		}
		r = deletion(ino, attr)
		e.queueDeleteDir(tx, ino)
		tx.Log("CLEANUP(%d)", ino)
		return nil
	})
	if !applied(err) || r == nil {
		return err
	}
	e.afterDeleteDir(ino, true, &r.attr)
	return err
}

// PurgeDeletedFile deletes the data of a file listed by
// Inspector.DeletedFiles and removes it from delfiles.
func (c Cleaner) PurgeDeletedFile(ctx context.Context, f DeletedFile) error {
	e := c.e
	if e.readOnly() {
		return syscall.EROFS
	}
	if err := e.deleteFileData(ctx, f.Ino, f.Length); err != nil {
		return err
	}
	err := e.rdb.Do(ctx, e.rdb.B().Zrem().Key(e.keys.DelFiles()).Member(f.Member).Build()).Error()
	return e.redisErr("ZREM "+e.keys.DelFiles(), err)
}

// PurgeDeletedFiles purges files listed by Inspector.DeletedFiles with
// threads workers (at least 1), as `gc --delete` does for all of them
// whatever their age. progress, when set, is called (never concurrently)
// for each file purged. It returns how many were purged and the first error.
func (c Cleaner) PurgeDeletedFiles(ctx context.Context, files []DeletedFile, threads int, progress func(DeletedFile)) (int, error) {
	var (
		mu sync.Mutex
		n  int
	)
	purges := newFanOut(make(chan struct{}, max(threads, 1)))
	for _, f := range files {
		started := purges.goWait(ctx, func() error {
			if err := c.PurgeDeletedFile(ctx, f); err != nil {
				return fmt.Errorf("purge deleted inode %d: %w", f.Ino, err)
			}
			mu.Lock()
			defer mu.Unlock()
			n++
			if progress != nil {
				progress(f)
			}
			return nil
		})
		if !started {
			break
		}
	}
	err := purges.wait()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return n, err
}
