package meta

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Scans of the whole volume for tools: the slices the metadata references,
// leaked inodes and chunk lists, files waiting for their data to be purged.

// leakedInodeAge: an unreferenced inode younger than this may be a node
// being created or moved right now.
const leakedInodeAge = time.Hour

// LeakedInode is an inode that no directory entry names.
type LeakedInode struct {
	Ino  Ino
	Attr Attr
}

// LeakedChunk is a chunk list whose inode no longer exists and is not
// queued for deletion.
type LeakedChunk struct {
	Ino  Ino
	Indx uint32
	Key  string
}

// SliceReport lists the slices a volume references (Inspector.Slices).
type SliceReport struct {
	// Used lists, per inode, the slices its chunk lists reference.
	Used map[Ino][]SliceID
	// Pending are slices with a negative reference count: unreferenced,
	// waiting for their data to be deleted (only with SliceScan.Pending).
	Pending []SliceID
	// Delayed are slices kept for the trash by compactions (delSlices),
	// listed when the trash is enabled.
	Delayed []SliceID
	// Corrupt are the values that could not be decoded (chunk lists,
	// sliceRef counts, delSlices entries), each error naming its key: the
	// slices they reference are unknown, so any object may still be in use
	// (gc deletes no object then).
	Corrupt []error
}

// SliceScan selects what Inspector.Slices lists.
type SliceScan struct {
	// Pending also lists the slices waiting for their data to be deleted.
	Pending bool
	// Progress, when set, is called for every slice listed.
	Progress func()
}

// Slices scans the whole volume for the slices its files reference, as gc
// and fsck need them to check the object store.
func (in Inspector) Slices(ctx context.Context, opts SliceScan) (*SliceReport, error) {
	e := in.e
	rep := &SliceReport{Used: map[Ino][]SliceID{}}
	progress := func() {
		if opts.Progress != nil {
			opts.Progress()
		}
	}
	err := e.scanKeys(ctx, "c*_*", func(keys []string) error {
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
				rep.Corrupt = append(rep.Corrupt, codec.Corrupt(names[i], err))
				continue
			}
			for _, s := range recs {
				if s.ID > 0 {
					rep.Used[inos[i]] = append(rep.Used[inos[i]], SliceID{ID: s.ID, Size: s.Size})
					progress()
				}
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if opts.Pending {
		err := e.hscan(ctx, e.keys.SliceRef(), func(field, value string) error {
			n, err := codec.ParseInt(e.keys.SliceRef(), field, value)
			if err != nil {
				rep.Corrupt = append(rep.Corrupt, err)
				return nil
			}
			if n >= 0 {
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
			rep.Corrupt = append(rep.Corrupt, codec.CorruptField(e.keys.DelSlices(), field, err))
			return nil
		}
		for _, r := range recs {
			rep.Delayed = append(rep.Delayed, SliceID{ID: r.ID, Size: r.Size})
			progress()
		}
		return nil
	})
	return rep, err
}

// LeakReport is what Inspector.Leaks found.
type LeakReport struct {
	// Inodes no entry names, older than an hour; the root, the trash root,
	// sustained inodes and detached clone trees excepted.
	Inodes []LeakedInode
	// Chunks are chunk lists whose inode is gone and not queued in
	// delfiles.
	Chunks []LeakedChunk
	// Corrupt are the values that could not be decoded, each error naming
	// its key: directory entries (the inode such an entry names is unknown,
	// so any inode listed in Inodes may still be in use) and attributes of
	// unreferenced inodes.
	Corrupt []error
}

// Leaks finds leaked inodes and chunk lists, sorted (Cleaner.DeleteLeakedInode
// and Cleaner.DeleteLeakedChunk delete them).
func (in Inspector) Leaks(ctx context.Context) (*LeakReport, error) {
	rep := &LeakReport{}
	var err error
	if rep.Inodes, err = in.leakedInodes(ctx, rep); err != nil {
		return rep, err
	}
	rep.Chunks, err = in.leakedChunks(ctx)
	return rep, err
}

// referencedInodes collects every inode named by a directory entry, plus
// the inodes that legitimately have no entry.
func (in Inspector) referencedInodes(ctx context.Context, rep *LeakReport) (map[Ino]bool, error) {
	e := in.e
	found := map[Ino]bool{RootInode: true, TrashInode: true}
	err := e.scanKeys(ctx, "d[0-9]*", func(keys []string) error {
		for _, k := range keys {
			if _, ok := e.keys.ParseEntriesKey(k); !ok {
				continue
			}
			err := e.hscan(ctx, k, func(name, v string) error {
				if ent, err := codec.UnmarshalEntry(v); err == nil {
					found[ent.Inode] = true
				} else {
					rep.Corrupt = append(rep.Corrupt, codec.CorruptField(k, name, err))
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
	sustained, err := in.Sustained(ctx)
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

func (in Inspector) leakedInodes(ctx context.Context, rep *LeakReport) ([]LeakedInode, error) {
	e := in.e
	found, err := in.referencedInodes(ctx, rep)
	if err != nil {
		return nil, err
	}
	cutoff := e.now().Add(-leakedInodeAge)
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
				rep.Corrupt = append(rep.Corrupt, err)
				continue
			}
			if time.Unix(a.Ctime, 0).Before(cutoff) {
				leaked = append(leaked, LeakedInode{Ino: inos[i], Attr: a})
			}
		}
		return nil
	})
	sort.Slice(leaked, func(i, j int) bool { return leaked[i].Ino < leaked[j].Ino })
	return leaked, err
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

func (in Inspector) leakedChunks(ctx context.Context) ([]LeakedChunk, error) {
	e := in.e
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
			if n == 0 {
				leaked = append(leaked, chunks[i])
			}
		}
		return nil
	})
	sort.Slice(leaked, func(i, j int) bool { return leaked[i].Key < leaked[j].Key })
	return leaked, err
}

// DeletedFile is a file queued in delfiles whose data is still to be
// deleted.
type DeletedFile struct {
	Ino    Ino
	Length uint64
	Time   time.Time // when it was queued
	Member string    // the delfiles member
}

// DeletedFiles returns every file queued in delfiles (legacy members
// included, with their assumed length).
func (in Inspector) DeletedFiles(ctx context.Context) ([]DeletedFile, error) {
	e := in.e
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
