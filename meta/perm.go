package meta

import (
	"context"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Permission bits requested from Access.
const (
	MayRead  = 4
	MayWrite = 2
	MayExec  = 1
)

// checkAccess decides whether caller may access an inode with attribute a
// for mask (MayRead|MayWrite|MayExec). Root may do anything. With an access
// ACL whose group class is not empty the ACL decides; otherwise the owner,
// group or other mode bits do, the group bits applying when any of the
// caller's groups is the file's group.
func (e *Engine) checkAccess(ctx context.Context, c Caller, a *Attr, mask uint8) error {
	if c.Uid == 0 || mask == 0 {
		return nil
	}
	if a.AccessACL != 0 && a.Mode&0o070 != 0 {
		rule, err := e.aclRule(ctx, a.AccessACL)
		if err != nil {
			return err
		}
		if aclAllows(rule, c, a, mask) {
			return nil
		}
		return syscall.EACCES
	}
	if modeAllows(c, a, mask) {
		return nil
	}
	return syscall.EACCES
}

func modeAllows(c Caller, a *Attr, mask uint8) bool {
	var perm uint8
	switch {
	case c.Uid == a.Uid:
		perm = uint8(a.Mode>>6) & 7
	case c.inGroup(a.Gid):
		perm = uint8(a.Mode>>3) & 7
	default:
		perm = uint8(a.Mode) & 7
	}
	return perm&mask == mask
}

// aclAllows evaluates a POSIX access ACL: the owner entry for the owner, a
// named-user entry (limited by the mask) for a named user, then the owning
// and named groups (limited by the mask): any matching group that grants the
// request allows it, matching groups that all refuse deny it; otherwise the
// "other" entry decides.
func aclAllows(r *codec.ACLRule, c Caller, a *Attr, mask uint8) bool {
	grants := func(perm uint16) bool { return uint8(perm&7)&mask == mask }
	if c.Uid == a.Uid {
		return grants(r.Owner)
	}
	for _, u := range r.NamedUsers {
		if u.ID == c.Uid {
			return grants(u.Perm & r.Mask)
		}
	}
	matched := false
	if c.inGroup(a.Gid) {
		if grants(r.Group & r.Mask) {
			return true
		}
		matched = true
	}
	for _, g := range r.NamedGroups {
		if c.inGroup(g.ID) {
			if grants(g.Perm & r.Mask) {
				return true
			}
			matched = true
		}
	}
	if matched {
		return false
	}
	return grants(r.Other)
}

// Access checks whether the caller in ctx may access inode for mask. When
// attr is nil the attribute is fetched.
func (e *Engine) Access(ctx context.Context, ino Ino, mask uint8, attr *Attr) error {
	c := CallerOf(ctx)
	if c.Uid == 0 {
		return nil
	}
	if attr == nil {
		a, err := e.GetAttr(ctx, ino)
		if err != nil {
			return err
		}
		attr = &a
	}
	return e.checkAccess(ctx, c, attr, mask)
}

// stickyForbids reports the sticky-directory rule: in a directory with the
// sticky bit a non-root caller may remove or replace an entry only if it owns
// the directory or the entry.
func stickyForbids(c Caller, dir, child *Attr) bool {
	return c.Uid != 0 && dir.Mode&0o1000 != 0 && c.Uid != dir.Uid && c.Uid != child.Uid
}
