package cli

import (
	"context"
	"syscall"

	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// controlHandler runs the commands tools send to the mount through its
// .control file.
func (a *app) controlHandler(e *meta.Engine, d *dataPath) vfs.ControlHandler {
	return func(ctx context.Context, cmd uint32, body []byte, r *vfs.ControlReply) syscall.Errno {
		return syscall.EINVAL
	}
}
