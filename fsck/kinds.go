package fsck

// Problem kinds (Problem.Kind): what is wrong, in a short word tools and
// tests can match.
const (
	// Counters and accounting, repaired by Volume with the recounted value.
	KindUsedSpace    = "usedSpace"      // the volume's used space
	KindTotalInodes  = "totalInodes"    // the volume's inode count
	KindNlink        = "nlink"          // a link count
	KindParentCount  = "parent-count"   // a p{ino} count of a hard-linked file
	KindDirStat      = "dirstat"        // a directory's statistics, wrong or missing
	KindDirStatStray = "dirstat-orphan" // statistics of a directory that does not exist
	KindDirQuota     = "dirquota"       // the usage of a directory quota
	KindUserQuota    = "userquota"      // the usage of a user quota
	KindGroupQuota   = "groupquota"     // the usage of a group quota

	// Damage Volume reports and leaves to the tools meant for it (Check,
	// gc) or to the person who knows what the volume should hold.
	KindDanglingDir   = "dangling-dir"   // an entries hash whose directory has no attribute
	KindNotADir       = "not-a-dir"      // an entries hash of a node that is no directory
	KindDanglingEntry = "dangling-entry" // an entry naming an inode without attribute
	KindEntryType     = "entry-type"     // an entry whose type differs from its node's
	KindLeakedInode   = "leaked-inode"   // an inode no entry names
	KindSustained     = "sustained"      // a file kept open after deletion with links left
	KindDirLength     = "dir-length"     // a directory whose length is not 4096
	KindDirLinks      = "dir-links"      // a directory with more than one name
	KindParent        = "parent"         // a node whose parent field contradicts its entries
	KindSymlink       = "symlink"        // a symlink without target, or of the wrong length
	KindQuotaStray    = "quota-orphan"   // a quota of a directory that does not exist
	KindOrphan        = "orphan"         // a key of an inode that does not exist
	KindSliceRef      = "sliceRef"       // a slice reference count
	KindCycle         = "cycle"          // directories inside each other, cut off from the tree
	KindCrossLink     = "cross-link"     // an entry naming a directory that lives in another one, or the root

	// Values that cannot be decoded and what follows from them (see
	// corruption.go): repaired when the recount knows the value.
	KindCorrupt      = "corrupt"       // a value that cannot be decoded, or a key of the wrong type
	KindNextID       = "next-id"       // an id counter (nextinode, nextchunk) below an id in use
	KindDeletingLive = "deleting-live" // a file queued in delfiles whose inode exists

	// Only found by Check.
	KindMissingAttr = "missing-attr" // a directory (or a node on the path) without attribute
	KindError       = "error"        // the check itself failed on a node
)

// ProblemKinds lists the kinds of problem Recount (and so Volume) reports.
func ProblemKinds() []string {
	return []string{KindUsedSpace, KindTotalInodes, KindNlink, KindParentCount, KindDirStat, KindDirStatStray,
		KindDirQuota, KindUserQuota, KindGroupQuota, KindDanglingDir, KindNotADir, KindDanglingEntry, KindEntryType,
		KindLeakedInode, KindSustained, KindDirLength, KindDirLinks, KindParent, KindSymlink, KindQuotaStray,
		KindOrphan, KindSliceRef, KindCycle, KindCrossLink, KindCorrupt, KindNextID, KindDeletingLive}
}
