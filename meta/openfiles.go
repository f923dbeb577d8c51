package meta

import (
	"context"
	"fmt"
	"sync"
	"syscall"

	"github.com/rueidisfs/rueidisfs/cachestore"
	"github.com/rueidisfs/rueidisfs/codec"
)

// Open flags (Linux values) that matter to the engine.
const (
	oAccMode  = 0o3
	oWronly   = 0o1
	oRdwr     = 0o2
	oTrunc    = 0o1000
	oAppend   = 0o2000
	fmodeExec = 0x20
)

// openFiles tracks the inodes this client has open. Open state is purely
// local, as in the official client: a file unlinked while open here is kept
// (sustained in session{sid}) until its last local close.
type openFiles struct {
	mu    sync.Mutex
	files map[Ino]*openFile
	hits  uint64 // reads answered from kept chunk cells (see Engine.CacheStats)
}

type openFile struct {
	refs      int
	sustained bool // unlinked while open: delete at last close
	// chunks holds the cached chunk lists read while the file is open,
	// with their layouts (see Engine.Read).
	chunks map[uint32]*cachestore.Cell
}

func (o *openFiles) init() { o.files = make(map[Ino]*openFile) }

func (o *openFiles) open(ino Ino, _ *Attr) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.files[ino]
	if f == nil {
		f = &openFile{}
		o.files[ino] = f
	}
	f.refs++
}

// close drops one reference; it reports whether the file was sustained and
// this was its last reference.
func (o *openFiles) close(ino Ino) (deleteNow bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.files[ino]
	if f == nil {
		return false
	}
	f.refs--
	if f.refs > 0 {
		return false
	}
	delete(o.files, ino)
	return f.sustained
}

func (o *openFiles) isOpen(ino Ino) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.files[ino]
	return f != nil && f.refs > 0
}

// liveChunk returns the cell of chunk indx of ino kept by keepChunk while
// it is alive (see cachestore.Cell.Valid), counting a hit; nil otherwise.
func (o *openFiles) liveChunk(ino Ino, indx uint32) *cachestore.Cell {
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.files[ino]
	if f == nil {
		return nil
	}
	c := f.chunks[indx]
	if c == nil || !c.Valid() {
		return nil
	}
	o.hits++
	return c
}

// hitCount returns how many reads liveChunk answered.
func (o *openFiles) hitCount() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits
}

// keepChunk keeps the cell of chunk indx of ino, whose memo is the chunk's
// layout, while the file is open.
func (o *openFiles) keepChunk(ino Ino, indx uint32, c *cachestore.Cell) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.files[ino]
	if f == nil {
		return
	}
	if f.chunks == nil {
		f.chunks = make(map[uint32]*cachestore.Cell)
	}
	f.chunks[indx] = c
}

func (o *openFiles) markSustained(ino Ino) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if f := o.files[ino]; f != nil {
		f.sustained = true
	}
}

// Open checks that the caller may open inode with flags (O_RDONLY, O_WRONLY,
// O_RDWR, O_TRUNC, O_APPEND; 0x20 is FMODE_EXEC) and registers it as open in
// this client. It returns the inode's attribute.
func (e *Engine) Open(ctx context.Context, ino Ino, flags uint32) (Attr, error) {
	write := flags&(oWronly|oRdwr|oTrunc|oAppend) != 0
	if e.readOnly() && write {
		return Attr{}, syscall.EROFS
	}
	attr, err := e.GetAttr(ctx, ino)
	if err != nil {
		return Attr{}, err
	}
	var mask uint8
	switch flags & oAccMode {
	case 0:
		mask = MayRead
		if flags&fmodeExec != 0 {
			mask = MayExec
		}
	case oWronly:
		mask = MayWrite
	case oRdwr:
		mask = MayRead | MayWrite
	}
	if err := e.checkAccess(ctx, CallerOf(ctx), &attr, mask); err != nil {
		return Attr{}, err
	}
	if write {
		if attr.Flags&codec.FlagImmutable != 0 || attr.Parent > TrashInode {
			return Attr{}, syscall.EPERM
		}
		if attr.Flags&codec.FlagAppend != 0 && (flags&oAppend == 0 || flags&oTrunc != 0) {
			return Attr{}, syscall.EPERM
		}
	}
	e.files.open(ino, &attr)
	if e.opts.AtimeMode != codec.AtimeNo && !e.readOnly() {
		e.touchAtime(ctx, ino)
	}
	return attr, nil
}

// Release drops one open reference taken by Open or Create (the close of a
// file handle); the last release of a file unlinked while open deletes it.
func (e *Engine) Release(ctx context.Context, ino Ino) error {
	if e.files.close(ino) {
		if sid := e.sid.Load(); sid != 0 {
			if err := e.deleteSustained(ctx, sid, ino); err != nil {
				e.log.Warn(fmt.Sprintf("delete sustained inode %d: %v", ino, err))
			}
		}
	}
	return nil
}

// deleteSustained deletes an inode kept alive by session sid: it is queued
// in delfiles, its attribute removed and the counters decremented; then its
// data is purged.
func (e *Engine) deleteSustained(ctx context.Context, sid uint64, ino Ino) error {
	var r *removal
	key := e.keys.Inode(ino)
	err := e.runTx(ctx, func(tx *Tx) error {
		r = nil
		v, ok, err := tx.Get(key)
		if err != nil || !ok {
			return err
		}
		attr, err := e.decodeAttr(key, v)
		if err != nil {
			return err
		}
		r = deletion(ino, attr)
		e.queueRemoval(tx, r, 0, e.now())
		tx.Account(func() { e.accountRemoval(r) })
		tx.Touches() // no name is removed: no directory's usage changes
		tx.Do("SREM", e.keys.Sustained(sid), ino.String())
		tx.Log("DELSUSTAINED(%d,%d)", sid, ino)
		return nil
	})
	if !applied(err) || r == nil {
		return err
	}
	e.afterRemoval(r, false)
	return err
}
