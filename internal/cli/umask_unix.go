//go:build unix

package cli

import "syscall"

// umask is the file mode creation mask of this process (read by setting it
// and putting it back, the only way there is).
func (a *app) umask() uint16 {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return uint16(m)
}
