package meta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

// Errors a caller may need to tell apart. File-system errors are returned as
// syscall.Errno values (possibly wrapped); use errors.Is or ToErrno.
var (
	// ErrNotFormatted: the database holds no volume ("setting" is absent).
	ErrNotFormatted = errors.New("database is not formatted, please run `rueidisfs format ...` first")
	// ErrIncompatible: the volume's metadata or client-version limits do not
	// allow this client to use it.
	ErrIncompatible = errors.New("incompatible volume")
	// ErrAlreadyFormatted: format was asked for a database that holds another volume.
	ErrAlreadyFormatted = errors.New("database already holds a volume")
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("engine is closed")
	// ErrChanged: a repair found the value it was asked to fix no longer
	// what the check saw; nothing was written.
	ErrChanged = errors.New("value changed since it was checked")
)

// IsCorruption reports whether err says a value stored in Redis is malformed,
// as opposed to Redis being unreachable or an operation being refused.
func IsCorruption(err error) bool { return codec.IsCorruption(err) }

// ToErrno maps any error returned by the engine to the errno a file-system
// layer should return: syscall.Errno values pass through, Redis out-of-memory
// becomes ENOSPC, cancellation EINTR, deadlines ETIMEDOUT, anything else EIO.
func ToErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	var exists *ExistsError
	if errors.As(err, &exists) {
		return syscall.EEXIST
	}
	switch {
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, context.DeadlineExceeded):
		return syscall.ETIMEDOUT
	case strings.Contains(err.Error(), "OOM "):
		return syscall.ENOSPC
	}
	return syscall.EIO
}

func ctxErrno(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, context.DeadlineExceeded):
		return syscall.ETIMEDOUT
	}
	return err
}

// redisErr wraps an error from Redis with what was being done. Redis replying
// OOM means the volume cannot grow: that is ENOSPC for the caller.
func (e *Engine) redisErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ctxErrno(err)
	}
	if strings.HasPrefix(err.Error(), "OOM ") {
		return fmt.Errorf("%s: %w (%v)", what, syscall.ENOSPC, err)
	}
	if hint := redisconn.PermissionHint(err); hint != "" {
		return fmt.Errorf("redis %s: %s: %w", what, hint, err)
	}
	return fmt.Errorf("redis %s: %w", what, err)
}

// corrupt marks a decoding failure of the value stored under key.
func corrupt(key string, err error) error { return codec.Corrupt(key, err) }
