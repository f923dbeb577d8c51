package backup

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// The records of the format, one type per protobuf message. Byte fields of
// a decoded record alias the buffer it was decoded from: copy what must
// outlive the next record.

// FormatRecord is the volume's format: its setting JSON.
type FormatRecord struct{ Data []byte }

func (r *FormatRecord) reset() { *r = FormatRecord{} }
func (r *FormatRecord) set(num protowire.Number, typ protowire.Type, _ uint64, b []byte) error {
	if num == 1 {
		r.Data = b
		return wantBytes(typ)
	}
	return nil
}
func (r *FormatRecord) appendTo(b []byte) []byte { return appendBytes(b, 1, r.Data) }

// Counter is one counter of the volume, by JuiceFS's name ("nextInode",
// "usedSpace", ...).
type Counter struct {
	Key   string
	Value int64
}

func (r *Counter) reset() { *r = Counter{} }
func (r *Counter) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		r.Key = string(b)
		return wantBytes(typ)
	case 2:
		r.Value = int64(v)
		return wantVarint(typ)
	}
	return nil
}
func (r *Counter) appendTo(b []byte) []byte {
	return appendInt(appendString(b, 1, r.Key), 2, r.Value)
}

// Node is the attribute record of an inode (the value of i{ino}).
type Node struct {
	Inode uint64
	Data  []byte
}

func (r *Node) reset() { *r = Node{} }
func (r *Node) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		r.Inode = v
		return wantVarint(typ)
	case 2:
		r.Data = b
		return wantBytes(typ)
	}
	return nil
}
func (r *Node) appendTo(b []byte) []byte { return appendBytes(appendUint(b, 1, r.Inode), 2, r.Data) }

// Edge is a directory entry (a field of d{parent}).
type Edge struct {
	Parent, Inode uint64
	Name          []byte
	Type          uint32
}

func (r *Edge) reset() { *r = Edge{} }
func (r *Edge) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		r.Parent = v
		return wantVarint(typ)
	case 2:
		r.Inode = v
		return wantVarint(typ)
	case 3:
		r.Name = b
		return wantBytes(typ)
	case 4:
		r.Type = uint32(v)
		return wantVarint(typ)
	}
	return nil
}
func (r *Edge) appendTo(b []byte) []byte {
	b = appendUint(appendUint(b, 1, r.Parent), 2, r.Inode)
	return appendUint(appendBytes(b, 3, r.Name), 4, uint64(r.Type))
}

// Chunk is the slice list of one chunk (c{ino}_{index}): its 24-byte
// records, concatenated.
type Chunk struct {
	Inode  uint64
	Index  uint32
	Slices []byte
}

func (r *Chunk) reset() { *r = Chunk{} }
func (r *Chunk) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		r.Inode = v
		return wantVarint(typ)
	case 2:
		r.Index = uint32(v)
		return wantVarint(typ)
	case 3:
		r.Slices = b
		return wantBytes(typ)
	}
	return nil
}
func (r *Chunk) appendTo(b []byte) []byte {
	return appendBytes(appendUint(appendUint(b, 1, r.Inode), 2, uint64(r.Index)), 3, r.Slices)
}

// SliceRef is the reference count of a slice used more than once.
type SliceRef struct {
	ID   uint64
	Size uint32
	Refs int64
}

func (r *SliceRef) reset() { *r = SliceRef{} }
func (r *SliceRef) set(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
	switch num {
	case 1:
		r.ID = v
	case 2:
		r.Size = uint32(v)
	case 3:
		r.Refs = int64(v)
	default:
		return nil
	}
	return wantVarint(typ)
}
func (r *SliceRef) appendTo(b []byte) []byte {
	return appendInt(appendUint(appendUint(b, 1, r.ID), 2, uint64(r.Size)), 3, r.Refs)
}

// Xattr is one extended attribute.
type Xattr struct {
	Inode uint64
	Name  []byte
	Value []byte
}

func (r *Xattr) reset() { *r = Xattr{} }
func (r *Xattr) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		r.Inode = v
		return wantVarint(typ)
	case 2:
		r.Name = b
		return wantBytes(typ)
	case 3:
		r.Value = b
		return wantBytes(typ)
	}
	return nil
}
func (r *Xattr) appendTo(b []byte) []byte {
	return appendBytes(appendBytes(appendUint(b, 1, r.Inode), 2, r.Name), 3, r.Value)
}

// Parent counts the links of a hard-linked inode in one directory.
type Parent struct {
	Inode, Parent uint64
	Count         int64
}

func (r *Parent) reset() { *r = Parent{} }
func (r *Parent) set(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
	switch num {
	case 1:
		r.Inode = v
	case 2:
		r.Parent = v
	case 3:
		r.Count = int64(v)
	default:
		return nil
	}
	return wantVarint(typ)
}
func (r *Parent) appendTo(b []byte) []byte {
	return appendInt(appendUint(appendUint(b, 1, r.Inode), 2, r.Parent), 3, r.Count)
}

// Symlink is the target of a symbolic link.
type Symlink struct {
	Inode  uint64
	Target []byte
}

func (r *Symlink) reset() { *r = Symlink{} }
func (r *Symlink) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		r.Inode = v
		return wantVarint(typ)
	case 2:
		r.Target = b
		return wantBytes(typ)
	}
	return nil
}
func (r *Symlink) appendTo(b []byte) []byte {
	return appendBytes(appendUint(b, 1, r.Inode), 2, r.Target)
}

// Sustained lists the deleted but still open inodes of a session.
type Sustained struct {
	Sid    uint64
	Inodes []uint64
}

func (r *Sustained) reset() { r.Sid, r.Inodes = 0, r.Inodes[:0] }
func (r *Sustained) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		r.Sid = v
		return wantVarint(typ)
	case 2:
		var err error
		r.Inodes, err = appendRepeated(r.Inodes, typ, v, b)
		return err
	}
	return nil
}
func (r *Sustained) appendTo(b []byte) []byte {
	return appendPacked(appendUint(b, 1, r.Sid), 2, r.Inodes)
}

// DelFile is a deleted file whose data waits to be deleted.
type DelFile struct {
	Inode, Length uint64
	Expire        int64
}

func (r *DelFile) reset() { *r = DelFile{} }
func (r *DelFile) set(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
	switch num {
	case 1:
		r.Inode = v
	case 2:
		r.Length = v
	case 3:
		r.Expire = int64(v)
	default:
		return nil
	}
	return wantVarint(typ)
}
func (r *DelFile) appendTo(b []byte) []byte {
	return appendInt(appendUint(appendUint(b, 1, r.Inode), 2, r.Length), 3, r.Expire)
}

// DirStat is the statistics of a directory's direct children.
type DirStat struct {
	Inode                             uint64
	DataLength, UsedSpace, UsedInodes int64
}

func (r *DirStat) reset() { *r = DirStat{} }
func (r *DirStat) set(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
	switch num {
	case 1:
		r.Inode = v
	case 2:
		r.DataLength = int64(v)
	case 3:
		r.UsedSpace = int64(v)
	case 4:
		r.UsedInodes = int64(v)
	default:
		return nil
	}
	return wantVarint(typ)
}
func (r *DirStat) appendTo(b []byte) []byte {
	b = appendInt(appendInt(appendUint(b, 1, r.Inode), 2, r.DataLength), 3, r.UsedSpace)
	return appendInt(b, 4, r.UsedInodes)
}

// Quota is a directory (Type 0), user (1) or group (2) quota with its
// usage; Key is the directory inode, uid or gid. A limit of -1 was not set.
type Quota struct {
	Key                                        uint64
	MaxSpace, MaxInodes, UsedSpace, UsedInodes int64
	Type                                       uint32
}

func (r *Quota) reset() { *r = Quota{} }
func (r *Quota) set(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
	switch num {
	case 1:
		r.Key = v
	case 2:
		r.MaxSpace = int64(v)
	case 3:
		r.MaxInodes = int64(v)
	case 4:
		r.UsedSpace = int64(v)
	case 5:
		r.UsedInodes = int64(v)
	case 6:
		r.Type = uint32(v)
	default:
		return nil
	}
	return wantVarint(typ)
}
func (r *Quota) appendTo(b []byte) []byte {
	b = appendInt(appendInt(appendUint(b, 1, r.Key), 2, r.MaxSpace), 3, r.MaxInodes)
	b = appendInt(appendInt(b, 4, r.UsedSpace), 5, r.UsedInodes)
	return appendUint(b, 6, uint64(r.Type))
}

// ACL is one POSIX ACL rule, encoded as in the acl hash.
type ACL struct {
	ID   uint32
	Data []byte
}

func (r *ACL) reset() { *r = ACL{} }
func (r *ACL) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		r.ID = uint32(v)
		return wantVarint(typ)
	case 2:
		r.Data = b
		return wantBytes(typ)
	}
	return nil
}
func (r *ACL) appendTo(b []byte) []byte {
	return appendBytes(appendUint(b, 1, uint64(r.ID)), 2, r.Data)
}

// ChangeLog is a change-log entry; backups carry none from Redis, and
// loads skip them, as JuiceFS does.
type ChangeLog struct {
	Version int64
	Entry   []byte
}

func (r *ChangeLog) reset() { *r = ChangeLog{} }
func (r *ChangeLog) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		r.Version = int64(v)
		return wantVarint(typ)
	case 2:
		r.Entry = b
		return wantBytes(typ)
	}
	return nil
}
func (r *ChangeLog) appendTo(b []byte) []byte {
	return appendBytes(appendInt(b, 1, r.Version), 2, r.Entry)
}

// newRecord returns an empty record of the type carried by a Batch field.
func newRecord(field protowire.Number) message {
	switch field {
	case fieldNodes:
		return &Node{}
	case fieldEdges:
		return &Edge{}
	case fieldChunks:
		return &Chunk{}
	case fieldSliceRefs:
		return &SliceRef{}
	case fieldXattrs:
		return &Xattr{}
	case fieldParents:
		return &Parent{}
	case fieldSymlinks:
		return &Symlink{}
	case fieldSustained:
		return &Sustained{}
	case fieldDelFiles:
		return &DelFile{}
	case fieldDirStats:
		return &DirStat{}
	case fieldQuotas, fieldUserQuotas, fieldGroupQuotas:
		return &Quota{}
	case fieldACLs:
		return &ACL{}
	case fieldCounters:
		return &Counter{}
	case fieldChangeLogs:
		return &ChangeLog{}
	}
	return nil
}
