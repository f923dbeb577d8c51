package vfs

import (
	"context"
	"strings"
	"syscall"
)

// Extended attributes are served only with --enable-xattr or on volumes
// with POSIX ACLs, as JuiceFS does; otherwise every request is answered
// ENOSYS, which makes the kernel stop asking and report "operation not
// supported". The kernel asks for security.capability before every write
// to a file; it is answered here, without the engine.

func capabilityName(name string) bool {
	return name == "security.capability" || name == "security.selinux"
}

// GetXattr returns the value of extended attribute name of ino.
func (v *VFS) GetXattr(ctx context.Context, ino Ino, name string) ([]byte, syscall.Errno) {
	if !v.xattrEnabled() {
		return nil, syscall.ENOSYS
	}
	if IsInternal(ino) || capabilityName(name) {
		return nil, syscall.ENODATA
	}
	val, err := v.m.GetXattr(ctx, v.toMeta(ino), name)
	return val, errno(err)
}

// ListXattr returns the names of ino's extended attributes, each followed
// by a NUL byte.
func (v *VFS) ListXattr(ctx context.Context, ino Ino) ([]byte, syscall.Errno) {
	if !v.xattrEnabled() {
		return nil, syscall.ENOSYS
	}
	if IsInternal(ino) {
		return nil, 0
	}
	names, err := v.m.ListXattr(ctx, v.toMeta(ino))
	if err != nil {
		return nil, errno(err)
	}
	if len(names) == 0 {
		return nil, 0
	}
	return []byte(strings.Join(names, "\x00") + "\x00"), 0
}

// SetXattr sets extended attribute name of ino (flags: XATTR_CREATE,
// XATTR_REPLACE).
func (v *VFS) SetXattr(ctx context.Context, ino Ino, name string, value []byte, flags uint32) syscall.Errno {
	if st := v.xattrChangeAllowed(ino, name); st != 0 {
		return st
	}
	return errno(v.m.SetXattr(ctx, v.toMeta(ino), name, value, flags))
}

// RemoveXattr removes extended attribute name of ino.
func (v *VFS) RemoveXattr(ctx context.Context, ino Ino, name string) syscall.Errno {
	if st := v.xattrChangeAllowed(ino, name); st != 0 {
		return st
	}
	return errno(v.m.RemoveXattr(ctx, v.toMeta(ino), name))
}

// xattrChangeAllowed checks what setting and removing an extended
// attribute check alike.
func (v *VFS) xattrChangeAllowed(ino Ino, name string) syscall.Errno {
	switch {
	case !v.xattrEnabled():
		return syscall.ENOSYS
	case IsInternal(ino):
		return syscall.EPERM
	case capabilityName(name):
		return syscall.ENOTSUP
	}
	return v.writeAllowed()
}
