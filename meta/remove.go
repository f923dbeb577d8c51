package meta

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// removal describes what happens to a node that loses a name (unlink, rmdir,
// batch unlink, rename over it): it survives (other links, or moved to the
// trash), is sustained (last link of a file this client has open), or is
// deleted. Every operation that removes a name goes through the same steps:
// txRemovedNode reads the node, checkRemoval applies the rules, decideRemoval
// changes its attribute, queueRemoval writes, accountRemoval accounts (an
// after-commit hook of the transaction) and afterRemoval cleans up.
type removal struct {
	ino       Ino
	ikey      string // the node's attribute key, once known
	typ       codec.FileType
	entry     string // the 9-byte entry value of the removed name
	attr      Attr
	hasAttr   bool
	trash     Ino // hour directory the node moves to, 0 for none
	trashName string
	opened    bool
}

// newRemoval describes the removal of name (naming ent, stored as ev) from
// parent, moving the node to trash (0: none) when the rules allow it.
func newRemoval(parent Ino, name string, ent codec.Entry, ev string, trash Ino) *removal {
	r := &removal{ino: ent.Inode, typ: ent.Typ, entry: ev, trash: trash}
	if trash != 0 {
		r.trashName = codec.TrashEntryName(parent, ent.Inode, name)
	}
	return r
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

// txRemovedNode reads, within tx, the attribute of the node r removes (the
// name of parent); without one the removal goes on, as the official client
// does, and is logged once it committed (an attempt that read a name
// another client just removed sees no attribute too, and is decided again
// when its commit finds the name changed).
func (e *Engine) txRemovedNode(tx *Tx, r *removal, parent Ino, name string) error {
	ikey := e.removedKey(r)
	v, ok, err := tx.Get(ikey)
	if err != nil {
		return err
	}
	if !ok {
		tx.After(func() {
			e.log.Warn(fmt.Sprintf("no attribute for inode %d (%d, %s)", r.ino, parent, name))
		})
		return nil
	}
	if r.attr, err = e.decodeAttr(ikey, v); err != nil {
		return err
	}
	r.hasAttr = true
	return nil
}

// checkRemoval applies the rules on the node of r losing its name in
// directory pattr, as caller c: in a sticky directory only root and the
// owners of the directory or of the node may remove it (EACCES); an
// append-only or immutable node cannot lose a name (EPERM; the official
// client does not check this for rmdir, nor do we); a node with the
// skip-trash flag is not moved to the trash; and a hard link whose trash
// name is already taken (another of its names was deleted from the same
// directory this hour) just loses a link instead of going to the trash.
func (e *Engine) checkRemoval(tx *Tx, c Caller, pattr *Attr, r *removal, rmdir bool) error {
	if !r.hasAttr {
		return nil
	}
	if stickyForbids(c, pattr, &r.attr) {
		return syscall.EACCES
	}
	if !rmdir && r.attr.Flags&(codec.FlagAppend|codec.FlagImmutable) != 0 {
		return syscall.EPERM
	}
	if r.attr.Flags&codec.FlagSkipTrash != 0 {
		r.trash = 0
	}
	if r.trash == 0 || r.typ == codec.TypeDirectory || r.attr.Nlink <= 1 {
		return nil
	}
	_, taken, err := tx.HGetLikelyAbsent(e.keys.Entries(r.trash), r.trashName)
	if taken {
		r.trash = 0
	}
	return err
}

// removedKey returns the attribute key of the node of r.
func (e *Engine) removedKey(r *removal) string {
	if r.ikey == "" {
		r.ikey = e.keys.Inode(r.ino)
	}
	return r.ikey
}

// decideRemoval applies the removal to the node's attribute: ctime, and
// the trash parent, or one link less (a directory: all of them).
func (e *Engine) decideRemoval(r *removal, now time.Time) {
	if !r.hasAttr {
		r.trash = 0
		r.attr = Attr{Typ: r.typ}
		return
	}
	setTimes(&r.attr, now, false, false, true)
	switch {
	case r.trash != 0:
		if r.attr.Parent > 0 {
			r.attr.Parent = r.trash
		}
	case r.typ == codec.TypeDirectory:
		r.attr.Nlink = 0
	default:
		if r.attr.Nlink > 0 {
			r.attr.Nlink--
		}
		if r.typ == codec.TypeFile && r.attr.Nlink == 0 && e.sid.Load() != 0 {
			r.opened = e.files.isOpen(r.ino)
		}
	}
}

// queueRemoval queues the writes of a decided removal of a name in parent
// (the entry itself and the parent's attribute are the caller's).
func (e *Engine) queueRemoval(tx *Tx, r *removal, parent Ino, now time.Time) {
	ikey := e.removedKey(r)
	pkey := e.keys.Parents(r.ino)
	if r.typ == codec.TypeDirectory {
		if r.trash != 0 {
			tx.Set(ikey, marshalAttr(&r.attr))
			tx.HSet(e.keys.Entries(r.trash), r.trashName, r.entry)
			e.queueDropDirStats(tx, r.ino)
		} else {
			e.queueDeleteDir(tx, r.ino)
		}
		return
	}
	if r.attr.Nlink > 0 {
		tx.Set(ikey, marshalAttr(&r.attr))
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
		tx.Set(ikey, marshalAttr(&r.attr))
		tx.Do("SADD", e.keys.Sustained(e.sid.Load()), r.ino.String())
	case r.typ == codec.TypeFile:
		if r.attr.Length > 0 {
			// Queued for the purge of its data (see deleteFileData). An
			// empty file has none: the official client queues it too and
			// its purge only takes it out again.
			tx.Do("ZADD", e.keys.DelFiles(), strconv.FormatInt(now.Unix(), 10), codec.DelFileMember(r.ino, r.attr.Length))
		}
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

// accountRemoval does the accounting that follows a committed removal
// (the statistics of the directory that lost the name are the caller's, see
// afterNamesRemoved). It is an after-commit hook (see commitAndAccount).
func (e *Engine) accountRemoval(r *removal) {
	if r.typ == codec.TypeDirectory {
		e.stats.forgetParent(r.ino)
	}
	if r.trash != 0 {
		if r.typ == codec.TypeDirectory {
			// Its statistics were dropped with it (queueRemoval).
			e.stats.dropPending(r.ino)
		}
		e.stats.dirStat(r.trash, r.length(), r.space(), 1)
		return
	}
	if r.deleted() && (r.typ != codec.TypeFile || !r.opened) {
		e.afterDelete(r)
	}
}

// afterRemoval does the cleanup that follows a committed and accounted
// removal: the data of a deleted file is purged, unless this client still
// has it open (it is sustained until its last close).
func (e *Engine) afterRemoval(r *removal, parentInTrash bool) {
	if r.trash != 0 || !r.deleted() || r.typ != codec.TypeFile {
		return
	}
	if r.opened {
		e.files.markSustained(r.ino)
		return
	}
	if r.attr.Length > 0 {
		e.deleteFileDataAsync(r.ino, r.attr.Length, parentInTrash)
	}
}

// afterDelete accounts the committed deletion of the node of r (its data
// is the caller's).
func (e *Engine) afterDelete(r *removal) {
	if r.typ == codec.TypeDirectory {
		e.afterDeleteDir(r.ino, r.hasAttr, &r.attr)
		return
	}
	e.stats.volume(-r.space(), -1)
	if r.hasAttr {
		e.stats.userGroup(r.attr.Uid, r.attr.Gid, -r.space(), -1)
	}
}

// deletion describes the deletion of an inode no name refers to any more
// (a leaked one, a sustained one at its last close): a removal of its last
// link.
func deletion(ino Ino, attr Attr) *removal {
	attr.Nlink = 0
	return &removal{ino: ino, typ: attr.Typ, attr: attr, hasAttr: true}
}

// afterNamesRemoved accounts names removed from directory parent: its
// statistics and, outside the trash, the directory quotas above it.
func (e *Engine) afterNamesRemoved(ctx context.Context, parent Ino, d dirStatDelta) {
	e.stats.dirStat(parent, d.length, d.space, d.inodes)
	if !parent.IsTrash() {
		e.stats.dirQuota(ctx, parent, d.space, d.inodes)
	}
}

// removedDelta is what removing the name of r takes from its directory.
func (r *removal) removedDelta() dirStatDelta {
	return dirStatDelta{length: -r.length(), space: -r.space(), inodes: -1}
}

// queueDeleteDir queues the deletion of directory ino's inode: its
// attribute and extended attributes, its statistics and quota, and its
// share of the volume counters. The directory must be empty.
func (e *Engine) queueDeleteDir(tx *Tx, ino Ino) {
	tx.Del(e.keys.Inode(ino))
	tx.Del(e.keys.Xattrs(ino))
	tx.IncrBy(e.keys.UsedSpace(), -4096)
	tx.IncrBy(e.keys.TotalInodes(), -1)
	e.queueDropDirStats(tx, ino)
}

// afterDeleteDir accounts the committed deletion of directory ino (attr is
// its attribute when hasAttr): volume usage, the owner's quotas, and
// whatever this client still had pending for it.
func (e *Engine) afterDeleteDir(ino Ino, hasAttr bool, attr *Attr) {
	e.stats.volume(-4096, -1)
	if hasAttr {
		e.stats.userGroup(attr.Uid, attr.Gid, -4096, -1)
	}
	e.stats.dropPending(ino)
	e.stats.forgetParent(ino)
}

// queueDropDirStats deletes a removed directory's statistics and quota.
// When this client knows the directory has a quota, the quota also gets a
// new count token, as `quota delete` gives it: the usage clients charged to
// it and have not flushed is then dropped by their flushes instead of
// recreating the quota. The commit re-checks that knowledge: a quota stored
// by rueidisfs (`quota set`, `quota check --repair`) changes the quota
// fence, which every transaction with accounting re-checks, and a client
// learns the fence by reloading the quotas; a transaction without
// accounting (trash cleanup) removes directories no quota may be set on.
// So a directory without a quota costs nothing more.
func (e *Engine) queueDropDirStats(tx *Tx, dir Ino) {
	f := dir.String()
	for _, k := range []string{e.keys.DirDataLength(), e.keys.DirUsedSpace(), e.keys.DirUsedInodes(),
		e.keys.DirQuota(), e.keys.DirQuotaUsedSpace(), e.keys.DirQuotaUsedInodes()} {
		tx.HDel(k, f)
	}
	if e.stats.dirQuotaOf(dir) != nil {
		tx.HSet(e.keys.QuotaCounts(), f, deletedToken())
	}
}

// removalTrash returns the trash hour directory a removal from parent moves
// nodes to: 0 with skipTrash, inside the trash, or with the trash disabled.
func (e *Engine) removalTrash(ctx context.Context, parent Ino, skipTrash bool) (Ino, error) {
	if skipTrash || parent.IsTrash() {
		return 0, nil
	}
	return e.trashDir(ctx)
}

// Unlink removes a non-directory name. With the trash enabled the node moves
// to the trash (unless skipTrash, the parent is already in the trash, or the
// node has the skip-trash flag); otherwise it loses a link and, at the last
// one, is deleted (or kept until this client closes it, if open).
func (e *Engine) Unlink(ctx context.Context, parent Ino, name string, skipTrash bool) error {
	if parent == 0 {
		parent = RootInode
	}
	if parent == RootInode && name == TrashName || parent.IsTrash() && CallerOf(ctx).Uid != 0 {
		return syscall.EPERM
	}
	return e.removeName(ctx, parent, name, skipTrash, false)
}

// Rmdir removes an empty directory (to the trash when enabled).
func (e *Engine) Rmdir(ctx context.Context, parent Ino, name string, skipTrash bool) error {
	if parent == 0 {
		parent = RootInode
	}
	switch {
	case name == ".":
		return syscall.EINVAL
	case name == "..":
		return syscall.ENOTEMPTY
	case parent == RootInode && name == TrashName, parent == TrashInode, parent.IsTrash() && CallerOf(ctx).Uid != 0:
		return syscall.EPERM
	}
	return e.removeName(ctx, parent, name, skipTrash, true)
}

// removeName removes name from parent: a non-directory (Unlink) or, with
// dir, an empty directory (Rmdir).
func (e *Engine) removeName(ctx context.Context, parent Ino, name string, skipTrash, dir bool) error {
	if e.readOnly() {
		return syscall.EROFS
	}
	trash, err := e.removalTrash(ctx, parent, skipTrash)
	if err != nil {
		return err
	}
	c := CallerOf(ctx)
	pkey, dkey := e.keys.Inode(parent), e.keys.Entries(parent)
	var r *removal
	err = e.runTx(ctx, func(tx *Tx) error {
		ent, ev, err := e.txEntry(tx, dkey, name)
		if err != nil {
			return err
		}
		switch {
		case !dir && ent.Typ == codec.TypeDirectory:
			return syscall.EPERM
		case dir && ent.Typ != codec.TypeDirectory:
			return syscall.ENOTDIR
		}
		pattr, err := e.txParentDir(ctx, tx, c, pkey, dirRemoveName)
		if err != nil {
			return err
		}
		if dir {
			if nonEmpty, err := tx.ExistsLikelyNot(e.keys.Entries(ent.Inode)); err != nil {
				return err
			} else if nonEmpty {
				return syscall.ENOTEMPTY
			}
		}
		r = newRemoval(parent, name, ent, ev, trash)
		if err := e.txRemovedNode(tx, r, parent, name); err != nil {
			return err
		}
		if err := e.checkRemoval(tx, c, &pattr, r, dir); err != nil {
			return err
		}
		now := e.now()
		e.decideRemoval(r, now)
		tx.HDel(dkey, name)
		if !parent.IsTrash() {
			nlinkDelta := 0
			if dir {
				nlinkDelta = -1
			}
			tx.PatchDir(pkey, &pattr, nlinkDelta)
		}
		e.queueRemoval(tx, r, parent, now)
		tx.Account(func() {
			e.accountRemoval(r)
			e.afterNamesRemoved(ctx, parent, r.removedDelta())
		})
		tx.Touches(parent)
		switch {
		case !tx.Logging():
		case dir:
			tx.Log("RMDIR(%d,%s,%d):%d", parent, logEscape(name), r.trash, r.ino)
		default:
			tx.Log("UNLINK(%d,%s,%d,%t,true):%d", parent, logEscape(name), r.trash, r.opened, r.ino)
		}
		return nil
	})
	if !applied(err) {
		return err
	}
	e.afterRemoval(r, parent.IsTrash())
	return err
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
	for len(entries) > 0 {
		n := min(batchUnlinkSize, len(entries))
		batch := entries[:n]
		entries = entries[n:]
		trash, err := e.removalTrash(ctx, parent, skipTrash)
		if err != nil {
			return count, err
		}
		removed, err := e.batchUnlinkOnce(ctx, parent, batch, trash)
		if err != nil {
			return count, err
		}
		for _, r := range removed {
			e.afterRemoval(r, parent.IsTrash())
		}
		count += n
	}
	return count, nil
}

// batchUnlinkOnce removes one batch of entries of parent in one
// transaction and returns the removals made.
func (e *Engine) batchUnlinkOnce(ctx context.Context, parent Ino, batch []Entry, trash Ino) ([]*removal, error) {
	c := CallerOf(ctx)
	var removed []*removal
	err := e.runTx(ctx, func(tx *Tx) error {
		removed = nil
		pkey, dkey := e.keys.Inode(parent), e.keys.Entries(parent)
		pattr, err := e.txParentDir(ctx, tx, c, pkey, dirRemoveName)
		if err != nil {
			return err
		}
		live, names, err := e.txBatchEntries(tx, parent, batch, trash)
		if err != nil || len(live) == 0 {
			return err
		}
		latest, err := e.txBatchDecide(tx, c, &pattr, live)
		if err != nil {
			return err
		}
		tx.HDel(dkey, names...)
		if !parent.IsTrash() {
			tx.PatchDir(pkey, &pattr, 0)
		}
		now := e.now()
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
		tx.Touches(parent)
		tx.Account(func() {
			var d dirStatDelta
			for _, r := range live {
				e.accountRemoval(r)
				rd := r.removedDelta()
				d.length += rd.length
				d.space += rd.space
				d.inodes += rd.inodes
			}
			e.afterNamesRemoved(ctx, parent, d)
		})
		tx.Log("UNLINKBATCH(%d,%s,%d,true)", parent, logEscapeList(names), trash)
		return nil
	})
	return removed, err
}

// txBatchEntries reads, within tx, the current entries of a batch and the
// attributes of the nodes they name: the removals still to make (entries
// that vanished, changed inode or type, or name directories are left out)
// and their names.
func (e *Engine) txBatchEntries(tx *Tx, parent Ino, batch []Entry, trash Ino) ([]*removal, []string, error) {
	dkey := e.keys.Entries(parent)
	var live []*removal
	var names []string
	for _, be := range batch {
		ev, ok, err := tx.HGet(dkey, be.Name)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		ent, err := e.decodeEntry(dkey, be.Name, ev)
		if err != nil {
			return nil, nil, err
		}
		if ent.Inode != be.Inode || ent.Typ == codec.TypeDirectory || (be.Attr.Typ != 0 && ent.Typ != be.Attr.Typ) {
			continue
		}
		live = append(live, newRemoval(parent, be.Name, ent, ev, trash))
		names = append(names, be.Name)
	}
	keys := make([]string, len(live))
	for i, r := range live {
		keys[i] = e.keys.Inode(r.ino)
	}
	vals, present, err := tx.MGet(keys...)
	if err != nil {
		return nil, nil, err
	}
	for i, r := range live {
		if !present[i] {
			continue
		}
		if r.attr, err = e.decodeAttr(keys[i], vals[i]); err != nil {
			return nil, nil, err
		}
		r.hasAttr = true
	}
	return live, names, nil
}

// txBatchDecide checks and decides the removals of a batch in order. The
// same inode may appear under several names: each removal sees the
// attribute as left by the previous one, and latest maps every inode to its
// last removal.
func (e *Engine) txBatchDecide(tx *Tx, c Caller, pattr *Attr, live []*removal) (latest map[Ino]*removal, err error) {
	now := e.now()
	latest = map[Ino]*removal{}
	for _, r := range live {
		if prev := latest[r.ino]; prev != nil {
			r.attr, r.hasAttr = prev.attr, prev.hasAttr
		}
		if err := e.checkRemoval(tx, c, pattr, r, false); err != nil {
			return nil, err
		}
		e.decideRemoval(r, now)
		latest[r.ino] = r
	}
	return latest, nil
}
