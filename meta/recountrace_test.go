package meta_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestRecountExcludesAccounting: a forced recount of a directory whose
// statistics are missing that starts while one of this client's mutations
// in it has committed but not yet added its delta to the pending statistics
// must not count the mutation twice (once in the entries it reads, once in
// the delta flushed after it). The recount is started from inside the
// mutation's commit, right after Redis applied it; it must wait for the
// mutation's accounting.
func TestRecountExcludesAccounting(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{engine: meta.Options{DirStatFlushPeriod: time.Hour}})
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	f := mustCreate(t, e, bg, d, "f", 0o644)
	mustCreate(t, e, bg, meta.RootInode, "r", 0o644)
	dropStats := func() {
		for _, k := range []string{"dirUsedSpace", "dirUsedInodes", "dirDataLength"} {
			v.srv.Do(t, v.db, "HDEL", k, d.String())
		}
	}

	// armed makes the next transaction that writes one of keys start a
	// forced recount (FlushStats) and wait until it either finished or
	// waits for this transaction's accounting.
	var armed atomic.Pointer[[]string]
	recounted := make(chan error, 1)
	e.RecordSentForTest(func(call meta.SentCall) {
		keys := armed.Load()
		if keys == nil || !e.IsTxnForTest(call) || !slices.ContainsFunc(call.Keys(), func(k string) bool { return slices.Contains(*keys, k) }) {
			return
		}
		if !armed.CompareAndSwap(keys, nil) {
			return
		}
		go func() { recounted <- e.FlushStats(context.WithoutCancel(bg)) }()
		for !e.RecountWaitingForTest() {
			select {
			case err := <-recounted:
				recounted <- err
				return
			case <-time.After(time.Millisecond):
			}
		}
	})

	const size = 1000
	ops := []struct {
		name string
		keys []string
		op   func() error
	}{
		{"write", []string{"i" + f.String()}, func() error {
			return e.Write(bg, f, 0, 0, codec.Slice{ID: 1, Size: size, Len: size}, time.Now())
		}},
		{"truncate", []string{"i" + f.String()}, func() error {
			_, err := e.Truncate(bg, f, 0, 3*size, false)
			return err
		}},
		{"create", []string{"d" + d.String()}, func() error {
			_, _, err := e.Mknod(bg, d, "g", codec.TypeFile, 0o644, 0, 0)
			return err
		}},
		{"unlink", []string{"d" + d.String()}, func() error { return e.Unlink(bg, d, "g", false) }},
		{"rename", []string{"d" + d.String()}, func() error {
			_, _, err := e.Rename(bg, meta.RootInode, "r", d, "r", 0)
			return err
		}},
	}
	for _, o := range ops {
		if err := e.FlushStats(bg); err != nil {
			t.Fatal(err)
		}
		dropStats()
		// A pending delta for d makes the flush look at d and find its
		// statistics missing.
		mustCreate(t, e, bg, d, "x-"+o.name, 0o644)
		armed.Store(&o.keys)
		if err := o.op(); err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		if armed.Load() != nil {
			t.Fatalf("%s: the operation sent no transaction writing %v", o.name, o.keys)
		}
		if err := <-recounted; err != nil {
			t.Fatalf("%s: recount: %v", o.name, err)
		}
		if err := e.FlushStats(bg); err != nil {
			t.Fatal(err)
		}
		stored, err := e.GetDirStat(bg, d)
		if err != nil {
			t.Fatal(err)
		}
		dropStats()
		recount, err := e.GetDirStat(bg, d)
		if err != nil {
			t.Fatal(err)
		}
		if stored != recount {
			t.Errorf("%s: stored statistics %+v, recount %+v", o.name, stored, recount)
		}
	}
}
