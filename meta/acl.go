package meta

import (
	"context"
	"slices"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// aclEnabled reports whether the volume has POSIX ACLs enabled.
func (e *Engine) aclEnabled() bool {
	f := e.format.Load()
	return f != nil && f.EnableACL
}

func aclID(a *Attr, typ uint8) uint32 {
	if typ == codec.ACLTypeDefault {
		return a.DefaultACL
	}
	return a.AccessACL
}

func setACLID(a *Attr, typ uint8, id uint32) {
	if typ == codec.ACLTypeDefault {
		a.DefaultACL = id
	} else {
		a.AccessACL = id
	}
}

// cloneACLRule copies r so that the rule cache, which shares stored rules
// between inodes forever, never aliases a caller's slices.
func cloneACLRule(r codec.ACLRule) codec.ACLRule {
	r.NamedUsers = slices.Clone(r.NamedUsers)
	r.NamedGroups = slices.Clone(r.NamedGroups)
	return r
}

// fillACLBase sets the unset owner, owning-group and other permissions of r
// from mode. The mask is left as it is.
func fillACLBase(r *codec.ACLRule, mode uint16) {
	if r.Owner == codec.ACLUnset {
		r.Owner = (mode >> 6) & 7
	}
	if r.Group == codec.ACLUnset {
		r.Group = (mode >> 3) & 7
	}
	if r.Other == codec.ACLUnset {
		r.Other = mode & 7
	}
}

// SetFacl sets the access (codec.ACLTypeAccess) or default
// (codec.ACLTypeDefault) ACL of inode. Only the owner or root may do it
// (EPERM), not on an immutable inode (EPERM), and only on an ordinary inode
// (EPERM for the trash). An empty rule (codec.EmptyACLRule) removes the ACL;
// a minimal access rule (no named entries, no mask) is folded into the
// permission bits instead of being stored; any other rule has its unset
// owner/group/other entries filled from the mode, is stored (an identical
// rule this client knows is reused) and, for an access ACL, decides the
// permission bits (owner, mask, other). A non-root caller outside the file's
// group loses the set-group-ID bit. The inode's ctime changes only if its
// ACL id or mode did. ENOTSUP when the volume does not have ACLs enabled.
func (e *Engine) SetFacl(ctx context.Context, ino Ino, aclType uint8, rule codec.ACLRule) error {
	if aclType != codec.ACLTypeAccess && aclType != codec.ACLTypeDefault {
		return syscall.EINVAL
	}
	if !ino.IsNormal() {
		return syscall.EPERM
	}
	if !e.aclEnabled() {
		return syscall.ENOTSUP
	}
	c := CallerOf(ctx)
	return e.runTx(ctx, func(tx *Tx) error {
		key := e.keys.Inode(ino)
		attr, err := e.txAttr(tx, key)
		if err != nil {
			return err
		}
		if c.Uid != 0 && c.Uid != attr.Uid {
			return syscall.EPERM
		}
		if attr.Flags&codec.FlagImmutable != 0 {
			return syscall.EPERM
		}
		oldID, oldMode := aclID(&attr, aclType), attr.Mode
		if c.Uid != 0 && !c.inGroup(attr.Gid) {
			attr.Mode &^= 0o2000
		}
		r := cloneACLRule(rule)
		switch {
		case r.IsEmpty():
			setACLID(&attr, aclType, codec.ACLNone)
		case r.IsMinimal() && aclType == codec.ACLTypeAccess:
			setACLID(&attr, aclType, codec.ACLNone)
			attr.Mode = attr.Mode&0o7000 | (r.Owner&7)<<6 | (r.Group&7)<<3 | r.Other&7
		default:
			fillACLBase(&r, attr.Mode)
			id, err := e.storeACLRule(ctx, &r)
			if err != nil {
				return err
			}
			setACLID(&attr, aclType, id)
			if aclType == codec.ACLTypeAccess {
				attr.Mode = attr.Mode&0o7000 | (r.Owner&7)<<6 | (r.Mask&7)<<3 | r.Other&7
			}
		}
		if aclID(&attr, aclType) == oldID && attr.Mode == oldMode {
			return nil
		}
		setTimes(&attr, e.now(), false, false, true)
		tx.Set(key, string(attr.Marshal()))
		tx.Log("SETFACL(%d,%d,%s)", ino, aclType, logEscape(string(r.Marshal())))
		return nil
	})
}

// GetFacl returns the access or default ACL of inode: ENODATA when it has
// none, ENOENT when the inode does not exist, ENOTSUP when the volume does
// not have ACLs enabled. The returned rule is the caller's to modify.
func (e *Engine) GetFacl(ctx context.Context, ino Ino, aclType uint8) (codec.ACLRule, error) {
	if aclType != codec.ACLTypeAccess && aclType != codec.ACLTypeDefault {
		return codec.ACLRule{}, syscall.EINVAL
	}
	if !e.aclEnabled() {
		return codec.ACLRule{}, syscall.ENOTSUP
	}
	return e.getFacl(ctx, ino, aclType)
}

func (e *Engine) getFacl(ctx context.Context, ino Ino, aclType uint8) (codec.ACLRule, error) {
	if ino == 0 {
		ino = RootInode
	}
	key := e.keys.Inode(ino)
	v, ok, err := e.cachedGet(ctx, key)
	if err != nil {
		return codec.ACLRule{}, err
	}
	if !ok {
		return codec.ACLRule{}, syscall.ENOENT
	}
	attr, err := e.decodeAttr(key, v)
	if err != nil {
		return codec.ACLRule{}, err
	}
	id := aclID(&attr, aclType)
	if id == codec.ACLNone {
		return codec.ACLRule{}, syscall.ENODATA
	}
	r, err := e.aclRule(ctx, id)
	if err != nil {
		return codec.ACLRule{}, err
	}
	return cloneACLRule(*r), nil
}

// chmodACL applies new permission bits to an inode that has an access ACL,
// the way a chmod (SetAttr with a mode) must: the rule's owner, mask (the
// owning group for a rule without mask) and other entries take the mode's
// classes, the changed rule gets an id (an identical known rule's, or a new
// one), and the mode becomes mode's special bits plus the bits the rule
// implies. It reports false, changing nothing, when a has no access ACL.
// mode is the requested mode after SetAttr's own rules (the set-group-ID bit
// already dropped for a non-root caller outside the group); unlike a chmod
// without ACL, no ownership check applies here, as in the official client.
// For use inside a SetAttr transaction (the rule is stored immediately, as
// storeACLRule does; a retried attempt finds it again by deduplication).
func (e *Engine) chmodACL(ctx context.Context, a *Attr, mode uint16) (bool, error) {
	if a.AccessACL == codec.ACLNone {
		return false, nil
	}
	cur, err := e.aclRule(ctx, a.AccessACL)
	if err != nil {
		return false, err
	}
	r := cloneACLRule(*cur)
	setACLMode(&r, mode)
	id, err := e.storeACLRule(ctx, &r)
	if err != nil {
		return false, err
	}
	a.AccessACL = id
	a.Mode = mode&0o7000 | aclMode(&r)
	return true, nil
}
