package meta_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestCloseEndsEveryGoroutine: an engine that ran everything that starts
// goroutines of its own (a session with its heartbeat, flushes and cleanup
// jobs, directory prefetches, purges of deleted files, background id
// reservations) leaves none behind once Close returns.
func TestCloseEndsEveryGoroutine(t *testing.T) {
	v := newVolume(t, 0)
	ignore := goleak.IgnoreCurrent()
	e, err := meta.Open(bg, v.url, meta.Options{Heartbeat: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.NewSession(bg, true); err != nil {
		t.Fatal(err)
	}
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	// Enough creates to reserve the next inode range in the background.
	for i := range 1000 {
		mustCreate(t, e, bg, d, fmt.Sprintf("f%d", i), 0o644)
	}
	// Lookups that miss in a quiet directory start a prefetch.
	r := v.open(meta.Options{NoBackgroundJobs: true})
	for i := range 50 {
		if _, _, err := r.Lookup(bg, d, fmt.Sprintf("f%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// A deleted file with data is purged in the background.
	f := mustCreate(t, e, bg, d, "data", 0o644)
	id, err := e.NewSlice(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(bg, f, 0, 0, codec.Slice{ID: id, Size: 4096, Len: 4096}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.Unlink(bg, d, "data", true); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(bg); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(bg); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore)
}

// TestCloseCancelsBackgroundWork: Close lets purges under way
// finish until its context ends, then cancels them (the file stays queued
// for the cleanup job) instead of waiting for them.
func TestCloseCancelsBackgroundWork(t *testing.T) {
	v := newVolume(t, 0)
	release := make(chan struct{})
	var started atomic.Bool
	e := v.open(meta.Options{SliceDeleter: func(*codec.Format) (meta.DeleteSliceFunc, error) {
		return func(ctx context.Context, id uint64, size uint32) error {
			started.Store(true)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, nil
	}})
	defer close(release)
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	id, err := e.NewSlice(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(bg, f, 0, 0, codec.Slice{ID: id, Size: 4096, Len: 4096}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.Release(bg, f); err != nil {
		t.Fatal(err)
	}
	if err := e.Unlink(bg, meta.RootInode, "f", true); err != nil {
		t.Fatal(err)
	}
	voltest.Eventually(t, 10*time.Second, "purge started", func() error {
		if !started.Load() {
			return errors.New("the slice deletion was not called")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Close(ctx) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for a purge blocked in the slice deletion")
	}
	// The slice keeps its negative reference for gc; the recount at the
	// end of the test accepts that.
}

// TestFenceRace: the heartbeat fences the engine (here: the volume was
// destroyed under it) while operations run; every operation sees the
// fence or not, without a data race (run with -race), and once fenced
// every mutation is refused.
func TestFenceRace(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true})
	e := v.open(meta.Options{Heartbeat: 10 * time.Millisecond, NoBackgroundJobs: true})
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	var made, refused atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, _, err := e.Mkdir(ctx, d, fmt.Sprintf("w%d-%d", w, i), 0o755, 0)
				switch {
				case err == nil:
					made.Add(1)
				case errors.Is(err, syscall.EROFS):
					refused.Add(1)
				}
				e.GetAttr(ctx, d)
			}
		}()
	}
	voltest.Eventually(t, 10*time.Second, "the workers run", func() error {
		if made.Load() < 20 {
			return errors.New("fewer than 20 directories made")
		}
		return nil
	})
	v.do("DEL", e.Keys().Setting())
	voltest.Eventually(t, 10*time.Second, "the engine fences itself", func() error {
		if refused.Load() == 0 {
			return errors.New("no mutation refused yet")
		}
		return nil
	})
	cancel()
	wg.Wait()
	if _, _, err := e.Mkdir(bg, d, "after", 0o755, 0); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("mkdir after the fence: %v, want EROFS", err)
	}
}
