package meta

import (
	"context"
	"syscall"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Limits of extended attributes, as the official client's Linux file-system
// layer enforces them (the Linux XATTR_NAME_MAX and XATTR_SIZE_MAX).
const (
	MaxXattrNameLen  = 255
	MaxXattrValueLen = 65536
)

// Extended attributes live in the hash x{ino}: field = name, value = raw
// bytes. The two POSIX ACL names are never stored there; they are views of
// the inode's ACL rules (see SetFacl). As in the official client, the engine
// checks no permission for extended attributes (the kernel does, before the
// file system is asked) and does not touch the inode's ctime.

// checkXattrName applies the name rules shared by get, set and remove.
func checkXattrName(name string) error {
	if len(name) > MaxXattrNameLen {
		return syscall.ERANGE
	}
	if name == "" {
		return syscall.EINVAL
	}
	return nil
}

// GetXattr returns the value of extended attribute name of inode: ENODATA
// when it is not set (whether or not the inode exists), ERANGE for a name
// longer than 255 bytes, EINVAL for an empty name. The POSIX ACL names return
// the inode's ACL in the kernel's xattr layout (EncodeACLXattr), or ENODATA
// when it has none or the volume does not have ACLs enabled.
func (e *Engine) GetXattr(ctx context.Context, ino Ino, name string) ([]byte, error) {
	typ := aclXattrType(name)
	if typ != codec.ACLTypeNone && !e.aclEnabled() {
		return nil, syscall.ENODATA
	}
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	if typ != codec.ACLTypeNone {
		r, err := e.getFacl(ctx, ino, typ)
		if err != nil {
			return nil, err
		}
		return EncodeACLXattr(r), nil
	}
	if ino == 0 {
		ino = RootInode
	}
	v, ok, err := e.cachedHGet(ctx, e.keys.Xattrs(ino), name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, syscall.ENODATA
	}
	return []byte(v), nil
}

// ListXattr returns the names of the extended attributes of inode, in no
// particular order, followed by the POSIX ACL names for the ACLs the inode
// has. The Linux listxattr(2) buffer is these names, each followed by a NUL
// byte. ENOENT when the inode does not exist.
func (e *Engine) ListXattr(ctx context.Context, ino Ino) ([]string, error) {
	if ino == 0 {
		ino = RootInode
	}
	xkey, ikey := e.keys.Xattrs(ino), e.keys.Inode(ino)
	// Both reads in one round trip (or none, when cached).
	names0, namesHit := e.cacheHit(xkey, cmdHKeys, "")
	attr0, attrHit := e.cacheHit(ikey, cmdGet, "")
	res := []rueidis.RedisResult{names0, attr0}
	if !namesHit || !attrHit {
		res = e.readCachedMulti(ctx,
			e.rdb.B().Hkeys().Key(xkey).Cache(),
			e.getRead(ikey))
	}
	names, err := res[0].AsStrSlice()
	if err != nil {
		return nil, e.redisErr("HKEYS "+xkey, err)
	}
	v, ok, err := stringReply(e, "GET", ikey, res[1])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, syscall.ENOENT
	}
	attr, err := e.decodeAttr(ikey, v)
	if err != nil {
		return nil, err
	}
	if attr.AccessACL != codec.ACLNone {
		names = append(names, XattrACLAccess)
	}
	if attr.DefaultACL != codec.ACLNone {
		names = append(names, XattrACLDefault)
	}
	return names, nil
}

// SetXattr sets extended attribute name of inode to value. flags is 0,
// codec.XattrCreate (EEXIST if the attribute exists) or codec.XattrReplace
// (ENODATA if it does not); anything else is EINVAL, as is an empty name. A
// name longer than 255 bytes or a value longer than 65536 bytes is ERANGE.
// The inode's existence is not checked. The POSIX ACL names set the inode's
// ACL from a value in the kernel's xattr layout (see SetFacl; flags are
// ignored for them); they are ENOTSUP when the volume does not have ACLs
// enabled.
func (e *Engine) SetXattr(ctx context.Context, ino Ino, name string, value []byte, flags uint32) error {
	if len(value) > MaxXattrValueLen {
		return syscall.ERANGE
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	if typ := aclXattrType(name); typ != codec.ACLTypeNone {
		if !e.aclEnabled() {
			return syscall.ENOTSUP
		}
		r, err := DecodeACLXattr(value)
		if err != nil {
			return err
		}
		return e.SetFacl(ctx, ino, typ, r)
	}
	if e.readOnly() {
		return syscall.EROFS
	}
	if flags != 0 && flags != codec.XattrCreate && flags != codec.XattrReplace {
		return syscall.EINVAL
	}
	if ino == 0 {
		ino = RootInode
	}
	key := e.keys.Xattrs(ino)
	return e.runTx(ctx, func(tx *Tx) error {
		switch flags {
		case codec.XattrCreate:
			// No read: "absent" is a condition, and a conflict reply tells
			// us the attribute exists.
			tx.ExpectFieldAbsent(key, name)
			if _, present := tx.KnownField(key, name); present {
				return syscall.EEXIST
			}
		case codec.XattrReplace:
			if _, present, err := tx.HGet(key, name); err != nil {
				return err
			} else if !present {
				return syscall.ENODATA
			}
		}
		tx.HSet(key, name, string(value))
		if tx.Logging() {
			tx.Log("SETXATTR(%d,%s,%s,%d)", ino, logEscape(name), logEscape(string(value)), flags)
		}
		return nil
	})
}

// RemoveXattr removes extended attribute name of inode: ENODATA when it is
// not set, EINVAL for an empty name, ERANGE for a name longer than 255 bytes.
// The POSIX ACL names remove the inode's ACL of that type (SetFacl with the
// empty rule; no error when there is none); they are ENOTSUP when the volume
// does not have ACLs enabled.
func (e *Engine) RemoveXattr(ctx context.Context, ino Ino, name string) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	if typ := aclXattrType(name); typ != codec.ACLTypeNone {
		if !e.aclEnabled() {
			return syscall.ENOTSUP
		}
		return e.SetFacl(ctx, ino, typ, codec.EmptyACLRule())
	}
	if e.readOnly() {
		return syscall.EROFS
	}
	if ino == 0 {
		ino = RootInode
	}
	key := e.keys.Xattrs(ino)
	var removed int64
	err := e.runTx(ctx, func(tx *Tx) error {
		// The official client deletes without looking first and reports
		// ENODATA from HDEL's count (its change-log entry is written either
		// way); so do we, in one round trip and without reading the value.
		i := tx.WriteIndex()
		tx.HDel(key, name)
		if tx.Logging() {
			tx.Log("REMOVEXATTR(%d,%s)", ino, logEscape(name))
		}
		tx.AfterResults(func(results []rueidis.RedisMessage) {
			removed, _ = results[i].AsInt64()
		})
		return nil
	})
	if err != nil {
		return err
	}
	if removed == 0 {
		return syscall.ENODATA
	}
	return nil
}
