package meta

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
)

// fanOut runs pieces of one job in goroutines, at most as many at a time
// as slots has room for, and keeps the first error reported. Nested
// fan-outs of a recursive walk share one slots channel, which bounds the
// goroutines of the whole walk.
type fanOut struct {
	slots chan struct{}
	wg    sync.WaitGroup
	first atomic.Pointer[error]
}

func newFanOut(slots chan struct{}) *fanOut { return &fanOut{slots: slots} }

// tryGo runs fn in a goroutine when a slot is free, and in the caller
// otherwise: a recursive walk whose levels share the slots then never
// waits for itself.
func (f *fanOut) tryGo(fn func() error) {
	select {
	case f.slots <- struct{}{}:
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer func() { <-f.slots }()
			f.fail(fn())
		}()
	default:
		f.fail(fn())
	}
}

// goWait runs fn in a goroutine as soon as a slot is free; it returns false
// (without running fn) when ctx ends first.
func (f *fanOut) goWait(ctx context.Context, fn func() error) bool {
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.slots }()
		f.fail(fn())
	}()
	return true
}

// ignoreENOENT drops ENOENT: a node another client removed during a walk
// is no failure of the walk.
func ignoreENOENT(err error) error {
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	return err
}

// fail records err unless an error was recorded before (nil is ignored).
func (f *fanOut) fail(err error) {
	if err != nil {
		f.first.CompareAndSwap(nil, &err)
	}
}

// failed reports whether an error was recorded: callers stop handing out
// work then.
func (f *fanOut) failed() bool { return f.first.Load() != nil }

// wait waits for every piece started and returns the first error.
func (f *fanOut) wait() error {
	f.wg.Wait()
	if p := f.first.Load(); p != nil {
		return *p
	}
	return nil
}
