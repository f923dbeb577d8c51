package cli

import "errors"

// Errors the commands tell apart.
var (
	// errAborted: the user did not confirm.
	errAborted = errors.New("aborted")
	// errNoMountAccess: the path is in a volume's mount, but this build
	// cannot reach a volume through its mount point.
	errNoMountAccess = errors.New("rueidisfs cannot reach a volume through its mount point yet")
)
