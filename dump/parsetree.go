package dump

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"

	"github.com/rueidisfs/rueidisfs/codec"
)

// nodeKind is where a node sits, which decides the inode numbers it may
// have and how it is counted.
type nodeKind uint8

const (
	kindTreeRoot  nodeKind = iota // FSTree: loaded as inode 1 whatever its number
	kindTrashRoot                 // Trash: the trash root inode
	kindTrashHour                 // children of the trash root: trash sub-directories
	kindNormal                    // any other node under FSTree
	kindTrashed                   // any node below a trash sub-directory
)

func (k nodeKind) childKind() nodeKind {
	switch k {
	case kindTrashRoot:
		return kindTrashHour
	case kindTrashHour, kindTrashed:
		return kindTrashed
	}
	return kindNormal
}

func (k nodeKind) inTrash() bool { return k == kindTrashRoot || k == kindTrashHour || k == kindTrashed }

type attrJSON struct {
	Inode     uint64 `json:"inode"`
	Flags     uint8  `json:"flags"`
	Type      string `json:"type"`
	Mode      uint16 `json:"mode"`
	Uid       uint32 `json:"uid"`
	Gid       uint32 `json:"gid"`
	Atime     int64  `json:"atime"`
	Mtime     int64  `json:"mtime"`
	Ctime     int64  `json:"ctime"`
	Atimensec uint32 `json:"atimensec"`
	Mtimensec uint32 `json:"mtimensec"`
	Ctimensec uint32 `json:"ctimensec"`
	Nlink     uint32 `json:"nlink"`
	Length    uint64 `json:"length"`
	Rdev      uint32 `json:"rdev"`
	Tier      uint8  `json:"tier"`
}

type xattrJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type aclEntryJSON struct {
	ID   uint32 `json:"id"`
	Perm uint16 `json:"perm"`
}

type aclJSON struct {
	Owner  uint16         `json:"owner"`
	Group  uint16         `json:"group"`
	Other  uint16         `json:"other"`
	Mask   uint16         `json:"mask"`
	Users  []aclEntryJSON `json:"users"`
	Groups []aclEntryJSON `json:"groups"`
}

type sliceJSON struct {
	ChunkID uint64 `json:"chunkid"` // legacy name of id
	ID      uint64 `json:"id"`
	Pos     uint32 `json:"pos"`
	Size    uint32 `json:"size"`
	Off     uint32 `json:"off"`
	Len     uint32 `json:"len"`
}

// nodeInfo is what a parent learns from a child.
type nodeInfo struct {
	ino     codec.Ino
	typ     codec.FileType
	length  uint64 // file length, 0 for other types
	subtree usage  // directories under FSTree: usage of everything below
}

// nodeState is a node being read.
type nodeState struct {
	kind   nodeKind
	ino    codec.Ino
	parent codec.Ino
	first  bool
	start  int64
	a      attrJSON
	typ    codec.FileType
	h      maphash.Hash
	fields uint8 // node fields met, as bits

	target     string
	xattrs     []xattrJSON
	access     *codec.ACLRule
	defaultACL *codec.ACLRule

	subdirs int64
	stat    dirStat
	subtree usage
}

const maxXattrs = 1 << 20

// Node fields, as bits of nodeState.fields.
var nodeFields = map[string]uint8{
	"attr": 1 << 0, "symlink": 1 << 1, "xattrs": 1 << 2, "posix_acl_access": 1 << 3,
	"posix_acl_default": 1 << 4, "chunks": 1 << 5, "entries": 1 << 6,
}

func (n *nodeState) hashUint(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	n.h.Write(b[:])
}

func (n *nodeState) hashString(s string) {
	n.hashUint(uint64(len(s)))
	n.h.WriteString(s)
}

// node reads one tree node (the parser is before its opening brace) and
// everything below it.
func (p *parser) node(kind nodeKind, parent codec.Ino, depth int) (nodeInfo, error) {
	n := &nodeState{kind: kind, parent: parent, start: p.dec.InputOffset()}
	if depth > p.maxDepth {
		return nodeInfo{}, p.failAt(n.start, "the tree is deeper than %d levels", p.maxDepth)
	}
	if _, err := p.open('{', false); err != nil {
		return nodeInfo{}, err
	}
	key, more, err := p.nextKey()
	if err != nil {
		return nodeInfo{}, err
	}
	if !more || key != "attr" {
		return nodeInfo{}, p.failAt(n.start, `a node must begin with its "attr"`)
	}
	n.fields = nodeFields["attr"]
	p.push(".attr")
	if err := p.decode(&n.a); err != nil {
		return nodeInfo{}, err
	}
	if err := p.checkAttr(n); err != nil {
		return nodeInfo{}, err
	}
	p.pop()
	n.h.SetSeed(p.seed)
	a := &n.a
	for _, v := range []uint64{uint64(a.Flags), uint64(n.typ), uint64(a.Mode), uint64(a.Uid), uint64(a.Gid),
		uint64(a.Atime), uint64(a.Mtime), uint64(a.Ctime), uint64(a.Atimensec), uint64(a.Mtimensec), uint64(a.Ctimensec),
		uint64(a.Length), uint64(a.Rdev), uint64(a.Tier)} {
		n.hashUint(v)
	}
	for {
		key, more, err := p.nextKey()
		if err != nil {
			return nodeInfo{}, err
		}
		if !more {
			break
		}
		bit, known := nodeFields[key]
		if !known {
			return nodeInfo{}, p.fail("unknown node field %q", key)
		}
		if n.fields&bit != 0 {
			return nodeInfo{}, p.fail("field %q appears twice", key)
		}
		n.fields |= bit
		p.push("." + key)
		if err := p.nodeField(n, key, depth); err != nil {
			return nodeInfo{}, err
		}
		p.pop()
	}
	return p.finishNode(n)
}

// checkAttr validates the attribute of n and decides its inode number.
func (p *parser) checkAttr(n *nodeState) error {
	a := &n.a
	typ, ok := codec.ParseFileType(a.Type)
	if !ok {
		return p.fail("type %q is not one of regular, directory, symlink, fifo, blockdev, chardev, socket", a.Type)
	}
	n.typ = typ
	ino := codec.Ino(a.Inode)
	switch n.kind {
	case kindTreeRoot:
		if !ino.IsValid() || ino >= codec.MinInternalInode {
			return p.fail("inode %d is not a valid inode number", a.Inode)
		}
		p.rootDumpedIno = ino
		if typ != codec.TypeDirectory {
			return p.fail("the root of the tree is a %s, not a directory", a.Type)
		}
	case kindTrashRoot:
		if ino != codec.TrashInode {
			return p.fail("the trash root must be inode %d, not %d", codec.TrashInode, a.Inode)
		}
		if typ != codec.TypeDirectory {
			return p.fail("the trash root is a %s, not a directory", a.Type)
		}
	case kindTrashHour:
		if ino <= codec.TrashInode {
			return p.fail("inode %d is not a trash sub-directory inode (above %d)", a.Inode, codec.TrashInode)
		}
		if typ != codec.TypeDirectory {
			return p.fail("a trash sub-directory is a %s, not a directory", a.Type)
		}
	default:
		if ino <= codec.RootInode || ino >= codec.MinInternalInode {
			return p.fail("inode %d is not a valid inode number for a node here", a.Inode)
		}
		if ino == p.rootDumpedIno {
			return p.fail("inode %d is the root of the dumped tree and cannot appear below it", a.Inode)
		}
	}
	if a.Mode > 0o7777 {
		return p.fail("mode %d is more than 12 permission bits (max %d)", a.Mode, 0o7777)
	}
	for _, ns := range []uint32{a.Atimensec, a.Mtimensec, a.Ctimensec} {
		if ns >= 1e9 {
			return p.fail("nanoseconds %d are not below one second", ns)
		}
	}
	if a.Length >= codec.MaxFileLength {
		return p.fail("length %d is beyond the largest file (%d)", a.Length, codec.MaxFileLength-1)
	}
	if n.kind == kindTreeRoot {
		ino = codec.RootInode // a sub-directory dump becomes the root
	}
	n.ino = ino
	n.first = !p.isSeen(ino)
	if typ == codec.TypeDirectory && !n.first {
		return p.failAt(n.start, "directory inode %d appears more than once (a hard-linked directory or a cycle)", a.Inode)
	}
	p.markSeen(ino)
	if n.kind == kindTreeRoot {
		p.markSeen(p.rootDumpedIno)
	}
	return nil
}

func (p *parser) nodeField(n *nodeState, key string, depth int) error {
	switch key {
	case "symlink":
		if n.typ != codec.TypeSymlink {
			return p.fail("a %s has no symlink target", n.a.Type)
		}
		var s string
		if err := p.decode(&s); err != nil {
			return err
		}
		t := Unescape(s)
		switch {
		case t == "":
			return p.fail("empty symlink target")
		case len(t) > codec.MaxSymlinkLen:
			return p.fail("symlink target of %d bytes (max %d)", len(t), codec.MaxSymlinkLen)
		case strings.IndexByte(t, 0) >= 0:
			return p.fail("symlink target contains a NUL byte")
		}
		n.target = t
		n.hashString(t)
	case "xattrs":
		if err := p.decode(&n.xattrs); err != nil {
			return err
		}
		return p.checkXattrs(n)
	case "posix_acl_access", "posix_acl_default":
		var aj *aclJSON
		if err := p.decode(&aj); err != nil {
			return err
		}
		if aj != nil {
			if key == "posix_acl_default" && n.typ != codec.TypeDirectory {
				return p.fail("a %s has no default ACL (only directories have one)", n.a.Type)
			}
			if err := checkACL(aj); err != nil {
				return p.fail("%v", err)
			}
			r := aclRule(aj)
			if key == "posix_acl_access" {
				n.access = &r
			} else {
				n.defaultACL = &r
			}
			n.hashString(key)
			n.hashString(string(r.Marshal()))
		}
	case "chunks":
		if n.typ != codec.TypeFile {
			return p.fail("a %s has no chunks", n.a.Type)
		}
		return p.chunks(n)
	case "entries":
		if n.typ != codec.TypeDirectory {
			return p.fail("a %s has no entries", n.a.Type)
		}
		return p.entries(n, depth)
	case "attr":
		return p.fail(`field "attr" appears twice`)
	}
	return nil
}

// checkACL refuses permissions an ACL cannot hold: more than rwx (7),
// except unset (codec.ACLUnset) for the owner, group, mask and other, and
// one user or group named twice.
func checkACL(aj *aclJSON) error {
	for _, f := range []struct {
		name string
		perm uint16
	}{{"owner", aj.Owner}, {"group", aj.Group}, {"mask", aj.Mask}, {"other", aj.Other}} {
		if f.perm > 7 && f.perm != codec.ACLUnset {
			return fmt.Errorf("ACL %s permission %d is not 0 to 7", f.name, f.perm)
		}
	}
	for _, list := range []struct {
		name    string
		entries []aclEntryJSON
	}{{"user", aj.Users}, {"group", aj.Groups}} {
		seen := make(map[uint32]bool, len(list.entries))
		for _, e := range list.entries {
			if e.Perm > 7 {
				return fmt.Errorf("ACL %s %d permission %d is not 0 to 7", list.name, e.ID, e.Perm)
			}
			if seen[e.ID] {
				return fmt.Errorf("ACL names %s %d twice", list.name, e.ID)
			}
			seen[e.ID] = true
		}
	}
	return nil
}

func aclRule(aj *aclJSON) codec.ACLRule {
	r := codec.ACLRule{Owner: aj.Owner, Group: aj.Group, Mask: aj.Mask, Other: aj.Other}
	for _, e := range aj.Users {
		r.NamedUsers = append(r.NamedUsers, codec.ACLEntry{ID: e.ID, Perm: e.Perm})
	}
	for _, e := range aj.Groups {
		r.NamedGroups = append(r.NamedGroups, codec.ACLEntry{ID: e.ID, Perm: e.Perm})
	}
	return r
}

func (p *parser) checkXattrs(n *nodeState) error {
	if len(n.xattrs) > maxXattrs {
		return p.fail("%d extended attributes", len(n.xattrs))
	}
	names := make(map[string]bool, len(n.xattrs))
	for i := range n.xattrs {
		x := &n.xattrs[i]
		switch {
		case x.Name == "":
			return p.fail("extended attribute %d has no name", i)
		case len(x.Name) > codec.MaxXattrNameLen:
			return p.fail("extended attribute name of %d bytes (max %d)", len(x.Name), codec.MaxXattrNameLen)
		case strings.IndexByte(x.Name, 0) >= 0:
			return p.fail("extended attribute name %q contains a NUL byte", x.Name)
		case names[x.Name]:
			return p.fail("extended attribute %q appears twice", x.Name)
		}
		names[x.Name] = true
		x.Value = Unescape(x.Value)
		if len(x.Value) > codec.MaxXattrValueLen {
			return p.fail("extended attribute %q has a value of %d bytes (max %d)", x.Name, len(x.Value), codec.MaxXattrValueLen)
		}
		n.hashString(x.Name)
		n.hashString(x.Value)
	}
	return nil
}

// chunks reads the chunk list of a file, record by record, queueing RPUSHes
// of at most hashBatch records for a first occurrence.
func (p *parser) chunks(n *nodeState) error {
	ok, err := p.open('[', true)
	if err != nil || !ok {
		return err
	}
	next := uint64(0) // smallest index the next chunk may have
	for i := 0; p.dec.More(); i++ {
		p.push(fmt.Sprintf("[%d]", i))
		if err := p.chunk(n, &next); err != nil {
			return err
		}
		p.pop()
	}
	_, err = p.token()
	return err
}

func (p *parser) chunk(n *nodeState, next *uint64) error {
	if _, err := p.open('{', false); err != nil {
		return err
	}
	var index uint64
	haveIndex := false
	for {
		key, more, err := p.nextKey()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch key {
		case "index":
			var idx uint32
			if err := p.decode(&idx); err != nil {
				return err
			}
			if haveIndex {
				return p.fail(`"index" appears twice`)
			}
			if uint64(idx) < *next {
				return p.fail("chunk index %d is not above the previous one (chunks must be in ascending order)", idx)
			}
			index, haveIndex = uint64(idx), true
			*next = index + 1
			n.hashUint(index)
		case "slices":
			if !haveIndex {
				return p.fail(`a chunk's "index" must come before its "slices"`)
			}
			p.push(".slices")
			if err := p.slices(n, uint32(index)); err != nil {
				return err
			}
			p.pop()
		default:
			if err := p.skip(); err != nil {
				return err
			}
		}
	}
	if !haveIndex {
		return p.fail(`a chunk has no "index"`)
	}
	return nil
}

func (p *parser) slices(n *nodeState, index uint32) error {
	ok, err := p.open('[', true)
	if err != nil || !ok {
		return err
	}
	key := p.keys.Chunk(n.ino, index)
	batch := newCmdBatch(p.sp, hashBatch, "RPUSH", key)
	n.hashUint(0xC0FFEE) // separates chunks in the fingerprint
	for i := 0; p.dec.More(); i++ {
		var s sliceJSON
		p.push(fmt.Sprintf("[%d]", i))
		if err := p.decode(&s); err != nil {
			return err
		}
		if s.ID == 0 {
			s.ID = s.ChunkID
		}
		if uint64(s.Pos)+uint64(s.Len) > codec.ChunkSize {
			return p.fail("slice at %d of length %d ends beyond the %d bytes of a chunk", s.Pos, s.Len, codec.ChunkSize)
		}
		if s.ID != 0 && uint64(s.Off)+uint64(s.Len) > uint64(s.Size) {
			return p.fail("slice piece at offset %d of length %d ends beyond the slice size %d", s.Off, s.Len, s.Size)
		}
		p.pop()
		for _, v := range []uint64{s.ID, uint64(s.Pos), uint64(s.Size), uint64(s.Off), uint64(s.Len)} {
			n.hashUint(v)
		}
		if !n.first {
			continue
		}
		rec := codec.SliceRecord{Pos: s.Pos, ID: s.ID, Size: s.Size, Off: s.Off, Len: s.Len}
		if s.ID != 0 {
			p.refs = append(p.refs, sliceKey{s.ID, s.Size})
		}
		p.maxChunk = max(p.maxChunk, s.ID)
		if err := batch.add(string(rec.Marshal())); err != nil {
			return err
		}
	}
	if err := batch.flush(); err != nil {
		return err
	}
	_, err = p.token()
	return err
}

// validName checks an entry name after unescaping.
func validName(name string) string {
	switch {
	case name == "":
		return "empty entry name"
	case name == "." || name == "..":
		return fmt.Sprintf("entry name %q is not allowed", name)
	case len(name) > codec.MaxNameLen:
		return fmt.Sprintf("entry name of %d bytes (max %d)", len(name), codec.MaxNameLen)
	case strings.IndexByte(name, '/') >= 0:
		return fmt.Sprintf("entry name %q contains '/'", name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Sprintf("entry name %q contains a NUL byte", name)
	}
	return ""
}

// entries reads the entries of directory n, queueing HSETs of at most
// hashBatch entries, and computes its statistics, link count and usage.
func (p *parser) entries(n *nodeState, depth int) error {
	if _, err := p.open('{', false); err != nil {
		return err
	}
	dkey := p.keys.Entries(n.ino)
	batch := newCmdBatch(p.sp, 2*hashBatch, "HSET", dkey)
	names := map[uint64]struct{}{}
	for {
		key, more, err := p.nextKey()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		p.push("[" + strconv.Quote(key) + "]")
		name := Unescape(key)
		if msg := validName(name); msg != "" {
			return p.fail("%s", msg)
		}
		h := maphash.String(p.seed, name)
		if _, dup := names[h]; dup {
			return p.fail("entry %q appears twice in the directory", key)
		}
		names[h] = struct{}{}
		c, err := p.node(n.kind.childKind(), n.ino, depth+1)
		if err != nil {
			return err
		}
		p.pop()
		if err := batch.add(name, string(codec.Entry{Typ: c.typ, Inode: c.ino}.Marshal())); err != nil {
			return err
		}
		space := int64(codec.Align4K(c.length))
		n.stat.length += int64(c.length)
		n.stat.space += space
		n.stat.inodes++
		if c.typ == codec.TypeDirectory {
			if n.ino < codec.TrashInode {
				n.subdirs++
			}
			n.subtree.space += c.subtree.space
			n.subtree.inodes += c.subtree.inodes
		}
		n.subtree.space += space
		n.subtree.inodes++
		if n.stat.length < 0 || n.stat.space < 0 || n.subtree.space < 0 {
			return p.fail("the lengths in this directory add up to more than %d bytes", int64(math.MaxInt64))
		}
	}
	return batch.flush()
}

// finishNode writes a first occurrence, or records a later one, once the
// node has been read entirely.
func (p *parser) finishNode(n *nodeState) (nodeInfo, error) {
	a := &n.a
	info := nodeInfo{ino: n.ino, typ: n.typ, subtree: n.subtree}
	if n.typ == codec.TypeFile {
		info.length = a.Length
	}
	if n.typ == codec.TypeSymlink && n.target == "" {
		return info, p.failAt(n.start, "symlink inode %d has no target", a.Inode)
	}
	fp := n.h.Sum64()
	p.countUserGroup(n, info.length)
	p.nodes++
	if p.progress != nil && p.nodes%ProgressEvery == 0 {
		p.progress(p.nodes, p.counterTotal())
	}
	if !n.first {
		p.dups = append(p.dups, duplicate{ino: n.ino, parent: n.parent, fp: fp, offset: n.start, path: p.pathString()})
		return info, nil
	}
	attr := codec.Attr{Flags: a.Flags, Typ: n.typ, Mode: a.Mode, Uid: a.Uid, Gid: a.Gid,
		Atime: a.Atime, Mtime: a.Mtime, Ctime: a.Ctime, Atimensec: a.Atimensec, Mtimensec: a.Mtimensec, Ctimensec: a.Ctimensec,
		Nlink: 1, Rdev: a.Rdev, Parent: n.parent, Tier: a.Tier}
	switch n.typ {
	case codec.TypeFile:
		attr.Length = a.Length
	case codec.TypeDirectory:
		attr.Length = codec.DirLength
		attr.Nlink = uint32(min(2+n.subdirs, 1<<32-1))
		if err := p.stats.add(p.sp, n.ino, n.stat); err != nil {
			return info, err
		}
		if n.kind == kindTreeRoot || n.kind == kindNormal {
			p.dirUsage[n.ino] = n.subtree
		}
	case codec.TypeSymlink:
		attr.Length = uint64(len(n.target))
		if err := p.sp.add("SET", p.keys.Symlink(n.ino), n.target); err != nil {
			return info, err
		}
	}
	if len(n.xattrs) > 0 {
		batch := newCmdBatch(p.sp, 2*hashBatch, "HSET", p.keys.Xattrs(n.ino))
		for _, x := range n.xattrs {
			if err := batch.add(x.Name, x.Value); err != nil {
				return info, err
			}
		}
		if err := batch.flush(); err != nil {
			return info, err
		}
	}
	attr.AccessACL = p.aclID(n.access)
	attr.DefaultACL = p.aclID(n.defaultACL)
	if err := p.sp.addAttr(n.ino, fp, p.keys.Inode(n.ino), attr.Marshal()); err != nil {
		return info, err
	}
	switch {
	case n.ino.IsNormal():
		p.maxIno = max(p.maxIno, uint64(n.ino))
	case n.ino > codec.TrashInode:
		p.maxTrash = max(p.maxTrash, uint64(n.ino-codec.TrashInode))
	}
	if n.ino != codec.RootInode && n.ino != codec.TrashInode {
		p.usedSpace += int64(codec.Align4K(info.length))
		p.totalInodes++
		if p.usedSpace < 0 {
			// Each length is below 2^57: a sum past 2^63 wraps negative.
			return info, p.fail("the lengths of the volume add up to more than %d bytes", int64(math.MaxInt64))
		}
	}
	return info, nil
}

// aclID returns the new ID of a rule: IDs are given from 1 in the order in
// which distinct rules are first met, nodes being numbered when they end.
func (p *parser) aclID(r *codec.ACLRule) uint32 {
	if r == nil {
		return codec.ACLNone
	}
	enc := string(r.Marshal())
	if id, ok := p.acls[enc]; ok {
		return id
	}
	p.aclRules = append(p.aclRules, enc)
	id := uint32(len(p.aclRules))
	p.acls[enc] = id
	return id
}

// countUserGroup adds a node to the user and group usage the way the
// official full scan counts it: every entry creates its owner's records;
// regular files (once per inode) and directories are charged; the roots are
// not entries and not counted.
func (p *parser) countUserGroup(n *nodeState, length uint64) {
	if n.kind == kindTreeRoot || n.kind == kindTrashRoot {
		return
	}
	ug := &p.ugTree
	if n.kind.inTrash() {
		ug = &p.ugTrash
	}
	u, g := ug.entry(n.a.Uid, n.a.Gid)
	var space int64
	switch {
	case !n.first:
		return
	case n.typ == codec.TypeFile:
		space = int64(codec.Align4K(length))
	case n.typ == codec.TypeDirectory:
		space = codec.DirLength
	default:
		return
	}
	u.space += space
	u.inodes++
	g.space += space
	g.inodes++
}

func (p *parser) counterTotal() int64 {
	if p.counters == nil {
		return 0
	}
	return p.counters.UsedInodes
}
