package dump

import (
	"strconv"

	"github.com/rueidisfs/rueidisfs/codec"
)

// This file writes the tree part of a dump. Every function appends to a byte
// slice; the layout is JuiceFS's, which it produces with hand-made
// formatting around compact JSON values.

const indentUnit = "  "

func appendIndent(dst []byte, depth int) []byte {
	for range depth {
		dst = append(dst, indentUnit...)
	}
	return dst
}

func appendUintField(dst []byte, name string, v uint64) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return strconv.AppendUint(dst, v, 10)
}

func appendIntField(dst []byte, name string, v int64) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return strconv.AppendInt(dst, v, 10)
}

// dumpedLength is the length a dump shows: the file size for regular files,
// 0 for every other type.
func dumpedLength(a *codec.Attr) uint64 {
	if a.Typ == codec.TypeFile {
		return a.Length
	}
	return 0
}

// appendAttr appends the compact "attr" object: fields in JuiceFS's order,
// flags, the nanoseconds, rdev and tier omitted when 0.
func appendAttr(dst []byte, ino codec.Ino, a *codec.Attr) []byte {
	dst = append(dst, `{"inode":`...)
	dst = strconv.AppendUint(dst, uint64(ino), 10)
	if a.Flags != 0 {
		dst = appendUintField(dst, "flags", uint64(a.Flags))
	}
	dst = append(dst, `,"type":"`...)
	dst = append(dst, a.Typ.String()...)
	dst = append(dst, '"')
	dst = appendUintField(dst, "mode", uint64(a.Mode))
	dst = appendUintField(dst, "uid", uint64(a.Uid))
	dst = appendUintField(dst, "gid", uint64(a.Gid))
	dst = appendIntField(dst, "atime", a.Atime)
	dst = appendIntField(dst, "mtime", a.Mtime)
	dst = appendIntField(dst, "ctime", a.Ctime)
	if a.Atimensec != 0 {
		dst = appendUintField(dst, "atimensec", uint64(a.Atimensec))
	}
	if a.Mtimensec != 0 {
		dst = appendUintField(dst, "mtimensec", uint64(a.Mtimensec))
	}
	if a.Ctimensec != 0 {
		dst = appendUintField(dst, "ctimensec", uint64(a.Ctimensec))
	}
	dst = appendUintField(dst, "nlink", uint64(a.Nlink))
	dst = appendUintField(dst, "length", dumpedLength(a))
	if a.Rdev != 0 {
		dst = appendUintField(dst, "rdev", uint64(a.Rdev))
	}
	if a.Tier != 0 {
		dst = appendUintField(dst, "tier", uint64(a.Tier))
	}
	return append(dst, '}')
}

// xattr is one extended attribute of a node.
type xattr struct{ name, value string }

// appendXattrs appends the "xattrs" array: names JSON-encoded as they are,
// values %-escaped first. xs must be sorted by name.
func appendXattrs(dst []byte, xs []xattr) []byte {
	dst = append(dst, '[')
	for i, x := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendJSONString(dst, x.name)
		dst = append(dst, `,"value":`...)
		dst = appendJSONString(dst, Escape(x.value))
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendACLEntries(dst []byte, es []codec.ACLEntry) []byte {
	if len(es) == 0 {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, e := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendUint(dst, uint64(e.ID), 10)
		dst = append(dst, `,"perm":`...)
		dst = strconv.AppendUint(dst, uint64(e.Perm), 10)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendACL appends a posix_acl_* object with the rule's raw values.
func appendACL(dst []byte, r *codec.ACLRule) []byte {
	dst = append(dst, `{"owner":`...)
	dst = strconv.AppendUint(dst, uint64(r.Owner), 10)
	dst = appendUintField(dst, "group", uint64(r.Group))
	dst = appendUintField(dst, "other", uint64(r.Other))
	dst = appendUintField(dst, "mask", uint64(r.Mask))
	dst = append(dst, `,"users":`...)
	dst = appendACLEntries(dst, r.NamedUsers)
	dst = append(dst, `,"groups":`...)
	dst = appendACLEntries(dst, r.NamedGroups)
	return append(dst, '}')
}

// chunk is the raw record list of one chunk of a file.
type chunk struct {
	index   uint32
	records []codec.SliceRecord
}

func appendChunk(dst []byte, c *chunk) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendUint(dst, uint64(c.index), 10)
	dst = append(dst, `,"slices":[`...)
	for i, s := range c.records {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendUint(dst, s.ID, 10)
		if s.Pos != 0 {
			dst = appendUintField(dst, "pos", uint64(s.Pos))
		}
		dst = appendUintField(dst, "size", uint64(s.Size))
		if s.Off != 0 {
			dst = appendUintField(dst, "off", uint64(s.Off))
		}
		dst = appendUintField(dst, "len", uint64(s.Len))
		dst = append(dst, '}')
	}
	return append(dst, ']', '}')
}

// node is everything the dump shows about one tree node.
type node struct {
	name       string // raw entry name ("FSTree"/"Trash" for the roots)
	ino        codec.Ino
	attr       codec.Attr
	target     string // symlink target
	xattrs     []xattr
	accessACL  *codec.ACLRule
	defaultACL *codec.ACLRule
	chunks     []chunk
}

func (n *node) isDir() bool { return n.attr.Typ == codec.TypeDirectory }

// appendField starts a field of a node at depth: ",\n" + indentation + name.
func appendField(dst []byte, depth int, name string) []byte {
	dst = append(dst, ',', '\n')
	dst = appendIndent(dst, depth+1)
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':', ' ')
}

// appendNodeStart appends the common beginning of a node at depth: name,
// attr, symlink (non-directories), xattrs and ACLs.
func appendNodeStart(dst []byte, n *node, depth int) []byte {
	dst = append(dst, '\n')
	dst = appendIndent(dst, depth)
	dst = append(dst, '"')
	dst = appendEscaped(dst, n.name)
	dst = append(dst, `": {`...)
	dst = append(dst, '\n')
	dst = appendIndent(dst, depth+1)
	dst = append(dst, `"attr": `...)
	dst = appendAttr(dst, n.ino, &n.attr)
	if !n.isDir() && n.target != "" {
		dst = appendField(dst, depth, "symlink")
		dst = append(dst, '"')
		dst = appendEscaped(dst, n.target)
		dst = append(dst, '"')
	}
	if len(n.xattrs) > 0 {
		dst = appendField(dst, depth, "xattrs")
		dst = appendXattrs(dst, n.xattrs)
	}
	if n.accessACL != nil {
		dst = appendField(dst, depth, "posix_acl_access")
		dst = appendACL(dst, n.accessACL)
	}
	if n.defaultACL != nil {
		dst = appendField(dst, depth, "posix_acl_default")
		dst = appendACL(dst, n.defaultACL)
	}
	return dst
}

// appendNode appends a complete non-directory node at depth.
func appendNode(dst []byte, n *node, depth int) []byte {
	dst = appendNodeStart(dst, n, depth)
	switch len(n.chunks) {
	case 0:
	case 1:
		dst = appendField(dst, depth, "chunks")
		dst = append(dst, '[')
		dst = appendChunk(dst, &n.chunks[0])
		dst = append(dst, ']')
	default:
		dst = appendField(dst, depth, "chunks")
		dst = append(dst, '[')
		for i := range n.chunks {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '\n')
			dst = appendIndent(dst, depth+2)
			dst = appendChunk(dst, &n.chunks[i])
		}
		dst = append(dst, '\n')
		dst = appendIndent(dst, depth+1)
		dst = append(dst, ']')
	}
	dst = append(dst, '\n')
	dst = appendIndent(dst, depth)
	return append(dst, '}')
}

// appendDirStart appends a directory node at depth up to and including the
// opening brace of its entries.
func appendDirStart(dst []byte, n *node, depth int) []byte {
	dst = appendNodeStart(dst, n, depth)
	dst = appendField(dst, depth, "entries")
	return append(dst, '{')
}

// appendDirEnd closes a directory node opened at depth.
func appendDirEnd(dst []byte, depth int) []byte {
	dst = append(dst, '\n')
	dst = appendIndent(dst, depth+1)
	dst = append(dst, '}', '\n')
	dst = appendIndent(dst, depth)
	return append(dst, '}')
}
