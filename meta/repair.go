package meta

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Repairer writes back single values that a check (fsck, quota check)
// found wrong: each repair is an ordinary check-and-apply transaction, and
// those that take the value the check saw write nothing (ErrChanged) when
// it changed meanwhile. It acts as root. Get one with Engine.Repair.
type Repairer struct{ e *Engine }

// Repair returns the engine's repair primitives.
func (e *Engine) Repair() Repairer { return Repairer{e} }

// Dir rewrites the attribute of directory dir with its link count
// recomputed from its entries (2 plus one per sub-directory; always 2 in the
// trash). When the attribute is missing, rebuild (a directory attribute,
// typically with the mode, owner and parent chosen by fsck) is stored
// instead; without rebuild a missing attribute is left alone (ENOENT).
func (r Repairer) Dir(ctx context.Context, dir Ino, rebuild *Attr) error {
	e := r.e
	ikey := e.keys.Inode(dir)
	return e.runTx(ctx, func(tx *Tx) error {
		v, ok, err := tx.Get(ikey)
		if err != nil {
			return err
		}
		var attr Attr
		switch {
		case ok:
			if attr, err = e.decodeAttr(ikey, v); err != nil {
				return err
			}
			if attr.Typ != codec.TypeDirectory {
				return syscall.ENOTDIR
			}
		case rebuild != nil:
			attr = *rebuild
			attr.Typ = codec.TypeDirectory
		default:
			return syscall.ENOENT
		}
		nlink, err := e.dirNlink(tx.ctx, dir)
		if err != nil {
			return err
		}
		// The full-value condition on the attribute also catches
		// sub-directories added or removed meanwhile: each such change
		// patches the directory's link count.
		if ok && attr.Nlink == nlink {
			return nil
		}
		attr.Nlink = nlink
		tx.Set(ikey, string(attr.Marshal()))
		tx.Log("REPAIRDIR(%d)", dir)
		return nil
	})
}

// Nlink sets the link count of ino to nlink, provided it is still expect
// (the value the caller's check saw); otherwise nothing is written and
// ErrChanged is returned.
func (r Repairer) Nlink(ctx context.Context, ino Ino, expect, nlink uint32) error {
	e := r.e
	key := e.keys.Inode(ino)
	return e.runTx(ctx, func(tx *Tx) error {
		attr, err := e.txAttr(tx, key)
		if err != nil {
			return err
		}
		if attr.Nlink != expect {
			return fmt.Errorf("%w: nlink of inode %d is now %d", ErrChanged, ino, attr.Nlink)
		}
		attr.Nlink = nlink
		tx.Set(key, string(attr.Marshal()))
		tx.Log("REPAIRNLINK(%d,%d)", ino, nlink)
		return nil
	})
}

// Parent sets the parent field of ino to parent, provided it is still
// expect (the value the caller's check saw); otherwise nothing is written
// and ErrChanged is returned. fsck uses it when the one directory naming
// a node is not the one its attribute names.
func (r Repairer) Parent(ctx context.Context, ino, expect, parent Ino) error {
	e := r.e
	key := e.keys.Inode(ino)
	return e.runTx(ctx, func(tx *Tx) error {
		attr, err := e.txAttr(tx, key)
		if err != nil {
			return err
		}
		if attr.Parent != expect {
			return fmt.Errorf("%w: parent of inode %d is now %d", ErrChanged, ino, attr.Parent)
		}
		attr.Parent = parent
		tx.Set(key, marshalAttr(&attr))
		return nil
	})
}

// DropStrayEntry deletes entry name of directory dir, provided it still
// names directory ino and ino lives elsewhere: it is the root or the trash
// root, or its parent is another directory (otherwise nothing is written
// and ErrChanged is returned). The directory ino stays where its parent
// has it; dir's link count and statistics are left to the repairs that
// recount them.
func (r Repairer) DropStrayEntry(ctx context.Context, dir Ino, name string, ino Ino) error {
	e := r.e
	dkey := e.keys.Entries(dir)
	return e.runTx(ctx, func(tx *Tx) error {
		ent, _, err := e.txEntry(tx, dkey, name)
		if err != nil {
			return err
		}
		if ent.Inode != ino {
			return fmt.Errorf("%w: entry %q of directory %d now names inode %d", ErrChanged, name, dir, ent.Inode)
		}
		if ino != RootInode && ino != TrashInode {
			attr, err := e.txAttr(tx, e.keys.Inode(ino))
			if err != nil {
				return err
			}
			if attr.Parent == dir {
				return fmt.Errorf("%w: directory %d now lives in %d", ErrChanged, ino, dir)
			}
		}
		tx.HDel(dkey, name)
		return nil
	})
}

// ParentCount sets, in the parent tracking of a hard-linked inode (p{ino}),
// how many names parent holds (0 deletes the field). The inode's attribute
// must exist and not name a single parent.
func (r Repairer) ParentCount(ctx context.Context, ino, parent Ino, count int64) error {
	e := r.e
	key := e.keys.Inode(ino)
	return e.runTx(ctx, func(tx *Tx) error {
		attr, err := e.txAttr(tx, key)
		if err != nil {
			return err
		}
		if attr.Parent != 0 {
			return fmt.Errorf("%w: inode %d has a single parent %d", ErrChanged, ino, attr.Parent)
		}
		if count == 0 {
			tx.HDel(e.keys.Parents(ino), parent.String())
		} else {
			tx.HSet(e.keys.Parents(ino), parent.String(), strconv.FormatInt(count, 10))
		}
		return nil
	})
}

// VolumeCounters overwrites the volume's usage counters (usedSpace,
// totalInodes), as `fsck --repair --sync-dir-stat` does. A negative value
// leaves that counter alone. It is not transactional: run it on a quiet
// volume.
func (r Repairer) VolumeCounters(ctx context.Context, usedSpace, usedInodes int64) error {
	e := r.e
	if e.readOnly() {
		return syscall.EROFS
	}
	set := func(key string, v int64) error {
		err := e.rdb.Do(ctx, e.rdb.B().Set().Key(key).Value(strconv.FormatInt(v, 10)).Build()).Error()
		e.cache.Invalidate(key)
		e.overlay.forget(key)
		return e.redisErr("SET "+key, err)
	}
	if usedSpace >= 0 {
		if err := set(e.keys.UsedSpace(), usedSpace); err != nil {
			return err
		}
		e.stats.usedSpace.Store(usedSpace)
	}
	if usedInodes >= 0 {
		if err := set(e.keys.TotalInodes(), usedInodes); err != nil {
			return err
		}
		e.stats.usedInodes.Store(usedInodes)
	}
	return nil
}

// DirStat stores given statistics for directory dir (ENOENT when its
// attribute is gone); fsck uses it to write the values its recount found.
func (r Repairer) DirStat(ctx context.Context, dir Ino, st DirStat) error {
	r.e.stats.dropPending(dir)
	return r.e.storeDirStat(ctx, dir, st)
}

// RecountDirStat recomputes a directory's statistics from its entries and
// stores them.
func (r Repairer) RecountDirStat(ctx context.Context, dir Ino) (DirStat, error) {
	if r.e.readOnly() {
		return DirStat{}, syscall.EROFS
	}
	return r.e.syncDirStat(ctx, dir)
}

// DropDirStat deletes the statistics of a directory that no longer exists
// (nothing is done if its attribute exists).
func (r Repairer) DropDirStat(ctx context.Context, dir Ino) error {
	e := r.e
	return e.runTx(ctx, func(tx *Tx) error {
		if _, ok, err := tx.GetAttrBytes(e.keys.Inode(dir)); err != nil || ok {
			return err
		}
		f := dir.String()
		tx.HDel(e.keys.DirDataLength(), f)
		tx.HDel(e.keys.DirUsedSpace(), f)
		tx.HDel(e.keys.DirUsedInodes(), f)
		return nil
	})
}

// QuotaUsage overwrites the stored usage of a quota (limits kept); fsck
// uses it to store recounted usage. A missing user or group entry is created
// unlimited (as the periodic flush would); a missing directory quota is
// ENOENT.
func (r Repairer) QuotaUsage(ctx context.Context, qtype codec.QuotaType, id uint64, space, inodes int64) error {
	e := r.e
	limitsKey, spaceKey, inodesKey, ok := e.keys.Quota(qtype)
	if !ok {
		return fmt.Errorf("invalid quota type %d", qtype)
	}
	field := strconv.FormatUint(id, 10)
	err := e.runTx(ctx, func(tx *Tx) error {
		if _, ok, err := tx.HGet(inodesKey, field); err != nil {
			return err
		} else if !ok && qtype == QuotaDir {
			return syscall.ENOENT
		}
		if qtype != QuotaDir {
			tx.Do("HSETNX", limitsKey, field, string(codec.UnlimitedQuota().Marshal()))
		}
		tx.HSet(spaceKey, field, strconv.FormatInt(space, 10))
		tx.HSet(inodesKey, field, strconv.FormatInt(inodes, 10))
		return nil
	})
	if err == nil {
		e.reloadQuotas(ctx)
	}
	return err
}

// RaiseNextInode makes the inode counter (nextinode, the highest inode
// number handed out) at least atLeast, overwriting a value that is not an
// integer: new inodes must never get a number in use. fsck stores the
// highest inode number it found.
func (r Repairer) RaiseNextInode(ctx context.Context, atLeast uint64) error {
	return r.raiseCounter(ctx, r.e.keys.NextInode(), atLeast)
}

// RaiseNextSlice is RaiseNextInode for slice ids (nextchunk).
func (r Repairer) RaiseNextSlice(ctx context.Context, atLeast uint64) error {
	return r.raiseCounter(ctx, r.e.keys.NextChunk(), atLeast)
}

func (r Repairer) raiseCounter(ctx context.Context, key string, atLeast uint64) error {
	e := r.e
	if e.readOnly() {
		return syscall.EROFS
	}
	// A key of another type cannot be read in the transaction; SET
	// replaces it whatever it holds.
	wrongType := strings.HasPrefix(fmt.Sprint(e.rdb.Do(ctx, e.rdb.B().Get().Key(key).Build()).Error()), "WRONGTYPE")
	return e.runTx(ctx, func(tx *Tx) error {
		if !wrongType {
			v, ok, err := tx.Get(key)
			if err != nil {
				return err
			}
			if n, err := strconv.ParseUint(v, 10, 63); ok && err == nil && n >= atLeast {
				return nil
			}
		}
		tx.Set(key, strconv.FormatUint(atLeast, 10))
		return nil
	})
}

// DropCorruptField deletes field of hash key provided it still holds value:
// a field whose name or value cannot be decoded (a parent count, directory
// statistics or quota usage of no inode number, a slice reference of no
// slice). key must be a key of the volume.
func (r Repairer) DropCorruptField(ctx context.Context, key, field, value string) error {
	e := r.e
	if !strings.HasPrefix(key, e.keys.Prefix()) {
		return fmt.Errorf("%s is not a key of this volume", key)
	}
	return e.runTx(ctx, func(tx *Tx) error {
		v, ok, err := tx.HGet(key, field)
		if err != nil || !ok {
			return err
		}
		if v != value {
			return fmt.Errorf("%w: %s field %q now holds %q", ErrChanged, key, field, v)
		}
		tx.HDel(key, field)
		return nil
	})
}

// DropCorruptMember removes a member that names no inode or session from
// one of the volume's sets of them: delfiles, detachedNodes, allSessions or
// a session's sustained inodes. A member that does name one is left alone
// (ErrChanged).
func (r Repairer) DropCorruptMember(ctx context.Context, key, member string) error {
	e := r.e
	if e.readOnly() {
		return syscall.EROFS
	}
	k := e.keys
	cmd := "ZREM"
	var valid bool
	switch {
	case key == k.DelFiles():
		_, _, valid = codec.ParseDelFileMember(member)
		if !valid {
			_, _, valid = codec.ParseLegacyDelFileMember(member)
		}
	case key == k.DetachedNodes() || key == k.AllSessions():
		_, err := strconv.ParseUint(member, 10, 64)
		valid = err == nil
	default:
		if _, ok := k.ParseSustainedKey(key); !ok {
			return fmt.Errorf("%s holds no members fsck repairs", key)
		}
		cmd = "SREM"
		_, err := strconv.ParseUint(member, 10, 64)
		valid = err == nil
	}
	if valid {
		return fmt.Errorf("%w: member %q of %s is valid", ErrChanged, member, key)
	}
	return e.runTx(ctx, func(tx *Tx) error {
		tx.Do(cmd, key, member)
		return nil
	})
}

// DropLiveDeletion removes from delfiles a member naming a file whose
// attribute still exists: its data must not be purged (the chunk deletion
// refuses it too). Nothing is written when the attribute is gone (the
// deletion is legitimate: ErrChanged).
func (r Repairer) DropLiveDeletion(ctx context.Context, member string) error {
	e := r.e
	ino, _, ok := codec.ParseDelFileMember(member)
	if !ok {
		if ino, _, ok = codec.ParseLegacyDelFileMember(member); !ok {
			return r.DropCorruptMember(ctx, e.keys.DelFiles(), member)
		}
	}
	return e.runTx(ctx, func(tx *Tx) error {
		_, live, err := tx.GetAttrBytes(e.keys.Inode(ino))
		if err != nil {
			return err
		}
		if !live {
			return fmt.Errorf("%w: inode %d is gone: its deletion is due", ErrChanged, ino)
		}
		tx.Do("ZREM", e.keys.DelFiles(), member)
		return nil
	})
}

// SliceRef stores count in the sliceRef field of slice id (size bytes),
// provided the field still holds expect (the value fsck saw; "" for an
// absent field). The field holds the number of references less one, so 0
// deletes it (an absent field means one reference). fsck uses it to replace
// a count that is not an integer with the recount.
func (r Repairer) SliceRef(ctx context.Context, id uint64, size uint32, expect string, count int64) error {
	e := r.e
	key, field := e.keys.SliceRef(), e.keys.SliceRefField(id, size)
	return e.runTx(ctx, func(tx *Tx) error {
		v, _, err := tx.HGet(key, field)
		if err != nil {
			return err
		}
		if v != expect {
			return fmt.Errorf("%w: %s field %s now holds %q", ErrChanged, key, field, v)
		}
		if count == 0 {
			tx.HDel(key, field)
		} else {
			tx.HSet(key, field, strconv.FormatInt(count, 10))
		}
		return nil
	})
}
