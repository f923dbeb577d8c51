package codec

import "strconv"

// Ino is an inode number. It is its own type so that inode numbers cannot be
// mixed up with the many other 64-bit integers of the keyspace (slice IDs,
// session IDs, lengths).
type Ino uint64

// Special inode numbers.
const (
	// RootInode is the root directory. Inode 0 is invalid and is used as an
	// alias of the root by callers.
	RootInode Ino = 1
	// TrashInode is the trash root, visible as /.trash. Trash sub-directories
	// are TrashInode + n, n taken from the nextTrash counter.
	TrashInode Ino = 0x7FFFFFFF10000000
	// MinInternalInode is the base of the virtual files of the FUSE layer;
	// these inodes are never stored.
	MinInternalInode Ino = 0x7FFFFFFF00000000
	// AccessLogInode is the virtual .accesslog file (never stored).
	AccessLogInode = MinInternalInode + 1
	// ControlInode is the virtual .control file (never stored).
	ControlInode = MinInternalInode + 2
	// StatsInode is the virtual .stats file (never stored).
	StatsInode = MinInternalInode + 3
	// ConfigInode is the virtual .config file (never stored).
	ConfigInode = MinInternalInode + 4
	// MaxScriptInode is the largest inode number the official Lua scripts can
	// handle (they work with doubles); above it JuiceFS falls back to
	// client-side lookups.
	MaxScriptInode Ino = 1<<52 - 1
)

// TrashName is the name under which the trash root appears in the root
// directory. It has no entry in d1: it is resolved in code.
const TrashName = ".trash"

// IsValid reports whether i can name a node (0 is invalid).
func (i Ino) IsValid() bool { return i >= RootInode }

// IsTrash reports whether i is the trash root or a trash sub-directory.
func (i Ino) IsTrash() bool { return i >= TrashInode }

// IsNormal reports whether i is an ordinary node (root included), that is
// neither invalid nor part of the trash.
func (i Ino) IsNormal() bool { return i >= RootInode && i < TrashInode }

// String formats i the way it appears in key names: unsigned decimal.
func (i Ino) String() string { return strconv.FormatUint(uint64(i), 10) }

// Sizes and limits.
const (
	// ChunkSize is the span of file data covered by one c{ino}_{indx} list.
	ChunkSize = 64 << 20
	// MaxFileLength bounds the length of a file: every length is below it
	// (2^31 chunks, as juicefs's file system layer allows). A stored
	// length at or above it is corruption.
	MaxFileLength uint64 = ChunkSize << 31
	// AttrMinLen is the shortest attribute value a reader accepts (through
	// Rdev, written by very old clients).
	AttrMinLen = 63
	// EntrySize is the length of a directory entry value.
	EntrySize = 9
	// SliceRecordSize is the length of one element of a chunk list.
	SliceRecordSize = 24
	// EntryOffInode is where the inode number starts in an entry value
	// (after the type byte).
	EntryOffInode = 1
	// SliceOffID and SliceOffSize are where the slice id (8 bytes) and the
	// slice's size (4 bytes) start in a chunk list element (after the
	// 4-byte position).
	SliceOffID   = 4
	SliceOffSize = 12
	// DelSliceRecordSize is the length of one record of a delSlices value.
	DelSliceRecordSize = 12
	// QuotaSize is the length of a quota limit value.
	QuotaSize = 16
	// PosixLockSize is the length of one POSIX lock record.
	PosixLockSize = 24
	// MaxNameLen is the longest entry name, and the length trash entry
	// names are cut to.
	MaxNameLen = 255
	// MaxSymlinkLen is the longest symlink target.
	MaxSymlinkLen = 4096
	// MaxXattrNameLen is the longest extended attribute name.
	MaxXattrNameLen = 255
	// MaxXattrValueLen is the largest extended attribute value.
	MaxXattrValueLen = 65536
	// DirLength is the Length attribute of every directory.
	DirLength = 4096
	// InodeBatch is the number of inode numbers the official client reserves
	// with one INCRBY nextinode.
	InodeBatch = 1024
	// SliceIDBatch is the number of slice IDs the official client reserves
	// with one INCRBY nextchunk.
	SliceIDBatch = 4096
	// MaxCompactRecords is the most records one compaction merges.
	MaxCompactRecords = 1000
	// ForceCompactRecords is the chunk length at which writes compact
	// synchronously.
	ForceCompactRecords = 2500
	// MaxMetaVersion is the newest metadata schema version understood; a
	// volume with a larger Format.MetaVersion must not be opened.
	MaxMetaVersion = 1
)

// Align4K is the space charged for a node of the given length: 4096 for 0,
// otherwise the length rounded up to a multiple of 4096. Every accounting key
// (usedSpace, dirUsedSpace, quotas) sums this value.
func Align4K(n uint64) uint64 {
	if n == 0 {
		return 4096
	}
	return (n + 4095) &^ 4095
}

// FileType is the node type stored in bits 15..12 of the attribute mode and
// as the first byte of a directory entry.
type FileType uint8

// File types.
const (
	TypeFile      FileType = 1
	TypeDirectory FileType = 2
	TypeSymlink   FileType = 3
	TypeFIFO      FileType = 4
	TypeBlockDev  FileType = 5
	TypeCharDev   FileType = 6
	TypeSocket    FileType = 7
)

// Valid reports whether t is one of the seven types JuiceFS uses.
func (t FileType) Valid() bool { return t >= TypeFile && t <= TypeSocket }

// String returns the name JuiceFS dumps use for t ("regular", "directory",
// ...), or "unknown".
func (t FileType) String() string {
	switch t {
	case TypeFile:
		return "regular"
	case TypeDirectory:
		return "directory"
	case TypeSymlink:
		return "symlink"
	case TypeFIFO:
		return "fifo"
	case TypeBlockDev:
		return "blockdev"
	case TypeCharDev:
		return "chardev"
	case TypeSocket:
		return "socket"
	}
	return "unknown"
}

// ParseFileType is the inverse of FileType.String for the seven valid names.
func ParseFileType(s string) (FileType, bool) {
	for t := TypeFile; t <= TypeSocket; t++ {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}

// POSIX st_mode type bits (S_IF*), used to convert between FileType and a
// stat-style mode.
const (
	ModeTypeMask  = 0o170000
	modeFIFO      = 0o010000
	modeCharDev   = 0o020000
	modeDirectory = 0o040000
	modeBlockDev  = 0o060000
	modeFile      = 0o100000
	modeSymlink   = 0o120000
	modeSocket    = 0o140000
)

// StatMode returns the POSIX S_IF* bits of t (0 for an invalid type).
// Note that they differ from the type code JuiceFS stores in the attribute.
func (t FileType) StatMode() uint32 {
	switch t {
	case TypeFile:
		return modeFile
	case TypeDirectory:
		return modeDirectory
	case TypeSymlink:
		return modeSymlink
	case TypeFIFO:
		return modeFIFO
	case TypeBlockDev:
		return modeBlockDev
	case TypeCharDev:
		return modeCharDev
	case TypeSocket:
		return modeSocket
	}
	return 0
}

// FileTypeFromStatMode extracts the node type from a POSIX st_mode (as given
// to mknod); ok is false when the S_IF* bits name no known type.
func FileTypeFromStatMode(mode uint32) (t FileType, ok bool) {
	bits := mode & ModeTypeMask
	for t := TypeFile; t <= TypeSocket; t++ {
		if t.StatMode() == bits {
			return t, true
		}
	}
	return 0, false
}

// Attribute Flags bits.
const (
	FlagImmutable      uint8 = 0x01 // chattr +i: no change at all
	FlagAppend         uint8 = 0x02 // chattr +a: append only
	FlagWindowsHidden  uint8 = 0x04
	FlagWindowsSystem  uint8 = 0x08
	FlagWindowsArchive uint8 = 0x10
	FlagSkipTrash      uint8 = 0x20 // chattr +s: deletions bypass the trash; inherited by new children
)

// SetAttrMask selects which attributes a SetAttr call changes; the values are
// part of the change-log format.
type SetAttrMask uint16

// SetAttr mask bits.
const (
	SetAttrMode     SetAttrMask = 1 << 0
	SetAttrUID      SetAttrMask = 1 << 1
	SetAttrGID      SetAttrMask = 1 << 2
	SetAttrSize     SetAttrMask = 1 << 3
	SetAttrAtime    SetAttrMask = 1 << 4
	SetAttrMtime    SetAttrMask = 1 << 5
	SetAttrCtime    SetAttrMask = 1 << 6
	SetAttrAtimeNow SetAttrMask = 1 << 7
	SetAttrMtimeNow SetAttrMask = 1 << 8
	SetAttrCtimeNow SetAttrMask = 1 << 9
	SetAttrTier     SetAttrMask = 1 << 10
	SetAttrFlag     SetAttrMask = 1 << 15
)

// Rename flags.
const (
	RenameNoReplace uint32 = 1
	RenameExchange  uint32 = 2
	RenameWhiteout  uint32 = 4  // not supported by JuiceFS (ENOTSUP)
	RenameRestore   uint32 = 32 // internal: restore from trash, only with RenameNoReplace
)

// Xattr set flags, Linux values.
const (
	XattrCreate  uint32 = 1 // fail with EEXIST if the attribute exists
	XattrReplace uint32 = 2 // fail with ENODATA if it does not
)

// Fallocate modes.
const (
	FallocKeepSize      uint8 = 0x01
	FallocPunchHole     uint8 = 0x02 // only together with FallocKeepSize
	FallocCollapseRange uint8 = 0x08 // not supported
	FallocZeroRange     uint8 = 0x10
	FallocInsertRange   uint8 = 0x20 // not supported
)

// POSIX lock types as stored in lockp records: the Linux F_* values.
const (
	LockRead   uint32 = 0 // F_RDLCK
	LockWrite  uint32 = 1 // F_WRLCK
	LockUnlock uint32 = 2 // F_UNLCK
)

// Flock values of lockf hash fields.
const (
	FlockRead  = "R"
	FlockWrite = "W"
)

// QuotaType selects the quota family.
type QuotaType uint8

// Quota types.
const (
	QuotaDir   QuotaType = 0
	QuotaUser  QuotaType = 1
	QuotaGroup QuotaType = 2
	QuotaAll   QuotaType = 3 // query only
)

// ACL types.
const (
	ACLTypeNone    uint8 = 0
	ACLTypeAccess  uint8 = 1
	ACLTypeDefault uint8 = 2
)

// ACLNone is the ACL rule ID meaning "no rule" in AccessACL/DefaultACL.
const ACLNone uint32 = 0

// Clone mode bits.
const (
	CloneOverwrite         uint8 = 0x01
	ClonePreserveAttr      uint8 = 0x02
	ClonePreserveHardlinks uint8 = 0x08 // not implemented by JuiceFS
)

// Atime modes of the client option.
const (
	AtimeNo     = "noatime"
	AtimeRel    = "relatime"
	AtimeStrict = "strictatime"
)
