package vfs

import (
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// The internal files of a JuiceFS mount, with JuiceFS's inode numbers so
// that its tools recognise them: every inode from minInternal up is one of
// them (or the trash, which lives in the engine).
const (
	minInternal    Ino = 0x7FFFFFFF00000000
	accessLogIno       = minInternal + 1
	controlIno         = minInternal + 2
	statsIno           = minInternal + 3
	configIno          = minInternal + 4
	trashIno           = meta.TrashInode
	internalTTL        = time.Hour // kernel cache timeout of their entries
	trashName          = ".trash"
	internalPrefix     = ".jfs"
)

// IsInternal tells whether ino is an internal file or the trash's root.
// The trash's hour directories (numbered after the trash's root) are
// ordinary directories of the engine.
func IsInternal(ino Ino) bool { return ino >= minInternal && ino <= trashIno }

// internalNode is one internal file as lookups and getattr see it.
type internalNode struct {
	ino  Ino
	name string
	attr Attr
	// listed: shown in the root's listing (.control only resolves by name).
	listed bool
}

type internalNodes []internalNode

// newInternalNodes describes the internal files of a mount whose process
// runs as uid:gid and started at start; the trash is exposed only when the
// mount's root is the volume's.
func newInternalNodes(prefix bool, uid, gid uint32, start time.Time, withTrash bool) internalNodes {
	name := func(n string) string {
		if prefix {
			return internalPrefix + n
		}
		return n
	}
	file := func(mode uint16) Attr {
		return Attr{Typ: codec.TypeFile, Mode: mode, Nlink: 1, Uid: uid, Gid: gid,
			Atime: start.Unix(), Mtime: start.Unix(), Ctime: start.Unix()}
	}
	nodes := internalNodes{
		{ino: controlIno, name: name(".control"), attr: file(0o666)},
		{ino: accessLogIno, name: name(".accesslog"), attr: file(0o400), listed: true},
		{ino: statsIno, name: name(".stats"), attr: file(0o444), listed: true},
		{ino: configIno, name: name(".config"), attr: file(0o400), listed: true},
	}
	if withTrash {
		// As a juicefs mount shows it: size 0, owned by root, whatever the
		// trash inode stored in Redis says.
		trash := Attr{Typ: codec.TypeDirectory, Mode: 0o555, Nlink: 2,
			Atime: start.Unix(), Mtime: start.Unix(), Ctime: start.Unix(), Parent: RootInode}
		nodes = append(nodes, internalNode{ino: trashIno, name: name(trashName), attr: trash, listed: true})
	}
	return nodes
}

// byName finds the internal file named name in directory parent (kernel
// numbers): .control in any directory, the others in the root only.
func (ns internalNodes) byName(parent Ino, name string) *internalNode {
	if len(name) == 0 || name[0] != '.' {
		return nil
	}
	for i := range ns {
		n := &ns[i]
		if n.name == name && (parent == RootInode || n.ino == controlIno) {
			return n
		}
	}
	return nil
}

// byIno finds an internal file by inode.
func (ns internalNodes) byIno(ino Ino) *internalNode {
	for i := range ns {
		if ns[i].ino == ino {
			return &ns[i]
		}
	}
	return nil
}

// reserved tells whether name in parent is an internal file's name, which
// cannot be created, removed or renamed.
func (ns internalNodes) reserved(parent Ino, name string) bool {
	return parent == RootInode && ns.byName(parent, name) != nil
}
