package codec

import (
	"errors"
	"fmt"
	"strconv"
)

// CorruptError reports a stored value that cannot be decoded. The official
// client treats most of these as EIO (or panics), so callers usually turn it
// into EIO for the user and log the full message, which names the key.
//
// Decoders do not know where their input came from: they return a
// CorruptError without Key, and the caller adds it with Corrupt or
// CorruptField.
type CorruptError struct {
	Key   string // Redis key the value was read from, if known
	Field string // hash field, if the value was a hash field
	What  string // what is wrong, e.g. "attribute record has 12 bytes, need at least 63"
	Err   error  // underlying error (for example a JSON syntax error), may be nil
}

// Error formats the message as
// `corrupt value in key "i123": attribute record has 12 bytes, need at least 63`.
func (e *CorruptError) Error() string {
	msg := "corrupt value"
	if e.Key != "" {
		msg += " in key " + strconv.Quote(e.Key)
	}
	if e.Field != "" {
		msg += " field " + strconv.Quote(e.Field)
	}
	if e.What != "" {
		msg += ": " + e.What
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *CorruptError) Unwrap() error { return e.Err }

// IsCorruption reports whether err (or an error it wraps) is a *CorruptError.
func IsCorruption(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce)
}

// Corrupt attaches the key name to a decoder error. A *CorruptError in err's
// chain is copied with Key set; any other non-nil error is wrapped in a new
// CorruptError. A nil err gives nil, so decode results can be passed through
// unconditionally: `return codec.Corrupt(key, codec.UnmarshalAttr(v, &a))`.
func Corrupt(key string, err error) error {
	return CorruptField(key, "", err)
}

// CorruptField is Corrupt for a value stored in a hash field.
func CorruptField(key, field string, err error) error {
	if err == nil {
		return nil
	}
	var ce *CorruptError
	if errors.As(err, &ce) {
		c := *ce
		c.Key, c.Field = key, field
		return &c
	}
	return &CorruptError{Key: key, Field: field, Err: err}
}

func corruptf(format string, args ...any) *CorruptError {
	return &CorruptError{What: fmt.Sprintf(format, args...)}
}

// ParseInt parses a decimal integer stored in key (field "" for a string
// key) and reports anything else as corruption naming them: counters,
// statistics, quota usage and reference counts are all stored this way.
func ParseInt(key, field, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &CorruptError{Key: key, Field: field, What: fmt.Sprintf("%q is not an integer", v)}
	}
	return n, nil
}
