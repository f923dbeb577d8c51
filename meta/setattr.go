package meta

import (
	"context"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// SetAttr changes the attributes of inode ino selected by set (mode, uid,
// gid, atime, mtime, their "now" variants, flags, tier) to the values in
// attr, with the permission rules of Linux as JuiceFS applies them, and
// returns the resulting attribute. attr is not modified. Size is not handled
// here (see Truncate) and the ctime bits are ignored: ctime becomes now
// whenever anything changes. A node directly in a trash hour directory gives
// EPERM. When nothing changes nothing is written.
//
// Changing the owner of a file or directory moves its usage between user and
// group quotas; for other node types the official client moves nothing, and
// neither does this engine.
func (e *Engine) SetAttr(ctx context.Context, ino Ino, set codec.SetAttrMask, attr *Attr) (Attr, error) {
	if ino == 0 {
		ino = RootInode
	}
	c := CallerOf(ctx)
	key := e.keys.Inode(ino)
	var old, res Attr
	err := e.runTx(ctx, func(tx *Tx) error {
		cur, err := e.txAttr(tx, key)
		if err != nil {
			return err
		}
		old, res = cur, cur
		if cur.Parent > TrashInode {
			return syscall.EPERM
		}
		var stored, rule *codec.ACLRule
		if cur.AccessACL != codec.ACLNone {
			if stored, err = e.aclRule(ctx, cur.AccessACL); err != nil {
				return err
			}
			dup := *stored
			rule = &dup
		}
		req := *attr
		now := e.now()
		dirty, changed, err := e.mergeAttr(ctx, c, set, &cur, &req, now, rule)
		if err != nil || !changed {
			return err
		}
		if rule != nil && !rule.Equal(*stored) {
			if dirty.AccessACL, err = e.storeACLRule(ctx, rule); err != nil {
				return err
			}
		}
		setTimes(&dirty, now, false, false, true)
		tx.Set(key, marshalAttr(&dirty))
		if tx.Logging() {
			tx.Log("SETATTR(%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d)", ino, set, 0, dirty.Uid, dirty.Gid, dirty.Mode,
				dirty.Flags, dirty.Atime, dirty.Mtime, dirty.Atimensec, dirty.Mtimensec, dirty.Ctime, dirty.Ctimensec, dirty.AccessACL)
		}
		res = dirty
		return nil
	})
	if !applied(err) {
		return Attr{}, err
	}
	e.moveOwnerUsage(&old, &res)
	return res, err
}

// CheckSetAttr tells whether SetAttr(ino, set, attr) would be refused by
// the permission rules, without writing anything (the trash rule and the
// ACL branch of mode changes are not evaluated, as in the official client).
func (e *Engine) CheckSetAttr(ctx context.Context, ino Ino, set codec.SetAttrMask, attr *Attr) error {
	if ino == 0 {
		ino = RootInode
	}
	cur, err := e.GetAttr(ctx, ino)
	if err != nil {
		return err
	}
	req := *attr
	_, _, err = e.mergeAttr(ctx, CallerOf(ctx), set, &cur, &req, e.now(), nil)
	return err
}

// mergeAttr applies the requested changes to a copy of cur and reports
// whether anything changed; req is adjusted on the way as the rules say
// (kept or cleared set-ID bits). With rule (a private copy of the inode's
// access ACL) a mode change goes through the ACL.
func (e *Engine) mergeAttr(ctx context.Context, c Caller, set codec.SetAttrMask, cur, req *Attr, now time.Time, rule *codec.ACLRule) (Attr, bool, error) {
	dirty := *cur
	req.Mode &= 0o7777
	owner := set&(codec.SetAttrUID|codec.SetAttrGID) != 0
	if owner && set&codec.SetAttrMode != 0 {
		req.Mode |= cur.Mode & 0o6000
	}
	changed := false
	if cur.Mode&0o6000 != 0 && owner {
		clearSetID(c, &dirty, req)
		changed = true
	}
	if set&codec.SetAttrGID != 0 {
		if c.Uid != 0 && c.Uid != cur.Uid {
			return dirty, false, syscall.EPERM
		}
		if cur.Gid != req.Gid {
			if c.Uid != 0 && !c.inGroup(req.Gid) {
				return dirty, false, syscall.EPERM
			}
			dirty.Gid = req.Gid
			changed = true
		}
	}
	if set&codec.SetAttrUID != 0 && cur.Uid != req.Uid {
		if c.Uid != 0 {
			return dirty, false, syscall.EPERM
		}
		dirty.Uid = req.Uid
		changed = true
	}
	if set&codec.SetAttrMode != 0 {
		if c.Uid != 0 && req.Mode&0o2000 != 0 && !c.inGroup(cur.Gid) {
			req.Mode &^= 0o2000
		}
		if rule != nil {
			setACLMode(rule, req.Mode)
			dirty.Mode = req.Mode&0o7000 | aclMode(rule)
			changed = true
		} else if req.Mode != cur.Mode {
			if c.Uid != 0 && c.Uid != cur.Uid && (cur.Mode&0o1777 != req.Mode&0o1777 ||
				req.Mode&0o2000 > cur.Mode&0o2000 || req.Mode&0o4000 > cur.Mode&0o4000) {
				return dirty, false, syscall.EPERM
			}
			dirty.Mode = req.Mode
			changed = true
		}
	}
	for _, t := range [...]struct {
		now, explicit codec.SetAttrMask
		reqSec        int64
		reqNsec       uint32
		curSec        int64
		curNsec       uint32
		sec           *int64
		nsec          *uint32
	}{
		{codec.SetAttrAtimeNow, codec.SetAttrAtime, req.Atime, req.Atimensec, cur.Atime, cur.Atimensec, &dirty.Atime, &dirty.Atimensec},
		{codec.SetAttrMtimeNow, codec.SetAttrMtime, req.Mtime, req.Mtimensec, cur.Mtime, cur.Mtimensec, &dirty.Mtime, &dirty.Mtimensec},
	} {
		switch {
		case set&t.now != 0 || set&t.explicit != 0 && t.reqSec < 0:
			if err := e.mayTouchTimes(ctx, c, cur); err != nil {
				return dirty, false, err
			}
			*t.sec, *t.nsec = now.Unix(), uint32(now.Nanosecond())
			changed = true
		case set&t.explicit != 0 && (t.curSec != t.reqSec || t.curNsec != t.reqNsec):
			if cur.Uid == 0 && c.Uid != 0 {
				return dirty, false, syscall.EPERM
			}
			if err := e.mayTouchTimes(ctx, c, cur); err != nil {
				return dirty, false, err
			}
			*t.sec, *t.nsec = t.reqSec, t.reqNsec
			changed = true
		}
	}
	if set&codec.SetAttrFlag != 0 {
		dirty.Flags = req.Flags
		changed = true
	}
	if set&codec.SetAttrTier != 0 {
		dirty.Tier = req.Tier
		changed = true
	}
	return dirty, changed, nil
}

// mayTouchTimes: setting atime or mtime is allowed to the owner and to
// anyone with write permission (root included).
func (e *Engine) mayTouchTimes(ctx context.Context, c Caller, cur *Attr) error {
	if c.Uid != cur.Uid && e.checkAccess(ctx, c, cur, MayWrite) != nil {
		return syscall.EACCES
	}
	return nil
}

// clearSetID is what a change of owner does to set-user-ID and
// set-group-ID bits on Linux (as ext4 does): they are cleared on
// non-directories, except that root keeps set-group-ID on a file without
// group-execute (mandatory locking marker). req's bits follow.
func clearSetID(c Caller, dirty, req *Attr) {
	if dirty.Typ == codec.TypeDirectory {
		return
	}
	keep := uint16(0o1777)
	if c.Uid == 0 && dirty.Mode&0o010 == 0 {
		keep = 0o3777
	}
	dirty.Mode &= keep
	req.Mode &= keep
}

// moveOwnerUsage moves a node's user/group quota usage from its old owner
// to its new one: align(length) and one inode for a file, 4096 and one inode
// for anything else. The official client moves nothing for symlinks and
// special files although it charged them at creation, which leaves their
// usage with the old owner for ever; we move it, so that usage always equals
// what each owner's nodes were charged. It goes through the (uid, group 0)
// and (user 0, gid) pairs, whose other halves cancel out.
func (e *Engine) moveOwnerUsage(old, cur *Attr) {
	if old.Uid == cur.Uid && old.Gid == cur.Gid {
		return
	}
	var space, inodes int64
	space, inodes = int64(codec.Align4K(lengthOf(cur))), 1
	if old.Uid != cur.Uid {
		e.stats.userGroup(old.Uid, 0, -space, -inodes)
		e.stats.userGroup(cur.Uid, 0, space, inodes)
	}
	if old.Gid != cur.Gid {
		e.stats.userGroup(0, old.Gid, -space, -inodes)
		e.stats.userGroup(0, cur.Gid, space, inodes)
	}
}
