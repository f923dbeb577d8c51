package mounttest

import (
	"runtime"
	"syscall"
	"unsafe"
)

// As runs fn as a non-root caller would run it: on an OS thread of its own
// whose file-system identity is uid and gid with the supplementary groups
// given (setfsuid, setfsgid and setgroups of that thread alone; the kernel
// checks permissions with them and tells the mount this identity, and the
// mount reads the groups of the calling thread). The thread is dropped
// afterwards. The test process must run as root.
func As(uid, gid uint32, groups []uint32, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := setThreadIdentity(uid, gid, groups); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	return <-done
}

func setThreadIdentity(uid, gid uint32, groups []uint32) error {
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0); e != 0 {
		return e
	}
	syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(gid), 0, 0)
	syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(uid), 0, 0)
	// setfs*id report no error: read the identity back.
	if got, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, ^uintptr(0), 0, 0); uint32(got) != uid {
		return syscall.EPERM
	}
	return nil
}
