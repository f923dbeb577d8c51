package vfs

import (
	"context"
	"syscall"
)

// internalHandle is an open internal file. .stats and .config are snapshots
// taken at open; .accesslog streams operations; .control carries requests
// of the command-line tools and their replies.
type internalHandle struct {
	ino      Ino
	snapshot []byte
	log      *logReader
	ctl      *controlSession
}

// openInternal opens an internal file: only .control may be written, the
// trash is a directory.
func (v *VFS) openInternal(ctx context.Context, ino Ino, flags uint32) (Opened, syscall.Errno) {
	n := v.nodes.byIno(ino)
	if n == nil || ino == trashIno {
		if ino == trashIno {
			return Opened{}, syscall.EISDIR
		}
		return Opened{}, syscall.ENOENT
	}
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY && ino != controlIno {
		return Opened{}, syscall.EACCES
	}
	node := &internalHandle{ino: ino}
	switch ino {
	case statsIno:
		node.snapshot = v.statsText()
	case configIno:
		if v.conf.ConfigJSON != nil {
			node.snapshot = v.conf.ConfigJSON()
		}
	case accessLogIno:
		node.log = v.alog.open()
	case controlIno:
		node.ctl = v.newControlSession(ctx)
	}
	fh := v.handles.add(&handle{ino: ino, flags: flags, node: node})
	return Opened{Fh: fh, DirectIO: true}, 0
}

func (n *internalHandle) read(ctx context.Context, buf []byte, off int64) (int, syscall.Errno) {
	switch {
	case n.log != nil:
		return n.log.read(ctx, buf), 0
	case n.ctl != nil:
		return n.ctl.read(buf, off), 0
	}
	if off >= int64(len(n.snapshot)) {
		return 0, 0
	}
	return copy(buf, n.snapshot[off:]), 0
}

func (n *internalHandle) write(ctx context.Context, v *VFS, data []byte) (int, syscall.Errno) {
	if n.ctl == nil {
		return 0, syscall.EBADF
	}
	return n.ctl.write(data)
}

// flush is a close(2) of the handle: a running control command is
// cancelled.
func (n *internalHandle) flush() {
	if n.ctl != nil {
		n.ctl.cancel()
	}
}

func (n *internalHandle) close() {
	if n.log != nil {
		n.log.close()
	}
	if n.ctl != nil {
		n.ctl.cancel()
	}
}
