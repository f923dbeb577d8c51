package dump

import (
	"errors"
	"fmt"
)

// Errors a caller may need to tell apart.
var (
	// ErrNotEmpty: Load was given a database that already holds keys (of the
	// volume's prefix in Cluster mode). Nothing was written.
	ErrNotEmpty = errors.New("database is not empty")
	// ErrInvalidDump: the document is not a valid dump; the error is a
	// *FormatError saying where and why. Nothing was written.
	ErrInvalidDump = errors.New("invalid metadata dump")
	// ErrLoadFailed: writing to Redis failed after the document had been
	// validated. The keys written so far were deleted again, unless the
	// message says that this failed too.
	ErrLoadFailed = errors.New("loading the metadata dump failed")
)

// Errors that stay inside the package.
var (
	// errCycle: a directory contains one of its ancestors.
	errCycle = errors.New("directory cycle")
	// errSpoolCorrupt: the load's spool file does not read back as written.
	errSpoolCorrupt = errors.New("the load spool is corrupt")
)

// FormatError reports a rejected dump: the byte offset in the input near
// which the problem was found (the input as given to Load, after any
// decompression), the JSON path of the value, and the reason.
type FormatError struct {
	Offset int64
	Path   string // e.g. $.FSTree.entries["docs"].attr
	Err    error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: at byte %d, %s: %v", ErrInvalidDump, e.Offset, e.Path, e.Err)
}

// Unwrap returns the reason.
func (e *FormatError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalidDump) true.
func (e *FormatError) Is(target error) bool { return target == ErrInvalidDump }
