package keyspace

import (
	"math"
	"strconv"
	"strings"

	"github.com/rueidisfs/rueidisfs/codec"
)

// The parsers below recognise key names of the volume (they check and strip
// the prefix) and accept numbers only in the canonical form the builders
// write: unsigned decimal, no sign, no leading zero. A key that does not
// round-trip exactly was not written by JuiceFS or rueidisfs, and is reported
// as not matching rather than aliasing another key.

// parseNum parses a canonical unsigned decimal number.
func parseNum(s string) (uint64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// parseNum32 is parseNum limited to 32 bits.
func parseNum32(s string) (uint32, bool) {
	n, ok := parseNum(s)
	if !ok || n > math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}

// numAfter parses name as prefix + tag + canonical number.
func (k Keys) numAfter(name, tag string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, k.prefix)
	if !ok {
		return 0, false
	}
	if rest, ok = strings.CutPrefix(rest, tag); !ok {
		return 0, false
	}
	return parseNum(rest)
}

func (k Keys) inoAfter(name, tag string) (codec.Ino, bool) {
	n, ok := k.numAfter(name, tag)
	return codec.Ino(n), ok
}

// ParseTxnMarker recognises a TxnMarker key and returns its id.
func (k Keys) ParseTxnMarker(name string) (uint64, bool) { return k.numAfter(name, txnMarkerTag) }

// ParseInodeKey recognises an Inode key and returns its inode.
func (k Keys) ParseInodeKey(name string) (codec.Ino, bool) { return k.inoAfter(name, "i") }

// ParseEntriesKey recognises an Entries key and returns its directory inode.
func (k Keys) ParseEntriesKey(name string) (codec.Ino, bool) { return k.inoAfter(name, "d") }

// ParseParentsKey recognises a Parents key and returns its inode.
func (k Keys) ParseParentsKey(name string) (codec.Ino, bool) { return k.inoAfter(name, "p") }

// ParseSymlinkKey recognises a Symlink key and returns its inode.
func (k Keys) ParseSymlinkKey(name string) (codec.Ino, bool) { return k.inoAfter(name, "s") }

// ParseXattrsKey recognises an Xattrs key and returns its inode.
func (k Keys) ParseXattrsKey(name string) (codec.Ino, bool) { return k.inoAfter(name, "x") }

// ParseFlockKey recognises a Flock key (also found as a member of Locked
// sets) and returns its inode.
func (k Keys) ParseFlockKey(name string) (codec.Ino, bool) { return k.inoAfter(name, "lockf") }

// ParsePlockKey recognises a Plock key (also found as a member of Locked
// sets) and returns its inode.
func (k Keys) ParsePlockKey(name string) (codec.Ino, bool) { return k.inoAfter(name, "lockp") }

// ParseSustainedKey recognises a Sustained key and returns its session ID.
func (k Keys) ParseSustainedKey(name string) (sid uint64, ok bool) {
	return k.numAfter(name, "session")
}

// ParseLockedKey recognises a Locked key and returns its session ID.
func (k Keys) ParseLockedKey(name string) (sid uint64, ok bool) {
	return k.numAfter(name, "locked")
}

// ParseChunkKey recognises a Chunk key and returns its inode and chunk index.
func (k Keys) ParseChunkKey(name string) (ino codec.Ino, indx uint32, ok bool) {
	rest, ok := strings.CutPrefix(name, k.prefix)
	if !ok {
		return 0, 0, false
	}
	if rest, ok = strings.CutPrefix(rest, "c"); !ok {
		return 0, 0, false
	}
	i, x, found := strings.Cut(rest, "_")
	if !found {
		return 0, 0, false
	}
	n, ok1 := parseNum(i)
	indx, ok2 := parseNum32(x)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return codec.Ino(n), indx, true
}

// ParseSliceRefField recognises a field of the SliceRef hash, "k{id}_{size}",
// and returns the slice ID and size.
func (k Keys) ParseSliceRefField(field string) (id uint64, size uint32, ok bool) {
	rest, ok := strings.CutPrefix(field, "k")
	if !ok {
		return 0, 0, false
	}
	i, s, found := strings.Cut(rest, "_")
	if !found {
		return 0, 0, false
	}
	id, ok1 := parseNum(i)
	size, ok2 := parseNum32(s)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return id, size, true
}

// ParseLegacySliceRefKey recognises a LegacySliceRef key and returns the
// slice ID and size.
func (k Keys) ParseLegacySliceRefKey(name string) (id uint64, size uint32, ok bool) {
	rest, ok := strings.CutPrefix(name, k.prefix)
	if !ok {
		return 0, 0, false
	}
	return k.ParseSliceRefField(rest)
}
