package codec

// ACLUnset marks an unset Owner/Group/Mask/Other permission in an ACLRule.
const ACLUnset uint16 = 0xFFFF

// ACLEntry is a named-user or named-group entry of an ACL rule.
type ACLEntry struct {
	ID   uint32 // uid or gid
	Perm uint16 // r=4, w=2, x=1
}

// ACLRule is a POSIX ACL as stored in the acl hash. Rules
// are immutable once stored and are referenced by ID from inode attributes.
type ACLRule struct {
	Owner       uint16
	Group       uint16
	Mask        uint16
	Other       uint16
	NamedUsers  []ACLEntry
	NamedGroups []ACLEntry
}

// EmptyACLRule returns a rule with every permission unset and no entries;
// setting it removes an ACL.
func EmptyACLRule() ACLRule {
	return ACLRule{Owner: ACLUnset, Group: ACLUnset, Mask: ACLUnset, Other: ACLUnset}
}

// IsEmpty reports whether r has no named entries and all four permissions
// unset. Such a rule is never stored.
func (r ACLRule) IsEmpty() bool {
	return len(r.NamedUsers)+len(r.NamedGroups) == 0 &&
		r.Owner&r.Group&r.Mask&r.Other == ACLUnset
}

// IsMinimal reports whether r is equivalent to plain mode bits: no named
// entries and no mask. JuiceFS folds a minimal access ACL into the mode
// instead of storing it (minimal default ACLs are stored).
func (r ACLRule) IsMinimal() bool {
	return len(r.NamedUsers)+len(r.NamedGroups) == 0 && r.Mask == ACLUnset
}

// Equal reports whether r and o encode to the same bytes (named entries are
// compared in order; a nil and an empty list are equal).
func (r ACLRule) Equal(o ACLRule) bool {
	return r.Owner == o.Owner && r.Group == o.Group && r.Mask == o.Mask && r.Other == o.Other &&
		equalEntries(r.NamedUsers, o.NamedUsers) && equalEntries(r.NamedGroups, o.NamedGroups)
}

func equalEntries(a, b []ACLEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// EncodedLen is the length of r's encoding: 16 + 6 per named entry.
func (r ACLRule) EncodedLen() int {
	return 16 + 6*(len(r.NamedUsers)+len(r.NamedGroups))
}

// Marshal returns the encoding of r.
func (r ACLRule) Marshal() []byte { return r.Append(make([]byte, 0, r.EncodedLen())) }

// Append appends the encoding of r to dst.
func (r ACLRule) Append(dst []byte) []byte {
	dst = put16(dst, r.Owner)
	dst = put16(dst, r.Group)
	dst = put16(dst, r.Mask)
	dst = put16(dst, r.Other)
	dst = appendACLEntries(dst, r.NamedUsers)
	return appendACLEntries(dst, r.NamedGroups)
}

func appendACLEntries(dst []byte, es []ACLEntry) []byte {
	dst = put32(dst, uint32(len(es)))
	for _, e := range es {
		dst = put16(put32(dst, e.ID), e.Perm)
	}
	return dst
}

// UnmarshalACLRule decodes an acl field value. The value must be exactly as
// long as its two counts say; anything else is corruption.
func UnmarshalACLRule[B Bytes](b B) (ACLRule, error) {
	if len(b) < 16 {
		return ACLRule{}, corruptf("ACL rule has %d bytes, need at least 16", len(b))
	}
	r := ACLRule{Owner: be16(b, 0), Group: be16(b, 2), Mask: be16(b, 4), Other: be16(b, 6)}
	users, off, ok := decodeACLEntries(b, 8)
	if !ok {
		return ACLRule{}, corruptf("ACL rule of %d bytes is too short for %d named users", len(b), be32(b, 8))
	}
	groups, end, ok := decodeACLEntries(b, off)
	if !ok {
		return ACLRule{}, corruptf("ACL rule of %d bytes is too short for its named groups", len(b))
	}
	if end != len(b) {
		return ACLRule{}, corruptf("ACL rule has %d trailing bytes", len(b)-end)
	}
	r.NamedUsers, r.NamedGroups = users, groups
	return r, nil
}

// decodeACLEntries reads a count and that many entries starting at off; it
// returns the offset after them.
func decodeACLEntries[B Bytes](b B, off int) ([]ACLEntry, int, bool) {
	if len(b)-off < 4 {
		return nil, 0, false
	}
	n := uint64(be32(b, off))
	off += 4
	if n*6 > uint64(len(b)-off) {
		return nil, 0, false
	}
	if n == 0 {
		return nil, off, true
	}
	es := make([]ACLEntry, n)
	for i := range es {
		es[i] = ACLEntry{ID: be32(b, off), Perm: be16(b, off+4)}
		off += 6
	}
	return es, off, true
}
