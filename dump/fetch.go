package dump

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
)

// fetcher reads nodes and directory listings for Dump. It is used by the
// walker and all workers at once.
type fetcher struct {
	c    rueidis.Client
	keys keyspace.Keys
	log  *slog.Logger

	mu   sync.Mutex
	acls map[uint32]*codec.ACLRule // rules are immutable: cached forever

	// chunkIndexes lists the chunk lists of a huge sparse file (those
	// that exist, see meta.Inspector.ChunkIndexes).
	chunkIndexes func(ctx context.Context, ino codec.Ino, length uint64) ([]uint32, error)
}

// sparseChunksAbove: a file spanning more chunks than this has its chunk
// lists listed (chunkIndexes) rather than read at every index.
const sparseChunksAbove = 10000

// nodeRequest names a node to read: its entry in the parent directory.
type nodeRequest struct {
	name string
	ino  codec.Ino
	typ  codec.FileType // type recorded in the directory entry
}

// round2Batch bounds the commands of one pipelined round trip of the second
// phase (chunk lists of big files, symlink targets, ACL rules).
const round2Batch = 1024

// list returns the sorted entries of directory ino (HSCAN in pages).
func (f *fetcher) list(ctx context.Context, ino codec.Ino) (*listing, error) {
	key := f.keys.Entries(ino)
	l := &listing{}
	var cursor uint64
	for {
		entry, err := f.c.Do(ctx, f.c.B().Hscan().Key(key).Cursor(cursor).Count(10000).Build()).AsScanEntry()
		if err != nil {
			return nil, fmt.Errorf("dump: redis HSCAN %s: %w", key, err)
		}
		for i := 0; i+1 < len(entry.Elements); i += 2 {
			name, v := entry.Elements[i], entry.Elements[i+1]
			ent, err := codec.UnmarshalEntry(v)
			if err != nil {
				return nil, fmt.Errorf("dump: %w", codec.CorruptField(key, name, err))
			}
			if len(name) > math.MaxUint32 {
				return nil, fmt.Errorf("dump: %w", codec.CorruptField(key, name[:64], fmt.Errorf("entry name of %d bytes", len(name))))
			}
			l.kids = append(l.kids, child{off: len(l.arena), n: uint32(len(name)), typ: ent.Typ, ino: ent.Inode})
			l.arena = append(l.arena, name...)
		}
		if entry.Cursor == 0 {
			break
		}
		cursor = entry.Cursor
	}
	sortListing(l)
	return l, nil
}

// fetch reads the nodes named by reqs. Every command of a batch is sent in
// one pipeline; a second one reads what depends on the attributes: the
// chunk lists past the first, a symlink target or a first chunk whose entry
// type disagreed with the attribute (the attribute's type wins, as in
// juicefs), and ACL rules not read before.
func (f *fetcher) fetch(ctx context.Context, reqs []nodeRequest) ([]node, error) {
	type slots struct{ attr, xattr, chunk0, target int }
	idx := make([]slots, len(reqs))
	cmds := make(rueidis.Commands, 0, 3*len(reqs))
	for i, r := range reqs {
		s := slots{attr: len(cmds), xattr: len(cmds) + 1, chunk0: -1, target: -1}
		cmds = append(cmds, f.c.B().Get().Key(f.keys.Inode(r.ino)).Build(),
			f.c.B().Hgetall().Key(f.keys.Xattrs(r.ino)).Build())
		switch r.typ {
		case codec.TypeFile:
			s.chunk0 = len(cmds)
			cmds = append(cmds, f.c.B().Lrange().Key(f.keys.Chunk(r.ino, 0)).Start(0).Stop(-1).Build())
		case codec.TypeSymlink:
			s.target = len(cmds)
			cmds = append(cmds, f.c.B().Get().Key(f.keys.Symlink(r.ino)).Build())
		}
		idx[i] = s
	}
	res := f.c.DoMulti(ctx, cmds...)
	nodes := make([]node, len(reqs))
	for i, r := range reqs {
		n := &nodes[i]
		n.name, n.ino = r.name, r.ino
		if err := f.readAttr(n, r, res[idx[i].attr]); err != nil {
			return nil, err
		}
		if err := f.readXattrs(n, res[idx[i].xattr]); err != nil {
			return nil, err
		}
		if s := idx[i].chunk0; s >= 0 && n.attr.Typ == codec.TypeFile && n.attr.Length > 0 {
			if err := f.addChunk(n, 0, res[s]); err != nil {
				return nil, err
			}
		}
		if s := idx[i].target; s >= 0 && n.attr.Typ == codec.TypeSymlink {
			if err := f.readTarget(n, res[s]); err != nil {
				return nil, err
			}
		}
	}
	r2 := round2{f: f, ctx: ctx, nodes: nodes}
	for i, r := range reqs {
		if err := r2.plan(i, r.typ); err != nil {
			return nil, err
		}
	}
	if err := r2.flush(); err != nil {
		return nil, err
	}
	for i := range nodes {
		if err := f.attachACLs(&nodes[i]); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

func (f *fetcher) readAttr(n *node, r nodeRequest, res rueidis.RedisResult) error {
	key := f.keys.Inode(r.ino)
	v, err := res.ToString()
	switch {
	case rueidis.IsRedisNil(err):
		// As juicefs: the entry's type and a minimal link count, silently for
		// the trash root (absent while the trash is disabled).
		if r.ino != codec.TrashInode {
			f.log.Warn("corrupt inode: missing attribute", "inode", uint64(r.ino))
		}
		n.attr = codec.Attr{Typ: r.typ, Nlink: 1}
		if r.typ == codec.TypeDirectory {
			n.attr.Nlink = 2
		}
	case err != nil:
		return fmt.Errorf("dump: redis GET %s: %w", key, err)
	case v == "":
		n.attr = codec.Attr{Typ: r.typ, Nlink: 1}
	default:
		if err := codec.UnmarshalAttr(v, &n.attr); err != nil {
			return fmt.Errorf("dump: %w", codec.Corrupt(key, err))
		}
	}
	return nil
}

func (f *fetcher) readXattrs(n *node, res rueidis.RedisResult) error {
	m, err := res.AsStrMap()
	if err != nil {
		return fmt.Errorf("dump: redis HGETALL %s: %w", f.keys.Xattrs(n.ino), err)
	}
	if len(m) == 0 {
		return nil
	}
	n.xattrs = make([]xattr, 0, len(m))
	for k, v := range m {
		n.xattrs = append(n.xattrs, xattr{k, v})
	}
	slices.SortFunc(n.xattrs, func(a, b xattr) int { return cmp.Compare(a.name, b.name) })
	return nil
}

func (f *fetcher) readTarget(n *node, res rueidis.RedisResult) error {
	v, err := res.ToString()
	switch {
	case rueidis.IsRedisNil(err):
		f.log.Warn("the symlink target is not found", "inode", uint64(n.ino))
	case err != nil:
		return fmt.Errorf("dump: redis GET %s: %w", f.keys.Symlink(n.ino), err)
	default:
		n.target = v
	}
	return nil
}

// addChunk appends chunk indx of n from an LRANGE reply. An empty list is
// skipped; a list with a malformed record is dumped with no slices, as
// juicefs does, and logged.
func (f *fetcher) addChunk(n *node, indx uint32, res rueidis.RedisResult) error {
	vals, err := res.AsStrSlice()
	if err != nil {
		return fmt.Errorf("dump: redis LRANGE %s: %w", f.keys.Chunk(n.ino, indx), err)
	}
	if len(vals) == 0 {
		return nil
	}
	recs, err := codec.UnmarshalSliceRecords(vals)
	if err != nil {
		f.log.Error("corrupt chunk list dumped without slices", "key", f.keys.Chunk(n.ino, indx), "error", err)
		recs = []codec.SliceRecord{}
	}
	n.chunks = append(n.chunks, chunk{index: indx, records: recs})
	return nil
}

func (f *fetcher) cachedACL(id uint32) *codec.ACLRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.acls[id]
}

func (f *fetcher) attachACLs(n *node) error {
	for _, a := range []struct {
		id  uint32
		dst **codec.ACLRule
	}{{n.attr.AccessACL, &n.accessACL}, {n.attr.DefaultACL, &n.defaultACL}} {
		if a.id == codec.ACLNone {
			continue
		}
		r := f.cachedACL(a.id)
		if r == nil {
			return fmt.Errorf("dump: inode %d refers to ACL rule %d, which is missing from %s; the volume needs fsck",
				n.ino, a.id, f.keys.ACL())
		}
		*a.dst = r
	}
	return nil
}

// round2 collects the second-phase reads of a batch and sends them in
// pipelines of at most round2Batch commands, so that a huge sparse file
// does not build one enormous pipeline.
type round2 struct {
	f     *fetcher
	ctx   context.Context
	nodes []node
	cmds  rueidis.Commands
	todo  []func(rueidis.RedisResult) error
	acls  map[uint32]bool
}

func (r *round2) add(cmd rueidis.Completed, handle func(rueidis.RedisResult) error) error {
	r.cmds = append(r.cmds, cmd)
	r.todo = append(r.todo, handle)
	if len(r.cmds) >= round2Batch {
		return r.flush()
	}
	return nil
}

func (r *round2) flush() error {
	if len(r.cmds) == 0 {
		return nil
	}
	res := r.f.c.DoMulti(r.ctx, r.cmds...)
	for i, h := range r.todo {
		if err := h(res[i]); err != nil {
			return err
		}
	}
	r.cmds, r.todo = r.cmds[:0], r.todo[:0]
	return nil
}

// plan queues what node i still needs; entryType is what round one read.
func (r *round2) plan(i int, entryType codec.FileType) error {
	f, n := r.f, &r.nodes[i]
	b := f.c.B()
	switch n.attr.Typ {
	case codec.TypeFile:
		if n.attr.Length == 0 {
			break
		}
		if entryType != codec.TypeFile {
			if err := r.add(b.Lrange().Key(f.keys.Chunk(n.ino, 0)).Start(0).Stop(-1).Build(),
				func(res rueidis.RedisResult) error { return f.addChunk(n, 0, res) }); err != nil {
				return err
			}
		}
		last := (n.attr.Length - 1) / codec.ChunkSize // below 2^31: lengths are checked when decoded
		var indexes []uint32
		if last >= sparseChunksAbove && f.chunkIndexes != nil {
			var err error
			if indexes, err = f.chunkIndexes(r.ctx, n.ino, n.attr.Length); err != nil {
				return fmt.Errorf("dump: list the chunks of inode %d: %w", n.ino, err)
			}
		} else {
			for indx := uint32(1); uint64(indx) <= last; indx++ {
				indexes = append(indexes, indx)
			}
		}
		for _, indx := range indexes {
			if indx == 0 {
				continue // read in round one
			}
			if err := r.add(b.Lrange().Key(f.keys.Chunk(n.ino, indx)).Start(0).Stop(-1).Build(),
				func(res rueidis.RedisResult) error { return f.addChunk(n, indx, res) }); err != nil {
				return err
			}
		}
	case codec.TypeSymlink:
		if entryType != codec.TypeSymlink {
			if err := r.add(b.Get().Key(f.keys.Symlink(n.ino)).Build(),
				func(res rueidis.RedisResult) error { return f.readTarget(n, res) }); err != nil {
				return err
			}
		}
	}
	for _, id := range []uint32{n.attr.AccessACL, n.attr.DefaultACL} {
		if id == codec.ACLNone || r.acls[id] || f.cachedACL(id) != nil {
			continue
		}
		if r.acls == nil {
			r.acls = map[uint32]bool{}
		}
		r.acls[id] = true
		field := strconv.FormatUint(uint64(id), 10)
		if err := r.add(b.Hget().Key(f.keys.ACL()).Field(field).Build(), func(res rueidis.RedisResult) error {
			v, err := res.ToString()
			if rueidis.IsRedisNil(err) {
				return nil // reported by attachACLs with the inode
			}
			if err != nil {
				return fmt.Errorf("dump: redis HGET %s %s: %w", f.keys.ACL(), field, err)
			}
			rule, err := codec.UnmarshalACLRule(v)
			if err != nil {
				return fmt.Errorf("dump: %w", codec.CorruptField(f.keys.ACL(), field, err))
			}
			f.mu.Lock()
			f.acls[id] = &rule
			f.mu.Unlock()
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
