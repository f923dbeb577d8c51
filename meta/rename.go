package meta

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Rename moves the entry srcName of srcParent to dstName in dstParent.
// flags: 0 (replace an existing destination: a non-directory, or an empty
// directory), RenameNoReplace (EEXIST if the destination exists) or
// RenameExchange (swap both entries). A replaced destination goes to the
// trash when it is enabled. It returns the moved inode and its attribute.
func (e *Engine) Rename(ctx context.Context, srcParent Ino, srcName string, dstParent Ino, dstName string, flags uint32) (Ino, Attr, error) {
	if srcParent == 0 {
		srcParent = RootInode
	}
	if dstParent == 0 {
		dstParent = RootInode
	}
	c := CallerOf(ctx)
	switch {
	case srcParent == RootInode && srcName == TrashName, dstParent == RootInode && dstName == TrashName:
		return 0, Attr{}, syscall.EPERM
	case dstParent.IsTrash(), srcParent.IsTrash() && c.Uid != 0:
		return 0, Attr{}, syscall.EPERM
	}
	if e.readOnly {
		return 0, Attr{}, syscall.EROFS
	}
	if err := validName(dstName); err != nil {
		return 0, Attr{}, err
	}
	switch flags {
	case 0, codec.RenameNoReplace, codec.RenameExchange, codec.RenameNoReplace | codec.RenameRestore:
	case codec.RenameWhiteout, codec.RenameNoReplace | codec.RenameWhiteout:
		return 0, Attr{}, syscall.ENOTSUP
	default:
		return 0, Attr{}, syscall.EINVAL
	}
	exchange := flags == codec.RenameExchange

	// Moving between different quota roots must fit the destination quotas.
	srcQ, dstQ := e.nearestQuota(ctx, srcParent), e.nearestQuota(ctx, dstParent)
	var moveSpace, moveInodes int64
	if srcQ != dstQ {
		sino, sattr, err := e.Lookup(WithCaller(ctx, rootCaller), srcParent, srcName)
		if err != nil {
			return 0, Attr{}, err
		}
		moveSpace, moveInodes = e.usageOf(ctx, sino, &sattr)
		if err := e.stats.checkQuota(ctx, moveSpace, moveInodes, sattr.Uid, sattr.Gid, dstParent); err != nil && err == syscall.EDQUOT {
			return 0, Attr{}, err
		}
	}
	var trash Ino
	if !exchange {
		var err error
		if trash, err = e.trashDir(ctx); err != nil {
			return 0, Attr{}, err
		}
	}

	var (
		ino     Ino
		attr    Attr
		typ     codec.FileType
		target  *removal // replaced or exchanged destination
		noop    bool
		srcDkey = e.keys.Entries(srcParent)
		dstDkey = e.keys.Entries(dstParent)
	)
	err := e.runTx(ctx, func(tx *Tx) error {
		target, noop = nil, false
		sent, sv, err := e.txEntry(tx, srcDkey, srcName)
		if err != nil {
			return err
		}
		ino, typ = sent.Inode, sent.Typ
		if srcParent == dstParent && srcName == dstName {
			noop = true
			return nil
		}
		// The destination name is usually free: unless exchanging (which
		// needs it), do not pay a round trip to learn so (see HGetLikelyAbsent).
		readDst := tx.HGetLikelyAbsent
		if exchange {
			readDst = tx.HGet
		}
		dv, dok, err := readDst(dstDkey, dstName)
		if err != nil {
			return err
		}
		var dent codec.Entry
		if dok {
			if flags&codec.RenameNoReplace != 0 {
				return syscall.EEXIST
			}
			if dent, err = e.decodeEntry(dstDkey, dstName, dv); err != nil {
				return err
			}
			if dent.Inode == ino {
				noop = true
				return nil
			}
			if !exchange {
				if typ == codec.TypeDirectory && dent.Typ != codec.TypeDirectory {
					return syscall.ENOTDIR
				}
				if typ != codec.TypeDirectory && dent.Typ == codec.TypeDirectory {
					return syscall.EISDIR
				}
			}
		} else if exchange {
			return syscall.ENOENT
		}
		spKey, dpKey, ikey := e.keys.Inode(srcParent), e.keys.Inode(dstParent), e.keys.Inode(ino)
		spv, spok, err := tx.GetAttrBytes(spKey)
		if err != nil {
			return err
		}
		dpv, dpok, err := tx.GetAttrBytes(dpKey)
		if err != nil {
			return err
		}
		iv, iok, err := tx.Get(ikey)
		if err != nil {
			return err
		}
		if !spok || !dpok || !iok {
			return syscall.ENOENT
		}
		spattr, err := e.decodeAttr(spKey, spv)
		if err != nil {
			return err
		}
		dpattr, err := e.decodeAttr(dpKey, dpv)
		if err != nil {
			return err
		}
		if attr, err = e.decodeAttr(ikey, iv); err != nil {
			return err
		}
		if spattr.Typ != codec.TypeDirectory {
			return syscall.ENOTDIR
		}
		if err := e.checkAccess(ctx, c, &spattr, MayWrite|MayExec); err != nil {
			return err
		}
		if dpattr.Typ != codec.TypeDirectory {
			return syscall.ENOTDIR
		}
		if flags&codec.RenameRestore == 0 && dpattr.Parent > TrashInode {
			return syscall.ENOENT
		}
		if err := e.checkAccess(ctx, c, &dpattr, MayWrite|MayExec); err != nil {
			return err
		}
		// The kernel prevents deeper cycles for mounted file systems; like the
		// official engine we catch a directory moved into itself or its child.
		if ino == dstParent || ino == dpattr.Parent {
			return syscall.EPERM
		}
		if spattr.Flags&(codec.FlagAppend|codec.FlagImmutable) != 0 || dpattr.Flags&codec.FlagImmutable != 0 ||
			attr.Flags&(codec.FlagAppend|codec.FlagImmutable) != 0 {
			return syscall.EPERM
		}
		if srcParent != dstParent && spattr.Mode&0o1000 != 0 && c.Uid != 0 && c.Uid != attr.Uid &&
			(c.Uid != spattr.Uid || typ == codec.TypeDirectory) {
			return syscall.EACCES
		}
		now := time.Now()
		srcDelta, dstDelta := 0, 0
		if dok {
			target = &removal{ino: dent.Inode, typ: dent.Typ, entry: dv, trash: trash,
				trashName: codec.TrashEntryName(dstParent, dent.Inode, dstName)}
			tkey := e.keys.Inode(dent.Inode)
			tv, tok, err := tx.Get(tkey)
			if err != nil {
				return err
			}
			if tok {
				if target.attr, err = e.decodeAttr(tkey, tv); err != nil {
					return err
				}
				target.hasAttr = true
				if target.attr.Flags&(codec.FlagAppend|codec.FlagImmutable) != 0 {
					return syscall.EPERM
				}
				if target.attr.Flags&codec.FlagSkipTrash != 0 {
					target.trash = 0
				}
				if stickyForbids(c, &dpattr, &target.attr) {
					return syscall.EACCES
				}
			} else {
				e.log.Warn(fmt.Sprintf("no attribute for inode %d (%d, %s)", dent.Inode, dstParent, dstName))
				target.trash = 0
			}
			if exchange {
				if srcParent != dstParent {
					if dent.Typ == codec.TypeDirectory {
						target.attr.Parent = srcParent
						dstDelta--
						srcDelta++
					} else if target.attr.Parent > 0 {
						target.attr.Parent = srcParent
					}
				}
				setTimes(&target.attr, now, false, false, true)
			} else if dent.Typ == codec.TypeDirectory {
				if nonEmpty, err := tx.ExistsLikelyNot(e.keys.Entries(dent.Inode)); err != nil {
					return err
				} else if nonEmpty {
					return syscall.ENOTEMPTY
				}
				dstDelta--
				if target.hasAttr {
					setTimes(&target.attr, now, false, false, true)
					if target.trash != 0 {
						target.attr.Parent = target.trash
					} else {
						target.attr.Nlink = 0
					}
				}
			} else {
				if err := e.checkTrashCollision(tx, target); err != nil {
					return err
				}
				e.decideRemoval(target, now)
			}
		}
		if stickyForbids(c, &spattr, &attr) {
			return syscall.EACCES
		}
		if srcParent != dstParent {
			if typ == codec.TypeDirectory {
				attr.Parent = dstParent
				srcDelta--
				dstDelta++
			} else if attr.Parent > 0 {
				attr.Parent = dstParent
			}
		}
		setTimes(&attr, now, false, false, true)

		// Writes.
		if exchange {
			tx.Set(e.keys.Inode(target.ino), string(target.attr.Marshal()))
			tx.HSet(srcDkey, srcName, dv)
			if srcParent != dstParent && target.attr.Parent == 0 {
				tx.HIncrBy(e.keys.Parents(target.ino), srcParent.String(), 1)
				tx.HIncrBy(e.keys.Parents(target.ino), dstParent.String(), -1)
			}
		} else {
			tx.HDel(srcDkey, srcName)
			if target != nil {
				if target.typ == codec.TypeDirectory {
					if target.trash != 0 && target.hasAttr {
						tx.Set(e.keys.Inode(target.ino), string(target.attr.Marshal()))
						tx.HSet(e.keys.Entries(target.trash), target.trashName, target.entry)
					} else {
						tx.Del(e.keys.Inode(target.ino))
						tx.Del(e.keys.Xattrs(target.ino))
						tx.IncrBy(e.keys.UsedSpace(), -4096)
						tx.IncrBy(e.keys.TotalInodes(), -1)
					}
					// Unlike the official client we also drop the replaced
					// directory's statistics: left behind they would be
					// orphans for every consistency check.
					e.queueDropDirStats(tx, target.ino)
				} else {
					e.queueRemoval(tx, target, dstParent, now)
				}
			}
		}
		if srcParent != dstParent {
			if !srcParent.IsTrash() {
				tx.PatchDir(spKey, &spattr, srcDelta)
			}
			if attr.Parent == 0 {
				tx.HIncrBy(e.keys.Parents(ino), dstParent.String(), 1)
				tx.HIncrBy(e.keys.Parents(ino), srcParent.String(), -1)
			}
		}
		tx.Set(ikey, string(attr.Marshal()))
		tx.HSet(dstDkey, dstName, sv)
		tx.PatchDir(dpKey, &dpattr, dstDelta)
		var replaced Ino
		if target != nil {
			replaced = target.ino
		}
		tx.Log("MOVE(%d,%s,%d,%s,%d,%d,%d):%d", srcParent, logEscape(srcName), dstParent, logEscape(dstName), flags, replaced, trash, ino)
		return nil
	})
	if err != nil {
		return 0, Attr{}, err
	}
	if noop {
		a, err := e.GetAttr(ctx, ino)
		return ino, a, err
	}
	e.afterRename(ctx, srcParent, dstParent, ino, typ, &attr, target, exchange, srcQ != dstQ, moveSpace, moveInodes)
	return ino, attr, nil
}

func (e *Engine) afterRename(ctx context.Context, srcParent, dstParent, ino Ino, typ codec.FileType, attr *Attr,
	target *removal, exchange, quotaMove bool, moveSpace, moveInodes int64) {
	moved := &removal{typ: typ, attr: *attr}
	if srcParent != dstParent {
		e.stats.dirStat(srcParent, -moved.length(), -moved.space(), -1)
		e.stats.dirStat(dstParent, moved.length(), moved.space(), 1)
		if quotaMove {
			e.stats.dirQuota(ctx, srcParent, -moveSpace, -moveInodes)
			e.stats.dirQuota(ctx, dstParent, moveSpace, moveInodes)
		}
		if typ == codec.TypeDirectory {
			e.stats.rememberParent(ino, dstParent)
		}
	}
	if target == nil {
		return
	}
	if exchange {
		if srcParent != dstParent {
			e.stats.dirStat(dstParent, -target.length(), -target.space(), -1)
			e.stats.dirQuota(ctx, dstParent, -target.space(), -1)
			e.stats.dirStat(srcParent, target.length(), target.space(), 1)
			e.stats.dirQuota(ctx, srcParent, target.space(), 1)
			if target.typ == codec.TypeDirectory {
				e.stats.rememberParent(target.ino, srcParent)
			}
		}
		return
	}
	e.stats.dirStat(dstParent, -target.length(), -target.space(), -1)
	e.stats.dirQuota(ctx, dstParent, -target.space(), -1)
	if target.typ == codec.TypeDirectory {
		e.stats.forgetParent(target.ino)
		if target.trash != 0 && target.hasAttr {
			e.stats.dirStat(target.trash, 0, 4096, 1)
		} else {
			e.stats.volume(-4096, -1)
			e.stats.userGroup(target.attr.Uid, target.attr.Gid, -4096, -1)
		}
		return
	}
	e.afterRemoval(ctx, target, dstParent.IsTrash())
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
	e.stats.quotaMu.RLock()
	q := e.stats.dirQ[ino]
	e.stats.quotaMu.RUnlock()
	if q != nil {
		return q.usedSpace.Load() + q.newSpace.Load() + 4096, q.usedInodes.Load() + q.newInodes.Load() + 1
	}
	s, err := e.GetSummary(ctx, ino, true, false)
	if err != nil {
		e.log.Warn(fmt.Sprintf("summary of directory %d for a quota move: %v", ino, err))
		return 4096, 1
	}
	return int64(s.Size), int64(s.Dirs + s.Files)
}
