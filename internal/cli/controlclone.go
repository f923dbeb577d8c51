package cli

import (
	"context"
	"fmt"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// controlClone runs the clone request (1006) of juicefs clone, issued in a
// mount, with the caller's identity: source inode, its parent, the
// destination directory, the new name, the caller's umask, the clone mode
// and (newer clients) the parallelism. The reply is the progress (copied,
// total) and the errno.
func (a *app) controlClone(ctx context.Context, e *meta.Engine, r *controlRequest, reply *vfs.ControlReply) syscall.Errno {
	src := meta.Ino(r.u64())
	srcParent := meta.Ino(r.u64())
	dstParent := meta.Ino(r.u64())
	name := string(r.take(int(r.u8())))
	umask := r.u16()
	mode := r.u8()
	threads := int(r.optU8(4))
	if r.bad {
		return syscall.EINVAL
	}
	seenDst := dstParent // as the tool saw it
	src, srcParent, dstParent = reply.MetaIno(src), reply.MetaIno(srcParent), reply.MetaIno(dstParent)
	a.log.Info(fmt.Sprintf("Start to clone %d/%d to %d/%s, cmode=%d, umask=%d, concurrency=%d", srcParent, src, dstParent, name, mode, umask, threads))
	_, _, err := e.Clone(ctx, srcParent, src, dstParent, name, mode&codec.ClonePreserveAttr != 0, umask, max(threads, 1),
		func(done, total uint64) { reply.Progress(done, max(done, total)) })
	if err != nil {
		a.log.Error(fmt.Sprintf("clone of %d to %d/%s failed: %v", src, dstParent, name, err))
		return meta.ToErrno(err)
	}
	reply.InvalidateEntry(seenDst, name) // a failed lookup of it may be cached
	return 0
}
