package backup

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error about the content of a backup.
var ErrInvalid = errors.New("invalid binary backup")

// FormatError is a backup that cannot be read: where and why.
type FormatError struct {
	Offset int64  // byte offset in the backup where the problem is
	Reason string // what is wrong there
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%v: at byte %d: %s", ErrInvalid, e.Offset, e.Reason)
}

func (e *FormatError) Unwrap() error { return ErrInvalid }

// ErrNotEmpty: Load refuses a database that holds keys.
var ErrNotEmpty = errors.New("the database is not empty")

// ErrLoadFailed wraps a failure while a load was writing.
var ErrLoadFailed = errors.New("load failed")
