package meta

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

// File locks, stored where JuiceFS 1.4.1 stores them so that a lock held
// through an official mount excludes ours and the other way round.
//
// A lock hash per inode (lockf{ino} for BSD locks, lockp{ino} for POSIX
// record locks) maps each holder, "<sid>_<owner as %016X>", to its locks:
// "R" or "W" for a BSD lock, a list of 24-byte records for POSIX locks.
// Every change is decided here from the whole hash and committed by
// locks.lua only if the hash still holds what the decision saw; otherwise
// the script returns the current hash and the decision is made again. The
// session lists the hash in locked{sid} while it holds anything there, so
// that whoever cleans the session (at unmount, or as stale after a crash)
// releases the locks.
//
// A blocked request waits for the hash to change. With client-side caching
// the read that found the conflict is tracked by Redis, which tells us when
// another client (official or not) changes the hash; the wait then checks a
// local clock every millisecond and re-reads Redis only when something
// changed, or every lockRecheck in case a notification was lost. Without
// caching it polls Redis, as the official client does.

//go:embed locks.lua
var lockLua string

var lockScriptSource = luaSource("locks.lua", lockLua)

var lockScript = rueidis.NewLuaScript(lockScriptSource)

// Lock types, the Linux F_* values the kernel and the stored records use.
const (
	LockRead   = codec.LockRead
	LockWrite  = codec.LockWrite
	LockUnlock = codec.LockUnlock
)

// LockEOF is the end of a POSIX lock that reaches the end of the file, as
// the kernel sends it.
const LockEOF = uint64(1<<63 - 1)

// lockRecheck bounds how long a blocked lock request trusts the absence of
// a change notification before it reads the lock hash again.
const lockRecheck = 250 * time.Millisecond

// Flock takes (LockRead, LockWrite) or releases (LockUnlock) the BSD lock of
// owner on ino. A conflicting lock of another holder makes it fail with
// EAGAIN, or with block wait until it can be taken (or ctx ends: its error
// is returned, EINTR for ToErrno). The same owner may upgrade or downgrade
// its lock.
func (e *Engine) Flock(ctx context.Context, ino Ino, owner uint64, ltype uint32, block bool) error {
	if ltype != LockRead && ltype != LockWrite && ltype != LockUnlock {
		return syscall.EINVAL
	}
	key, field := e.keys.Flock(ino), codec.LockOwnerKey(e.sid.Load(), owner)
	entry := func() string { return fmt.Sprintf("FLOCK(%d,%d,%s)", ino, owner, lockLetter(ltype)) }
	decide := func(h map[string]string) (string, error) {
		switch ltype {
		case LockUnlock:
			return "", nil
		case LockRead:
			for f, v := range h {
				if f != field && v == "W" {
					return "", syscall.EAGAIN
				}
			}
			return "R", nil
		}
		for f := range h {
			if f != field {
				return "", syscall.EAGAIN
			}
		}
		return "W", nil
	}
	return e.lockLoop(ctx, key, field, block && ltype != LockUnlock, ltype == LockWrite, entry, decide)
}

// Setlk sets (l.Type LockRead or LockWrite) or clears (LockUnlock) the
// POSIX record lock of owner on the inclusive byte range [l.Start, l.End]
// of ino, replacing whatever the owner held in that range. A conflicting
// lock of another owner, in this session or another, makes it fail with
// EAGAIN, or with block wait (until ctx ends: its error is returned, EINTR
// for ToErrno). There is no
// deadlock detection, as in JuiceFS.
func (e *Engine) Setlk(ctx context.Context, ino Ino, owner uint64, block bool, l codec.PosixLock) error {
	if l.Type != LockRead && l.Type != LockWrite && l.Type != LockUnlock {
		return syscall.EINVAL
	}
	if l.Start > l.End {
		return syscall.EINVAL
	}
	key, field := e.keys.Plock(ino), codec.LockOwnerKey(e.sid.Load(), owner)
	entry := func() string {
		return fmt.Sprintf("SETLK(%d,%d,%s,%d,%d,%d)", ino, owner, lockLetter(l.Type), l.Start, l.End, l.Pid)
	}
	decide := func(h map[string]string) (string, error) {
		if l.Type != LockUnlock {
			holder, _, err := firstConflictLock(key, h, field, l)
			if err != nil {
				return "", err
			}
			if holder != "" {
				return "", syscall.EAGAIN
			}
		}
		mine, err := codec.UnmarshalPosixLocks(h[field])
		if err != nil {
			return "", codec.CorruptField(key, field, err)
		}
		return string(codec.MarshalPosixLocks(setRange(mine, l))), nil
	}
	return e.lockLoop(ctx, key, field, block && l.Type != LockUnlock, l.Type == LockWrite, entry, decide)
}

// Getlk reports the first lock of another owner that conflicts with want on
// ino (its type, range, and pid when it is held in this session, else 0), or
// a lock of type LockUnlock when there is none.
func (e *Engine) Getlk(ctx context.Context, ino Ino, owner uint64, want codec.PosixLock) (codec.PosixLock, error) {
	if want.Type == LockUnlock {
		return codec.PosixLock{Type: LockUnlock}, nil
	}
	if want.Type != LockRead && want.Type != LockWrite {
		return codec.PosixLock{}, syscall.EINVAL
	}
	key := e.keys.Plock(ino)
	h, err := e.rdb.Do(ctx, e.rdb.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		return codec.PosixLock{}, e.redisErr("HGETALL "+key, err)
	}
	holder, l, err := firstConflictLock(key, h, codec.LockOwnerKey(e.sid.Load(), owner), want)
	if err != nil || holder == "" {
		return codec.PosixLock{Type: LockUnlock}, err
	}
	if sid, _, ok := codec.ParseLockOwnerKey(holder); !ok || sid != e.sid.Load() || sid == 0 {
		l.Pid = 0
	}
	return l, nil
}

func lockLetter(t uint32) string {
	switch t {
	case LockRead:
		return "R"
	case LockWrite:
		return "W"
	}
	return "U"
}

// firstConflictLock returns the holder and the first of its records that
// conflict with l (either is a write lock and the ranges overlap), looking
// at holders in name order so that the answer is stable; "" when none.
func firstConflictLock(key string, h map[string]string, field string, l codec.PosixLock) (string, codec.PosixLock, error) {
	holders := make([]string, 0, len(h))
	for f := range h {
		if f != field {
			holders = append(holders, f)
		}
	}
	sort.Strings(holders)
	for _, f := range holders {
		recs, err := codec.UnmarshalPosixLocks(h[f])
		if err != nil {
			return "", codec.PosixLock{}, codec.CorruptField(key, f, err)
		}
		for _, r := range recs {
			if (l.Type == LockWrite || r.Type == LockWrite) && r.End >= l.Start && r.Start <= l.End {
				return f, r, nil
			}
		}
	}
	return "", codec.PosixLock{}, nil
}

// setRange returns an owner's records with [l.Start, l.End] replaced by l
// (or cleared when l.Type is LockUnlock): records overlapping the range are
// cut around it, and neighbours with the same type and pid that touch are
// joined, so the result stays sorted and without overlaps.
func setRange(recs []codec.PosixLock, l codec.PosixLock) []codec.PosixLock {
	out := make([]codec.PosixLock, 0, len(recs)+2)
	for _, r := range recs {
		if r.End < l.Start || r.Start > l.End {
			out = append(out, r)
			continue
		}
		if r.Start < l.Start {
			left := r
			left.End = l.Start - 1
			out = append(out, left)
		}
		if r.End > l.End {
			right := r
			right.Start = l.End + 1
			out = append(out, right)
		}
	}
	if l.Type != LockUnlock {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	joined := out[:0]
	for _, r := range out {
		if n := len(joined); n > 0 {
			last := &joined[n-1]
			if last.Type == r.Type && last.Pid == r.Pid && last.End != math.MaxUint64 && last.End+1 == r.Start {
				last.End = r.End
				continue
			}
		}
		joined = append(joined, r)
	}
	return joined
}

// lockLoop decides and commits a change of one holder's field until it
// succeeds, fails, or (with block) no longer conflicts.
func (e *Engine) lockLoop(ctx context.Context, key, field string, block, write bool, entry func() string,
	decide func(map[string]string) (string, error)) error {
	if e.readOnly() {
		return syscall.EROFS
	}
	for {
		since := e.cacheClock()
		err := e.changeLock(ctx, key, field, entry, decide)
		if !errors.Is(err, syscall.EAGAIN) || !block {
			return err
		}
		if err := e.waitLockChange(ctx, key, since, write); err != nil {
			return err
		}
	}
}

// changeLock commits the value decide chooses for field, deciding again
// from the current hash as long as the hash changed under the decision.
func (e *Engine) changeLock(ctx context.Context, key, field string, entry func() string,
	decide func(map[string]string) (string, error)) error {
	h, err := e.readLockHash(ctx, key)
	if err != nil {
		return err
	}
	// verified: h is what Redis holds, not what the cache may still hold
	// before a change notification arrives; a refusal must rest on it.
	verified := e.conn.Cache == nil
	sid := e.sid.Load()
	keys := []string{key, e.keys.Locked(sid), e.keys.TxnLog(), e.keys.TxnLastLog()}
	for attempt := 0; attempt < maxTxnAttempts; attempt++ {
		value, err := decide(h)
		if errors.Is(err, syscall.EAGAIN) && !verified {
			e.cache.Invalidate(key)
			if h, err = e.readLockHash(ctx, key); err != nil {
				return err
			}
			verified = true
			continue
		}
		if err != nil {
			return err
		}
		if value == h[field] {
			return nil // already so (a lock is only written together with locked{sid})
		}
		args := make([]string, 0, 5+2*len(h))
		logEntry := ""
		if f := e.format.Load(); f != nil && f.ChangeLog {
			logEntry = e.changeLogEntry(entry())
		}
		args = append(args, field, value, strconv.FormatUint(sid, 10)+"_", logEntry, strconv.Itoa(len(h)))
		for f, v := range h {
			args = append(args, f, v)
		}
		reply, err := lockScript.Exec(ctx, e.rdb, keys, args).ToArray()
		if err != nil {
			return e.redisErr("lock "+key, err)
		}
		if e.conn.Cache != nil {
			e.cache.Invalidate(key)
		}
		if len(reply) == 0 {
			return fmt.Errorf("lock %s: empty reply", key)
		}
		if ok, _ := reply[0].AsInt64(); ok == 1 {
			return nil
		}
		if h, err = lockHashOf(key, reply[1:]); err != nil {
			return err
		}
		verified = true
	}
	return fmt.Errorf("%w: lock %s", ErrContended, key)
}

func lockHashOf(key string, flat []rueidis.RedisMessage) (map[string]string, error) {
	if len(flat)%2 != 0 {
		return nil, fmt.Errorf("lock %s: malformed reply", key)
	}
	h := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		f, err1 := flat[i].ToString()
		v, err2 := flat[i+1].ToString()
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("lock %s: malformed reply", key)
		}
		h[f] = v
	}
	return h, nil
}

// readLockHash reads a whole lock hash, through the client-side cache when
// it is on (so that Redis tells us when the hash changes).
func (e *Engine) readLockHash(ctx context.Context, key string) (map[string]string, error) {
	h, err := e.readCached(ctx, e.rdb.B().Hgetall().Key(key).Cache()).AsStrMap()
	if err != nil {
		return nil, e.redisErr("HGETALL "+key, err)
	}
	return h, nil
}

// cacheClock is the client-side cache's clock, 0 without a cache.
func (e *Engine) cacheClock() int64 {
	if e.conn.Cache == nil {
		return 0
	}
	return e.cache.Now()
}

// waitLockChange waits until the lock hash key may have changed since the
// cache clock read since: a change notification, lockRecheck without one,
// or (without client-side caching) a poll interval as JuiceFS uses (1 ms
// for write locks, 10 ms for read locks).
func (e *Engine) waitLockChange(ctx context.Context, key string, since int64, write bool) error {
	if e.conn.Cache == nil {
		d := 10 * time.Millisecond
		if write {
			d = time.Millisecond
		}
		return sleepCtx(ctx, d)
	}
	deadline := time.Now().Add(lockRecheck)
	for time.Now().Before(deadline) && e.cache.LastChange(key) <= since {
		if err := sleepCtx(ctx, time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
