package gc

import "errors"

// ErrCorrupt is wrapped by Run's error when the scan found values it could
// not decode (Report.Corrupt names them). Run then deletes nothing such a
// value might reference: no leaked inode when a directory entry is corrupt,
// no object when a chunk list, slice reference or delSlices entry is.
var ErrCorrupt = errors.New("the metadata is corrupt (run fsck)")
