//go:build unix

package smallfile

import "syscall"

const openNonblock = syscall.O_NONBLOCK
