package meta

import (
	"context"
	"fmt"
	"sort"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// smallDirLimit: directories with at most this many entries are read with one
// cacheable HGETALL; larger ones are scanned with HSCAN (not cached: a huge
// reply would evict everything else and be invalidated by every change).
const smallDirLimit = 4096

// attrBatch is how many attributes one MGET-style round trip asks for.
const attrBatch = 4096

// Readdir lists a directory: "." and ".." first, then every entry. With plus
// the attribute of every entry is read too (entries whose attribute is
// missing keep only their type). The caller needs read permission, and
// search permission as well with plus.
func (e *Engine) Readdir(ctx context.Context, ino Ino, plus bool) ([]Entry, error) {
	if ino == 0 {
		ino = RootInode
	}
	attr, err := e.openDirCheck(ctx, ino, plus)
	if err != nil {
		return nil, err
	}
	parent := dotdot(ino, &attr)
	out := []Entry{
		{Inode: ino, Name: ".", Attr: Attr{Typ: codec.TypeDirectory}},
		{Inode: parent, Name: "..", Attr: Attr{Typ: codec.TypeDirectory}},
	}
	entries, err := e.listEntries(ctx, ino)
	if err != nil {
		return nil, err
	}
	if plus {
		if err := e.fillAttrs(ctx, entries); err != nil {
			return nil, err
		}
	}
	out = append(out, entries...)
	if e.opts.AtimeMode != codec.AtimeNo && !e.readOnly() {
		e.touchAtime(ctx, ino)
	}
	return out, nil
}

// dotdot is the inode ".." of directory ino (with attribute attr) names:
// its parent, or itself for the root and a directory without one.
func dotdot(ino Ino, attr *Attr) Ino {
	if ino == RootInode || attr.Parent == 0 {
		return ino
	}
	return attr.Parent
}

func (e *Engine) openDirCheck(ctx context.Context, ino Ino, plus bool) (Attr, error) {
	attr, err := e.GetAttr(ctx, ino)
	if err != nil {
		return Attr{}, err
	}
	if attr.Typ != codec.TypeDirectory {
		return Attr{}, syscall.ENOTDIR
	}
	mask := uint8(MayRead)
	if plus {
		mask |= MayExec
	}
	if err := e.checkAccess(ctx, CallerOf(ctx), &attr, mask); err != nil {
		return Attr{}, err
	}
	return attr, nil
}

// listEntries returns the entries of d{ino} (types only, in hash order).
func (e *Engine) listEntries(ctx context.Context, ino Ino) ([]Entry, error) {
	dkey := e.keys.Entries(ino)
	n, err := e.cachedHLen(ctx, dkey)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	if n <= smallDirLimit {
		m, err := e.cachedHGetAll(ctx, dkey)
		if err != nil {
			return nil, err
		}
		out := make([]Entry, 0, len(m))
		for name, v := range m {
			ent, err := e.appendEntry(dkey, name, v)
			if err != nil {
				return nil, err
			}
			if ent != nil {
				out = append(out, *ent)
			}
		}
		return out, nil
	}
	var out []Entry
	seen := make(map[string]struct{}, n)
	err = e.hscan(ctx, dkey, func(name, v string) error {
		if _, dup := seen[name]; dup {
			return nil
		}
		seen[name] = struct{}{}
		ent, err := e.appendEntry(dkey, name, v)
		if err == nil && ent != nil {
			out = append(out, *ent)
		}
		return err
	})
	return out, err
}

func (e *Engine) appendEntry(dkey, name, v string) (*Entry, error) {
	if name == "" {
		e.log.Warn(fmt.Sprintf("corrupt entry with an empty name in %s, skipped", dkey))
		return nil, nil
	}
	ent, err := e.decodeEntry(dkey, name, v)
	if err != nil {
		return nil, err
	}
	return &Entry{Inode: ent.Inode, Name: name, Attr: Attr{Typ: ent.Typ}}, nil
}

// hscan calls fn for every field of a hash, with HSCAN ... COUNT 10000.
func (e *Engine) hscan(ctx context.Context, key string, fn func(field, value string) error) error {
	var cursor uint64
	for {
		entry, err := e.rdb.Do(ctx, e.rdb.B().Hscan().Key(key).Cursor(cursor).Count(10000).Build()).AsScanEntry()
		if err != nil {
			return e.redisErr("HSCAN "+key, err)
		}
		for i := 0; i+1 < len(entry.Elements); i += 2 {
			if err := fn(entry.Elements[i], entry.Elements[i+1]); err != nil {
				return err
			}
		}
		if entry.Cursor == 0 {
			return nil
		}
		cursor = entry.Cursor
	}
}

// fillAttrs reads the attributes of entries, attrBatch per round trip
// (cached ones cost nothing). An entry whose attribute is missing keeps
// the type its directory entry gave.
func (e *Engine) fillAttrs(ctx context.Context, entries []Entry) error {
	return e.readAttrs(ctx, entries, nil)
}

// readAttrs is fillAttrs that also tells, when found is not nil (one flag
// per entry), which attributes exist: Inspector.Entries reports the missing ones.
func (e *Engine) readAttrs(ctx context.Context, entries []Entry, found []bool) error {
	for start := 0; start < len(entries); start += attrBatch {
		batch := entries[start:min(start+attrBatch, len(entries))]
		keys := make([]string, len(batch))
		for i := range batch {
			keys[i] = e.keys.Inode(batch[i].Inode)
		}
		vals, present, err := e.cachedMGet(ctx, keys)
		if err != nil {
			return err
		}
		for i := range batch {
			if !present[i] {
				continue
			}
			a, err := e.decodeAttr(keys[i], vals[i])
			if err != nil {
				return err
			}
			batch[i].Attr = a
			if found != nil {
				found[start+i] = true
			}
		}
	}
	return nil
}

// DirStream reads a directory incrementally, for directories too large to
// list at once: each Next call returns at most the requested number of
// entries, scanning d{ino} with HSCAN as it goes. Entries added or removed
// while the stream is open may or may not be returned; none is returned
// twice. A DirStream is used by one goroutine.
type DirStream struct {
	e      *Engine
	ino    Ino
	plus   bool
	pre    []Entry
	cursor uint64
	done   bool
	buf    []Entry
	seen   map[string]struct{}
	sorted bool
}

// OpenDir starts a directory stream. The checks are those of Readdir. With
// sorted, the whole directory is read at the first Next and returned in name
// order (as the official client's sort-dir option does).
func (e *Engine) OpenDir(ctx context.Context, ino Ino, plus, sorted bool) (*DirStream, error) {
	if ino == 0 {
		ino = RootInode
	}
	attr, err := e.openDirCheck(ctx, ino, plus)
	if err != nil {
		return nil, err
	}
	parent := dotdot(ino, &attr)
	dot := Entry{Inode: ino, Name: ".", Attr: attr}
	dotdot := Entry{Inode: parent, Name: "..", Attr: Attr{Typ: codec.TypeDirectory}}
	if plus {
		if pa, err := e.GetAttr(ctx, parent); err == nil {
			dotdot.Attr = pa
		}
	}
	return &DirStream{e: e, ino: ino, plus: plus, pre: []Entry{dot, dotdot}, seen: map[string]struct{}{}, sorted: sorted}, nil
}

// Next returns up to max further entries; an empty result means the end.
func (d *DirStream) Next(ctx context.Context, max int) ([]Entry, error) {
	if max <= 0 {
		max = attrBatch
	}
	for len(d.pre)+len(d.buf) < max && !d.done {
		if err := d.fill(ctx); err != nil {
			return nil, err
		}
	}
	var out []Entry
	n := min(max, len(d.pre))
	out = append(out, d.pre[:n]...)
	d.pre = d.pre[n:]
	n = min(max-len(out), len(d.buf))
	batch := d.buf[:n]
	d.buf = d.buf[n:]
	if d.plus {
		if err := d.e.fillAttrs(ctx, batch); err != nil {
			return nil, err
		}
	}
	return append(out, batch...), nil
}

func (d *DirStream) fill(ctx context.Context) error {
	dkey := d.e.keys.Entries(d.ino)
	if d.sorted {
		all, err := d.e.listEntries(ctx, d.ino)
		if err != nil {
			return err
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		d.buf, d.done = all, true
		return nil
	}
	entry, err := d.e.rdb.Do(ctx, d.e.rdb.B().Hscan().Key(dkey).Cursor(d.cursor).Count(10000).Build()).AsScanEntry()
	if err != nil {
		return d.e.redisErr("HSCAN "+dkey, err)
	}
	for i := 0; i+1 < len(entry.Elements); i += 2 {
		name := entry.Elements[i]
		if _, dup := d.seen[name]; dup {
			continue
		}
		d.seen[name] = struct{}{}
		ent, err := d.e.appendEntry(dkey, name, entry.Elements[i+1])
		if err != nil {
			return err
		}
		if ent != nil {
			d.buf = append(d.buf, *ent)
		}
	}
	d.cursor = entry.Cursor
	d.done = entry.Cursor == 0
	return nil
}
