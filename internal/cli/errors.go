package cli

import "errors"

// Errors the commands tell apart.
var (
	// errAborted: the user did not confirm.
	errAborted = errors.New("aborted")
	// errNoMountAccess: the path is in a volume's mount, but the mount does
	// not tell how to reach the volume.
	errNoMountAccess = errors.New("that mount does not name its META-URL (juicefs mounts do not)")
)
