//go:build faults

package faulttest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// The client-side cache across faults. These tests live in the fault suite,
// which runs without the race detector: after a connection is killed,
// rueidis v1.0.79 may hand a command buffer back to its pool while the dead
// connection's writer still reads it, and the detector then reports whoever
// reuses the buffer.

// create creates a file and closes it.
func create(t *testing.T, e *meta.Engine, parent meta.Ino, name string) meta.Ino {
	t.Helper()
	ctx := context.Background()
	ino, _, err := e.Create(ctx, parent, name, 0o644, 0, 0)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if err := e.Release(ctx, ino); err != nil {
		t.Fatal(err)
	}
	return ino
}

// TestNoStaleReadsAfterReconnect: values cached before a connection drop, a
// server restart or a FLUSHDB are never served afterwards.
func TestNoStaleReadsAfterReconnect(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	url := srv.URL("redis", 1)
	ctx := context.Background()
	w, err := meta.Open(ctx, url, meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	if err := w.Init(ctx, &codec.Format{Name: "reconnect", UUID: "u", Storage: "file", BlockSize: 4096, MetaVersion: 1, DirStats: true}, false); err != nil {
		t.Fatal(err)
	}
	r, err := meta.Open(ctx, url, meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	if _, err := r.Load(ctx, true); err != nil {
		t.Fatal(err)
	}
	f := create(t, w, meta.RootInode, "f")
	setMode := func(mode uint16) {
		a, err := w.GetAttr(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		a.Mode = mode
		// srv.Do retries once on a connection the server killed.
		if err := srv.Do(t, 1, "SET", "i"+f.String(), string(a.Marshal())).Error(); err != nil {
			t.Fatal(err)
		}
	}
	warm := func() {
		for i := 0; i < 2; i++ {
			if _, err := r.GetAttr(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	mode := func() uint16 {
		for i := 0; i < 50; i++ { // the reconnect itself may take a moment
			a, err := r.GetAttr(ctx, f)
			if err == nil {
				return a.Mode
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal("reader never reconnected")
		return 0
	}

	// 1. Connections killed by the server.
	warm()
	if err := srv.Do(t, 1, "CLIENT", "KILL", "TYPE", "normal").Error(); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Fatal(err)
	}
	setMode(0o601)
	if m := mode(); m != 0o601 {
		t.Fatalf("after CLIENT KILL: mode %o", m)
	}
	// 2. Server restart (AOF keeps the data).
	warm()
	srv.Restart(t)
	setMode(0o602)
	if m := mode(); m != 0o602 {
		t.Fatalf("after restart: mode %o", m)
	}
	// 3. FLUSHDB.
	warm()
	if err := srv.Do(t, 1, "FLUSHDB").Error(); err != nil {
		t.Fatal(err)
	}
	voltest.Eventually(t, 2*time.Second, "FLUSHDB", voltest.Holds(func() bool {
		_, err := r.GetAttr(ctx, f)
		return errors.Is(err, syscall.ENOENT)
	}))
}

// TestSnapshotAfterReconnect: a directory snapshot (a prefetched directory
// answering lookups locally, also for absent names) is dropped with the
// connection, so a change made while the reader could not be told about it
// is seen once the reader notices the broken connection.
func TestSnapshotAfterReconnect(t *testing.T) {
	srv, db := redistest.NewDB(t)
	url := srv.URL("redis", db)
	ctx := context.Background()
	w := format(t, url)
	r := open(t, url)
	d, _, err := w.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		create(t, w, d, fmt.Sprintf("f%d", i))
	}
	// Wait for the snapshot: only a snapshot answers a name never asked
	// before without going to Redis.
	probe := 0
	voltest.Eventually(t, 2*time.Second, "prefetch", voltest.Holds(func() bool {
		for i := 0; i < 50; i++ {
			if _, _, err := r.Lookup(ctx, d, fmt.Sprintf("f%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		probe++
		before := r.CacheStats().Misses
		if _, _, err := r.Lookup(ctx, d, fmt.Sprintf("probe%d", probe)); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("absent name: %v", err)
		}
		return r.CacheStats().Misses == before
	}))
	srv.Do(t, db, "CLIENT", "KILL", "TYPE", "normal")
	if err := w.Unlink(ctx, d, "f9", false); err != nil { // sent again on a new connection
		t.Fatal(err)
	}
	voltest.Eventually(t, 2*time.Second, "unlink while disconnected", voltest.Holds(func() bool {
		_, _, err := r.Lookup(ctx, d, "f9")
		return errors.Is(err, syscall.ENOENT)
	}))
	for i := 0; i < 50; i++ {
		if _, _, err := r.Lookup(ctx, d, fmt.Sprintf("f%d", i)); (err == nil) == (i == 9) {
			t.Fatalf("f%d after reconnect: %v", i, err)
		}
	}
	recount(t, w, fsck.Options{})
}
