// Package faulttest runs a metadata workload on a volume while a fault is
// injected into its Redis deployment (a restart, a failover, a stalled
// server, a slot migration, a flushed script cache), and then checks the two
// things a fault must never break: the volume is consistent (fsck.Recount
// finds nothing), and no acknowledged operation was lost — every name whose
// creation, rename or removal returned success is found afterwards exactly
// as that success said.
//
// The workload is exported for the Cluster tests of package meta; the fault
// tests themselves are in this package, behind the build tag "faults" (run
// them with `make test-faults`).
package faulttest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// state is what the workload knows about one name.
type state struct {
	ino     meta.Ino // 0: the name is known to be absent
	mode    uint16   // last acknowledged permission bits (files present)
	unknown bool     // an operation on the name failed: it may be either
}

// worker owns one directory and every name in it, so that what it expects
// depends on its own operations only.
type worker struct {
	id    int
	dir   meta.Ino
	names map[string]*state
	next  int
	// present lists names known to exist, in creation order.
	present []string
}

// Workload is a running workload: Workers goroutines, each creating files
// in its own directory, renaming some, removing some, changing the mode of
// some and looking up what it made.
type Workload struct {
	e       *meta.Engine
	workers []*worker
	stop    atomic.Bool
	wg      sync.WaitGroup

	ok, failed atomic.Int64
	slowest    atomic.Int64 // nanoseconds of the longest operation
	slowestErr atomic.Int64 // nanoseconds of the longest failed operation
	mu         sync.Mutex
	errs       map[string]int // error text (first line) -> count
	violations []string       // reads that contradict an acknowledged operation
}

// Start makes directory name under the root and one directory per worker in
// it, then starts the workers. A worker sleeps 5 ms after a failed
// operation, so that it does not spin while Redis is away.
func Start(ctx context.Context, e *meta.Engine, name string, workers int) (*Workload, error) {
	top, _, err := e.Mkdir(ctx, meta.RootInode, name, 0o755, 0)
	if err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", name, err)
	}
	w := &Workload{e: e, errs: map[string]int{}}
	for i := range workers {
		d, _, err := e.Mkdir(ctx, top, "w"+strconv.Itoa(i), 0o755, 0)
		if err != nil {
			return nil, fmt.Errorf("mkdir %s/w%d: %w", name, i, err)
		}
		w.workers = append(w.workers, &worker{id: i, dir: d, names: map[string]*state{}})
	}
	for _, wk := range w.workers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.run(wk)
		}()
	}
	return w, nil
}

// Succeeded returns how many operations have succeeded so far.
func (w *Workload) Succeeded() int64 { return w.ok.Load() }

// Failed returns how many operations have failed so far.
func (w *Workload) Failed() int64 { return w.failed.Load() }

// WaitProgress waits until n more operations than now have succeeded, or
// timeout passes; it reports whether they did.
func (w *Workload) WaitProgress(n int64, timeout time.Duration) bool {
	target := w.ok.Load() + n
	deadline := time.Now().Add(timeout)
	for w.ok.Load() < target {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// Slowest returns the duration of the longest operation, and of the
// longest one that failed.
func (w *Workload) Slowest() (any, failed time.Duration) {
	return time.Duration(w.slowest.Load()), time.Duration(w.slowestErr.Load())
}

// Stop stops the workers and waits for them. Operations under way are let
// finish: an operation abandoned by its caller (a cancelled context) may be
// applied by Redis after the engine has given up on it, which leaves the
// directory statistics short of it (see docs/deployments.md).
func (w *Workload) Stop() {
	w.stop.Store(true)
	w.wg.Wait()
}

// Errors returns the errors seen, by text, with their counts.
func (w *Workload) Errors() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.errs))
	for k, v := range w.errs {
		out[k] = v
	}
	return out
}

// Violations returns the reads by the workers themselves that contradicted
// one of their acknowledged operations.
func (w *Workload) Violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.violations...)
}

func (w *Workload) fail(err error) {
	w.failed.Add(1)
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	w.mu.Lock()
	w.errs[msg]++
	w.mu.Unlock()
}

func (w *Workload) violation(format string, args ...any) {
	w.mu.Lock()
	w.violations = append(w.violations, fmt.Sprintf(format, args...))
	w.mu.Unlock()
}

// opTimeout bounds one operation: a fault must make operations fail, never
// hang.
const opTimeout = 60 * time.Second

func (w *Workload) run(wk *worker) {
	for !w.stop.Load() {
		w.step(wk)
	}
}

// step runs one operation. An operation that fails marks the names it
// touched as unknown and is never retried by the workload.
func (w *Workload) step(wk *worker) {
	opCtx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	i := wk.next
	wk.next++
	begin := time.Now()
	done := func(err error, names ...string) bool {
		took := int64(time.Since(begin))
		for cur := w.slowest.Load(); took > cur && !w.slowest.CompareAndSwap(cur, took); cur = w.slowest.Load() {
		}
		if err != nil {
			for cur := w.slowestErr.Load(); took > cur && !w.slowestErr.CompareAndSwap(cur, took); cur = w.slowestErr.Load() {
			}
		}
		if err == nil {
			w.ok.Add(1)
			return true
		}
		w.fail(err)
		for _, n := range names {
			wk.forget(n)
		}
		if opCtx.Err() != nil {
			w.violation("worker %d: an operation hung for %v: %v", wk.id, opTimeout, err)
		}
		// Do not spin while Redis is away.
		time.Sleep(5 * time.Millisecond)
		return false
	}
	switch {
	case i%4 == 3 && len(wk.present) > 0:
		// Rename the oldest present file.
		src := wk.present[0]
		dst := "r" + strconv.Itoa(i)
		ino, _, err := w.e.Rename(opCtx, wk.dir, src, wk.dir, dst, 0)
		if done(err, src, dst) {
			s := wk.names[src]
			if ino != s.ino {
				w.violation("worker %d: rename %s moved inode %d, expected %d", wk.id, src, ino, s.ino)
			}
			wk.names[dst] = &state{ino: s.ino, mode: s.mode}
			wk.names[src] = &state{}
			wk.present = append(wk.present[1:], dst)
		}
	case i%5 == 4 && len(wk.present) > 1:
		// Remove the second oldest present file.
		name := wk.present[1]
		err := w.e.Unlink(opCtx, wk.dir, name, false)
		if done(err, name) {
			wk.names[name] = &state{}
			wk.present = append(wk.present[:1], wk.present[2:]...)
		}
	case i%7 == 6 && len(wk.present) > 0:
		// Change the mode of the newest present file.
		name := wk.present[len(wk.present)-1]
		s := wk.names[name]
		mode := uint16(0o600 + i%0o100)
		_, err := w.e.SetAttr(opCtx, s.ino, codec.SetAttrMode, &meta.Attr{Mode: mode})
		if done(err, name) {
			s.mode = mode
		}
	case i%3 == 2 && len(wk.present) > 0:
		// Look up a present file: it must be there, as we left it.
		name := wk.present[len(wk.present)/2]
		s := wk.names[name]
		ino, a, err := w.e.Lookup(opCtx, wk.dir, name)
		if done(err) {
			if ino != s.ino || a.Mode != s.mode {
				w.violation("worker %d: lookup %s = inode %d mode %o, acknowledged inode %d mode %o", wk.id, name, ino, a.Mode, s.ino, s.mode)
			}
		} else if errors.Is(err, syscall.ENOENT) {
			w.violation("worker %d: lookup %s: ENOENT after its acknowledged creation", wk.id, name)
		}
	default:
		name := "f" + strconv.Itoa(i)
		ino, a, err := w.e.Mknod(opCtx, wk.dir, name, codec.TypeFile, 0o644, 0, 0)
		if done(err, name) {
			wk.names[name] = &state{ino: ino, mode: a.Mode}
			wk.present = append(wk.present, name)
		}
	}
}

// forget marks name as unknown and drops it from the present list.
func (wk *worker) forget(name string) {
	wk.names[name] = &state{unknown: true}
	for j, p := range wk.present {
		if p == name {
			wk.present = append(wk.present[:j], wk.present[j+1:]...)
			return
		}
	}
}

// Report is the outcome of Check.
type Report struct {
	Checked int      // names whose state was known
	Unknown int      // names an operation failed on
	Lost    []string // acknowledged states not found
}

// Check verifies with e (typically a fresh engine, whose cache holds
// nothing) that every name of known state is as its last acknowledged
// operation left it: present with the same inode and mode, or absent. Call
// it after Stop.
func (w *Workload) Check(ctx context.Context, e *meta.Engine) (Report, error) {
	var r Report
	for _, wk := range w.workers {
		for name, s := range wk.names {
			if s.unknown {
				r.Unknown++
				continue
			}
			r.Checked++
			ino, a, err := e.Lookup(ctx, wk.dir, name)
			switch {
			case s.ino == 0 && errors.Is(err, syscall.ENOENT):
			case s.ino == 0 && err == nil:
				r.Lost = append(r.Lost, fmt.Sprintf("w%d/%s: removed (acknowledged) but present as inode %d", wk.id, name, ino))
			case err != nil && !errors.Is(err, syscall.ENOENT):
				return r, fmt.Errorf("lookup w%d/%s: %w", wk.id, name, err)
			case err != nil:
				r.Lost = append(r.Lost, fmt.Sprintf("w%d/%s: created (acknowledged, inode %d) but absent", wk.id, name, s.ino))
			case ino != s.ino || a.Mode != s.mode:
				r.Lost = append(r.Lost, fmt.Sprintf("w%d/%s: inode %d mode %o, acknowledged inode %d mode %o", wk.id, name, ino, a.Mode, s.ino, s.mode))
			}
		}
	}
	return r, nil
}
