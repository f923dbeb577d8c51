package meta

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Primitives for the administrative tools (fsck, quota, gc): they read the
// keyspace as it is, without permission checks, without the synthesised
// answers the file-system operations give for damaged metadata, and they
// repair single values under the usual check-and-apply transactions. They
// act as root.

// ErrChanged is returned by the repair primitives when the value they were
// asked to fix no longer is what the check saw; nothing was written.
var ErrChanged = errors.New("value changed since it was checked")

// RawEntry is a directory entry together with its attribute as stored.
// HasAttr is false when the entry names an inode whose attribute is missing
// (then Attr carries only the type from the entry).
type RawEntry struct {
	Entry
	HasAttr bool
}

// ListRaw lists every entry of directory dir with the stored attributes,
// in no particular order, without permission checks.
func (e *Engine) ListRaw(ctx context.Context, dir Ino) ([]RawEntry, error) {
	entries, err := e.listEntries(ctx, dir)
	if err != nil {
		return nil, err
	}
	found := make([]bool, len(entries))
	if err := e.readAttrs(ctx, entries, found); err != nil {
		return nil, err
	}
	out := make([]RawEntry, len(entries))
	for i := range entries {
		out[i] = RawEntry{Entry: entries[i], HasAttr: found[i]}
	}
	return out, nil
}

// RawAttr returns the stored attribute of ino; ok is false when it is
// missing. Unlike GetAttr it never synthesises the root's attribute.
func (e *Engine) RawAttr(ctx context.Context, ino Ino) (attr Attr, ok bool, err error) {
	key := e.keys.Inode(ino)
	v, ok, err := e.cachedGet(ctx, key)
	if err != nil || !ok {
		return Attr{}, false, err
	}
	attr, err = e.decodeAttr(key, v)
	return attr, err == nil, err
}

// LookupRaw finds name in directory parent without permission checks; ".trash"
// in the root is the trash root. ok is false when the entry exists but its
// inode has no attribute.
func (e *Engine) LookupRaw(ctx context.Context, parent Ino, name string) (RawEntry, error) {
	if parent == RootInode && name == TrashName {
		a, ok, err := e.RawAttr(ctx, TrashInode)
		if err != nil {
			return RawEntry{}, err
		}
		if !ok {
			return RawEntry{}, syscall.ENOENT
		}
		return RawEntry{Entry: Entry{Inode: TrashInode, Name: name, Attr: a}, HasAttr: true}, nil
	}
	dkey := e.keys.Entries(parent)
	v, ok, err := e.cachedHGet(ctx, dkey, name)
	if err != nil {
		return RawEntry{}, err
	}
	if !ok {
		return RawEntry{}, syscall.ENOENT
	}
	ent, err := e.decodeEntry(dkey, name, v)
	if err != nil {
		return RawEntry{}, err
	}
	r := RawEntry{Entry: Entry{Inode: ent.Inode, Name: name, Attr: Attr{Typ: ent.Typ}}}
	a, ok, err := e.RawAttr(ctx, ent.Inode)
	if err != nil {
		return RawEntry{}, err
	}
	if ok {
		r.Attr, r.HasAttr = a, true
	}
	return r, nil
}

// StoredDirStat returns the directory statistics of dir exactly as stored
// (no pending changes, no recomputation); ok is false when a field is
// missing.
func (e *Engine) StoredDirStat(ctx context.Context, dir Ino) (st DirStat, ok bool, err error) {
	k := e.keys
	f := dir.String()
	res := e.rdb.DoMulti(ctx,
		e.rdb.B().Hget().Key(k.DirDataLength()).Field(f).Build(),
		e.rdb.B().Hget().Key(k.DirUsedSpace()).Field(f).Build(),
		e.rdb.B().Hget().Key(k.DirUsedInodes()).Field(f).Build())
	var vals [3]int64
	names := [3]string{k.DirDataLength(), k.DirUsedSpace(), k.DirUsedInodes()}
	for i, r := range res {
		s, err := r.ToString()
		if isNil(err) {
			return DirStat{}, false, nil
		}
		if err != nil {
			return DirStat{}, false, e.redisErr("HGET "+names[i], err)
		}
		if vals[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return DirStat{}, false, codec.CorruptField(names[i], f, fmt.Errorf("%q is not an integer", s))
		}
	}
	return DirStat{Length: vals[0], Space: vals[1], Inodes: vals[2]}, true, nil
}

// ComputeDirStat counts a directory's statistics from its entries, without
// storing them.
func (e *Engine) ComputeDirStat(ctx context.Context, dir Ino) (DirStat, error) {
	return e.computeDirStat(ctx, dir)
}

// SyncDirStat recomputes a directory's statistics from its entries and
// stores them.
func (e *Engine) SyncDirStat(ctx context.Context, dir Ino) (DirStat, error) {
	if e.readOnly {
		return DirStat{}, syscall.EROFS
	}
	return e.syncDirStat(ctx, dir)
}

// StoreDirStat stores given statistics for directory dir (ENOENT when its
// attribute is gone); fsck uses it to write the values its recount found.
func (e *Engine) StoreDirStat(ctx context.Context, dir Ino, st DirStat) error {
	e.stats.dropPending(dir)
	return e.storeDirStat(ctx, dir, st)
}

// DropDirStat deletes the statistics of a directory that no longer exists
// (nothing is done if its attribute exists).
func (e *Engine) DropDirStat(ctx context.Context, dir Ino) error {
	return e.runTx(ctx, func(tx *Tx) error {
		if _, ok, err := tx.GetAttrBytes(e.keys.Inode(dir)); err != nil || ok {
			return err
		}
		f := dir.String()
		tx.HDel(e.keys.DirDataLength(), f)
		tx.HDel(e.keys.DirUsedSpace(), f)
		tx.HDel(e.keys.DirUsedInodes(), f)
		return nil
	})
}

// RepairDir rewrites the attribute of directory dir with its link count
// recomputed from its entries (2 plus one per sub-directory; always 2 in the
// trash). When the attribute is missing, rebuild (a directory attribute,
// typically with the mode, owner and parent chosen by fsck) is stored
// instead; without rebuild a missing attribute is left alone (ENOENT).
func (e *Engine) RepairDir(ctx context.Context, dir Ino, rebuild *Attr) error {
	ikey := e.keys.Inode(dir)
	return e.runTx(ctx, func(tx *Tx) error {
		v, ok, err := tx.Get(ikey)
		if err != nil {
			return err
		}
		var attr Attr
		switch {
		case ok:
			if attr, err = e.decodeAttr(ikey, v); err != nil {
				return err
			}
			if attr.Typ != codec.TypeDirectory {
				return syscall.ENOTDIR
			}
		case rebuild != nil:
			attr = *rebuild
			attr.Typ = codec.TypeDirectory
		default:
			return syscall.ENOENT
		}
		nlink := uint32(2)
		if !dir.IsTrash() {
			entries, err := e.listEntries(tx.ctx, dir)
			if err != nil {
				return err
			}
			for _, ent := range entries {
				if ent.Attr.Typ == codec.TypeDirectory {
					nlink++
				}
			}
		}
		// The full-value condition on the attribute also catches
		// sub-directories added or removed meanwhile: each such change
		// patches the directory's link count.
		if ok && attr.Nlink == nlink {
			return nil
		}
		attr.Nlink = nlink
		tx.Set(ikey, string(attr.Marshal()))
		tx.Log("REPAIRDIR(%d)", dir)
		return nil
	})
}

// DirNlink counts what a directory's link count should be: 2 plus one per
// sub-directory entry (always 2 for the trash root and hour directories,
// which are not charged for their sub-directories).
func (e *Engine) DirNlink(ctx context.Context, dir Ino) (uint32, error) {
	if dir.IsTrash() {
		return 2, nil
	}
	entries, err := e.listEntries(ctx, dir)
	if err != nil {
		return 0, err
	}
	n := uint32(2)
	for _, ent := range entries {
		if ent.Attr.Typ == codec.TypeDirectory {
			n++
		}
	}
	return n, nil
}

// SetNlink sets the link count of ino to nlink, provided it is still
// expect (the value the caller's check saw); otherwise nothing is written
// and ErrChanged is returned.
func (e *Engine) SetNlink(ctx context.Context, ino Ino, expect, nlink uint32) error {
	key := e.keys.Inode(ino)
	return e.runTx(ctx, func(tx *Tx) error {
		attr, err := e.txAttr(tx, key)
		if err != nil {
			return err
		}
		if attr.Nlink != expect {
			return fmt.Errorf("%w: nlink of inode %d is now %d", ErrChanged, ino, attr.Nlink)
		}
		attr.Nlink = nlink
		tx.Set(key, string(attr.Marshal()))
		tx.Log("REPAIRNLINK(%d,%d)", ino, nlink)
		return nil
	})
}

// SetParentCount sets, in the parent tracking of a hard-linked inode
// (p{ino}), how many names parent holds (0 deletes the field). The inode's
// attribute must exist and not name a single parent.
func (e *Engine) SetParentCount(ctx context.Context, ino, parent Ino, count int64) error {
	key := e.keys.Inode(ino)
	return e.runTx(ctx, func(tx *Tx) error {
		attr, err := e.txAttr(tx, key)
		if err != nil {
			return err
		}
		if attr.Parent != 0 {
			return fmt.Errorf("%w: inode %d has a single parent %d", ErrChanged, ino, attr.Parent)
		}
		if count == 0 {
			tx.HDel(e.keys.Parents(ino), parent.String())
		} else {
			tx.HSet(e.keys.Parents(ino), parent.String(), strconv.FormatInt(count, 10))
		}
		return nil
	})
}

// SetVolumeCounters overwrites the volume's usage counters (usedSpace,
// totalInodes), as `fsck --repair --sync-dir-stat` does. A negative value
// leaves that counter alone. It is not transactional: run it on a quiet
// volume.
func (e *Engine) SetVolumeCounters(ctx context.Context, usedSpace, usedInodes int64) error {
	if e.readOnly {
		return syscall.EROFS
	}
	set := func(key string, v int64) error {
		err := e.rdb.Do(ctx, e.rdb.B().Set().Key(key).Value(strconv.FormatInt(v, 10)).Build()).Error()
		e.cache.Invalidate(key)
		e.overlay.forget(key)
		return e.redisErr("SET "+key, err)
	}
	if usedSpace >= 0 {
		if err := set(e.keys.UsedSpace(), usedSpace); err != nil {
			return err
		}
		e.stats.usedSpace.Store(usedSpace)
	}
	if usedInodes >= 0 {
		if err := set(e.keys.TotalInodes(), usedInodes); err != nil {
			return err
		}
		e.stats.usedInodes.Store(usedInodes)
	}
	return nil
}

// SustainedInode is a file kept alive by a session after its last name was
// removed.
type SustainedInode struct {
	Sid  uint64
	Ino  Ino
	Attr Attr
}

// ScanSustained lists every sustained inode of every session (members of
// session{sid} sets whose attribute still exists).
func (e *Engine) ScanSustained(ctx context.Context) ([]SustainedInode, error) {
	var sets []string
	err := e.scanKeys(ctx, "session[0-9]*", func(keys []string) error {
		sets = append(sets, keys...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(sets)
	var out []SustainedInode
	for _, key := range sets {
		sid, ok := e.keys.ParseSustainedKey(key)
		if !ok {
			continue
		}
		members, err := e.rdb.Do(ctx, e.rdb.B().Smembers().Key(key).Build()).AsStrSlice()
		if err != nil {
			return nil, e.redisErr("SMEMBERS "+key, err)
		}
		for _, m := range members {
			n, err := strconv.ParseUint(m, 10, 64)
			if err != nil {
				continue
			}
			a, ok, err := e.RawAttr(ctx, Ino(n))
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, SustainedInode{Sid: sid, Ino: Ino(n), Attr: a})
			}
		}
	}
	return out, nil
}

// SliceID names one slice: its id and total size.
type SliceID struct {
	ID   uint64
	Size uint32
}

// FileSlices returns the slices referenced by the chunk lists of a regular
// file below its length (ids 0, holes, left out).
func (e *Engine) FileSlices(ctx context.Context, ino Ino) ([]SliceID, error) {
	a, ok, err := e.RawAttr(ctx, ino)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	if a.Typ != codec.TypeFile {
		return nil, nil
	}
	chunks := uint32((a.Length + codec.ChunkSize - 1) / codec.ChunkSize)
	var out []SliceID
	for start := uint32(0); start < chunks; start += 1000 {
		end := min(start+1000, chunks)
		cmds := make([]rueidisCompleted, 0, end-start)
		for indx := start; indx < end; indx++ {
			cmds = append(cmds, e.rdb.B().Lrange().Key(e.keys.Chunk(ino, indx)).Start(0).Stop(-1).Build())
		}
		for i, r := range e.rdb.DoMulti(ctx, cmds...) {
			recs, err := r.AsStrSlice()
			if err != nil {
				return nil, e.redisErr("LRANGE", err)
			}
			for j, rec := range recs {
				s, err := codec.UnmarshalSliceRecord(rec)
				if err != nil {
					return nil, codec.Corrupt(e.keys.Chunk(ino, start+uint32(i)), fmt.Errorf("element %d: %w", j, err))
				}
				if s.ID > 0 {
					out = append(out, SliceID{ID: s.ID, Size: s.Size})
				}
			}
		}
	}
	return out, nil
}
