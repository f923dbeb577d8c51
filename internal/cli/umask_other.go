//go:build !unix

package cli

// umask is the usual file mode creation mask where there is none.
func (a *app) umask() uint16 { return 0o022 }
