package meta

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Clone copies node src of directory srcParent to name in dstParent
// without copying data, as JuiceFS's clone stores it: every node gets a
// new inode with a copy of the attribute (owned by the caller, with the
// permission bits less umask and the current time, unless preserve), of
// the extended attributes and symlink target, and of the chunk lists of a
// file, whose slices gain one reference each. A
// directory is built detached (its top is listed in detachedNodes, not in
// dstParent) and attached when complete, so a crash leaves nothing
// half-visible and gc removes the remains. Hard links become separate
// files. threads sub-directories are copied in parallel; progress, when
// set, is called with the nodes copied so far and the total.
//
// Unlike juicefs, a copied directory gets the statistics of what was
// copied into it (juicefs copies the original's, which may lag behind
// other clients' pending changes), FIFOs, sockets and devices are copied
// too (juicefs skips them), and the usage of every new node is charged to
// its new owner.
func (e *Engine) Clone(ctx context.Context, srcParent, src, dstParent Ino, name string, preserve bool, umask uint16, threads int, progress func(done, total uint64)) (copied, total uint64, err error) {
	if dstParent == 0 {
		dstParent = RootInode
	}
	if src.IsTrash() || srcParent.IsTrash() || dstParent.IsTrash() || (dstParent == RootInode && name == TrashName) {
		return 0, 0, syscall.EPERM
	}
	if e.readOnly() {
		return 0, 0, syscall.EROFS
	}
	if name == "" {
		return 0, 0, syscall.ENOENT
	}
	if err := validName(name); err != nil {
		return 0, 0, err
	}
	c := CallerOf(ctx)
	attr, err := e.checkClone(ctx, c, src, dstParent, name)
	if err != nil {
		return 0, 0, err
	}
	// The summary below reads the directory statistics stored in Redis:
	// send this client's pending deltas first.
	e.stats.flushAll(ctx)
	sum, err := e.GetSummary(ctx, src, true, false)
	if err != nil {
		return 0, 0, err
	}
	nodes := sum.Dirs + sum.Files
	if err := e.stats.checkQuota(ctx, int64(sum.Size), int64(nodes), c.Uid, c.Gid(), dstParent); err != nil {
		return 0, 0, err
	}
	cl := &cloner{e: e, c: c, preserve: preserve, umask: umask, slots: make(chan struct{}, max(threads, 1)),
		total: nodes, progress: progress}
	var top Ino
	if attr.Typ == codec.TypeDirectory {
		top, err = cl.entry(ctx, src, dstParent, name, true)
		if err == nil {
			err = e.attachClone(ctx, dstParent, top, name, &attr, cl.space.Load(), int64(cl.done.Load()))
		}
		if err != nil && top != 0 {
			if cerr := e.cleanupDetachedNode(context.WithoutCancel(ctx), top); cerr != nil {
				e.log.Error(fmt.Sprintf("remove the detached tree %d of a failed clone: %v", top, cerr))
			}
		}
	} else {
		_, err = cl.entry(ctx, src, dstParent, name, true)
	}
	if err != nil {
		return cl.done.Load(), nodes, err
	}
	if attr.Typ == codec.TypeDirectory {
		e.stats.rememberParent(top, dstParent)
	}
	return cl.done.Load(), nodes, nil
}

// checkClone applies Clone's checks before anything is copied: the
// caller may read src and write into dstParent, where name is free. It
// returns the attribute of src.
func (e *Engine) checkClone(ctx context.Context, c Caller, src, dstParent Ino, name string) (Attr, error) {
	attr, err := e.GetAttr(ctx, src)
	if err != nil {
		return Attr{}, err
	}
	if err := e.checkAccess(ctx, c, &attr, MayRead); err != nil {
		return Attr{}, err
	}
	pattr, err := e.GetAttr(ctx, dstParent)
	if err != nil {
		return Attr{}, err
	}
	if err := e.checkAccess(ctx, c, &pattr, MayWrite|MayExec); err != nil {
		return Attr{}, err
	}
	if _, _, err := e.Lookup(ctx, dstParent, name); err == nil {
		return Attr{}, syscall.EEXIST
	} else if !errors.Is(err, syscall.ENOENT) {
		return Attr{}, err
	}
	return attr, nil
}

// cloner is one Clone under way.
type cloner struct {
	e        *Engine
	c        Caller
	preserve bool
	umask    uint16
	slots    chan struct{} // sub-directories copied in parallel
	done     atomic.Uint64 // nodes copied
	space    atomic.Int64  // their space
	total    uint64
	progress func(done, total uint64)
	mu       sync.Mutex // serialises progress
}

func (cl *cloner) count(n uint64, space int64) {
	cl.space.Add(space)
	done := cl.done.Add(n)
	if cl.progress != nil {
		cl.mu.Lock()
		cl.progress(done, cl.total)
		cl.mu.Unlock()
	}
}

// newAttr is the attribute of the copy of a node with attribute src in
// directory parent.
func (cl *cloner) newAttr(src Attr, parent Ino, now time.Time) Attr {
	a := src
	a.Parent = parent
	if !cl.preserve {
		a.Uid, a.Gid = cl.c.Uid, cl.c.Gid()
		a.Mode &^= cl.umask
		setTimes(&a, now, true, true, true)
	}
	if a.Typ == codec.TypeFile && a.Nlink > 1 {
		a.Nlink = 1 // hard links are not preserved
	}
	return a
}

// entry copies node src to name in parent (for the top of a clone, the
// destination directory; below it, a copied directory) and, for a
// directory, everything below it. The top of a directory clone is left
// detached. It returns the new inode.
func (cl *cloner) entry(ctx context.Context, src, parent Ino, name string, top bool) (Ino, error) {
	e := cl.e
	var ino Ino
	var attr Attr
	var err error
	for taken := 0; ; taken++ {
		if ino, err = e.newInode(ctx); err != nil {
			return 0, err
		}
		attr, err = cl.entryTx(ctx, src, parent, name, top, ino)
		if !errors.Is(err, errInodeTaken) || taken == 3 {
			break
		}
		e.inodes.discard()
	}
	if err != nil {
		return 0, err
	}
	space := int64(codec.Align4K(lengthOf(&attr)))
	e.stats.volume(space, 1)
	e.stats.userGroup(attr.Uid, attr.Gid, space, 1)
	cl.count(1, space)
	if attr.Typ != codec.TypeDirectory {
		return ino, nil
	}
	sum, err := cl.children(ctx, src, ino)
	if err != nil {
		return ino, err
	}
	return ino, cl.setDirStats(ctx, ino, sum)
}

// setDirStats stores the statistics of a copied directory, from what was
// copied into it (the original's may lag behind changes other clients
// have not flushed yet).
func (cl *cloner) setDirStats(ctx context.Context, dir Ino, sum dirStatDelta) error {
	e := cl.e
	if f := e.format.Load(); f == nil || !f.DirStats {
		return nil
	}
	field, b := dir.String(), e.rdb.B()
	for _, r := range e.rdb.DoMulti(ctx,
		b.Hset().Key(e.keys.DirDataLength()).FieldValue().FieldValue(field, strconv.FormatInt(sum.length, 10)).Build(),
		b.Hset().Key(e.keys.DirUsedSpace()).FieldValue().FieldValue(field, strconv.FormatInt(sum.space, 10)).Build(),
		b.Hset().Key(e.keys.DirUsedInodes()).FieldValue().FieldValue(field, strconv.FormatInt(sum.inodes, 10)).Build()) {
		if err := r.Error(); err != nil {
			return e.redisErr("HSET directory statistics", err)
		}
	}
	return nil
}

// entryTx is the transaction that copies node src to new inode ino.
func (cl *cloner) entryTx(ctx context.Context, src, parent Ino, name string, top bool, ino Ino) (Attr, error) {
	e := cl.e
	var attr Attr
	ikey := e.keys.Inode(src)
	err := e.runTx(ctx, func(tx *Tx) error {
		sattr, err := e.txAttr(tx, ikey)
		if err != nil {
			return err
		}
		if err := e.checkAccess(ctx, cl.c, &sattr, MayRead); err != nil {
			return err
		}
		attr = cl.newAttr(sattr, parent, time.Now())
		var pattr Attr
		if top {
			if pattr, err = e.txParentDir(ctx, tx, cl.c, e.keys.Inode(parent), dirAddName); err != nil {
				return err
			}
			dkey := e.keys.Entries(parent)
			tx.ExpectFieldAbsent(dkey, name)
			if _, present := tx.KnownField(dkey, name); present {
				return syscall.EEXIST
			}
		}
		data, err := cl.readNodes(ctx, []Ino{src}, []*Attr{&sattr})
		if err != nil {
			return err
		}
		if data[0] == nil {
			return syscall.ENOENT
		}
		nkey := e.keys.Inode(ino)
		tx.ExpectNoKey(nkey)
		if present, _ := tx.KnownKey(nkey); present {
			return errInodeTaken
		}
		tx.Set(nkey, marshalAttr(&attr))
		tx.IncrBy(e.keys.UsedSpace(), int64(codec.Align4K(lengthOf(&attr))))
		tx.IncrBy(e.keys.TotalInodes(), 1)
		entry := string(codec.Entry{Typ: attr.Typ, Inode: ino}.Marshal())
		switch {
		case top && attr.Typ == codec.TypeDirectory:
			tx.Do("ZADD", e.keys.DetachedNodes(), strconv.FormatInt(time.Now().Unix(), 10), ino.String())
		case top:
			tx.HSet(e.keys.Entries(parent), name, entry)
			tx.PatchDir(e.keys.Inode(parent), &pattr, 0)
			space := int64(codec.Align4K(lengthOf(&attr)))
			tx.Account(func() { e.accountClonedTop(ctx, parent, &attr, space, 1) })
		default:
			tx.HSet(e.keys.Entries(parent), name, entry)
		}
		refs := map[string]int64{}
		cl.queueNode(tx, ino, &attr, data[0], refs)
		cl.queueRefs(tx, refs)
		tx.Log("CLONE(%d,%d,%s,%d,%d,%d,%t):%d", src, parent, logEscape(name), ino, cl.mode(), cl.umask, top, ino)
		return nil
	})
	return attr, err
}

func (cl *cloner) mode() uint8 {
	if cl.preserve {
		return codec.ClonePreserveAttr
	}
	return 0
}

// nodeData is what a copy carries besides the attribute.
type nodeData struct {
	xattrs []string   // field, value, ...
	target string     // symlink
	chunks [][]string // file: slice records of each chunk
}

// readNodes reads the extended attributes, symlink targets and chunk
// lists of nodes (with their attributes), in one pipeline. Like the official client, which does not watch them, a copy
// takes them as they are now. A symlink whose target is gone gives a nil
// entry (the node is being removed).
func (cl *cloner) readNodes(ctx context.Context, inos []Ino, attrs []*Attr) ([]*nodeData, error) {
	e := cl.e
	b := e.rdb.B()
	var cmds rueidis.Commands
	starts := make([]int, len(inos)+1)
	for i, ino := range inos {
		starts[i] = len(cmds)
		cmds = append(cmds, b.Hgetall().Key(e.keys.Xattrs(ino)).Build())
		switch a := attrs[i]; a.Typ {
		case codec.TypeSymlink:
			cmds = append(cmds, b.Get().Key(e.keys.Symlink(ino)).Build())
		case codec.TypeFile:
			for c := uint64(0); a.Length > 0 && c <= a.Length/codec.ChunkSize; c++ {
				cmds = append(cmds, b.Lrange().Key(e.keys.Chunk(ino, uint32(c))).Start(0).Stop(-1).Build())
			}
		}
	}
	starts[len(inos)] = len(cmds)
	res := e.rdb.DoMulti(ctx, cmds...)
	out := make([]*nodeData, len(inos))
	for i, ino := range inos {
		d, err := cl.parseNode(ino, attrs[i], res[starts[i]:starts[i+1]])
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// parseNode decodes the replies readNodes got for one node.
func (cl *cloner) parseNode(ino Ino, a *Attr, res []rueidis.RedisResult) (*nodeData, error) {
	e := cl.e
	d := &nodeData{}
	xm, err := res[0].AsStrMap()
	if err != nil {
		return nil, e.redisErr("HGETALL "+e.keys.Xattrs(ino), err)
	}
	for k, v := range xm {
		d.xattrs = append(d.xattrs, k, v)
	}
	switch a.Typ {
	case codec.TypeSymlink:
		if d.target, err = res[1].ToString(); rueidis.IsRedisNil(err) {
			return nil, nil
		} else if err != nil {
			return nil, e.redisErr("GET "+e.keys.Symlink(ino), err)
		}
	case codec.TypeFile:
		for c, r := range res[1:] {
			key := e.keys.Chunk(ino, uint32(c))
			list, err := r.AsStrSlice()
			if err != nil {
				return nil, e.redisErr("LRANGE "+key, err)
			}
			if _, err := codec.UnmarshalSliceRecords(list); err != nil {
				return nil, corrupt(key, err)
			}
			d.chunks = append(d.chunks, list)
		}
	}
	return d, nil
}

// queueNode queues the copy of a node's data for new inode ino; the
// references its chunks add to slices are counted in refs.
func (cl *cloner) queueRefs(tx *Tx, refs map[string]int64) {
	for field, n := range refs {
		tx.HIncrBy(cl.e.keys.SliceRef(), field, n)
	}
}

func (cl *cloner) queueNode(tx *Tx, ino Ino, a *Attr, d *nodeData, refs map[string]int64) {
	e := cl.e
	if len(d.xattrs) > 0 {
		tx.Do("HSET", e.keys.Xattrs(ino), d.xattrs...)
	}
	switch a.Typ {
	case codec.TypeSymlink:
		tx.Set(e.keys.Symlink(ino), d.target)
	case codec.TypeFile:
		for i, list := range d.chunks {
			if len(list) == 0 {
				continue
			}
			tx.Do("RPUSH", e.keys.Chunk(ino, uint32(i)), list...)
			for _, rec := range list {
				s, _ := codec.UnmarshalSliceRecord(rec)
				if s.ID > 0 {
					refs[e.keys.SliceRefField(s.ID, s.Size)]++
				}
			}
		}
	}
}

// accountClonedTop adds the top of a clone, a node like a, to the
// statistics of its directory parent, and the whole copy (space and inodes)
// to the directory quotas above parent (an after-commit hook, see
// commitAndAccount: charged under the accounting lock, as every change of
// usage, so that a quota fence learnt meanwhile never counts it twice).
func (e *Engine) accountClonedTop(ctx context.Context, parent Ino, a *Attr, space, inodes int64) {
	e.stats.dirStat(parent, int64(lengthOf(a)), int64(codec.Align4K(lengthOf(a))), 1)
	e.stats.dirQuota(ctx, parent, space, inodes)
}

// attachClone links the completed copy of a directory (a copy of a) into
// its parent and takes it off detachedNodes; the copy holds inodes nodes
// using space.
func (e *Engine) attachClone(ctx context.Context, parent, ino Ino, name string, a *Attr, space, inodes int64) error {
	return e.runTx(ctx, func(tx *Tx) error {
		pkey := e.keys.Inode(parent)
		pv, ok, err := tx.GetAttrBytes(pkey)
		if err != nil {
			return err
		}
		if !ok {
			return syscall.ENOENT
		}
		pattr, err := e.decodeAttr(pkey, pv)
		if err != nil {
			return err
		}
		switch {
		case pattr.Typ != codec.TypeDirectory:
			return syscall.ENOTDIR
		case pattr.Parent > TrashInode:
			return syscall.ENOENT
		case pattr.Flags&codec.FlagImmutable != 0:
			return syscall.EPERM
		}
		dkey := e.keys.Entries(parent)
		tx.ExpectFieldAbsent(dkey, name)
		if _, present := tx.KnownField(dkey, name); present {
			return syscall.EEXIST
		}
		tx.HSet(dkey, name, string(codec.Entry{Typ: codec.TypeDirectory, Inode: ino}.Marshal()))
		tx.PatchDir(pkey, &pattr, 1)
		tx.Do("ZREM", e.keys.DetachedNodes(), ino.String())
		tx.Account(func() { e.accountClonedTop(ctx, parent, a, space, inodes) })
		tx.Log("ATTACH(%d,%d,%s)", ino, parent, logEscape(name))
		return nil
	})
}
