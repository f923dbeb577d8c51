package meta_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// bigDir creates n files in a new directory by writing the keys in bulk
// (faster than n creates), keeping the volume's accounting right.
func bigDir(t *testing.T, v *volume, n int) meta.Ino {
	t.Helper()
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "big", 0o755)
	c := e.Client()
	ctx := context.Background()
	first, err := c.Do(ctx, c.B().Incrby().Key("nextinode").Increment(int64(n)).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	first -= int64(n) - 1
	batch := c.B().Hset().Key("d" + d.String()).FieldValue()
	for i := 0; i < n; i++ {
		ino := meta.Ino(first + int64(i))
		a := codec.Attr{Typ: codec.TypeFile, Mode: 0o644, Nlink: 1, Parent: d}
		if err := c.Do(ctx, c.B().Set().Key("i"+ino.String()).Value(string(a.Marshal())).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		batch = batch.FieldValue(fmt.Sprintf("f%05d", i), string(codec.Entry{Typ: codec.TypeFile, Inode: ino}.Marshal()))
	}
	if err := c.Do(ctx, batch.Build()).Error(); err != nil {
		t.Fatal(err)
	}
	f := d.String()
	for _, kv := range [][2]string{{"dirUsedSpace", strconv.Itoa(4096 * n)}, {"dirUsedInodes", strconv.Itoa(n)}} {
		c.Do(ctx, c.B().Hset().Key(kv[0]).FieldValue().FieldValue(f, kv[1]).Build())
	}
	c.Do(ctx, c.B().Incrby().Key("usedSpace").Increment(int64(4096*n)).Build())
	c.Do(ctx, c.B().Incrby().Key("totalInodes").Increment(int64(n)).Build())
	return d
}

// TestLargeDirectories: directories above the cacheable size are listed by
// Readdir (HSCAN) and streamed by DirStream in bounded batches, each name
// exactly once, sorted on request, with attributes with plus.
func TestLargeDirectories(t *testing.T) {
	v := newVolume(t, 0)
	const n = 6000 // above the HGETALL limit
	d := bigDir(t, v, n)
	e := v.e
	ents, err := e.Readdir(bg, d, false)
	if err != nil || len(ents) != n+2 {
		t.Fatalf("readdir: %d entries, %v", len(ents), err)
	}
	for _, sorted := range []bool{false, true} {
		ds, err := e.OpenDir(bg, d, true, sorted)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		var order []string
		for {
			batch, err := ds.Next(bg, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(batch) == 0 {
				break
			}
			if len(batch) > 1000 {
				t.Fatalf("batch of %d", len(batch))
			}
			for _, en := range batch {
				if seen[en.Name] {
					t.Fatalf("%s returned twice", en.Name)
				}
				seen[en.Name] = true
				if en.Name != "." && en.Name != ".." {
					order = append(order, en.Name)
					if en.Attr.Mode != 0o644 || en.Attr.Nlink != 1 {
						t.Fatalf("plus attribute of %s: %+v", en.Name, en.Attr)
					}
				}
			}
		}
		if len(seen) != n+2 || !seen["."] || !seen[".."] {
			t.Fatalf("sorted=%v: %d names", sorted, len(seen))
		}
		if sorted && !sort.StringsAreSorted(order) {
			t.Fatal("sorted stream out of order")
		}
	}
	// The directory statistics match the entries (checked at cleanup too).
	st, err := e.GetDirStat(bg, d)
	if err != nil || st.Inodes != n || st.Space != 4096*n {
		t.Fatalf("dir stat %+v %v", st, err)
	}
	_, err = e.OpenDir(bg, mustCreate(t, e, bg, meta.RootInode, "file", 0o644), false, false)
	wantErrno(t, err, syscall.ENOTDIR)
}

// TestGetDirStat: stored statistics plus this client's unflushed changes;
// missing ones are recomputed.
func TestGetDirStat(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	mustCreate(t, e, bg, d, "a", 0o644)
	mustMkdir(t, e, bg, d, "sub", 0o755)
	if _, _, err := e.Symlink(bg, d, "l", "target"); err != nil {
		t.Fatal(err)
	}
	st, err := e.GetDirStat(bg, d) // before any flush: pending deltas count
	if err != nil || st != (meta.DirStat{Length: 0, Space: 3 * 4096, Inodes: 3}) {
		t.Fatalf("before flush %+v %v", st, err)
	}
	e.Sync(bg)
	v.srv.Do(t, v.db, "HDEL", "dirUsedSpace", d.String())
	st, err = e.GetDirStat(bg, d)
	if err != nil || st.Inodes != 3 || st.Space != 3*4096 {
		t.Fatalf("recomputed %+v %v", st, err)
	}
	if n, _ := v.srv.Do(t, v.db, "HGET", "dirUsedSpace", d.String()).AsInt64(); n != 3*4096 {
		t.Fatalf("recomputed statistics not stored: %d", n)
	}
}

// TestRecountWaitsForQuiet: the flusher recounts a directory with missing
// statistics only once this client has left it alone for a while, so that
// an operation racing with the recount is not counted twice; a directory
// that stays busy is recounted after a few flushes all the same.
func TestRecountWaitsForQuiet(t *testing.T) {
	clk := voltest.NewClock() // times move only when the test says so
	v := newVolumeWith(t, volumeOpts{engine: meta.Options{Clock: clk}})
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	stored := func() (int64, bool) {
		r := v.srv.Do(t, v.db, "HGET", "dirUsedInodes", d.String())
		n, err := r.AsInt64()
		return n, err == nil
	}
	e.Sync(bg)
	v.srv.Do(t, v.db, "HDEL", "dirUsedSpace", d.String())
	v.srv.Do(t, v.db, "HDEL", "dirUsedInodes", d.String())
	v.srv.Do(t, v.db, "HDEL", "dirDataLength", d.String())

	mustCreate(t, e, bg, d, "a", 0o644)
	e.FlushDirStatsPeriodicForTest(bg) // d was written a moment ago: no recount yet
	if n, ok := stored(); ok {
		t.Fatalf("recounted right after a write: %d inodes", n)
	}
	clk.Advance(1100 * time.Millisecond)
	e.FlushDirStatsPeriodicForTest(bg)
	if n, ok := stored(); !ok || n != 1 {
		t.Fatalf("after a quiet second: %d inodes stored (%v), want 1", n, ok)
	}

	// Busy: a write before every flush. The recount waits five flushes (four
	// or more here: the periodic flusher may add one).
	v.srv.Do(t, v.db, "HDEL", "dirUsedSpace", d.String())
	v.srv.Do(t, v.db, "HDEL", "dirUsedInodes", d.String())
	for i := 0; ; i++ {
		mustCreate(t, e, bg, d, fmt.Sprintf("busy%d", i), 0o644)
		e.FlushDirStatsPeriodicForTest(bg)
		if n, ok := stored(); ok {
			if i < 4 || n != int64(i+2) {
				t.Fatalf("recounted after %d busy flushes with %d inodes; want after 5 with %d", i+1, n, i+2)
			}
			break
		}
		if i > 10 {
			t.Fatal("a busy directory is never recounted")
		}
	}

	// An explicit flush recounts at once.
	v.srv.Do(t, v.db, "HDEL", "dirUsedSpace", d.String())
	mustCreate(t, e, bg, d, "last", 0o644)
	e.Sync(bg)
	r := v.srv.Do(t, v.db, "HGET", "dirUsedSpace", d.String())
	if n, err := r.AsInt64(); err != nil || n == 0 {
		t.Fatalf("Sync left the statistics missing: %d %v", n, err)
	}
}
