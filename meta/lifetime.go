package meta

import (
	"context"
	"sync"
	"time"
)

// An engine lives from Open to Close. Everything it runs in the background
// (session heartbeats and flushes, cleanup jobs, directory prefetches,
// purges of deleted files, id reservations) runs under its lifetime
// context and is counted, so that Close can stop all of it and return only
// once it has ended.

// spawn runs fn in a goroutine Close waits for, also counted in wg when
// given. It returns false (without running fn) once Close has begun to end
// the engine's goroutines.
func (e *Engine) spawn(wg *sync.WaitGroup, fn func()) bool {
	e.tasksMu.Lock()
	defer e.tasksMu.Unlock()
	if e.ending {
		return false
	}
	e.tasks.Add(1)
	if wg != nil {
		wg.Add(1)
	}
	go func() {
		defer e.tasks.Done()
		if wg != nil {
			defer wg.Done()
		}
		fn()
	}()
	return true
}

// Close flushes pending statistics, ends the session (if any), lets the
// purges of deleted files under way finish until ctx ends, then cancels
// everything else the engine runs, waits for it to end, and closes the
// connection. It is safe to call more than once.
func (e *Engine) Close(ctx context.Context) error {
	e.closeMu.Lock()
	if e.closed {
		e.closeMu.Unlock()
		return nil
	}
	e.closed = true
	e.closeMu.Unlock()
	var err error
	if e.sid.Load() != 0 || e.sessionStop != nil {
		err = e.CloseSession(ctx)
	}
	purged := make(chan struct{})
	go func() {
		e.purgeWG.Wait()
		close(purged)
	}()
	select {
	case <-purged:
	case <-ctx.Done():
		// Unfinished purges stay in delfiles for the cleanup job.
	}
	e.tasksMu.Lock()
	e.ending = true
	e.tasksMu.Unlock()
	e.endLife()
	e.tasks.Wait()
	<-purged
	e.flushMarkers()
	e.conn.Close()
	return err
}

// readOnly reports whether the engine refuses mutations: opened read-only,
// or fenced.
func (e *Engine) readOnly() bool { return e.opts.ReadOnly || e.fenced.Load() }

// fence makes every later mutation fail: the volume under us is gone.
func (e *Engine) fence() { e.fenced.Store(true) }

// sleepCtx waits for d, or less when ctx ends first (its error is
// returned then).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
