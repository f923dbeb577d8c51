//go:build !unix

package smallfile

const openNonblock = 0
