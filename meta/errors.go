package meta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

// Errors a caller may need to tell apart; compare with errors.Is, as they
// usually come wrapped with what failed. File-system errors are returned as
// syscall.Errno values (possibly wrapped); a cancelled or expired context
// comes back as context.Canceled or context.DeadlineExceeded (wrapped).
// ToErrno maps any of them to the errno a file system returns.
var (
	// ErrNotFormatted: the database holds no volume ("setting" is absent).
	ErrNotFormatted = errors.New("database is not formatted, please run `rueidisfs format ...` first")
	// ErrIncompatible: the volume's metadata or client-version limits do not
	// allow this client to use it.
	ErrIncompatible = errors.New("incompatible volume")
	// ErrChanged: a repair found the value it was asked to fix no longer
	// what the check saw; nothing was written.
	ErrChanged = errors.New("value changed since it was checked")
	// ErrContended: a transaction still conflicted after maxTxnAttempts
	// attempts: other clients keep changing the same keys.
	ErrContended = errors.New("transaction conflicted too many times")
	// ErrOutcomeUnknown: a mutation was sent, its reply was lost, and it
	// could not be sent again before the retries ran out: it may or may not
	// have been applied. ToErrno maps it to EIO.
	ErrOutcomeUnknown = errors.New("the mutation was sent but Redis did not confirm it; it may or may not have been applied")
	// ErrNotReplicated: the meta URL asks for wait-replicas and fewer
	// replicas than that confirmed the mutation within wait-timeout: it was
	// applied on the master, but a failover could still lose it. ToErrno
	// maps it to EIO.
	ErrNotReplicated = errors.New("the mutation reached the master but not enough replicas confirmed it in time; a failover may lose it")
	// ErrQuotaInconsistent is wrapped by Quotas.Check's error when stored
	// usage differs from the recount and repair was not asked for.
	ErrQuotaInconsistent = errors.New("quota is inconsistent")
	// ErrNotATree: a walk of the namespace found the directory tree damaged
	// (a directory cycle, an entry naming a directory that lives elsewhere,
	// parents that do not lead to the root) and stopped rather than leave
	// the tree it was asked to walk. fsck reports and repairs such damage.
	ErrNotATree = errors.New("the directory tree is damaged (run fsck)")
	// ErrStatsNotStored: directory statistics or quota usage this client
	// counted could not be written to Redis (out of memory, a denied
	// command, a corrupt value); Close returns it when they are lost.
	ErrStatsNotStored = errors.New("statistics not stored")
)

// Errors that stay inside the engine.
var (
	// errFailoverUnderWay marks a mutation answered while a Sentinel
	// failover may have been changing the master: its outcome on the master
	// that stays is unknown, and the call is sent again.
	errFailoverUnderWay = errors.New("a Sentinel failover began while the mutation was under way")
	// errInodeTaken: the inode number a create was given already exists.
	errInodeTaken = errors.New("inode number already in use")
	// errRecountBusy: the directory changed too recently to be recounted
	// now.
	errRecountBusy = errors.New("directory changed during its recount")
	// errMissingTarget: a symlink's attribute exists but not its target.
	errMissingTarget = errors.New("symlink target is missing")
	// errUnreachable: walking up a directory's parents does not lead to
	// the root.
	errUnreachable = errors.New("directory is not reachable from the root")
	// errClaimTaken ends a claim transaction that found another value.
	errClaimTaken = errors.New("claimed by another client")
)

// quotaError is an ErrQuotaInconsistent with its own message.
type quotaError struct{ msg string }

func (q *quotaError) Error() string        { return q.msg }
func (q *quotaError) Is(target error) bool { return target == ErrQuotaInconsistent }

// IsCorruption reports whether err says a value stored in Redis is malformed,
// as opposed to Redis being unreachable or an operation being refused.
func IsCorruption(err error) bool { return codec.IsCorruption(err) }

// ToErrno maps any error returned by the engine to the errno a file-system
// layer should return: syscall.Errno values pass through, an existing name
// is EEXIST, cancellation EINTR, deadlines ETIMEDOUT, Redis out of memory
// ENOSPC, anything else EIO.
func ToErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	var exists *ExistsError
	switch {
	case errors.As(err, &exists):
		return syscall.EEXIST
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, context.DeadlineExceeded):
		return syscall.ETIMEDOUT
	case isOOM(err):
		return syscall.ENOSPC
	}
	return syscall.EIO
}

// isOOM reports whether Redis refused a write for lack of memory (the
// volume cannot grow: ENOSPC for the caller).
func isOOM(err error) bool {
	var rerr *rueidis.RedisError
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "OOM ")
}

// redisErr wraps an error from Redis with what was being done. Redis replying
// OOM means the volume cannot grow: that is ENOSPC for the caller.
func (e *Engine) redisErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if isOOM(err) {
		return fmt.Errorf("%s: %w (%w)", what, syscall.ENOSPC, err)
	}
	if hint := redisconn.PermissionHint(err); hint != "" {
		return fmt.Errorf("redis %s: %s: %w", what, hint, err)
	}
	return fmt.Errorf("redis %s: %w", what, err)
}

// corrupt marks a decoding failure of the value stored under key.
func corrupt(key string, err error) error { return codec.Corrupt(key, err) }
