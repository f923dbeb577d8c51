package meta_test

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestCorruptValues: malformed values in Redis give an error that is marked
// as corruption and names the key, and never a panic.
func TestCorruptValues(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true})
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	f := mustCreate(t, e, bg, d, "f", 0o644)
	l, _, err := e.Symlink(bg, d, "l", "t")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error, key string) {
		t.Helper()
		if err == nil || !meta.IsCorruption(err) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v (want a corruption error naming %s)", what, err, key)
		}
	}
	v.srv.Do(t, v.db, "SET", "i"+f.String(), "short")
	_, err = e.GetAttr(bg, f)
	check("getattr", err, "i"+f.String())
	_, _, err = e.Lookup(bg, d, "f")
	check("lookup", err, "i"+f.String())
	v.srv.Do(t, v.db, "HSET", "d"+d.String(), "bad", "12345")
	_, _, err = e.Lookup(bg, d, "bad")
	check("entry", err, "d"+d.String())
	_, err = e.Readdir(bg, d, false)
	check("readdir", err, "d"+d.String())
	v.srv.Do(t, v.db, "RPUSH", "c"+f.String()+"_0", "not a slice record")
	la := mustAttr(t, e, l)
	la.Typ = 1 // a regular file again
	v.srv.Do(t, v.db, "SET", "i"+f.String(), string(la.Marshal()))
	_, err = e.Read(bg, f, 0)
	if err == nil {
		t.Error("read of a corrupt chunk list succeeded")
	}
	v.srv.Do(t, v.db, "SET", "setting", "{not json")
	// Another client's change reaches the cache within a moment.
	voltest.Eventually(t, 2*time.Second, "corrupt setting", voltest.Holds(func() bool { _, err = e.Load(bg, false); return err != nil }))
	check("setting", err, "setting")
}

func mustAttr(t *testing.T, e *meta.Engine, ino meta.Ino) meta.Attr {
	t.Helper()
	a, err := e.GetAttr(bg, ino)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestMaxFileLength: no operation makes a file reach codec.MaxFileLength
// (EFBIG, as juicefs's file system layer refuses it), and a stored length
// at or past it, or an unknown node type, is corruption naming the key.
func TestMaxFileLength(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true})
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	g := mustCreate(t, e, bg, meta.RootInode, "g", 0o644)
	mustWrite(t, e, f, 0, 0, 1, 100, 0, 100)
	if _, err := e.Truncate(bg, f, 0, codec.MaxFileLength, false); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("truncate: %v", err)
	}
	if err := e.Write(bg, f, 1<<31, 0, codec.Slice{ID: 2, Size: 10, Len: 10}, time.Now()); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("write: %v", err)
	}
	if _, err := e.Fallocate(bg, f, 0, codec.MaxFileLength-10, 10); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("fallocate: %v", err)
	}
	if _, _, err := e.CopyFileRange(bg, f, 0, g, codec.MaxFileLength-50, 100, 0); !errors.Is(err, syscall.EFBIG) {
		t.Errorf("copy_file_range: %v", err)
	}
	k := e.Keys()
	a := mustAttr(t, e, f)
	a.Length = 1<<63 - 1
	v.srv.Do(t, v.db, "SET", k.Inode(f), string(a.Marshal()))
	e.InvalidateCache()
	if _, err := e.GetAttr(bg, f); !meta.IsCorruption(err) || !strings.Contains(err.Error(), k.Inode(f)) {
		t.Errorf("getattr of a length of 2^63-1: %v", err)
	}
	ent := codec.Entry{Typ: codec.TypeFile, Inode: g}.Marshal()
	ent[0] = 9
	v.srv.Do(t, v.db, "HSET", k.Entries(meta.RootInode), "g", string(ent))
	e.InvalidateCache()
	for what, err := range map[string]error{
		"lookup":  func() error { _, _, err := e.Lookup(bg, meta.RootInode, "g"); return err }(),
		"resolve": func() error { _, _, err := e.Resolve(bg, meta.RootInode, "g"); return err }(),
		"readdir": func() error { _, err := e.Readdir(bg, meta.RootInode, false); return err }(),
	} {
		if !meta.IsCorruption(err) || !strings.Contains(err.Error(), "unknown type 9") {
			t.Errorf("%s of an entry of type 9: %v", what, err)
		}
	}
}

// TestNoHalfApply: a transaction whose write would fail on a corrupt value
// — a counter that is not an integer, a key of another type — fails before
// writing anything, naming the key, in compiled scripts and in txn.lua
// (a batch). Before, rmr with usedSpace set to a non-number failed
// mid-script and left leaked inodes and wrong statistics, naming no key.
func TestNoHalfApply(t *testing.T) {
	type op func(e *meta.Engine, d meta.Ino) error
	cases := []struct {
		name   string
		damage func(v *volume, d, f meta.Ino)
		key    string
		op     op
	}{
		{"create, used space not an integer", func(v *volume, d, f meta.Ino) { v.srv.Do(t, v.db, "SET", "usedSpace", "abc") }, "usedSpace",
			func(e *meta.Engine, d meta.Ino) error { _, _, err := e.Create(bg, d, "new", 0o644, 0, 0); return err }},
		{"unlink, inode count not an integer", func(v *volume, d, f meta.Ino) { v.srv.Do(t, v.db, "SET", "totalInodes", "1e3") }, "totalInodes",
			func(e *meta.Engine, d meta.Ino) error { return e.Unlink(bg, d, "f0", true) }},
		{"unlink, delfiles of another type", func(v *volume, d, f meta.Ino) { v.srv.Do(t, v.db, "SET", "delfiles", "x") }, "delfiles",
			func(e *meta.Engine, d meta.Ino) error { return e.Unlink(bg, d, "f0", true) }},
		{"rmdir, statistics of another type", func(v *volume, d, f meta.Ino) {
			v.srv.Do(t, v.db, "DEL", "dirDataLength")
			v.srv.Do(t, v.db, "SET", "dirDataLength", "x")
		}, "dirDataLength",
			func(e *meta.Engine, d meta.Ino) error { return e.Rmdir(bg, d, "empty", true) }},
		{"write, chunk list of another type", func(v *volume, d, f meta.Ino) { v.srv.Do(t, v.db, "SET", "c"+f.String()+"_0", "x") }, "c",
			func(e *meta.Engine, d meta.Ino) error {
				ino, _, err := e.Lookup(bg, d, "f0")
				if err != nil {
					return err
				}
				return e.Write(bg, ino, 0, 0, codec.Slice{ID: 77, Size: 10, Len: 10}, time.Now())
			}},
		{"rmr (a batch through txn.lua), used space not an integer", func(v *volume, d, f meta.Ino) { v.srv.Do(t, v.db, "SET", "usedSpace", "abc") }, "usedSpace",
			func(e *meta.Engine, d meta.Ino) error {
				_, err := e.Remove(bg, meta.RootInode, "d", true, 2, nil)
				return err
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newVolumeWith(t, volumeOpts{noCheck: true, engine: meta.Options{NoBackgroundJobs: true}})
			e := v.e
			d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
			mustMkdir(t, e, bg, d, "empty", 0o755)
			var f meta.Ino
			for i := range 60 {
				ino := mustCreate(t, e, bg, d, "f"+strconv.Itoa(i), 0o644)
				if err := e.Release(bg, ino); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					f = ino
					mustWrite(t, e, f, 0, 0, 1, 100, 0, 100) // queued in delfiles when deleted
				}
			}
			e.Sync(bg)
			c.damage(v, d, f)
			e.InvalidateCache()
			before := dumpDB(t, v.srv, v.db)
			err := c.op(e, d)
			if !meta.IsCorruption(err) || !strings.Contains(err.Error(), `"`+c.key) {
				t.Errorf("%v (want a corruption error naming %s)", err, c.key)
			}
			after := dumpDB(t, v.srv, v.db)
			for k, d := range before {
				if after[k] != d {
					t.Errorf("%s changed", k)
				}
			}
			for k := range after {
				if _, ok := before[k]; !ok {
					t.Errorf("%s was created", k)
				}
			}
		})
	}
}

// TestStatsFlushFailures: a directory whose stored statistics hold a value
// that is not an integer has them recomputed by the flush while the other
// directories of the same flush get their deltas (before, the script
// stopped half-way and the deltas were lost); a statistics key of the
// wrong type fails the flush naming it, and Close reports the statistics
// it could not store (before, the process exited 0 with them gone).
func TestStatsFlushFailures(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true, engine: meta.Options{NoBackgroundJobs: true}})
	e := v.e
	a := mustMkdir(t, e, bg, meta.RootInode, "a", 0o755)
	b := mustMkdir(t, e, bg, meta.RootInode, "b", 0o755)
	if err := e.FlushStats(bg); err != nil {
		t.Fatal(err)
	}
	v.srv.Do(t, v.db, "HSET", "dirDataLength", a.String(), "1.5")
	for i := range 3 {
		mustCreate(t, e, bg, a, "f"+strconv.Itoa(i), 0o644)
		mustCreate(t, e, bg, b, "f"+strconv.Itoa(i), 0o644)
	}
	if err := e.FlushStats(bg); err != nil {
		t.Fatalf("flush: %v", err)
	}
	for _, d := range []meta.Ino{a, b} {
		for _, key := range []string{"dirDataLength", "dirUsedSpace", "dirUsedInodes"} {
			got, _ := v.srv.Do(t, v.db, "HGET", key, d.String()).ToString()
			want := map[string]string{"dirDataLength": "0", "dirUsedSpace": "12288", "dirUsedInodes": "3"}[key]
			if got != want {
				t.Errorf("%s of directory %d: %q, want %s", key, d, got, want)
			}
		}
	}

	v.srv.Do(t, v.db, "DEL", "dirUsedInodes")
	v.srv.Do(t, v.db, "SET", "dirUsedInodes", "x")
	mustCreate(t, e, bg, b, "g", 0o644)
	before := dumpDB(t, v.srv, v.db)
	err := e.FlushStats(bg)
	if !errors.Is(err, meta.ErrStatsNotStored) || !strings.Contains(err.Error(), `"dirUsedInodes"`) {
		t.Fatalf("flush: %v (want ErrStatsNotStored naming dirUsedInodes)", err)
	}
	if after := dumpDB(t, v.srv, v.db); !maps.Equal(before, after) {
		t.Errorf("the failed flush wrote something")
	}
	if err := e.Close(bg); !errors.Is(err, meta.ErrStatsNotStored) {
		t.Fatalf("close: %v (want ErrStatsNotStored)", err)
	}
}

// TestChunkDeleteNoHalfApply: a slice reference count that is not an
// integer stops the deletion of a chunk before it releases any reference
// (before, the references ahead of it were released and the chunk kept, so
// the next attempt released them again: their data could be deleted while
// another file still used it).
func TestChunkDeleteNoHalfApply(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true, engine: meta.Options{NoBackgroundJobs: true}})
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	mustWrite(t, e, f, 0, 0, 100, 100, 0, 100)
	mustWrite(t, e, f, 0, 100, 101, 100, 0, 100)
	if err := e.Release(bg, f); err != nil {
		t.Fatal(err)
	}
	v.srv.Do(t, v.db, "HSET", "sliceRef", "k100_100", "1") // shared with another file
	v.srv.Do(t, v.db, "HSET", "sliceRef", "k101_100", "x")
	if err := e.Unlink(bg, meta.RootInode, "f", true); err != nil {
		t.Fatal(err)
	}
	e.Cleanup().PurgeDeletedFilesBefore(bg, time.Now().Add(time.Hour), 10)
	e.Close(bg)
	if got, _ := v.srv.Do(t, v.db, "HGET", "sliceRef", "k100_100").ToString(); got != "1" {
		t.Errorf("sliceRef k100_100 is %q: a reference was released although the chunk stays", got)
	}
	if n, _ := v.srv.Do(t, v.db, "LLEN", "c"+f.String()+"_0").AsInt64(); n != 2 {
		t.Errorf("the chunk list has %d records, want 2 (kept)", n)
	}
}

// TestCompactNoHalfApply: a slice reference count that is not an integer
// stops a compaction before it rewrites the chunk list or releases any
// reference (before, the list was already rewritten and the references
// ahead of the corrupt one released when the script stopped).
func TestCompactNoHalfApply(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true, engine: meta.Options{NoBackgroundJobs: true,
		Compact: func(context.Context, uint64, []codec.Slice) error { return nil }}})
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	var ids []uint64
	for i := uint32(0); i < 4; i++ {
		id, err := e.NewSlice(bg)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		mustWrite(t, e, f, 0, i*1000, id, 1000, 0, 1000)
	}
	chunk := "c" + f.String() + "_0"
	bad := "k" + strconv.FormatUint(ids[2], 10) + "_1000"
	v.srv.Do(t, v.db, "HSET", "sliceRef", bad, "x")
	refs := func() map[string]string {
		m, err := v.srv.Do(t, v.db, "HGETALL", "sliceRef").AsStrMap()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	before, list := refs(), dumpDB(t, v.srv, v.db)[chunk]
	err := e.CompactChunk(bg, f, 0)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("compaction: %v (want an error naming %s)", err, bad)
	}
	if dumpDB(t, v.srv, v.db)[chunk] != list {
		t.Errorf("%s changed by a compaction that failed", chunk)
	}
	after := refs()
	for _, id := range ids { // the merged slice's own field is released as garbage
		k := "k" + strconv.FormatUint(id, 10) + "_1000"
		if before[k] != after[k] {
			t.Errorf("sliceRef %s went from %q to %q in a compaction that failed", k, before[k], after[k])
		}
	}
}
