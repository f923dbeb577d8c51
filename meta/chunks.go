package meta

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

// A file's data is described chunk by chunk: c{ino}_{indx} lists the slice
// records written into the 64 MiB chunk indx, oldest first, and a later record
// hides what earlier ones put where they overlap. Write appends one record;
// Truncate, Fallocate and CopyFileRange append zero records (slice id 0) or
// copies of records; nothing but compaction and file deletion ever removes a
// record. Chunk lists are read through the client-side cache, which Redis
// invalidates when any client appends to them; the layouts built from them
// are kept with the cached values (see Read), never on their own.

// fileDelta is the change of a file's length and charged space made by one
// operation, which the accounting of its parent directories, quotas and
// owner must follow.
type fileDelta struct{ length, space int64 }

// sizeDelta returns the delta of a file going from length from to length to.
func sizeDelta(from, to uint64) fileDelta {
	return fileDelta{
		length: int64(to) - int64(from),
		space:  int64(codec.Align4K(to)) - int64(codec.Align4K(from)),
	}
}

// sliceRecord encodes one chunk list element.
func sliceRecord(pos uint32, id uint64, size, off, length uint32) string {
	var b [codec.SliceRecordSize]byte
	return string(codec.SliceRecord{Pos: pos, ID: id, Size: size, Off: off, Len: length}.Append(b[:0]))
}

// marshalAttr encodes an attribute value without an intermediate buffer on
// the heap.
func marshalAttr(a *Attr) string {
	var b [96]byte
	return string(a.Append(b[:0]))
}

// parentCount is one directory holding names of a file, with how many.
type parentCount struct {
	dir Ino
	n   int64
}

// fileParents returns the directories naming a file whose attribute has
// parent field parent: that directory once, or, for a hard-linked file
// (parent 0), every directory of p{ino} with a positive count.
func (e *Engine) fileParents(ctx context.Context, ino, parent Ino) ([]parentCount, error) {
	if parent > 0 {
		return []parentCount{{parent, 1}}, nil
	}
	key := e.keys.Parents(ino)
	m, err := e.cachedHGetAll(ctx, key)
	if err != nil {
		return nil, err
	}
	out := make([]parentCount, 0, len(m))
	for f, v := range m {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		p, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, parentCount{Ino(p), n})
	}
	return out, nil
}

// checkGrowth refuses space growth of file ino beyond its owner's user and
// group quotas (EDQUOT), the volume's capacity (ENOSPC) or a directory quota
// above any directory naming it (EDQUOT).
func (e *Engine) checkGrowth(ctx context.Context, ino Ino, a *Attr, space int64) error {
	if space <= 0 {
		return nil
	}
	if !inDirectories(a) {
		return e.stats.checkQuota(ctx, space, 0, a.Uid, a.Gid)
	}
	if a.Parent > 0 || !e.stats.format().DirStats || !e.stats.hasDirQuotas() {
		// Directory quotas are walked from the parent only when some exist.
		return e.stats.checkQuota(ctx, space, 0, a.Uid, a.Gid, a.Parent)
	}
	ps, err := e.fileParents(ctx, ino, a.Parent)
	if err != nil {
		return err
	}
	dirs := make([]Ino, len(ps))
	for i, p := range ps {
		dirs[i] = p.dir
	}
	return e.stats.checkQuota(ctx, space, 0, a.Uid, a.Gid, dirs...)
}

// inDirectories tells whether a file is in any directory: one unlinked
// while open (kept until its last close, with no name left) is in none, so
// changes of its length are charged to no directory statistics or quota
// (its unlink took its length out of its old parent's); the official
// client charges its old parent, which then drifts.
func inDirectories(a *Attr) bool { return a.Nlink > 0 }

// afterResize does the accounting that follows a committed change of a
// file's length: the volume usage, the statistics and quotas of every
// directory naming the file (weighted by its number of names there), and
// the owner's user and group usage. It is a transaction's after-commit hook
// (see commitAndAccount).
func (e *Engine) afterResize(ctx context.Context, ino Ino, a *Attr, d fileDelta) {
	if d.length == 0 && d.space == 0 {
		return
	}
	e.stats.volume(d.space, 0)
	if e.stats.format().DirStats && inDirectories(a) {
		if a.Parent > 0 {
			e.stats.dirStat(a.Parent, d.length, d.space, 0)
			e.stats.dirQuota(ctx, a.Parent, d.space, 0)
		} else if ps, err := e.fileParents(ctx, ino, 0); err != nil {
			e.log.Warn(fmt.Sprintf("parents of hard-linked inode %d: %v (directory statistics not updated)", ino, err))
		} else {
			for _, p := range ps {
				e.stats.dirStat(p.dir, d.length*p.n, d.space*p.n, 0)
				e.stats.dirQuota(ctx, p.dir, d.space*p.n, 0)
			}
		}
	}
	e.stats.userGroup(a.Uid, a.Gid, d.space, 0)
}

// Write records that bytes [off, off+s.Len) of chunk indx of file ino now
// hold bytes [s.Off, s.Off+s.Len) of slice (s.ID, s.Size), whose data the
// caller has already stored. The file grows to cover the written range; its
// mtime becomes mtime (when the data was written) and its ctime now. Flags,
// trash and permissions are not checked (they were at open time); a node
// that is not a regular file gives EPERM, a range past the chunk EINVAL, an
// end at or past codec.MaxFileLength EFBIG.
//
// No sliceRef entry is created: an absent entry means one reference. When
// the chunk list grows long, the chunk is compacted (see Options.Compact):
// in the background, or before returning once it is very long.
func (e *Engine) Write(ctx context.Context, ino Ino, indx uint32, off uint32, s codec.Slice, mtime time.Time) error {
	if uint64(off)+uint64(s.Len) > codec.ChunkSize {
		return syscall.EINVAL
	}
	if uint64(indx)*codec.ChunkSize+uint64(off)+uint64(s.Len) >= codec.MaxFileLength {
		return syscall.EFBIG
	}
	key := e.keys.Inode(ino)
	ckey := e.keys.Chunk(ino, indx)
	rec := sliceRecord(off, s.ID, s.Size, s.Off, s.Len)
	var attr Attr
	var d fileDelta
	var records int64 // the chunk list's length after the write
	err := e.runTx(ctx, func(tx *Tx) error {
		var err error
		if attr, err = e.txAttr(tx, key); err != nil {
			return err
		}
		if attr.Typ != codec.TypeFile {
			return syscall.EPERM
		}
		d = fileDelta{}
		if end := uint64(indx)*codec.ChunkSize + uint64(off) + uint64(s.Len); end > attr.Length {
			d = sizeDelta(attr.Length, end)
			attr.Length = end
		}
		if err := e.checkGrowth(ctx, ino, &attr, d.space); err != nil {
			return err
		}
		attr.Mtime, attr.Mtimensec = mtime.Unix(), uint32(mtime.Nanosecond())
		setTimes(&attr, e.now(), false, false, true)
		at := tx.WriteIndex()
		tx.Do("RPUSH", ckey, rec)
		tx.AfterResults(func(results []rueidis.RedisMessage) {
			if at < len(results) {
				records, _ = results[at].AsInt64()
			}
		})
		tx.Set(key, marshalAttr(&attr))
		if d.space > 0 {
			tx.IncrBy(e.keys.UsedSpace(), d.space)
		}
		tx.Account(func() { e.afterResize(ctx, ino, &attr, d) })
		touchParent(tx, &attr)
		if tx.Logging() {
			// The official client logs the list length before it is known: 0.
			tx.Log("WRITE(%d,%d,%d,%d,%d,%d,%d):0", ino, indx, off, s.ID, s.Len, attr.Mtime, attr.Mtimensec)
		}
		return nil
	})
	if !applied(err) {
		return err
	}
	e.compactAfterWrite(ctx, ino, indx, records)
	return err
}

// Read returns the visible layout of chunk indx of file ino (see
// codec.BuildLayout): contiguous pieces from chunk offset 0, holes as slice
// id 0, no trailing hole. A chunk without records gives an empty layout for
// a regular file, EPERM for any other node and ENOENT for a missing one. A
// malformed list is a corruption error naming its key. The inode's atime is
// touched according to the atime mode. The layout is shared with later
// reads of the same chunk and must not be modified.
//
// The layout is built once per cached chunk list and kept with it (see
// cachestore.Cell): Redis' invalidation of the list, or this client's own
// write to it, drops both. A file open in this client keeps the cells of
// the chunks it read, so that reading it again costs a map lookup, as
// with the official client's open-file cache, and stays exact.
func (e *Engine) Read(ctx context.Context, ino Ino, indx uint32) ([]codec.Slice, error) {
	layout, err := e.readLayout(ctx, ino, indx)
	if err != nil {
		return nil, err
	}
	if e.opts.AtimeMode != codec.AtimeNo && !e.readOnly() {
		e.touchAtime(ctx, ino)
	}
	return layout, nil
}

// chunkLayout is the decoded form of a cached chunk list.
type chunkLayout struct{ layout []codec.Slice }

func (e *Engine) readLayout(ctx context.Context, ino Ino, indx uint32) ([]codec.Slice, error) {
	if c := e.files.liveChunk(ino, indx); c != nil {
		return c.Memo().(*chunkLayout).layout, nil
	}
	key := e.keys.Chunk(ino, indx)
	var vals []string
	c := e.cachedCell(key, cmdLRange, lrangeAllArg)
	if c != nil {
		if m, ok := c.Memo().(*chunkLayout); ok {
			e.files.keepChunk(ino, indx, c)
			return m.layout, nil
		}
		msg := c.Message()
		l, err := msg.AsStrSlice()
		if err != nil {
			return nil, e.redisErr("LRANGE "+key, err)
		}
		vals = l
	} else {
		l, err := e.cachedLRange(ctx, key)
		if err != nil {
			return nil, err
		}
		vals = l
	}
	if len(vals) == 0 {
		a, err := e.GetAttr(ctx, ino)
		if err != nil {
			return nil, err
		}
		if a.Typ != codec.TypeFile {
			return nil, syscall.EPERM
		}
		return nil, nil
	}
	recs, err := codec.UnmarshalSliceRecords(vals)
	if err != nil {
		return nil, corrupt(key, err)
	}
	layout := codec.BuildLayout(recs)
	if len(recs) >= readCompactAt || len(layout) >= readCompactAt {
		e.compactInBackground(ino, indx)
	}
	if c != nil {
		c.SetMemo(&chunkLayout{layout})
		e.files.keepChunk(ino, indx, c)
	}
	return layout, nil
}

// InvalidateChunkCache drops this client's cached copy of chunk indx of file
// ino, so that the next Read fetches it from Redis. Redis invalidates cached
// chunk lists by itself whenever any client changes them; this is for
// callers that have reason to distrust what they read (a failed data read).
func (e *Engine) InvalidateChunkCache(_ context.Context, ino Ino, indx uint32) error {
	e.cache.Invalidate(e.keys.Chunk(ino, indx))
	return nil
}

// cachedLRanges reads several chunk lists at once through the client-side
// cache (one round trip for those not cached).
func (e *Engine) cachedLRanges(ctx context.Context, keys []string) ([][]string, error) {
	out := make([][]string, len(keys))
	for i, r := range e.readCachedKeys(ctx, keys, cmdLRange, lrangeAllArg, e.lrangeAll) {
		l, err := r.AsStrSlice()
		if err != nil {
			return nil, e.redisErr("LRANGE "+keys[i], err)
		}
		out[i] = l
	}
	return out, nil
}
