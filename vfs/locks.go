package vfs

import (
	"context"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Locks are kept by the engine in the volume, so that they exclude each
// other across clients. The kernel names a lock's owner: for POSIX locks the
// files table of the process (or, for OFD locks, the open file), for BSD
// flocks the open file; a flock's owner is combined with the handle number,
// as JuiceFS does. The VFS remembers which handle took which kind of lock,
// so that close(2) drops the POSIX locks of the closing owner and the last
// release of the handle drops whatever is left (a flock, OFD locks).

// A request that waits gives up on a kernel interrupt only once it has
// waited a while, as JuiceFS does: signals a program handles quietly
// would otherwise make its calls fail with EINTR. A blocked lock waits
// lockGrace; a flush waiting for its uploads flushGrace (two object
// timeouts).
const (
	lockGrace  = time.Second
	flushGrace = 2 * time.Minute
)

// Getlk returns the first lock of another owner that conflicts with l on
// ino, or l with type F_UNLCK when nothing does.
func (v *VFS) Getlk(ctx context.Context, ino Ino, fh, owner uint64, l codec.PosixLock) (codec.PosixLock, syscall.Errno) {
	if IsInternal(ino) {
		return l, syscall.EPERM
	}
	if v.handles.get(ino, fh) == nil {
		return l, syscall.EBADF
	}
	got, err := v.m.Getlk(ctx, v.toMeta(ino), owner, l)
	if err != nil {
		return l, errno(err)
	}
	return got, 0
}

// Setlk takes or releases the POSIX record lock l of owner on ino through
// handle fh; with block it waits for conflicting locks to go away.
func (v *VFS) Setlk(ctx context.Context, ino Ino, fh, owner uint64, l codec.PosixLock, block bool) syscall.Errno {
	if IsInternal(ino) {
		return syscall.EPERM
	}
	h := v.handles.get(ino, fh)
	if h == nil {
		return syscall.EBADF
	}
	if l.Type != meta.LockUnlock {
		h.mu.Lock()
		if !h.hasPosix {
			h.hasPosix, h.posixOwner = true, owner
		}
		h.mu.Unlock()
	}
	ctx, done := patientContext(ctx, block, lockGrace)
	defer done()
	return errno(v.m.Setlk(ctx, v.toMeta(ino), owner, block, l))
}

// Flock takes or releases the BSD lock of the open file of handle fh.
func (v *VFS) Flock(ctx context.Context, ino Ino, fh, owner uint64, ltype uint32, block bool) syscall.Errno {
	if IsInternal(ino) {
		return syscall.EPERM
	}
	h := v.handles.get(ino, fh)
	if h == nil {
		return syscall.EBADF
	}
	owner ^= fh
	ctx, done := patientContext(ctx, block, lockGrace)
	defer done()
	if err := v.m.Flock(ctx, v.toMeta(ino), owner, ltype, block); err != nil {
		return errno(err)
	}
	h.mu.Lock()
	h.hasFlock, h.flockOwner = ltype != meta.LockUnlock, owner
	h.mu.Unlock()
	return 0
}

// releasePosixLocks drops the POSIX locks owner holds on the file of h (a
// close(2) by that owner).
func (v *VFS) releasePosixLocks(ctx context.Context, h *handle, owner uint64) {
	h.mu.Lock()
	has := h.hasPosix
	h.mu.Unlock()
	if has {
		v.unlockPosix(ctx, h.ino, owner)
	}
}

// releaseAllLocks drops what the handle's locks left at its last release:
// its flock and the POSIX locks of its first owner (OFD locks).
func (v *VFS) releaseAllLocks(ctx context.Context, h *handle) {
	h.mu.Lock()
	flock, fowner, posix, powner := h.hasFlock, h.flockOwner, h.hasPosix, h.posixOwner
	h.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	if flock {
		if err := v.m.Flock(ctx, v.toMeta(h.ino), fowner, meta.LockUnlock, false); err != nil {
			v.log.Warn("release flock", "inode", h.ino, "error", err)
		}
	}
	if posix {
		v.unlockPosix(ctx, h.ino, powner)
	}
}

func (v *VFS) unlockPosix(ctx context.Context, ino Ino, owner uint64) {
	l := codec.PosixLock{Type: meta.LockUnlock, Start: 0, End: meta.LockEOF}
	if err := v.m.Setlk(context.WithoutCancel(ctx), v.toMeta(ino), owner, false, l); err != nil {
		v.log.Warn("release POSIX locks", "inode", ino, "error", err)
	}
}

// patientContext returns the context a waiting request runs with: it
// honours the kernel's interrupt only after grace.
func patientContext(ctx context.Context, wait bool, grace time.Duration) (context.Context, func()) {
	if !wait {
		return ctx, func() {}
	}
	patient, cancel := context.WithCancel(context.WithoutCancel(ctx))
	deadline := time.Now().Add(grace)
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(time.Until(deadline), cancel)
	})
	return patient, func() {
		stop()
		cancel()
	}
}
