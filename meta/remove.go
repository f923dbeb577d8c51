package meta

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// removal describes what happens to a node that loses a name (unlink, batch
// unlink, rename over it): it survives (other links, or moved to the trash),
// is sustained (last link of a file this client has open), or is deleted.
type removal struct {
	ino       Ino
	typ       codec.FileType
	entry     string // the 9-byte entry value of the removed name
	attr      Attr
	hasAttr   bool
	trash     Ino // hour directory the node moves to, 0 for none
	trashName string
	opened    bool
}

// deleted reports whether the node lost its last link (deleted or sustained).
func (r *removal) deleted() bool { return r.attr.Nlink == 0 }

// space is what the node is charged in the accounting keys.
func (r *removal) space() int64 {
	if r.typ == codec.TypeFile {
		return int64(codec.Align4K(r.attr.Length))
	}
	return 4096
}

func (r *removal) length() int64 {
	if r.typ == codec.TypeFile {
		return int64(r.attr.Length)
	}
	return 0
}

// decide applies the removal to the node's attribute: ctime, link count or
// trash parent. trashName collisions of hard links must have been checked.
func (e *Engine) decideRemoval(r *removal, now time.Time) {
	if !r.hasAttr {
		r.trash = 0
		r.attr = Attr{Typ: r.typ}
		return
	}
	setTimes(&r.attr, now, false, false, true)
	if r.trash == 0 {
		if r.attr.Nlink > 0 {
			r.attr.Nlink--
		}
		if r.typ == codec.TypeFile && r.attr.Nlink == 0 && e.sid.Load() != 0 {
			r.opened = e.files.isOpen(r.ino)
		}
	} else if r.attr.Parent > 0 {
		r.attr.Parent = r.trash
	}
}

// queueRemoval queues the writes of a decided removal of a name in parent.
func (e *Engine) queueRemoval(tx *Tx, r *removal, parent Ino, now time.Time) {
	ikey := e.keys.Inode(r.ino)
	pkey := e.keys.Parents(r.ino)
	if r.attr.Nlink > 0 {
		tx.Set(ikey, string(r.attr.Marshal()))
		if r.trash != 0 {
			tx.HSet(e.keys.Entries(r.trash), r.trashName, r.entry)
			if r.attr.Parent == 0 {
				tx.HIncrBy(pkey, r.trash.String(), 1)
			}
		}
		if r.attr.Parent == 0 {
			tx.HIncrBy(pkey, parent.String(), -1)
		}
		return
	}
	switch {
	case r.typ == codec.TypeFile && r.opened:
		tx.Set(ikey, string(r.attr.Marshal()))
		tx.Do("SADD", e.keys.Sustained(e.sid.Load()), r.ino.String())
	case r.typ == codec.TypeFile:
		tx.Do("ZADD", e.keys.DelFiles(), strconv.FormatInt(now.Unix(), 10), codec.DelFileMember(r.ino, r.attr.Length))
		tx.Del(ikey)
		tx.IncrBy(e.keys.UsedSpace(), -r.space())
		tx.IncrBy(e.keys.TotalInodes(), -1)
	default:
		if r.typ == codec.TypeSymlink {
			tx.Del(e.keys.Symlink(r.ino))
		}
		tx.Del(ikey)
		tx.IncrBy(e.keys.UsedSpace(), -4096)
		tx.IncrBy(e.keys.TotalInodes(), -1)
	}
	tx.Del(e.keys.Xattrs(r.ino))
	if r.attr.Parent == 0 {
		tx.Del(pkey)
	}
}

// afterRemoval does the accounting and cleanup that follows a committed
// removal of a name in parent (dir stats of parent are the caller's).
func (e *Engine) afterRemoval(ctx context.Context, r *removal, parentInTrash bool) {
	if r.trash != 0 {
		e.stats.dirStat(r.trash, r.length(), r.space(), 1)
		return
	}
	if !r.deleted() {
		return
	}
	if r.typ == codec.TypeFile && r.opened {
		e.files.markSustained(r.ino)
		return
	}
	e.stats.volume(-r.space(), -1)
	e.stats.userGroup(r.attr.Uid, r.attr.Gid, -r.space(), -1)
	if r.typ == codec.TypeFile {
		e.deleteFileDataAsync(r.ino, r.attr.Length, parentInTrash)
	}
}

// checkTrashCollision: a hard-linked node whose trash name is already taken
// in the hour directory (another of its names was deleted this hour from the
// same directory) just loses a link instead of going to the trash.
func (e *Engine) checkTrashCollision(tx *Tx, r *removal) error {
	if r.trash == 0 || !r.hasAttr || r.attr.Nlink <= 1 {
		return nil
	}
	_, present, err := tx.HGetLikelyAbsent(e.keys.Entries(r.trash), r.trashName)
	if err != nil {
		return err
	}
	if present {
		r.trash = 0
	}
	return nil
}

// Unlink removes a non-directory name. With the trash enabled the node moves
// to the trash (unless skipTrash, the parent is already in the trash, or the
// node has the skip-trash flag); otherwise it loses a link and, at the last
// one, is deleted (or kept until this client closes it, if open).
func (e *Engine) Unlink(ctx context.Context, parent Ino, name string, skipTrash bool) error {
	if parent == 0 {
		parent = RootInode
	}
	c := CallerOf(ctx)
	if parent == RootInode && name == TrashName || parent.IsTrash() && c.Uid != 0 {
		return syscall.EPERM
	}
	if e.readOnly {
		return syscall.EROFS
	}
	var trash Ino
	if !skipTrash && !parent.IsTrash() {
		var err error
		if trash, err = e.trashDir(ctx); err != nil {
			return err
		}
	}
	var r *removal
	err := e.runTx(ctx, func(tx *Tx) error {
		dkey := e.keys.Entries(parent)
		ent, ev, err := e.txEntry(tx, dkey, name)
		if err != nil {
			return err
		}
		if ent.Typ == codec.TypeDirectory {
			return syscall.EPERM
		}
		pkey, ikey := e.keys.Inode(parent), e.keys.Inode(ent.Inode)
		pattr, err := e.txRemovalParent(ctx, tx, c, pkey)
		if err != nil {
			return err
		}
		r = &removal{ino: ent.Inode, typ: ent.Typ, entry: ev, trash: trash,
			trashName: codec.TrashEntryName(parent, ent.Inode, name)}
		iv, iok, err := tx.Get(ikey)
		if err != nil {
			return err
		}
		if iok {
			if r.attr, err = e.decodeAttr(ikey, iv); err != nil {
				return err
			}
			r.hasAttr = true
			if stickyForbids(c, &pattr, &r.attr) {
				return syscall.EACCES
			}
			if r.attr.Flags&(codec.FlagAppend|codec.FlagImmutable) != 0 {
				return syscall.EPERM
			}
			if r.attr.Flags&codec.FlagSkipTrash != 0 {
				r.trash = 0
			}
			if err := e.checkTrashCollision(tx, r); err != nil {
				return err
			}
		} else {
			e.log.Warn(fmt.Sprintf("no attribute for inode %d (%d, %s)", ent.Inode, parent, name))
		}
		now := time.Now()
		e.decideRemoval(r, now)
		tx.HDel(dkey, name)
		if !parent.IsTrash() {
			tx.PatchDir(pkey, &pattr, 0)
		}
		e.queueRemoval(tx, r, parent, now)
		tx.Log("UNLINK(%d,%s,%d,%t,true):%d", parent, logEscape(name), r.trash, r.opened, r.ino)
		return nil
	})
	if err != nil {
		return err
	}
	e.afterRemoval(ctx, r, parent.IsTrash())
	e.stats.dirStat(parent, -r.length(), -r.space(), -1)
	if !parent.IsTrash() {
		e.stats.dirQuota(ctx, parent, -r.space(), -1)
	}
	return nil
}

// Rmdir removes an empty directory (to the trash when enabled).
func (e *Engine) Rmdir(ctx context.Context, parent Ino, name string, skipTrash bool) error {
	if parent == 0 {
		parent = RootInode
	}
	c := CallerOf(ctx)
	switch {
	case name == ".":
		return syscall.EINVAL
	case name == "..":
		return syscall.ENOTEMPTY
	case parent == RootInode && name == TrashName, parent == TrashInode, parent.IsTrash() && c.Uid != 0:
		return syscall.EPERM
	}
	if e.readOnly {
		return syscall.EROFS
	}
	var trash Ino
	if !skipTrash && !parent.IsTrash() {
		var err error
		if trash, err = e.trashDir(ctx); err != nil {
			return err
		}
	}
	var ino Ino
	var attr Attr
	var hasAttr bool
	useTrash := Ino(0)
	err := e.runTx(ctx, func(tx *Tx) error {
		useTrash, hasAttr = trash, false
		dkey := e.keys.Entries(parent)
		ent, ev, err := e.txEntry(tx, dkey, name)
		if err != nil {
			return err
		}
		if ent.Typ != codec.TypeDirectory {
			return syscall.ENOTDIR
		}
		ino = ent.Inode
		pkey, ikey := e.keys.Inode(parent), e.keys.Inode(ino)
		pattr, err := e.txRemovalParent(ctx, tx, c, pkey)
		if err != nil {
			return err
		}
		if nonEmpty, err := tx.ExistsLikelyNot(e.keys.Entries(ino)); err != nil {
			return err
		} else if nonEmpty {
			return syscall.ENOTEMPTY
		}
		iv, iok, err := tx.Get(ikey)
		if err != nil {
			return err
		}
		now := time.Now()
		if iok {
			if attr, err = e.decodeAttr(ikey, iv); err != nil {
				return err
			}
			hasAttr = true
			if stickyForbids(c, &pattr, &attr) {
				return syscall.EACCES
			}
			if attr.Flags&codec.FlagSkipTrash != 0 {
				useTrash = 0
			}
			if useTrash != 0 {
				setTimes(&attr, now, false, false, true)
				attr.Parent = useTrash
			}
		} else {
			e.log.Warn(fmt.Sprintf("no attribute for inode %d (%d, %s)", ino, parent, name))
			useTrash = 0
		}
		tx.HDel(dkey, name)
		if !parent.IsTrash() {
			tx.PatchDir(pkey, &pattr, -1)
		}
		if useTrash != 0 {
			tx.Set(ikey, string(attr.Marshal()))
			tx.HSet(e.keys.Entries(useTrash), codec.TrashEntryName(parent, ino, name), ev)
		} else {
			tx.Del(ikey)
			tx.Del(e.keys.Xattrs(ino))
			tx.IncrBy(e.keys.UsedSpace(), -4096)
			tx.IncrBy(e.keys.TotalInodes(), -1)
		}
		e.queueDropDirStats(tx, ino)
		tx.Log("RMDIR(%d,%s,%d):%d", parent, logEscape(name), useTrash, ino)
		return nil
	})
	if err != nil {
		return err
	}
	if useTrash != 0 {
		e.stats.dirStat(useTrash, 0, 4096, 1)
	} else {
		e.stats.volume(-4096, -1)
		if hasAttr {
			e.stats.userGroup(attr.Uid, attr.Gid, -4096, -1)
		}
	}
	e.stats.dirStat(parent, 0, -4096, -1)
	e.stats.dirQuota(ctx, parent, -4096, -1)
	if !parent.IsTrash() {
		e.stats.forgetParent(ino)
	}
	return nil
}

// queueDropDirStats deletes a removed directory's statistics and quota.
func (e *Engine) queueDropDirStats(tx *Tx, dir Ino) {
	f := dir.String()
	for _, k := range []string{e.keys.DirDataLength(), e.keys.DirUsedSpace(), e.keys.DirUsedInodes(),
		e.keys.DirQuota(), e.keys.DirQuotaUsedSpace(), e.keys.DirQuotaUsedInodes()} {
		tx.HDel(k, f)
	}
}

// Entry is a directory entry as returned by Readdir.
type Entry struct {
	Inode Ino
	Name  string
	Attr  Attr // with Readdir(plus=false) only Typ is set
}

// batchUnlinkSize bounds the entries removed in one transaction.
const batchUnlinkSize = 250

// BatchUnlink removes many non-directory entries of one directory (recursive
// removal, trash cleanup), batchUnlinkSize per transaction. Entries that
// vanished, changed inode or type, or are directories are skipped silently.
// It returns the number of entries attempted (skipped ones included).
func (e *Engine) BatchUnlink(ctx context.Context, parent Ino, entries []Entry, skipTrash bool) (int, error) {
	count := 0
	var dirDelta dirStatDelta
	for len(entries) > 0 {
		n := min(batchUnlinkSize, len(entries))
		batch := entries[:n]
		entries = entries[n:]
		var trash Ino
		if !skipTrash && !parent.IsTrash() {
			var err error
			if trash, err = e.trashDir(ctx); err != nil {
				return count, err
			}
		}
		removed, err := e.batchUnlinkOnce(ctx, parent, batch, trash)
		if err != nil {
			return count, err
		}
		for _, r := range removed {
			e.afterRemoval(ctx, r, parent.IsTrash())
			dirDelta.length -= r.length()
			dirDelta.space -= r.space()
			dirDelta.inodes--
		}
		count += n
	}
	e.stats.dirStat(parent, dirDelta.length, dirDelta.space, dirDelta.inodes)
	if !parent.IsTrash() {
		e.stats.dirQuota(ctx, parent, dirDelta.space, dirDelta.inodes)
	}
	return count, nil
}

func (e *Engine) batchUnlinkOnce(ctx context.Context, parent Ino, batch []Entry, trash Ino) ([]*removal, error) {
	c := CallerOf(ctx)
	var removed []*removal
	err := e.runTx(ctx, func(tx *Tx) error {
		removed = removed[:0]
		pkey, dkey := e.keys.Inode(parent), e.keys.Entries(parent)
		pattr, err := e.txRemovalParent(ctx, tx, c, pkey)
		if err != nil {
			return err
		}
		// Current entries, then the attributes of the nodes they name.
		var live []*removal
		var names []string
		for _, be := range batch {
			ev, ok, err := tx.HGet(dkey, be.Name)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			ent, err := e.decodeEntry(dkey, be.Name, ev)
			if err != nil {
				return err
			}
			if ent.Inode != be.Inode || ent.Typ == codec.TypeDirectory || (be.Attr.Typ != 0 && ent.Typ != be.Attr.Typ) {
				continue
			}
			live = append(live, &removal{ino: ent.Inode, typ: ent.Typ, entry: ev, trash: trash,
				trashName: codec.TrashEntryName(parent, ent.Inode, be.Name)})
			names = append(names, be.Name)
		}
		keys := make([]string, len(live))
		for i, r := range live {
			keys[i] = e.keys.Inode(r.ino)
		}
		vals, present, err := tx.MGet(keys...)
		if err != nil {
			return err
		}
		now := time.Now()
		// The same inode may appear under several names: each removal sees
		// the attribute as left by the previous one.
		latest := map[Ino]*removal{}
		for i, r := range live {
			if prev := latest[r.ino]; prev != nil {
				r.attr, r.hasAttr = prev.attr, prev.hasAttr
			} else if present[i] {
				if r.attr, err = e.decodeAttr(keys[i], vals[i]); err != nil {
					return err
				}
				r.hasAttr = true
			}
			if r.hasAttr {
				if stickyForbids(c, &pattr, &r.attr) {
					return syscall.EACCES
				}
				if r.attr.Flags&(codec.FlagAppend|codec.FlagImmutable) != 0 {
					return syscall.EPERM
				}
				if r.attr.Flags&codec.FlagSkipTrash != 0 {
					r.trash = 0
				}
				if err := e.checkTrashCollision(tx, r); err != nil {
					return err
				}
			}
			e.decideRemoval(r, now)
			latest[r.ino] = r
		}
		if len(live) == 0 {
			return nil
		}
		tx.HDel(dkey, names...)
		if !parent.IsTrash() {
			tx.PatchDir(pkey, &pattr, 0)
		}
		for _, r := range live {
			if latest[r.ino] != r && r.attr.Nlink > 0 && r.trash == 0 {
				// Superseded by a later removal of the same inode in this
				// batch, which writes the final attribute; keep the
				// per-name parent bookkeeping.
				if r.attr.Parent == 0 {
					tx.HIncrBy(e.keys.Parents(r.ino), parent.String(), -1)
				}
				continue
			}
			e.queueRemoval(tx, r, parent, now)
		}
		removed = live
		tx.Log("UNLINKBATCH(%d,%s,%d,true)", parent, logEscapeList(names), trash)
		return nil
	})
	return removed, err
}
