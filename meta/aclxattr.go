package meta

import (
	"encoding/binary"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Linux exposes the POSIX ACLs of an inode as two extended attributes. Their
// values use the kernel's posix_acl_xattr layout (what getfacl and setfacl
// exchange with the kernel), little-endian whatever the host:
//
//	header: version u32 (2)
//	entries: tag u16, perm u16, id u32
//
// with tags 0x01 owner, 0x02 named user, 0x04 owning group, 0x08 named group,
// 0x10 mask, 0x20 other; entries that name no one carry id 0xFFFFFFFF.
// The volume does not store these values: they are translated to and from
// the rules of the acl hash.
const (
	XattrACLAccess  = "system.posix_acl_access"
	XattrACLDefault = "system.posix_acl_default"
)

const (
	aclXattrVersion    = 2
	aclXattrHeaderSize = 4
	aclXattrEntrySize  = 8

	aclTagUserObj  = 0x01
	aclTagUser     = 0x02
	aclTagGroupObj = 0x04
	aclTagGroup    = 0x08
	aclTagMask     = 0x10
	aclTagOther    = 0x20

	aclUndefinedID = 0xFFFFFFFF
)

// aclXattrType maps the name of an ACL extended attribute to its ACL type,
// or returns 0 for any other name.
func aclXattrType(name string) uint8 {
	switch name {
	case XattrACLAccess:
		return codec.ACLTypeAccess
	case XattrACLDefault:
		return codec.ACLTypeDefault
	}
	return codec.ACLTypeNone
}

// EncodeACLXattr returns rule r in the posix_acl_xattr layout: owner, named
// users, owning group, named groups (named entries in the rule's order), the
// mask when set, other. Unset base permissions are written as 0xFFFF, as the
// official client does.
func EncodeACLXattr(r codec.ACLRule) []byte {
	n := 3 + len(r.NamedUsers) + len(r.NamedGroups)
	if r.Mask != codec.ACLUnset {
		n++
	}
	b := make([]byte, 0, aclXattrHeaderSize+n*aclXattrEntrySize)
	b = binary.LittleEndian.AppendUint32(b, aclXattrVersion)
	entry := func(tag, perm uint16, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	entry(aclTagUserObj, r.Owner, aclUndefinedID)
	for _, u := range r.NamedUsers {
		entry(aclTagUser, u.Perm, u.ID)
	}
	entry(aclTagGroupObj, r.Group, aclUndefinedID)
	for _, g := range r.NamedGroups {
		entry(aclTagGroup, g.Perm, g.ID)
	}
	if r.Mask != codec.ACLUnset {
		entry(aclTagMask, r.Mask, aclUndefinedID)
	}
	entry(aclTagOther, r.Other, aclUndefinedID)
	return b
}

// DecodeACLXattr parses a posix_acl_xattr value into a rule, with the
// official client's rules: the length must be 4 + 8·n and the first byte the
// version 2 (EINVAL otherwise); a repeated owner, owning-group, mask or other
// entry is EINVAL; named entries without a mask are EINVAL; entries with
// unknown tags are ignored. Base entries that are absent stay unset, and a
// value with no entries at all decodes to the empty rule (removal).
// Named entries keep their order and their perm values are not checked (the
// kernel validates both before the file system sees them).
func DecodeACLXattr(b []byte) (codec.ACLRule, error) {
	if len(b) < aclXattrHeaderSize || (len(b)-aclXattrHeaderSize)%aclXattrEntrySize != 0 || b[0] != aclXattrVersion {
		return codec.ACLRule{}, syscall.EINVAL
	}
	r := codec.EmptyACLRule()
	base := func(dst *uint16, perm uint16) bool {
		if *dst != codec.ACLUnset {
			return false
		}
		*dst = perm
		return true
	}
	for off := aclXattrHeaderSize; off < len(b); off += aclXattrEntrySize {
		tag := binary.LittleEndian.Uint16(b[off:])
		perm := binary.LittleEndian.Uint16(b[off+2:])
		id := binary.LittleEndian.Uint32(b[off+4:])
		ok := true
		switch tag {
		case aclTagUserObj:
			ok = base(&r.Owner, perm)
		case aclTagUser:
			r.NamedUsers = append(r.NamedUsers, codec.ACLEntry{ID: id, Perm: perm})
		case aclTagGroupObj:
			ok = base(&r.Group, perm)
		case aclTagGroup:
			r.NamedGroups = append(r.NamedGroups, codec.ACLEntry{ID: id, Perm: perm})
		case aclTagMask:
			ok = base(&r.Mask, perm)
		case aclTagOther:
			ok = base(&r.Other, perm)
		}
		if !ok {
			return codec.ACLRule{}, syscall.EINVAL
		}
	}
	if r.Mask == codec.ACLUnset && len(r.NamedUsers)+len(r.NamedGroups) > 0 {
		return codec.ACLRule{}, syscall.EINVAL
	}
	return r, nil
}
