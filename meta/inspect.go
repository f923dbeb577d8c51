package meta

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Inspector reads a volume's keyspace as it is stored, for the tools that
// check, show or clean a volume (fsck, gc, info, status, quota): without
// permission checks, without the answers the file-system operations
// synthesise for damaged metadata (a root attribute that cannot be read),
// and without writing anything. It acts as root. Get one with
// Engine.Inspect; it is as safe for concurrent use as its engine.
type Inspector struct{ e *Engine }

// Inspect returns the engine's read-only view of the stored keyspace.
func (e *Engine) Inspect() Inspector { return Inspector{e} }

// RawEntry is a directory entry together with its attribute as stored.
// HasAttr is false when the entry names an inode whose attribute is missing
// (then Attr carries only the type from the entry).
type RawEntry struct {
	Entry
	HasAttr bool
}

// Entries lists every entry of directory dir with the stored attributes,
// in no particular order.
func (in Inspector) Entries(ctx context.Context, dir Ino) ([]RawEntry, error) {
	e := in.e
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

// Attr returns the stored attribute of ino; ok is false when it is
// missing. Unlike Engine.GetAttr it never synthesises the root's attribute.
func (in Inspector) Attr(ctx context.Context, ino Ino) (attr Attr, ok bool, err error) {
	e := in.e
	key := e.keys.Inode(ino)
	v, ok, err := e.cachedGet(ctx, key)
	if err != nil || !ok {
		return Attr{}, false, err
	}
	attr, err = e.decodeAttr(key, v)
	return attr, err == nil, err
}

// Lookup finds name in directory parent; ".trash" in the root is the trash
// root. HasAttr is false when the entry exists but its inode has no
// attribute; a missing entry is ENOENT.
func (in Inspector) Lookup(ctx context.Context, parent Ino, name string) (RawEntry, error) {
	e := in.e
	if parent == RootInode && name == TrashName {
		a, ok, err := in.Attr(ctx, TrashInode)
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
	a, ok, err := in.Attr(ctx, ent.Inode)
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
func (in Inspector) StoredDirStat(ctx context.Context, dir Ino) (st DirStat, ok bool, err error) {
	return in.e.readDirStat(ctx, dir)
}

// CountDirStat counts a directory's statistics from its entries, without
// storing them.
func (in Inspector) CountDirStat(ctx context.Context, dir Ino) (DirStat, error) {
	return in.e.computeDirStat(ctx, dir)
}

// DirNlink counts what a directory's link count should be: 2 plus one per
// sub-directory entry, stray entries excepted (always 2 for the trash root
// and hour directories, which are not charged for their sub-directories).
func (in Inspector) DirNlink(ctx context.Context, dir Ino) (uint32, error) {
	return in.e.dirNlink(ctx, dir)
}

// StrayEntry reports whether an entry of directory dir naming directory
// ino, whose attribute is attr, is a stray name: ino is the root or the
// trash root, or it lives in another directory (its parent field names
// another directory, which has an entry naming it too). A stray entry is
// no sub-directory of dir: walks do not follow it, link counts do not count
// it, and fsck deletes it. fsck's recount applies the same rule to its
// snapshot.
func (in Inspector) StrayEntry(ctx context.Context, dir, ino Ino, attr *Attr) (bool, error) {
	if ino == RootInode || ino == TrashInode {
		return true, nil
	}
	if attr.Parent == dir || attr.Typ != codec.TypeDirectory {
		return false, nil
	}
	entries, err := in.e.listEntries(ctx, attr.Parent)
	if err != nil {
		return false, err
	}
	for _, ent := range entries {
		if ent.Inode == ino {
			return true, nil
		}
	}
	return false, nil
}

// SustainedInode is a file kept alive by a session after its last name was
// removed.
type SustainedInode struct {
	Sid  uint64
	Ino  Ino
	Attr Attr
}

// Sustained lists every sustained inode of every session (members of
// session{sid} sets whose attribute still exists).
func (in Inspector) Sustained(ctx context.Context) ([]SustainedInode, error) {
	e := in.e
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
			a, ok, err := in.Attr(ctx, Ino(n))
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
func (in Inspector) FileSlices(ctx context.Context, ino Ino) ([]SliceID, error) {
	e := in.e
	a, ok, err := in.Attr(ctx, ino)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	if a.Typ != codec.TypeFile {
		return nil, nil
	}
	indexes, err := e.fileChunks(ctx, ino, a.Length)
	if err != nil {
		return nil, err
	}
	var out []SliceID
	for start := 0; start < len(indexes); start += 1000 {
		batch := indexes[start:min(start+1000, len(indexes))]
		cmds := make([]rueidisCompleted, 0, len(batch))
		for _, indx := range batch {
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
					return nil, codec.Corrupt(e.keys.Chunk(ino, batch[i]), fmt.Errorf("element %d: %w", j, err))
				}
				if s.ID > 0 {
					out = append(out, SliceID{ID: s.ID, Size: s.Size})
				}
			}
		}
	}
	return out, nil
}

// ChunkIndexes returns the indexes of the chunk lists of a file of length
// to read, ascending: all of them for an ordinary file, only those that
// exist for a huge sparse one (see fileChunks).
func (in Inspector) ChunkIndexes(ctx context.Context, ino Ino, length uint64) ([]uint32, error) {
	return in.e.fileChunks(ctx, ino, length)
}

// ChunkRecords returns the slice records of chunk indx of ino as stored, in
// list order (nil for a chunk without data), for tools that show a chunk's
// layout the way the official client computes it (codec.JuiceFSLayout).
func (in Inspector) ChunkRecords(ctx context.Context, ino Ino, indx uint32) ([]codec.SliceRecord, error) {
	e := in.e
	key := e.keys.Chunk(ino, indx)
	vals, err := e.cachedLRange(ctx, key)
	if err != nil {
		return nil, err
	}
	recs, err := codec.UnmarshalSliceRecords(vals)
	if err != nil {
		return nil, corrupt(key, err)
	}
	return recs, nil
}

// DirQuotaInodes lists the directories that have a directory quota (fields
// of dirQuota), in ascending order.
func (in Inspector) DirQuotaInodes(ctx context.Context) ([]Ino, error) {
	e := in.e
	fields, err := e.rdb.Do(ctx, e.rdb.B().Hkeys().Key(e.keys.DirQuota()).Build()).AsStrSlice()
	if err != nil {
		return nil, e.redisErr("HKEYS "+e.keys.DirQuota(), err)
	}
	out := make([]Ino, 0, len(fields))
	for _, f := range fields {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, corrupt(e.keys.DirQuota(), fmt.Errorf("field %q is not an inode number", f))
		}
		out = append(out, Ino(n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// KeyCount returns the number of keys of this volume's database (with a
// Cluster prefix: keys carrying it).
func (in Inspector) KeyCount(ctx context.Context) (int64, error) {
	e := in.e
	if e.keys.Prefix() == "" {
		n, err := e.rdb.Do(ctx, e.rdb.B().Dbsize().Build()).AsInt64()
		return n, e.redisErr("DBSIZE", err)
	}
	var n int64
	err := e.scanKeys(ctx, "*", func(keys []string) error {
		n += int64(len(keys))
		return nil
	})
	return n, err
}
