// Package smallfile reads the small files a user names on the command line
// or in a URL (keys, certificates, passwords, configurations) with a bound:
// a wrong name such as /dev/zero fails at once instead of reading until
// memory runs out.
package smallfile

import (
	"fmt"
	"io"
	"os"
)

// Common bounds.
const (
	Secret = 1 << 20  // a key, a password, a small configuration
	Certs  = 16 << 20 // a bundle of CA certificates
)

// Read returns the content of the file at path, or an error when it holds
// more than max bytes. A named pipe is opened without waiting for a writer:
// one that has none reads as empty instead of blocking the command.
func Read(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s holds more than %d bytes: is it the right file?", path, max)
	}
	return b, nil
}
