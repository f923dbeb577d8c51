package codec

// Attr holds the attributes of a node as stored in i{ino}.
type Attr struct {
	Flags      uint8    // Flag* bits
	Typ        FileType // node type, stored in the top 4 bits of the mode field
	Mode       uint16   // permission bits incl. setuid/setgid/sticky (low 12 bits)
	Uid        uint32
	Gid        uint32
	Atime      int64  // Unix seconds
	Mtime      int64  // Unix seconds
	Ctime      int64  // Unix seconds
	Atimensec  uint32 // 0..999999999
	Mtimensec  uint32
	Ctimensec  uint32
	Nlink      uint32 // directories: 2 + sub-directories; others: hard links
	Length     uint64 // file size; 4096 for directories; target length for symlinks
	Rdev       uint32 // device number of block/char devices
	Parent     Ino    // parent directory; 0 means "several, see p{ino}"
	AccessACL  uint32 // access ACL rule ID, 0 = none
	DefaultACL uint32 // default ACL rule ID, 0 = none
	Tier       uint8  // storage tier ID
}

// Byte offsets of the fields of an attribute value, as Append writes them
// (big-endian integers). meta's server-side scripts read some of them and
// take them from here.
const (
	AttrOffFlags     = 0
	AttrOffMode      = 1 // the mode field: type code in the top 4 bits
	AttrOffUid       = 3
	AttrOffGid       = 7
	AttrOffAtime     = 11
	AttrOffAtimensec = 19
	AttrOffMtime     = 23
	AttrOffMtimensec = 31
	AttrOffCtime     = 35
	AttrOffCtimensec = 43
	AttrOffNlink     = 47
	AttrOffLength    = 51
	AttrOffRdev      = 59
	AttrOffParent    = 63 // AttrMinLen: what follows is optional
	AttrOffACL       = 71 // access ACL id, then default ACL id
)

// Attribute value lengths written by JuiceFS 1.4.1.
const (
	attrBaseLen = 72 // through Parent, plus the padding byte
	attrACLLen  = 8
	attrTierLen = 1
)

// ModeField returns the 16-bit mode field as stored: type code in bits
// 15..12, permission bits below.
func (a *Attr) ModeField() uint16 {
	return uint16(a.Typ)<<12 | a.Mode&0o7777
}

// SMode returns the POSIX st_mode of the node: the S_IF* type bits plus the
// permission bits (e.g. 0o100644 for a 0644 regular file), the value stat(2)
// reports and JuiceFS's Attr.SMode returns. For the stored 16-bit form use
// ModeField.
func (a *Attr) SMode() uint32 {
	return a.Typ.StatMode() | uint32(a.Mode&0o7777)
}

// EncodedLen is the length of the value Marshal produces: 72 bytes, plus 8
// when an ACL ID is set, plus 1 when Tier is not 0.
func (a *Attr) EncodedLen() int {
	n := attrBaseLen
	if a.AccessACL != 0 || a.DefaultACL != 0 {
		n += attrACLLen
	}
	if a.Tier != 0 {
		n += attrTierLen
	}
	return n
}

// Marshal encodes a exactly as JuiceFS 1.4.1 does, including the trailing
// 0x00 byte every JuiceFS attribute value ends with (its writer sizes the
// buffer one byte larger than it fills).
func (a *Attr) Marshal() []byte {
	return a.Append(make([]byte, 0, a.EncodedLen()))
}

// Append appends the encoding of a (see Marshal) to dst.
//
// JuiceFS sizes the ACL part with AccessACL|DefaultACL != 0 but writes it
// only if AccessACL+DefaultACL > 0 in uint32 arithmetic; the two differ only
// for rule IDs near 2^32, which are never allocated, so both tests are the
// first one here.
func (a *Attr) Append(dst []byte) []byte {
	dst = append(dst, a.Flags)
	dst = put16(dst, a.ModeField())
	dst = put32(dst, a.Uid)
	dst = put32(dst, a.Gid)
	dst = put64(dst, uint64(a.Atime))
	dst = put32(dst, a.Atimensec)
	dst = put64(dst, uint64(a.Mtime))
	dst = put32(dst, a.Mtimensec)
	dst = put64(dst, uint64(a.Ctime))
	dst = put32(dst, a.Ctimensec)
	dst = put32(dst, a.Nlink)
	dst = put64(dst, a.Length)
	dst = put32(dst, a.Rdev)
	dst = put64(dst, uint64(a.Parent))
	if a.AccessACL != 0 || a.DefaultACL != 0 {
		dst = put32(dst, a.AccessACL)
		dst = put32(dst, a.DefaultACL)
	}
	if a.Tier != 0 {
		dst = append(dst, a.Tier)
	}
	return append(dst, 0)
}

// UnmarshalAttr decodes an i{ino} value into *a, overwriting every field.
//
// It follows the JuiceFS 1.4.1 reader: bytes 0..62 are mandatory; Parent is
// read if 8 more bytes follow (else 0, as in values of very old clients); the
// two ACL IDs if 8 more follow (else 0); Tier from the next byte if any (so
// the padding byte of a 72- or 80-byte value reads as tier 0); anything after
// that is ignored. A value shorter than 63 bytes, including an empty one, is
// a *CorruptError and leaves *a unchanged.
func UnmarshalAttr[B Bytes](b B, a *Attr) error {
	if len(b) < AttrMinLen {
		return corruptf("attribute record has %d bytes, need at least %d", len(b), AttrMinLen)
	}
	mode := be16(b, AttrOffMode)
	*a = Attr{
		Flags:     b[AttrOffFlags],
		Typ:       FileType(mode >> 12),
		Mode:      mode & 0o7777,
		Uid:       be32(b, AttrOffUid),
		Gid:       be32(b, AttrOffGid),
		Atime:     int64(be64(b, AttrOffAtime)),
		Atimensec: be32(b, AttrOffAtimensec),
		Mtime:     int64(be64(b, AttrOffMtime)),
		Mtimensec: be32(b, AttrOffMtimensec),
		Ctime:     int64(be64(b, AttrOffCtime)),
		Ctimensec: be32(b, AttrOffCtimensec),
		Nlink:     be32(b, AttrOffNlink),
		Length:    be64(b, AttrOffLength),
		Rdev:      be32(b, AttrOffRdev),
	}
	off := AttrOffParent
	if len(b)-off >= 8 {
		a.Parent = Ino(be64(b, off))
		off += 8
	}
	if len(b)-off >= 8 {
		a.AccessACL = be32(b, off)
		a.DefaultACL = be32(b, off+4)
		off += 8
	}
	if len(b)-off >= 1 {
		a.Tier = b[off]
	}
	switch {
	case !a.Typ.Valid():
		return corruptf("attribute has unknown type %d", a.Typ)
	case a.Length >= MaxFileLength:
		return corruptf("attribute has length %d, beyond the largest file (%d)", a.Length, MaxFileLength-1)
	}
	return nil
}
