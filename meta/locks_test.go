package meta_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func newLockFile(t *testing.T, v *volume) meta.Ino {
	t.Helper()
	ino, _, err := v.e.Create(context.Background(), meta.RootInode, "locked", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

// lockIs fails the test unless err is want (0: success).
func lockIs(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if want == 0 && err != nil || want != 0 && !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func TestFlock(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := newLockFile(t, v)
	other := v.open(meta.Options{})
	e := v.e

	lockIs(t, "read lock", e.Flock(ctx, ino, 1, meta.LockRead, false), 0)
	lockIs(t, "read lock of another owner", e.Flock(ctx, ino, 2, meta.LockRead, false), 0)
	lockIs(t, "read lock of another client", other.Flock(ctx, ino, 1, meta.LockRead, false), 0)
	lockIs(t, "write lock while others read", e.Flock(ctx, ino, 1, meta.LockWrite, false), syscall.EAGAIN)
	lockIs(t, "unlock", e.Flock(ctx, ino, 2, meta.LockUnlock, false), 0)
	lockIs(t, "unlock", other.Flock(ctx, ino, 1, meta.LockUnlock, false), 0)
	lockIs(t, "upgrade", e.Flock(ctx, ino, 1, meta.LockWrite, false), 0)
	lockIs(t, "read lock of another client", other.Flock(ctx, ino, 1, meta.LockRead, false), syscall.EAGAIN)
	lockIs(t, "same owner number, other session", other.Flock(ctx, ino, 1, meta.LockWrite, false), syscall.EAGAIN)
	lockIs(t, "downgrade", e.Flock(ctx, ino, 1, meta.LockRead, false), 0)
	lockIs(t, "read lock after the downgrade", other.Flock(ctx, ino, 7, meta.LockRead, false), 0)
	lockIs(t, "bad type", e.Flock(ctx, ino, 1, 9, false), syscall.EINVAL)

	fl, _, err := e.Inspect().Locks(ctx, ino)
	if err != nil {
		t.Fatal(err)
	}
	if len(fl) != 2 || fl[0].Type != "R" || fl[1].Type != "R" {
		t.Fatalf("locks = %+v, want two read locks", fl)
	}
	// A held lock is listed with the session that holds it, read locks too
	// (JuiceFS forgets those, and its stale-session cleanup cannot release them).
	s, err := e.Inspect().Session(ctx, e.SID(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Flocks) != 1 || s.Flocks[0].Inode != ino || s.Flocks[0].Owner != 1 || s.Flocks[0].Ltype != "R" {
		t.Fatalf("session flocks = %+v", s.Flocks)
	}
	lockIs(t, "unlock", e.Flock(ctx, ino, 1, meta.LockUnlock, false), 0)
	lockIs(t, "unlock what is not held", e.Flock(ctx, ino, 1, meta.LockUnlock, false), 0)
	if s, err = e.Inspect().Session(ctx, e.SID(), true); err != nil || len(s.Flocks) != 0 {
		t.Fatalf("session flocks after unlock = %+v, %v", s.Flocks, err)
	}
	lockIs(t, "unlock", other.Flock(ctx, ino, 7, meta.LockUnlock, false), 0)
	locked, err := e.Client().Do(ctx, e.Client().B().Smembers().Key(e.Keys().Locked(other.SID())).Build()).AsStrSlice()
	if err != nil || len(locked) != 0 {
		t.Fatalf("locked set after every unlock = %v, %v", locked, err)
	}
}

func TestSetlk(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := newLockFile(t, v)
	other := v.open(meta.Options{})
	e := v.e
	lk := func(typ uint32, start, end uint64, pid uint32) codec.PosixLock {
		return codec.PosixLock{Type: typ, Start: start, End: end, Pid: pid}
	}

	lockIs(t, "write [0,99]", e.Setlk(ctx, ino, 1, false, lk(meta.LockWrite, 0, 99, 10)), 0)
	lockIs(t, "read [100,199] by another owner", e.Setlk(ctx, ino, 2, false, lk(meta.LockRead, 100, 199, 20)), 0)
	lockIs(t, "read [50,60] by another owner", e.Setlk(ctx, ino, 2, false, lk(meta.LockRead, 50, 60, 20)), syscall.EAGAIN)
	lockIs(t, "read [150,160] by another client", other.Setlk(ctx, ino, 2, false, lk(meta.LockRead, 150, 160, 30)), 0)
	lockIs(t, "write [150,160] by another client", other.Setlk(ctx, ino, 3, false, lk(meta.LockWrite, 150, 160, 30)), syscall.EAGAIN)
	lockIs(t, "start after end", e.Setlk(ctx, ino, 1, false, lk(meta.LockWrite, 9, 8, 10)), syscall.EINVAL)

	// The holder reported to the same session carries its pid; to another
	// session the pid is 0.
	got, err := e.Getlk(ctx, ino, 2, lk(meta.LockWrite, 0, meta.LockEOF, 20))
	if err != nil || got != lk(meta.LockWrite, 0, 99, 10) {
		t.Fatalf("getlk by owner 2 = %+v, %v; want the write lock of pid 10", got, err)
	}
	got, err = other.Getlk(ctx, ino, 9, lk(meta.LockRead, 0, 10, 30))
	if err != nil || got != lk(meta.LockWrite, 0, 99, 0) {
		t.Fatalf("getlk from another client = %+v, %v; want the write lock without pid", got, err)
	}
	got, err = e.Getlk(ctx, ino, 1, lk(meta.LockWrite, 0, 99, 10))
	if err != nil || got.Type != meta.LockUnlock {
		t.Fatalf("getlk of the holder's own range = %+v, %v; want unlocked", got, err)
	}
	got, err = e.Getlk(ctx, ino, 1, lk(meta.LockRead, 120, 130, 10))
	if err != nil || got.Type != meta.LockUnlock {
		t.Fatalf("getlk read over read locks = %+v, %v; want unlocked", got, err)
	}

	// Unlocking the middle splits the record; locks of the owner merge.
	lockIs(t, "unlock [40,59]", e.Setlk(ctx, ino, 1, false, lk(meta.LockUnlock, 40, 59, 10)), 0)
	lockIs(t, "read [45,50] by another owner", e.Setlk(ctx, ino, 2, false, lk(meta.LockRead, 45, 50, 20)), 0)
	_, pl, err := e.Inspect().Locks(ctx, ino)
	if err != nil {
		t.Fatal(err)
	}
	var mine []codec.PosixLock
	for _, p := range pl {
		if p.Sid == e.SID() && p.Owner == 1 {
			mine = append(mine, p.Lock)
		}
	}
	want := []codec.PosixLock{lk(meta.LockWrite, 0, 39, 10), lk(meta.LockWrite, 60, 99, 10)}
	if len(mine) != 2 || mine[0] != want[0] || mine[1] != want[1] {
		t.Fatalf("owner 1 holds %+v, want %+v", mine, want)
	}
	lockIs(t, "unlock all", e.Setlk(ctx, ino, 1, false, lk(meta.LockUnlock, 0, meta.LockEOF, 10)), 0)
	lockIs(t, "unlock all", e.Setlk(ctx, ino, 2, false, lk(meta.LockUnlock, 0, meta.LockEOF, 20)), 0)
	if s, err := e.Inspect().Session(ctx, e.SID(), true); err != nil || len(s.Plocks) != 0 {
		t.Fatalf("session plocks after unlock = %+v, %v", s, err)
	}
	if s, err := other.Inspect().Session(ctx, other.SID(), true); err != nil || len(s.Plocks) != 1 {
		t.Fatalf("the other session's plocks = %+v, %v; want its read lock", s, err)
	}
}

// TestLockWaitWakes: a blocked request is granted once the holder, in
// another client, releases the lock; it is not granted before.
func TestLockWaitWakes(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := newLockFile(t, v)
	other := v.open(meta.Options{})
	for _, kind := range []string{"flock", "plock"} {
		t.Run(kind, func(t *testing.T) {
			take := func(e *meta.Engine, owner uint64, block bool, typ uint32) error {
				if kind == "flock" {
					return e.Flock(ctx, ino, owner, typ, block)
				}
				return e.Setlk(ctx, ino, owner, block, codec.PosixLock{Type: typ, End: meta.LockEOF, Pid: 1})
			}
			lockIs(t, "take", take(v.e, 1, false, meta.LockWrite), 0)
			done := make(chan error, 1)
			var released time.Time
			go func() { done <- take(other, 2, true, meta.LockWrite) }()
			select {
			case err := <-done:
				t.Fatalf("the waiter got the lock while it was held: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			released = time.Now()
			lockIs(t, "release", take(v.e, 1, false, meta.LockUnlock), 0)
			lockIs(t, "the waiter", <-done, 0)
			t.Logf("woken %v after the release", time.Since(released))
			lockIs(t, "now held by the waiter", take(v.e, 1, false, meta.LockRead), syscall.EAGAIN)
			lockIs(t, "release", take(other, 2, false, meta.LockUnlock), 0)

			// A cancelled wait ends with EINTR.
			lockIs(t, "take", take(v.e, 1, false, meta.LockWrite), 0)
			cctx, cancel := context.WithCancel(ctx)
			go func() {
				if kind == "flock" {
					done <- other.Flock(cctx, ino, 2, meta.LockWrite, true)
				} else {
					done <- other.Setlk(cctx, ino, 2, true, codec.PosixLock{Type: meta.LockWrite, End: meta.LockEOF})
				}
			}()
			cancel()
			lockIs(t, "cancelled wait", meta.ToErrno(<-done), syscall.EINTR)
			lockIs(t, "release", take(v.e, 1, false, meta.LockUnlock), 0)
		})
	}
}

// TestStaleSessionReleasesLocks: the locks of a client that stopped
// heartbeating (crashed) are released by another client's cleanup, read
// locks included.
func TestStaleSessionReleasesLocks(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := newLockFile(t, v)
	crashed := v.open(meta.Options{NoBackgroundJobs: true})
	lockIs(t, "flock R", crashed.Flock(ctx, ino, 1, meta.LockRead, false), 0)
	lockIs(t, "plock W", crashed.Setlk(ctx, ino, 1, false, codec.PosixLock{Type: meta.LockWrite, End: 10}), 0)
	lockIs(t, "blocked", v.e.Flock(ctx, ino, 1, meta.LockWrite, false), syscall.EAGAIN)
	// Expire the crashed client's session as if it had stopped heartbeating.
	rdb := v.e.Client()
	sid := crashed.SID()
	if err := rdb.Do(ctx, rdb.B().Zadd().Key(v.e.Keys().AllSessions()).ScoreMember().ScoreMember(1, itoa(sid)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	v.e.Cleanup().CleanStaleSessions(ctx)
	lockIs(t, "flock after cleanup", v.e.Flock(ctx, ino, 1, meta.LockWrite, false), 0)
	lockIs(t, "plock after cleanup", v.e.Setlk(ctx, ino, 1, false, codec.PosixLock{Type: meta.LockWrite, End: meta.LockEOF}), 0)
	if _, err := v.e.Inspect().Session(ctx, sid, false); err == nil {
		t.Fatalf("the stale session %d is still registered", sid)
	}
}

// TestSetRangeModel checks the merging of one owner's records against a
// byte map, through the engine, with random ranges.
func TestSetRangeModel(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := newLockFile(t, v)
	const size = 64
	var model [size]uint32 // lock type per byte, LockUnlock = none
	for i := range model {
		model[i] = meta.LockUnlock
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		start := uint64(r.IntN(size))
		end := start + uint64(r.IntN(size-int(start)))
		typ := []uint32{meta.LockRead, meta.LockWrite, meta.LockUnlock}[r.IntN(3)]
		if err := v.e.Setlk(ctx, ino, 1, false, codec.PosixLock{Type: typ, Start: start, End: end, Pid: 5}); err != nil {
			t.Fatal(err)
		}
		for b := start; b <= end; b++ {
			model[b] = typ
		}
		_, pl, err := v.e.Inspect().Locks(ctx, ino)
		if err != nil {
			t.Fatal(err)
		}
		var got [size]uint32
		for i := range got {
			got[i] = meta.LockUnlock
		}
		prevEnd, prevType := int64(-2), uint32(99)
		for _, p := range pl {
			l := p.Lock
			if int64(l.Start) <= prevEnd {
				t.Fatalf("step %d: records overlap or are unsorted: %+v", i, pl)
			}
			if int64(l.Start) == prevEnd+1 && l.Type == prevType {
				t.Fatalf("step %d: touching records of one type were not joined: %+v", i, pl)
			}
			for b := l.Start; b <= l.End && b < size; b++ {
				got[b] = l.Type
			}
			prevEnd, prevType = int64(l.End), l.Type
		}
		if got != model {
			t.Fatalf("step %d (%d [%d,%d]): locks %v, model %v", i, typ, start, end, got, model)
		}
	}
}
