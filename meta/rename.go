package meta

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// rename is one Rename call: its arguments and what its transaction
// decided (reset by each attempt).
type rename struct {
	srcParent, dstParent Ino
	srcName, dstName     string
	flags                uint32
	exchange             bool
	trash                Ino // where a replaced destination goes, 0 for none
	quota                quotaMove
	// keys of the parents' entries and attributes
	srcDkey, dstDkey, spKey, dpKey string

	// Decided by the transaction.
	ino            Ino
	ikey           string // the moved node's attribute key
	typ            codec.FileType
	attr           Attr     // of the moved node, as written
	target         *removal // replaced or exchanged destination
	noop           bool
	srcEntry       string // the moved entry's value
	dstEntry       string // the replaced or exchanged entry's value
	spattr, dpattr Attr
	srcDelta       int // link count changes of the parents
	dstDelta       int
}

// quotaMove is the usage a rename moves between two directory quota roots
// (active false: both parents are under the same quotas).
type quotaMove struct {
	active        bool
	space, inodes int64
	dir           bool // the node moved is a directory
	ino           Ino
	// For an exchange with a directory: that directory and its usage.
	targetDir       bool
	target          Ino
	tspace, tinodes int64
}

// Rename moves the entry srcName of srcParent to dstName in dstParent.
// flags: 0 (replace an existing destination: a non-directory, or an empty
// directory), RenameNoReplace (EEXIST if the destination exists) or
// RenameExchange (swap both entries). A replaced destination goes to the
// trash when it is enabled. It returns the moved inode and its attribute.
func (e *Engine) Rename(ctx context.Context, srcParent Ino, srcName string, dstParent Ino, dstName string, flags uint32) (Ino, Attr, error) {
	rn := &rename{srcParent: srcParent, srcName: srcName, dstParent: dstParent, dstName: dstName, flags: flags}
	if err := e.checkRename(ctx, rn); err != nil {
		return 0, Attr{}, err
	}
	rn.srcDkey, rn.dstDkey = e.keys.Entries(rn.srcParent), e.keys.Entries(rn.dstParent)
	rn.spKey, rn.dpKey = e.keys.Inode(rn.srcParent), e.keys.Inode(rn.dstParent)
	var err error
	if !rn.exchange {
		if rn.trash, err = e.trashDir(ctx); err != nil {
			return 0, Attr{}, err
		}
	}
	var fenced *dirMoveFence
	// A count is tried again when the rename changed meanwhile, and the
	// move is decided again when the quotas changed (set, deleted) before
	// its count began: both are bounded.
	for counts, rounds := 0, 0; ; rounds++ {
		err = e.runRenameTx(ctx, rn, fenced)
		if fenced != nil {
			fenced.end(ctx, e, applied(err))
			counts++
		}
		if !errors.Is(err, errMoveNeedsCount) || counts >= 3 || rounds >= 20 {
			break
		}
		if fenced, err = e.countDirMove(ctx, rn); err != nil && !errors.Is(err, errMoveNeedsCount) {
			break
		}
	}
	switch {
	case errors.Is(err, errMoveNeedsCount):
		err = fmt.Errorf("%w: the directory kept changing while its usage was counted for its quotas", ErrContended)
	case errors.Is(err, errFenceLost):
		err = fmt.Errorf("%w: counting the usage the directory moves between quotas took longer than the quota fence's lease; nothing was moved", ErrContended)
	}
	if !applied(err) {
		return 0, Attr{}, err
	}
	if rn.noop {
		a, aerr := e.GetAttr(ctx, rn.ino)
		return rn.ino, a, errors.Join(err, aerr)
	}
	if t := rn.target; t != nil && !rn.exchange {
		e.afterRemoval(t, rn.dstParent.IsTrash())
	}
	return rn.ino, rn.attr, err
}

// runRenameTx runs Rename's transaction. Unless fenced (a directory moving
// between quotas, counted), a directory found to move between quotas ends
// it with errMoveNeedsCount.
func (e *Engine) runRenameTx(ctx context.Context, rn *rename, fenced *dirMoveFence) error {
	quotasSeen, moveKnown := (*fenceState)(nil), false
	return e.runTx(ctx, func(tx *Tx) error {
		switch {
		case fenced != nil:
			if tx.fence == nil || tx.fence.value != fenced.value {
				return errFenceLost
			}
			// Its parents may be inside the directory in a damaged
			// tree (fsck moving a cycle away): it must not wait for
			// itself.
			tx.ownsFence = true
		case !moveKnown || tx.fence != quotasSeen:
			// The usage moved between quotas depends on the quotas
			// known, which change with the quota fence.
			q, err := e.renameQuotaMove(ctx, rn)
			if err != nil {
				return err
			}
			if len(q.movedDirs()) > 0 {
				return errMoveNeedsCount
			}
			rn.quota, quotasSeen, moveKnown = q, tx.fence, true
		}
		if err := e.txRename(ctx, tx, rn); err != nil || rn.noop {
			return err
		}
		if fenced != nil {
			q := rn.quota
			if rn.ino != q.ino || q.targetDir && (rn.target == nil || rn.target.ino != q.target) {
				return errMoveNeedsCount // a name now holds another node
			}
			tx.Set(e.qfence.key, fenced.moved)
		}
		tx.Account(func() { e.accountRename(ctx, rn) })
		tx.Touches(rn.srcParent, rn.dstParent)
		return nil
	})
}

// checkRename checks what Rename can refuse before reading anything.
func (e *Engine) checkRename(ctx context.Context, rn *rename) error {
	if rn.srcParent == 0 {
		rn.srcParent = RootInode
	}
	if rn.dstParent == 0 {
		rn.dstParent = RootInode
	}
	c := CallerOf(ctx)
	switch {
	case rn.srcParent == RootInode && rn.srcName == TrashName, rn.dstParent == RootInode && rn.dstName == TrashName:
		return syscall.EPERM
	case rn.dstParent.IsTrash(), rn.srcParent.IsTrash() && c.Uid != 0:
		return syscall.EPERM
	}
	if e.readOnly() {
		return syscall.EROFS
	}
	if err := validName(rn.dstName); err != nil {
		return err
	}
	switch rn.flags {
	case 0, codec.RenameNoReplace, codec.RenameExchange, codec.RenameNoReplace | codec.RenameRestore:
	case codec.RenameWhiteout, codec.RenameNoReplace | codec.RenameWhiteout:
		return syscall.ENOTSUP
	default:
		return syscall.EINVAL
	}
	rn.exchange = rn.flags == codec.RenameExchange
	return nil
}

// renameQuotaMove finds the usage a rename moves between different quota
// roots and checks that it fits the destination's quotas.
func (e *Engine) renameQuotaMove(ctx context.Context, rn *rename) (quotaMove, error) {
	if e.nearestQuota(ctx, rn.srcParent) == e.nearestQuota(ctx, rn.dstParent) {
		return quotaMove{}, nil
	}
	sino, sattr, err := e.Lookup(WithCaller(ctx, rootCaller), rn.srcParent, rn.srcName)
	if err != nil {
		return quotaMove{}, err
	}
	q := quotaMove{active: true, dir: sattr.Typ == codec.TypeDirectory, ino: sino}
	q.space, q.inodes = e.usageOf(ctx, sino, &sattr)
	if rn.exchange {
		tino, tattr, err := e.Lookup(WithCaller(ctx, rootCaller), rn.dstParent, rn.dstName)
		if err != nil {
			return quotaMove{}, err
		}
		if tattr.Typ == codec.TypeDirectory {
			q.targetDir, q.target = true, tino
			q.tspace, q.tinodes = e.usageOf(ctx, tino, &tattr)
		}
	}
	// Only the directory quotas of the destination matter: the owner's
	// and the volume's usage do not change.
	if err := e.stats.checkDirQuotas(ctx, q.space, q.inodes, rn.dstParent); err != nil {
		return quotaMove{}, err
	}
	return q, nil
}

// txRename is one attempt of Rename's transaction.
func (e *Engine) txRename(ctx context.Context, tx *Tx, rn *rename) error {
	rn.target, rn.noop, rn.srcDelta, rn.dstDelta = nil, false, 0, 0
	dent, dok, err := e.txRenameEntries(tx, rn)
	if err != nil || rn.noop {
		return err
	}
	if err := e.txRenameParents(ctx, tx, rn); err != nil {
		return err
	}
	now := e.now()
	if dok {
		if err := e.txRenameTarget(ctx, tx, rn, dent, now); err != nil {
			return err
		}
	}
	if stickyForbids(CallerOf(ctx), &rn.spattr, &rn.attr) {
		return syscall.EACCES
	}
	moveAttr(&rn.attr, rn.typ, rn.srcParent, rn.dstParent, &rn.srcDelta, &rn.dstDelta, now)
	e.queueRename(tx, rn, now)
	return nil
}

// moveAttr updates the attribute a of a node of type typ that moves from
// directory from to directory to: its parent (a hard-linked file keeps
// parent 0) and ctime; a directory moves one link count from from to to.
func moveAttr(a *Attr, typ codec.FileType, from, to Ino, fromDelta, toDelta *int, now time.Time) {
	if from != to {
		if typ == codec.TypeDirectory {
			a.Parent = to
			*fromDelta--
			*toDelta++
		} else if a.Parent > 0 {
			a.Parent = to
		}
	}
	setTimes(a, now, false, false, true)
}

// txRenameEntries reads the source entry and the destination entry (dok:
// it exists) and applies the rules on them.
func (e *Engine) txRenameEntries(tx *Tx, rn *rename) (dent codec.Entry, dok bool, err error) {
	srcDkey, dstDkey := rn.srcDkey, rn.dstDkey
	sent, sv, err := e.txEntry(tx, srcDkey, rn.srcName)
	if err != nil {
		return dent, false, err
	}
	rn.ino, rn.typ, rn.srcEntry = sent.Inode, sent.Typ, sv
	if rn.srcParent == rn.dstParent && rn.srcName == rn.dstName {
		rn.noop = true
		return dent, false, nil
	}
	// The destination name is usually free: unless exchanging (which
	// needs it), do not pay a round trip to learn so (see HGetLikelyAbsent).
	readDst := tx.HGetLikelyAbsent
	if rn.exchange {
		readDst = tx.HGet
	}
	dv, dok, err := readDst(dstDkey, rn.dstName)
	if err != nil {
		return dent, false, err
	}
	rn.dstEntry = dv
	if !dok {
		if rn.exchange {
			return dent, false, syscall.ENOENT
		}
		return dent, false, nil
	}
	if rn.flags&codec.RenameNoReplace != 0 {
		return dent, false, syscall.EEXIST
	}
	if dent, err = e.decodeEntry(dstDkey, rn.dstName, dv); err != nil {
		return dent, false, err
	}
	if dent.Inode == rn.ino {
		rn.noop = true
		return dent, false, nil
	}
	if !rn.exchange {
		if rn.typ == codec.TypeDirectory && dent.Typ != codec.TypeDirectory {
			return dent, false, syscall.ENOTDIR
		}
		if rn.typ != codec.TypeDirectory && dent.Typ == codec.TypeDirectory {
			return dent, false, syscall.EISDIR
		}
	}
	return dent, true, nil
}

// txRenameParents reads both parents and the moved node and applies the
// rules on them.
func (e *Engine) txRenameParents(ctx context.Context, tx *Tx, rn *rename) error {
	c := CallerOf(ctx)
	rn.ikey = e.keys.Inode(rn.ino)
	ikey := rn.ikey
	var err error
	if rn.spattr, err = e.txParentDir(ctx, tx, c, rn.spKey, dirRemoveName); err != nil {
		return err
	}
	addTo := dirAddName
	if rn.flags&codec.RenameRestore != 0 {
		addTo.notInTrash = false // restoring from the trash
	}
	if rn.dpattr, err = e.txParentDir(ctx, tx, c, rn.dpKey, addTo); err != nil {
		return err
	}
	iv, iok, err := tx.Get(ikey)
	if err != nil {
		return err
	}
	if !iok {
		return syscall.ENOENT
	}
	if rn.attr, err = e.decodeAttr(ikey, iv); err != nil {
		return err
	}
	if rn.typ == codec.TypeDirectory && rn.srcParent != rn.dstParent {
		if err := e.txNotBelow(tx, rn.ino, rn.dstParent, &rn.dpattr); err != nil {
			return err
		}
	}
	if rn.attr.Flags&(codec.FlagAppend|codec.FlagImmutable) != 0 {
		return syscall.EPERM
	}
	if rn.srcParent != rn.dstParent && rn.spattr.Mode&0o1000 != 0 && c.Uid != 0 && c.Uid != rn.attr.Uid &&
		(c.Uid != rn.spattr.Uid || rn.typ == codec.TypeDirectory) {
		return syscall.EACCES
	}
	return nil
}

// txNotBelow refuses (EPERM) to move directory moved into dir (attribute
// dattr, read in tx) when dir is moved itself or lies below it: the move
// would detach moved and its subtree from the tree in a cycle. The kernel
// refuses that within one mount, and the official client checks only dir
// and its parent; across clients only the engine can see it. Every
// ancestor of dir up to the root is read as a condition of the transaction
// (its parent is among the bytes checked), so when another client moves
// any of them meanwhile the commit fails and the walk is made again: two
// renames that would each close half of a cycle cannot both commit.
func (e *Engine) txNotBelow(tx *Tx, moved, dir Ino, dattr *Attr) error {
	cur, parent := dir, dattr.Parent
	var g upwardGuard
	for {
		if cur == moved {
			return syscall.EPERM
		}
		if parent == 0 || parent == RootInode || cur.IsTrash() || parent.IsTrash() {
			return nil
		}
		if err := g.step(tx.ctx, cur); err != nil {
			return err
		}
		cur = parent
		key := e.keys.Inode(cur)
		v, ok, err := tx.GetAttrBytes(key)
		if err != nil {
			return err
		}
		if !ok {
			return syscall.ENOENT // an ancestor was removed meanwhile
		}
		a, err := e.decodeAttr(key, v)
		if err != nil {
			return err
		}
		parent = a.Parent
	}
}

// txRenameTarget applies the rules on the existing destination dent and
// decides what happens to it: exchanged, or replaced (to the trash, or
// losing its name).
func (e *Engine) txRenameTarget(ctx context.Context, tx *Tx, rn *rename, dent codec.Entry, now time.Time) error {
	t := newRemoval(rn.dstParent, rn.dstName, dent, rn.dstEntry, rn.trash)
	rn.target = t
	if err := e.txRemovedNode(tx, t, rn.dstParent, rn.dstName); err != nil {
		return err
	}
	if err := e.checkRemoval(tx, CallerOf(ctx), &rn.dpattr, t, false); err != nil {
		return err
	}
	if !t.hasAttr {
		t.trash = 0
	}
	if rn.exchange {
		if dent.Typ == codec.TypeDirectory && rn.srcParent != rn.dstParent {
			if err := e.txNotBelow(tx, dent.Inode, rn.srcParent, &rn.spattr); err != nil {
				return err
			}
		}
		moveAttr(&t.attr, dent.Typ, rn.dstParent, rn.srcParent, &rn.dstDelta, &rn.srcDelta, now)
		return nil
	}
	if dent.Typ == codec.TypeDirectory {
		if nonEmpty, err := tx.ExistsLikelyNot(e.keys.Entries(dent.Inode)); err != nil {
			return err
		} else if nonEmpty {
			return syscall.ENOTEMPTY
		}
		rn.dstDelta--
	}
	e.decideRemoval(t, now)
	return nil
}

// queueRename queues the writes of a decided rename.
func (e *Engine) queueRename(tx *Tx, rn *rename, now time.Time) {
	srcDkey, dstDkey, spKey, dpKey := rn.srcDkey, rn.dstDkey, rn.spKey, rn.dpKey
	t := rn.target
	switch {
	case rn.exchange:
		tx.Set(e.removedKey(t), marshalAttr(&t.attr))
		tx.HSet(srcDkey, rn.srcName, rn.dstEntry)
		if rn.srcParent != rn.dstParent && t.attr.Parent == 0 {
			tx.HIncrBy(e.keys.Parents(t.ino), rn.srcParent.String(), 1)
			tx.HIncrBy(e.keys.Parents(t.ino), rn.dstParent.String(), -1)
		}
	case t != nil:
		tx.HDel(srcDkey, rn.srcName)
		// Unlike the official client, a replaced directory's statistics
		// are dropped too: left behind they would be orphans for every
		// consistency check.
		e.queueRemoval(tx, t, rn.dstParent, now)
	default:
		tx.HDel(srcDkey, rn.srcName)
	}
	if rn.srcParent != rn.dstParent {
		if !rn.srcParent.IsTrash() {
			tx.PatchDir(spKey, &rn.spattr, rn.srcDelta)
		}
		if rn.attr.Parent == 0 {
			tx.HIncrBy(e.keys.Parents(rn.ino), rn.dstParent.String(), 1)
			tx.HIncrBy(e.keys.Parents(rn.ino), rn.srcParent.String(), -1)
		}
	}
	tx.Set(rn.ikey, marshalAttr(&rn.attr))
	tx.HSet(dstDkey, rn.dstName, rn.srcEntry)
	tx.PatchDir(dpKey, &rn.dpattr, rn.dstDelta)
	var replaced Ino
	if t != nil {
		replaced = t.ino
	}
	if tx.Logging() {
		tx.Log("MOVE(%d,%s,%d,%s,%d,%d,%d):%d", rn.srcParent, logEscape(rn.srcName), rn.dstParent, logEscape(rn.dstName),
			rn.flags, replaced, rn.trash, rn.ino)
	}
}

// accountRename does the accounting of a committed rename (an after-commit
// hook, see commitAndAccount; a replaced target is cleaned up afterwards).
func (e *Engine) accountRename(ctx context.Context, rn *rename) {
	moved := &removal{typ: rn.typ, attr: rn.attr}
	if rn.srcParent != rn.dstParent {
		e.stats.dirStat(rn.srcParent, -moved.length(), -moved.space(), -1)
		e.stats.dirStat(rn.dstParent, moved.length(), moved.space(), 1)
		if q := rn.quota; q.active {
			if rn.typ != codec.TypeDirectory {
				// As the transaction read (and checked) it, not as it
				// was before: a write may have come in between.
				q.space, q.inodes = e.usageOf(ctx, rn.ino, &rn.attr)
			}
			e.stats.dirQuota(ctx, rn.srcParent, -q.space, -q.inodes)
			e.stats.dirQuota(ctx, rn.dstParent, q.space, q.inodes)
		}
		if rn.typ == codec.TypeDirectory {
			e.stats.rememberParent(rn.ino, rn.dstParent)
		}
	}
	t := rn.target
	if t == nil {
		return
	}
	if !rn.exchange {
		e.accountRemoval(t)
		e.afterNamesRemoved(ctx, rn.dstParent, t.removedDelta())
		return
	}
	if rn.srcParent != rn.dstParent {
		// The destination's node moves to the source's parent: a file
		// carries its size, a directory the usage of its tree (counted
		// when it changes quotas).
		space, inodes := t.space(), int64(1)
		if q := rn.quota; q.active && q.targetDir {
			space, inodes = q.tspace, q.tinodes
		}
		e.stats.dirStat(rn.dstParent, -t.length(), -t.space(), -1)
		e.stats.dirQuota(ctx, rn.dstParent, -space, -inodes)
		e.stats.dirStat(rn.srcParent, t.length(), t.space(), 1)
		e.stats.dirQuota(ctx, rn.srcParent, space, inodes)
		if t.typ == codec.TypeDirectory {
			e.stats.rememberParent(t.ino, rn.srcParent)
		}
	}
}

// nearestQuota returns the closest directory at or above dir carrying a
// directory quota, 0 if none (or dir is in the trash).
func (e *Engine) nearestQuota(ctx context.Context, dir Ino) Ino {
	if dir.IsTrash() {
		return 0
	}
	var found Ino
	e.stats.walkQuotas(ctx, dir, func(ino Ino, _ *quota) bool {
		found = ino
		return false
	})
	return found
}

// usageOf is what moving a node between quota roots transfers: a file's
// charged size and one inode; for a directory its own quota usage when it
// has a quota, otherwise a summary of its tree from directory statistics.
func (e *Engine) usageOf(ctx context.Context, ino Ino, a *Attr) (int64, int64) {
	if a.Typ != codec.TypeDirectory {
		return int64(codec.Align4K(lengthOf(a))), 1
	}
	if q := e.stats.dirQuotaOf(ino); q != nil {
		return q.usedSpace.Load() + q.newSpace.Load() + 4096, q.usedInodes.Load() + q.newInodes.Load() + 1
	}
	s, err := e.GetSummary(ctx, ino, true, false)
	if err != nil {
		e.log.Warn(fmt.Sprintf("summary of directory %d for a quota move: %v", ino, err))
		return 4096, 1
	}
	return int64(s.Size), int64(s.Dirs + s.Files)
}
