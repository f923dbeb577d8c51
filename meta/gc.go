package meta

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// The metadata side of `gc` and of `fsck` without a path. Checking objects
// against these lists (missing blocks, leaked objects, their deletion) needs
// the object store and is the data layer's job: the functions here only
// report which slices the metadata references, and release unreferenced
// slices through Options.DeleteSlice.

// leakedInodeAge: an unreferenced inode younger than this may be a node
// being created or moved right now.
const leakedInodeAge = time.Hour

// LeakedInode is an inode that no directory entry names.
type LeakedInode struct {
	Ino  Ino
	Attr Attr
	// Kept is set when delete was asked but the inode was left alone (a
	// directory that still has entries).
	Kept bool
}

// LeakedChunk is a chunk list whose inode no longer exists and is not
// queued for deletion.
type LeakedChunk struct {
	Ino  Ino
	Indx uint32
	Key  string
}

// SliceReport is what ListSlices found and, with delete, cleaned.
type SliceReport struct {
	// Used lists, per inode, the slices its chunk lists reference.
	Used map[Ino][]SliceID
	// Pending are slices with a negative reference count: unreferenced,
	// waiting for their data to be deleted (only with scanPending).
	Pending []SliceID
	// Delayed are slices kept for the trash by compactions (delSlices),
	// listed when the trash is enabled.
	Delayed []SliceID

	LeakedInodes []LeakedInode
	LeakedChunks []LeakedChunk
	// LegacyMigrated counts old-style k{id}_{size} reference keys whose
	// count was moved into sliceRef (done even without delete, as the
	// official client does); LegacyDeleted those removed, with delete,
	// because they held 0 or less.
	LegacyMigrated, LegacyDeleted int
	// ReleasedSlices counts negative references released (with delete).
	ReleasedSlices int
}

// ListSlices scans the whole volume for the slices its files reference, as
// gc and fsck need them to check the object store. On the way it reports
// leaked inodes (no entry names them, older than an hour; the root, the
// trash root, sustained inodes and detached clone trees excepted), leaked
// chunk lists (their inode is gone and not queued in delfiles), and migrates
// legacy reference keys. With delete, leaked inodes are deleted (files are
// queued in delfiles like a sustained inode at its last close), leaked chunk
// lists are deleted with their references, legacy keys at 0 or below are
// removed and the slice-reference cleanup runs. progress, when set, is
// called for every slice listed.
func (e *Engine) ListSlices(ctx context.Context, scanPending, delete bool, progress func()) (*SliceReport, error) {
	if delete && e.readOnly {
		return nil, syscall.EROFS
	}
	rep := &SliceReport{Used: map[Ino][]SliceID{}}
	var err error
	if rep.LeakedInodes, err = e.findLeakedInodes(ctx, delete); err != nil {
		return rep, err
	}
	if rep.LeakedChunks, err = e.findLeakedChunks(ctx, delete); err != nil {
		return rep, err
	}
	if err := e.migrateLegacyRefs(ctx, delete, rep); err != nil {
		return rep, err
	}
	if delete {
		if rep.ReleasedSlices, err = e.CleanupSlices(ctx); err != nil {
			return rep, err
		}
	}
	err = e.scanKeys(ctx, "c*_*", func(keys []string) error {
		var names []string
		var inos []Ino
		var cmds []rueidisCompleted
		for _, k := range keys {
			if ino, _, ok := e.keys.ParseChunkKey(k); ok {
				names = append(names, k)
				inos = append(inos, ino)
				cmds = append(cmds, e.rdb.B().Lrange().Key(k).Start(0).Stop(-1).Build())
			}
		}
		for i, r := range e.rdb.DoMulti(ctx, cmds...) {
			vals, err := r.AsStrSlice()
			if err != nil {
				return e.redisErr("LRANGE "+names[i], err)
			}
			recs, err := codec.UnmarshalSliceRecords(vals)
			if err != nil {
				e.log.Error(fmt.Sprintf("corrupt chunk list %s: %v", names[i], err))
				continue
			}
			for _, s := range recs {
				if s.ID > 0 {
					rep.Used[inos[i]] = append(rep.Used[inos[i]], SliceID{ID: s.ID, Size: s.Size})
					if progress != nil {
						progress()
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if scanPending {
		err := e.hscan(ctx, e.keys.SliceRef(), func(field, value string) error {
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n >= 0 {
				return nil
			}
			if id, size, ok := e.keys.ParseSliceRefField(field); ok && id > 0 && size > 0 {
				rep.Pending = append(rep.Pending, SliceID{ID: id, Size: size})
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	if f := e.format.Load(); f == nil || f.TrashDays == 0 {
		return rep, nil
	}
	err = e.hscan(ctx, e.keys.DelSlices(), func(field, value string) error {
		recs, err := codec.UnmarshalDelSliceRecords(value)
		if err != nil {
			e.log.Warn(fmt.Sprintf("invalid value of %s %s: %v", e.keys.DelSlices(), field, err))
			return nil
		}
		for _, r := range recs {
			rep.Delayed = append(rep.Delayed, SliceID{ID: r.ID, Size: r.Size})
			if progress != nil {
				progress()
			}
		}
		return nil
	})
	return rep, err
}

// referencedInodes collects every inode named by a directory entry, plus
// the inodes that legitimately have no entry.
func (e *Engine) referencedInodes(ctx context.Context) (map[Ino]bool, error) {
	found := map[Ino]bool{RootInode: true, TrashInode: true}
	err := e.scanKeys(ctx, "d[0-9]*", func(keys []string) error {
		for _, k := range keys {
			if _, ok := e.keys.ParseEntriesKey(k); !ok {
				continue
			}
			err := e.hscan(ctx, k, func(name, v string) error {
				if ent, err := codec.UnmarshalEntry(v); err == nil {
					found[ent.Inode] = true
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sustained, err := e.ScanSustained(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range sustained {
		found[s.Ino] = true
	}
	detached, err := e.rdb.Do(ctx, e.rdb.B().Zrange().Key(e.keys.DetachedNodes()).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return nil, e.redisErr("ZRANGE "+e.keys.DetachedNodes(), err)
	}
	for _, m := range detached {
		if n, err := strconv.ParseUint(m, 10, 64); err == nil {
			found[Ino(n)] = true
		}
	}
	return found, nil
}

func (e *Engine) findLeakedInodes(ctx context.Context, delete bool) ([]LeakedInode, error) {
	found, err := e.referencedInodes(ctx)
	if err != nil {
		return nil, err
	}
	cutoff := time.Now().Add(-leakedInodeAge)
	var leaked []LeakedInode
	err = e.scanKeys(ctx, "i*", func(keys []string) error {
		var names []string
		var inos []Ino
		for _, k := range keys {
			if ino, ok := e.keys.ParseInodeKey(k); ok && !found[ino] {
				names = append(names, k)
				inos = append(inos, ino)
			}
		}
		if len(names) == 0 {
			return nil
		}
		vals, present, err := e.cachedMGet(ctx, names)
		if err != nil {
			return err
		}
		for i := range names {
			if !present[i] {
				continue
			}
			a, err := e.decodeAttr(names[i], vals[i])
			if err != nil {
				e.log.Error(err.Error())
				continue
			}
			if !time.Unix(a.Ctime, 0).Before(cutoff) {
				continue
			}
			e.log.Info(fmt.Sprintf("found leaked inode %d (%s)", inos[i], a.Typ))
			l := LeakedInode{Ino: inos[i], Attr: a}
			if delete {
				kept, err := e.releaseLeakedInode(ctx, inos[i])
				if err != nil {
					e.log.Error(fmt.Sprintf("delete leaked inode %d: %v", inos[i], err))
				}
				l.Kept = kept || err != nil
			}
			leaked = append(leaked, l)
		}
		return nil
	})
	sort.Slice(leaked, func(i, j int) bool { return leaked[i].Ino < leaked[j].Ino })
	return leaked, err
}

// releaseLeakedInode deletes an inode no entry names: a regular file is
// queued in delfiles and its data purged (as a sustained inode at its last
// close); other nodes are deleted with their symlink target and directory
// statistics. A directory that still has entries is kept (kept = true).
func (e *Engine) releaseLeakedInode(ctx context.Context, ino Ino) (kept bool, err error) {
	var attr Attr
	found := false
	ikey := e.keys.Inode(ino)
	err = e.runTx(ctx, func(tx *Tx) error {
		found, kept = false, false
		v, ok, err := tx.Get(ikey)
		if err != nil || !ok {
			return err
		}
		if attr, err = e.decodeAttr(ikey, v); err != nil {
			return err
		}
		if attr.Typ == codec.TypeDirectory {
			if nonEmpty, err := tx.Exists(e.keys.Entries(ino)); err != nil {
				return err
			} else if nonEmpty {
				kept = true
				return nil
			}
			e.queueDropDirStats(tx, ino)
		}
		found = true
		space := int64(4096)
		if attr.Typ == codec.TypeFile {
			space = int64(codec.Align4K(attr.Length))
			tx.Do("ZADD", e.keys.DelFiles(), strconv.FormatInt(time.Now().Unix(), 10), codec.DelFileMember(ino, attr.Length))
		}
		if attr.Typ == codec.TypeSymlink {
			tx.Del(e.keys.Symlink(ino))
		}
		tx.Del(ikey)
		tx.Del(e.keys.Xattrs(ino))
		tx.Del(e.keys.Parents(ino))
		tx.IncrBy(e.keys.UsedSpace(), -space)
		tx.IncrBy(e.keys.TotalInodes(), -1)
		tx.Log("DELSUSTAINED(0,%d)", ino)
		return nil
	})
	if err != nil || !found {
		return kept, err
	}
	space := int64(4096)
	if attr.Typ == codec.TypeFile {
		space = int64(codec.Align4K(attr.Length))
	}
	e.stats.volume(-space, -1)
	e.stats.userGroup(attr.Uid, attr.Gid, -space, -1)
	if attr.Typ == codec.TypeFile {
		if err := e.deleteFileData(ctx, ino, attr.Length); err != nil {
			e.log.Warn(fmt.Sprintf("purge data of leaked inode %d: %v (left in delfiles)", ino, err))
		}
	}
	return false, nil
}

// pendingDeletion returns the inodes queued in delfiles.
func (e *Engine) pendingDeletion(ctx context.Context) (map[Ino]bool, error) {
	members, err := e.rdb.Do(ctx, e.rdb.B().Zrange().Key(e.keys.DelFiles()).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return nil, e.redisErr("ZRANGE "+e.keys.DelFiles(), err)
	}
	out := make(map[Ino]bool, len(members))
	for _, m := range members {
		if ino, _, ok := codec.ParseDelFileMember(m); ok {
			out[ino] = true
		} else if ino, _, ok := codec.ParseLegacyDelFileMember(m); ok {
			out[ino] = true
		}
	}
	return out, nil
}

func (e *Engine) findLeakedChunks(ctx context.Context, delete bool) ([]LeakedChunk, error) {
	deleting, err := e.pendingDeletion(ctx)
	if err != nil {
		return nil, err
	}
	var leaked []LeakedChunk
	err = e.scanKeys(ctx, "c*", func(keys []string) error {
		var chunks []LeakedChunk
		var cmds []rueidisCompleted
		for _, k := range keys {
			ino, indx, ok := e.keys.ParseChunkKey(k)
			if !ok || deleting[ino] {
				continue
			}
			chunks = append(chunks, LeakedChunk{Ino: ino, Indx: indx, Key: k})
			cmds = append(cmds, e.rdb.B().Exists().Key(e.keys.Inode(ino)).Build())
		}
		for i, r := range e.rdb.DoMulti(ctx, cmds...) {
			n, err := r.AsInt64()
			if err != nil {
				return e.redisErr("EXISTS", err)
			}
			if n > 0 {
				continue
			}
			c := chunks[i]
			e.log.Info(fmt.Sprintf("found leaked chunk %s", c.Key))
			leaked = append(leaked, c)
			if delete {
				if err := e.deleteChunk(ctx, c.Ino, c.Indx); err != nil {
					e.log.Error(fmt.Sprintf("delete leaked chunk %s: %v", c.Key, err))
				}
			}
		}
		return nil
	})
	sort.Slice(leaked, func(i, j int) bool { return leaked[i].Key < leaked[j].Key })
	return leaked, err
}

// migrateLegacyRefs moves the counts of pre-sliceRef k{id}_{size} keys into
// sliceRef; with delete, keys left at 0 or below are removed.
func (e *Engine) migrateLegacyRefs(ctx context.Context, delete bool, rep *SliceReport) error {
	return e.scanKeys(ctx, "k*", func(keys []string) error {
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
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				e.log.Warn(fmt.Sprintf("legacy reference %s holds %q, not a number", refs[i].key, v))
				continue
			}
			if n <= 0 {
				if delete {
					if err := e.rdb.Do(ctx, e.rdb.B().Del().Key(refs[i].key).Build()).Error(); err != nil {
						return e.redisErr("DEL "+refs[i].key, err)
					}
					rep.LegacyDeleted++
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
			rep.LegacyMigrated++
		}
		return nil
	})
}

// CleanupDetachedNodesBefore removes the directory trees that clones left
// detached (not yet attached to their parent) before edge: each tree is
// emptied and its top directory deleted. It returns how many trees were
// removed; progress, when set, is called for each.
func (e *Engine) CleanupDetachedNodesBefore(ctx context.Context, edge time.Time, progress func()) (int, error) {
	if e.readOnly {
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
	if _, ok, err := e.RawAttr(ctx, ino); err != nil {
		return err
	} else if ok {
		s := &rmrState{e: e, skipTrash: true, slots: make(chan struct{}, 10)}
		if _, err := s.emptyDir(ctx, ino); err != nil {
			return err
		}
	}
	var attr Attr
	found := false
	ikey := e.keys.Inode(ino)
	err := e.runTx(ctx, func(tx *Tx) error {
		found = false
		v, ok, err := tx.Get(ikey)
		if err != nil {
			return err
		}
		tx.Do("ZREM", e.keys.DetachedNodes(), ino.String())
		if !ok {
			return nil
		}
		if attr, err = e.decodeAttr(ikey, v); err != nil {
			return err
		}
		found = true
		tx.Del(ikey)
		tx.Del(e.keys.Xattrs(ino))
		tx.IncrBy(e.keys.UsedSpace(), -4096)
		tx.IncrBy(e.keys.TotalInodes(), -1)
		f := ino.String()
		tx.HDel(e.keys.DirUsedInodes(), f)
		tx.HDel(e.keys.DirDataLength(), f)
		tx.HDel(e.keys.DirUsedSpace(), f)
		tx.Log("CLEANUP(%d)", ino)
		return nil
	})
	if err != nil || !found {
		return err
	}
	e.stats.volume(-4096, -1)
	e.stats.userGroup(attr.Uid, attr.Gid, -4096, -1)
	e.stats.dropPending(ino)
	return nil
}

// DeletedFile is a file queued in delfiles whose data is still to be
// deleted.
type DeletedFile struct {
	Ino    Ino
	Length uint64
	Time   time.Time // when it was queued
	Member string    // the delfiles member
}

// ListDeletedFiles returns every file queued in delfiles (legacy members
// included, with their assumed length).
func (e *Engine) ListDeletedFiles(ctx context.Context) ([]DeletedFile, error) {
	zs, err := e.rdb.Do(ctx, e.rdb.B().Zrange().Key(e.keys.DelFiles()).Min("0").Max("-1").Withscores().Build()).AsZScores()
	if err != nil {
		return nil, e.redisErr("ZRANGE "+e.keys.DelFiles(), err)
	}
	out := make([]DeletedFile, 0, len(zs))
	for _, z := range zs {
		ino, length, ok := codec.ParseDelFileMember(z.Member)
		if !ok {
			if ino, length, ok = codec.ParseLegacyDelFileMember(z.Member); !ok {
				continue
			}
		}
		out = append(out, DeletedFile{Ino: ino, Length: length, Time: time.Unix(int64(z.Score), 0), Member: z.Member})
	}
	return out, nil
}

// PurgeDeletedFile deletes the data of a file listed by ListDeletedFiles and
// removes it from delfiles.
func (e *Engine) PurgeDeletedFile(ctx context.Context, f DeletedFile) error {
	if e.readOnly {
		return syscall.EROFS
	}
	if err := e.deleteFileData(ctx, f.Ino, f.Length); err != nil {
		return err
	}
	err := e.rdb.Do(ctx, e.rdb.B().Zrem().Key(e.keys.DelFiles()).Member(f.Member).Build()).Error()
	return e.redisErr("ZREM "+e.keys.DelFiles(), err)
}

// PurgeDeletedFiles purges files listed by ListDeletedFiles with threads
// workers (at least 1), as `gc --delete` does for all of them whatever their
// age. progress, when set, is called (never concurrently) for each file
// purged. It returns how many were purged and the first error.
func (e *Engine) PurgeDeletedFiles(ctx context.Context, files []DeletedFile, threads int, progress func(DeletedFile)) (int, error) {
	work := make(chan DeletedFile)
	var (
		mu       sync.Mutex
		n        int
		firstErr error
		wg       sync.WaitGroup
	)
	for range max(threads, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				err := e.PurgeDeletedFile(ctx, f)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("purge deleted inode %d: %w", f.Ino, err)
					}
				} else {
					n++
					if progress != nil {
						progress(f)
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		work <- f
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctxErrno(ctx.Err())
	}
	return n, firstErr
}
