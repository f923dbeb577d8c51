// Package keyspace names every Redis key of a JuiceFS 1.4.1 volume
// and parses key names back, for scans and fsck.
//
// All names carry the volume's prefix: "" for a standalone or Sentinel
// deployment, "{N}" (a Redis Cluster hash tag, N the database number of the
// meta URL) in Cluster mode, so that every key of a volume lives in one slot.
// The exceptions are those of JuiceFS: the legacy "sessions" key, hash fields
// and set members are never prefixed (the members of locked{sid} sets are
// full, prefixed key names, which is what Flock and Plock return).
//
// Key names are built on every metadata operation, so the builders cost at
// most one allocation (the returned string), and names without a number are
// computed once by New.
package keyspace

import (
	"strconv"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Keys builds the key names of one volume. The zero value is valid and
// describes an unprefixed volume; use New for a prefixed one.
type Keys struct {
	prefix string
	fixed  *[numFixed]string // prefixed fixed names, nil in the zero value
}

// Indexes of the keys whose name has no variable part.
const (
	fSetting = iota
	fNextInode
	fNextChunk
	fNextSession
	fNextTrash
	fUsedSpace
	fTotalInodes
	fACLMaxID
	fKrbTokenMaxID
	fLastCleanupSessions
	fLastCleanupFiles
	fNextCleanupSlices
	fLastCleanupTrash
	fLastCleanupChangelog
	fSliceRef
	fDelSlices
	fDelFiles
	fDetachedNodes
	fAllSessions
	fSessionInfos
	fDirDataLength
	fDirUsedSpace
	fDirUsedInodes
	fDirQuota
	fDirQuotaUsedSpace
	fDirQuotaUsedInodes
	fUserQuota
	fUserQuotaUsedSpace
	fUserQuotaUsedInodes
	fGroupQuota
	fGroupQuotaUsedSpace
	fGroupQuotaUsedInodes
	fACL
	fKrbToken
	fTxnLog
	fTxnLastLog
	fLastChangelog
	numFixed
)

// fixedNames returns the unprefixed names of the fixed keys, indexed by the
// f* constants. Spellings (including the mixed case) are JuiceFS's.
func fixedNames() [numFixed]string {
	return [numFixed]string{
		fSetting:              "setting",
		fNextInode:            "nextinode",
		fNextChunk:            "nextchunk",
		fNextSession:          "nextsession",
		fNextTrash:            "nextTrash",
		fUsedSpace:            "usedSpace",
		fTotalInodes:          "totalInodes",
		fACLMaxID:             "aclMaxId",
		fKrbTokenMaxID:        "krbTokenMaxId",
		fLastCleanupSessions:  "lastCleanupSessions",
		fLastCleanupFiles:     "lastCleanupFiles",
		fNextCleanupSlices:    "nextCleanupSlices",
		fLastCleanupTrash:     "lastCleanupTrash",
		fLastCleanupChangelog: "lastCleanupChangelog",
		fSliceRef:             "sliceRef",
		fDelSlices:            "delSlices",
		fDelFiles:             "delfiles",
		fDetachedNodes:        "detachedNodes",
		fAllSessions:          "allSessions",
		fSessionInfos:         "sessionInfos",
		fDirDataLength:        "dirDataLength",
		fDirUsedSpace:         "dirUsedSpace",
		fDirUsedInodes:        "dirUsedInodes",
		fDirQuota:             "dirQuota",
		fDirQuotaUsedSpace:    "dirQuotaUsedSpace",
		fDirQuotaUsedInodes:   "dirQuotaUsedInodes",
		fUserQuota:            "userQuota",
		fUserQuotaUsedSpace:   "userQuotaUsedSpace",
		fUserQuotaUsedInodes:  "userQuotaUsedInodes",
		fGroupQuota:           "groupQuota",
		fGroupQuotaUsedSpace:  "groupQuotaUsedSpace",
		fGroupQuotaUsedInodes: "groupQuotaUsedInodes",
		fACL:                  "acl",
		fKrbToken:             "krbToken",
		fTxnLog:               "txnLog",
		fTxnLastLog:           "txnLastLog",
		fLastChangelog:        "lastChangelog",
	}
}

// New returns the key names of a volume whose keys start with prefix: "" for
// standalone and Sentinel deployments, ClusterPrefix(db) in Cluster mode.
func New(prefix string) Keys {
	names := fixedNames()
	for i := range names {
		names[i] = prefix + names[i]
	}
	return Keys{prefix: prefix, fixed: &names}
}

// ClusterPrefix returns the prefix JuiceFS uses in Redis Cluster mode for the
// database number db of the meta URL: "{db}", a hash tag.
func ClusterPrefix(db int) string {
	return "{" + strconv.Itoa(db) + "}"
}

// Prefix returns the prefix of every key of the volume.
func (k Keys) Prefix() string { return k.prefix }

// Pattern returns a SCAN MATCH pattern for keys of the volume matching glob;
// JuiceFS scans always match prefix + pattern. Prefixes are "{N}", which
// contains no glob meta-character.
func (k Keys) Pattern(glob string) string { return k.prefix + glob }

func (k Keys) get(i int) string {
	if k.fixed != nil {
		return k.fixed[i]
	}
	names := fixedNames()
	return k.prefix + names[i]
}

// withNum returns prefix + tag + decimal n with a single allocation.
func (k Keys) withNum(tag string, n uint64) string {
	var buf [64]byte
	return string(k.appendNum(buf[:0], tag, n))
}

// appendNum appends prefix + tag + decimal n to b.
func (k Keys) appendNum(b []byte, tag string, n uint64) []byte {
	return strconv.AppendUint(append(append(b, k.prefix...), tag...), n, 10)
}

// TxnMarker is a hash of replay markers of a rueidisfs client, named by a
// random 64-bit id (a field per transaction holding its results; the hash
// expires after some minutes, see docs/deployments.md). It, QuotaFence and
// QuotaCounts are rueidisfs's only keys of its own: JuiceFS neither writes nor scans
// names starting with "r", and deletes them with the rest of the volume on
// destroy.
func (k Keys) TxnMarker(id uint64) string { return k.withNum(txnMarkerTag, id) }

// QuotaFence is a string naming the latest new directory quota counted by
// a rueidisfs client: while the quota's usage is counted it holds a fence
// (with a lease) that rueidisfs's accounting mutations re-check, afterwards
// the quota's name without expiry (see meta/quotafence.go).
func (k Keys) QuotaFence() string { return k.prefix + "rueidisfsQuotaFence" }

// QuotaCounts is a hash of the directory quotas whose usage a rueidisfs
// client stored from a count under the quota fence, or deleted: field the
// directory's inode, value a token of that store. A client's quota flush
// adds its usage of a directory quota only while the token is the one it
// loaded (see meta/quotaflush.go).
func (k Keys) QuotaCounts() string { return k.prefix + "rueidisfsQuotaCounts" }

// txnMarkerTag starts the names of transaction replay markers.
const txnMarkerTag = "rueidisfsTxn"

// Setting is the volume format JSON (string).
func (k Keys) Setting() string { return k.get(fSetting) }

// NextInode is the highest inode number reserved so far (string counter).
func (k Keys) NextInode() string { return k.get(fNextInode) }

// NextChunk is the highest slice ID reserved so far (string counter).
func (k Keys) NextChunk() string { return k.get(fNextChunk) }

// NextSession is the highest session ID issued (string counter).
func (k Keys) NextSession() string { return k.get(fNextSession) }

// NextTrash is the number of the newest trash sub-directory, whose inode is
// codec.TrashInode plus it (string counter).
func (k Keys) NextTrash() string { return k.get(fNextTrash) }

// UsedSpace is the total space charged to the volume (string counter).
func (k Keys) UsedSpace() string { return k.get(fUsedSpace) }

// TotalInodes is the number of nodes of the volume (string counter).
func (k Keys) TotalInodes() string { return k.get(fTotalInodes) }

// ACLMaxID is the highest ACL rule ID allocated (string counter).
func (k Keys) ACLMaxID() string { return k.get(fACLMaxID) }

// KrbTokenMaxID is the highest Kerberos token ID allocated (string counter).
func (k Keys) KrbTokenMaxID() string { return k.get(fKrbTokenMaxID) }

// LastCleanupSessions elects the stale-session cleaner (Unix seconds).
func (k Keys) LastCleanupSessions() string { return k.get(fLastCleanupSessions) }

// LastCleanupFiles elects the deleted-files cleaner (Unix seconds).
func (k Keys) LastCleanupFiles() string { return k.get(fLastCleanupFiles) }

// NextCleanupSlices elects the slice-reference cleaner (Unix seconds of the
// last run, despite the name).
func (k Keys) NextCleanupSlices() string { return k.get(fNextCleanupSlices) }

// LastCleanupTrash elects the trash cleaner (Unix seconds).
func (k Keys) LastCleanupTrash() string { return k.get(fLastCleanupTrash) }

// LastCleanupChangelog elects the change-log trimmer (Unix seconds).
func (k Keys) LastCleanupChangelog() string { return k.get(fLastCleanupChangelog) }

// Counter returns the key of a counter by the name JuiceFS uses in dumps and
// change-log entries: "nextInode", "nextChunk" and "nextSession" are stored
// lower-case; any other name (e.g. "nextTrash", "usedSpace") is used as is.
func (k Keys) Counter(name string) string {
	switch name {
	case "nextInode":
		return k.NextInode()
	case "nextChunk":
		return k.NextChunk()
	case "nextSession":
		return k.NextSession()
	}
	return k.prefix + name
}

// Inode is the attribute record of ino (string, codec.Attr).
func (k Keys) Inode(ino codec.Ino) string { return k.withNum("i", uint64(ino)) }

// Entries is the directory hash of ino: entry name -> codec.Entry.
func (k Keys) Entries(ino codec.Ino) string { return k.withNum("d", uint64(ino)) }

// AppendEntries appends the name of Entries(ino) to b.
func (k Keys) AppendEntries(b []byte, ino codec.Ino) []byte { return k.appendNum(b, "d", uint64(ino)) }

// Parents is the hash of parents of a hard-linked ino: parent -> count.
func (k Keys) Parents(ino codec.Ino) string { return k.withNum("p", uint64(ino)) }

// Chunk is the slice record list of chunk indx of ino.
func (k Keys) Chunk(ino codec.Ino, indx uint32) string {
	var buf [64]byte
	b := append(buf[:0], k.prefix...)
	b = append(b, 'c')
	b = strconv.AppendUint(b, uint64(ino), 10)
	b = append(b, '_')
	b = strconv.AppendUint(b, uint64(indx), 10)
	return string(b)
}

// Symlink is the target of symlink ino (string).
func (k Keys) Symlink(ino codec.Ino) string { return k.withNum("s", uint64(ino)) }

// Xattrs is the extended attribute hash of ino: name -> value.
func (k Keys) Xattrs(ino codec.Ino) string { return k.withNum("x", uint64(ino)) }

// SliceRef is the hash of slice reference counts minus one.
func (k Keys) SliceRef() string { return k.get(fSliceRef) }

// SliceRefField is the field of slice (id, size) in the SliceRef hash:
// "k{id}_{size}". Like every hash field it has no prefix.
func (k Keys) SliceRefField(id uint64, size uint32) string {
	var buf [32]byte
	b := append(buf[:0], 'k')
	b = strconv.AppendUint(b, id, 10)
	b = append(b, '_')
	b = strconv.AppendUint(b, uint64(size), 10)
	return string(b)
}

// LegacySliceRef is the pre-sliceRef top-level reference counter of slice
// (id, size), prefixed "k{id}_{size}"; `juicefs gc` migrates such keys.
func (k Keys) LegacySliceRef(id uint64, size uint32) string {
	return k.prefix + k.SliceRefField(id, size)
}

// DelSlices is the hash of slices kept for the trash after compaction.
func (k Keys) DelSlices() string { return k.get(fDelSlices) }

// DelFiles is the zset of files whose data must be deleted.
func (k Keys) DelFiles() string { return k.get(fDelFiles) }

// DetachedNodes is the zset of directory trees being cloned.
func (k Keys) DetachedNodes() string { return k.get(fDetachedNodes) }

// AllSessions is the zset of session IDs scored by expiry time.
func (k Keys) AllSessions() string { return k.get(fAllSessions) }

// SessionInfos is the hash session ID -> codec.SessionInfo JSON.
func (k Keys) SessionInfos() string { return k.get(fSessionInfos) }

// LegacySessions is the zset of pre-1.0 sessions. It is never prefixed.
func (k Keys) LegacySessions() string { return "sessions" }

// Sustained is the set of deleted-but-open inodes of session sid.
func (k Keys) Sustained(sid uint64) string { return k.withNum("session", sid) }

// Locked is the set of lock key names holding locks of session sid.
func (k Keys) Locked(sid uint64) string { return k.withNum("locked", sid) }

// Flock is the BSD flock hash of ino: owner key -> "R"/"W".
func (k Keys) Flock(ino codec.Ino) string { return k.withNum("lockf", uint64(ino)) }

// Plock is the POSIX lock hash of ino: owner key -> codec.PosixLock records.
func (k Keys) Plock(ino codec.Ino) string { return k.withNum("lockp", uint64(ino)) }

// DirDataLength is the hash dir -> sum of lengths of its files.
func (k Keys) DirDataLength() string { return k.get(fDirDataLength) }

// DirUsedSpace is the hash dir -> space charged for its direct children.
func (k Keys) DirUsedSpace() string { return k.get(fDirUsedSpace) }

// DirUsedInodes is the hash dir -> number of direct children.
func (k Keys) DirUsedInodes() string { return k.get(fDirUsedInodes) }

// DirQuota is the hash dir -> codec.QuotaLimits.
func (k Keys) DirQuota() string { return k.get(fDirQuota) }

// DirQuotaUsedSpace is the hash dir -> recursive used space.
func (k Keys) DirQuotaUsedSpace() string { return k.get(fDirQuotaUsedSpace) }

// DirQuotaUsedInodes is the hash dir -> recursive used inodes; a field here
// is what makes a directory quota exist.
func (k Keys) DirQuotaUsedInodes() string { return k.get(fDirQuotaUsedInodes) }

// UserQuota is the hash uid -> codec.QuotaLimits.
func (k Keys) UserQuota() string { return k.get(fUserQuota) }

// UserQuotaUsedSpace is the hash uid -> used space.
func (k Keys) UserQuotaUsedSpace() string { return k.get(fUserQuotaUsedSpace) }

// UserQuotaUsedInodes is the hash uid -> used inodes.
func (k Keys) UserQuotaUsedInodes() string { return k.get(fUserQuotaUsedInodes) }

// GroupQuota is the hash gid -> codec.QuotaLimits.
func (k Keys) GroupQuota() string { return k.get(fGroupQuota) }

// GroupQuotaUsedSpace is the hash gid -> used space.
func (k Keys) GroupQuotaUsedSpace() string { return k.get(fGroupQuotaUsedSpace) }

// GroupQuotaUsedInodes is the hash gid -> used inodes.
func (k Keys) GroupQuotaUsedInodes() string { return k.get(fGroupQuotaUsedInodes) }

// Quota returns the three hashes of a quota family (limits, used space, used
// inodes) for codec.QuotaDir, QuotaUser or QuotaGroup; ok is false for any
// other type.
func (k Keys) Quota(t codec.QuotaType) (limits, usedSpace, usedInodes string, ok bool) {
	switch t {
	case codec.QuotaDir:
		return k.DirQuota(), k.DirQuotaUsedSpace(), k.DirQuotaUsedInodes(), true
	case codec.QuotaUser:
		return k.UserQuota(), k.UserQuotaUsedSpace(), k.UserQuotaUsedInodes(), true
	case codec.QuotaGroup:
		return k.GroupQuota(), k.GroupQuotaUsedSpace(), k.GroupQuotaUsedInodes(), true
	}
	return "", "", "", false
}

// ACL is the hash rule ID -> codec.ACLRule.
func (k Keys) ACL() string { return k.get(fACL) }

// KrbToken is the hash token ID -> opaque Kerberos token.
func (k Keys) KrbToken() string { return k.get(fKrbToken) }

// TxnLog is the change-log list.
func (k Keys) TxnLog() string { return k.get(fTxnLog) }

// TxnLastLog counts the change-log entries ever appended (string counter).
func (k Keys) TxnLastLog() string { return k.get(fTxnLastLog) }

// LastChangelog is only written when a binary dump is loaded; the engine
// itself never uses it.
func (k Keys) LastChangelog() string { return k.get(fLastChangelog) }
