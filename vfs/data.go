package vfs

import (
	"context"
	"time"

	"github.com/rueidisfs/rueidisfs/fileio"
)

// Data is the file-content layer the VFS builds its handles on; package
// fileio has it. Contents follow close-to-open consistency: what a handle
// wrote is visible to other clients once its Flush returned, and a handle
// opened after that sees it. A handle (fileio.File) releases the engine's
// open of its file when it is closed.
type Data interface {
	// Attach returns a handle of the regular file ino, which the engine has
	// registered as open (Open, Create).
	Attach(ino Ino, flags uint32) *fileio.File
	// Flush commits every write to ino buffered in this process.
	Flush(ctx context.Context, ino Ino) error
	// BufferedLength is the end of the data of ino buffered in this process
	// and not committed yet (0: none).
	BufferedLength(ino Ino) uint64
	// Truncate sets the length of ino after committing its buffered writes
	// (flags 1: through a handle, whose mode was checked at open).
	Truncate(ctx context.Context, ino Ino, length uint64, flags uint8, skipPermCheck bool) (Attr, error)
	// SetMtime makes buffered writes of ino commit with mtime t.
	SetMtime(ino Ino, t time.Time)
}

var _ Data = (*fileio.FS)(nil)
