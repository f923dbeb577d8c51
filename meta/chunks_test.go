package meta_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

const chunk = codec.ChunkSize

func rec(pos uint32, id uint64, size, off, n uint32) codec.SliceRecord {
	return codec.SliceRecord{Pos: pos, ID: id, Size: size, Off: off, Len: n}
}

func hole(pos, n uint32) codec.SliceRecord { return rec(pos, 0, 0, 0, n) }

// chunkList reads a chunk list straight from Redis.
func chunkList(t *testing.T, e *meta.Engine, ino meta.Ino, indx uint32) []codec.SliceRecord {
	t.Helper()
	c := e.Client()
	vals, err := c.Do(bg, c.B().Lrange().Key(e.Keys().Chunk(ino, indx)).Start(0).Stop(-1).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := codec.UnmarshalSliceRecords(vals)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func wantList(t *testing.T, e *meta.Engine, ino meta.Ino, indx uint32, want ...codec.SliceRecord) {
	t.Helper()
	if got := chunkList(t, e, ino, indx); !slices.Equal(got, want) {
		t.Fatalf("c%d_%d = %+v, want %+v", ino, indx, got, want)
	}
}

func mustWrite(t *testing.T, e *meta.Engine, ino meta.Ino, indx, off uint32, id uint64, size, soff, n uint32) {
	t.Helper()
	if err := e.Write(bg, ino, indx, off, codec.Slice{ID: id, Size: size, Off: soff, Len: n}, time.Now()); err != nil {
		t.Fatalf("write c%d_%d at %d: %v", ino, indx, off, err)
	}
}

// writeNew writes n fresh bytes (a new slice) at file offset off (within one
// chunk) and returns the slice id.
func writeNew(t *testing.T, e *meta.Engine, ino meta.Ino, off uint64, n uint32) uint64 {
	t.Helper()
	id, err := e.NewSlice(bg)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, e, ino, uint32(off/chunk), uint32(off%chunk), id, n, 0, n)
	return id
}

func length(t *testing.T, e *meta.Engine, ino meta.Ino) uint64 {
	t.Helper()
	a, err := e.GetAttr(bg, ino)
	if err != nil {
		t.Fatal(err)
	}
	return a.Length
}

func usedSpace(t *testing.T, e *meta.Engine) int64 {
	t.Helper()
	sp, _, err := e.Counters(bg)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// fixtureList returns a chunk list of the basic fixture volume.
func fixtureList(t *testing.T, key string) []codec.SliceRecord {
	t.Helper()
	ks, err := fixtures.ReadKeyspace(fixtures.Path("basic", "keyspace.json"))
	if err != nil {
		t.Fatal(err)
	}
	k := ks.Lookup(key)
	if k == nil {
		t.Fatalf("fixture has no key %s", key)
	}
	recs, err := codec.UnmarshalSliceRecords(k.List)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestWrite(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	before := usedSpace(t, e)
	mtime := time.Unix(946684800, 123456789)
	if err := e.Write(bg, f, 0, 0, codec.Slice{ID: 7, Size: 1024, Len: 1024}, mtime); err != nil {
		t.Fatal(err)
	}
	a, _ := e.GetAttr(bg, f)
	if a.Length != 1024 || a.Mtime != mtime.Unix() || a.Mtimensec != 123456789 {
		t.Fatalf("attr after write: %+v", a)
	}
	if time.Since(time.Unix(a.Ctime, int64(a.Ctimensec))) > time.Minute {
		t.Fatalf("ctime not set to now: %+v", a)
	}
	wantList(t, e, f, 0, rec(0, 7, 1024, 0, 1024))
	if got := usedSpace(t, e); got != before {
		t.Fatalf("usedSpace %d after a write within the first 4 KiB, want %d", got, before)
	}
	// A write inside the file does not change its length; one in a later
	// chunk grows it to the end of the written range.
	mustWrite(t, e, f, 0, 100, 8, 50, 10, 20)
	mustWrite(t, e, f, 2, 5000, 9, 4096, 0, 4096)
	wantList(t, e, f, 0, rec(0, 7, 1024, 0, 1024), rec(100, 8, 50, 10, 20))
	wantList(t, e, f, 2, rec(5000, 9, 4096, 0, 4096))
	if got, want := length(t, e, f), uint64(2*chunk+5000+4096); got != want {
		t.Fatalf("length %d, want %d", got, want)
	}
	if got, want := usedSpace(t, e), before+int64(codec.Align4K(2*chunk+9096))-4096; got != want {
		t.Fatalf("usedSpace %d, want %d", got, want)
	}
	// No reference count is created by a write.
	c := e.Client()
	if n, _ := c.Do(bg, c.B().Hlen().Key(e.Keys().SliceRef()).Build()).AsInt64(); n != 0 {
		t.Fatalf("sliceRef has %d fields after plain writes", n)
	}

	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	wantErrno(t, e.Write(bg, d, 0, 0, codec.Slice{ID: 10, Size: 1, Len: 1}, time.Now()), syscall.EPERM)
	wantErrno(t, e.Write(bg, 999999, 0, 0, codec.Slice{ID: 10, Size: 1, Len: 1}, time.Now()), syscall.ENOENT)
	wantErrno(t, e.Write(bg, f, 0, chunk-10, codec.Slice{ID: 10, Size: 20, Len: 20}, time.Now()), syscall.EINVAL)
}

// TestWriteNoPermissionChecks: writes are checked at open time, not here.
func TestWriteNoPermissionChecks(t *testing.T) {
	v := newVolume(t, 1)
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "ro", 0o444)
	if _, err := e.SetAttr(bg, f, codec.SetAttrFlag, &meta.Attr{Flags: codec.FlagImmutable}); err != nil {
		t.Fatal(err)
	}
	if err := e.Write(as(1000), f, 0, 0, codec.Slice{ID: 1, Size: 10, Len: 10}, time.Now()); err != nil {
		t.Fatalf("write to an immutable 0444 file as another user: %v", err)
	}
	if _, err := e.SetAttr(bg, f, codec.SetAttrFlag, &meta.Attr{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Unlink(bg, meta.RootInode, "ro", false); err != nil {
		t.Fatal(err)
	}
	if err := e.Write(bg, f, 0, 10, codec.Slice{ID: 2, Size: 10, Len: 10}, time.Now()); err != nil {
		t.Fatalf("write to a file in the trash: %v", err)
	}
	if got := length(t, e, f); got != 20 {
		t.Fatalf("length %d", got)
	}
}

// TestOverwriteLikeFixture replays the writes of the basic fixture's
// data/overwrite.dat (inode 18) and compares records and layout with what the
// official client stored and `juicefs info --raw` showed.
func TestOverwriteLikeFixture(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "overwrite.dat", 0o644)
	mustWrite(t, e, f, 0, 0, 11, 200000, 0, 200000)
	mustWrite(t, e, f, 0, 100000, 12, 60000, 0, 60000)
	mustWrite(t, e, f, 0, 130000, 13, 60000, 0, 60000)
	mustWrite(t, e, f, 0, 130000, 14, 60000, 0, 60000)
	wantList(t, e, f, 0, fixtureList(t, "c18_0")...)
	if got := length(t, e, f); got != 200000 {
		t.Fatalf("length %d", got)
	}
	got, err := e.Read(bg, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []codec.Slice{{ID: 11, Size: 200000, Off: 0, Len: 100000}, {ID: 12, Size: 60000, Off: 0, Len: 30000},
		{ID: 14, Size: 60000, Off: 0, Len: 60000}, {ID: 11, Size: 200000, Off: 190000, Len: 10000}}
	if !slices.Equal(got, want) {
		t.Fatalf("layout %+v, want %+v", got, want)
	}
}

// TestReadFixtureLayouts reads chunks of the official client's basic volume
// and compares them with `juicefs info --raw` (info.txt).
func TestReadFixtureLayouts(t *testing.T) {
	e, _, _ := loadFixture(t, "basic")
	for _, c := range []struct {
		ino  meta.Ino
		indx uint32
		want []codec.Slice
	}{
		{18, 0, []codec.Slice{{ID: 11, Size: 200000, Len: 100000}, {ID: 12, Size: 60000, Len: 30000},
			{ID: 14, Size: 60000, Len: 60000}, {ID: 11, Size: 200000, Off: 190000, Len: 10000}}},
		{24, 0, []codec.Slice{{ID: 11, Size: 200000, Len: 100000}, {ID: 12, Size: 60000, Len: 30000},
			{ID: 14, Size: 60000, Len: 60000}, {ID: 11, Size: 200000, Off: 190000, Len: 10000}}},
		// sparse.img has no hole records: the gaps are not covered by any
		// record. `juicefs info` shows the gap between two records with size
		// 0 where codec.BuildLayout gives every gap its length as size (the
		// bytes read are the same zeros).
		{17, 0, []codec.Slice{{ID: 8, Size: 4096, Len: 4096}, {Size: 695904, Len: 695904}, {ID: 9, Size: 8192, Len: 8192}}},
		{17, 1, []codec.Slice{{Size: 2891136, Len: 2891136}, {ID: 10, Size: 4000, Len: 4000}}},
		{19, 0, []codec.Slice{{ID: 15, Size: 50000, Len: 12345}, {Off: 0, Len: 37655}}},
		{20, 0, []codec.Slice{{ID: 16, Size: 1000, Len: 1000}, {Len: 1499000}}},
	} {
		got, err := e.Read(bg, c.ino, c.indx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("inode %d chunk %d: layout %+v, want %+v", c.ino, c.indx, got, c.want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	if got, err := e.Read(bg, f, 3); err != nil || len(got) != 0 {
		t.Fatalf("empty chunk of a file: %v %v", got, err)
	}
	_, err := e.Read(bg, d, 0)
	wantErrno(t, err, syscall.EPERM)
	_, err = e.Read(bg, 999999, 0)
	wantErrno(t, err, syscall.ENOENT)

	// One malformed element makes the whole list corrupt.
	c := e.Client()
	key := e.Keys().Chunk(f, 0)
	good := rec(0, 1, 10, 0, 10)
	if err := c.Do(bg, c.B().Rpush().Key(key).Element(string(good.Marshal()), "short").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	_, err = e.Read(bg, f, 0)
	if !meta.IsCorruption(err) || !strings.Contains(err.Error(), key) {
		t.Fatalf("want a corruption error naming %s, got %v", key, err)
	}
	if err := c.Do(bg, c.B().Del().Key(key).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := e.InvalidateChunkCache(bg, f, 0); err != nil {
		t.Fatal(err)
	}
	if got, err := e.Read(bg, f, 0); err != nil || len(got) != 0 {
		t.Fatalf("after the list was deleted: %v %v", got, err)
	}
}

// TestReadSeesWrites: the chunk list is read through the client-side cache;
// this client's writes and another client's writes must both be visible.
// TestReadSeesWrites: a chunk's layout, cached after a read, follows this
// client's own writes at once and other clients' changes (another engine's
// write, a raw change of the list) as soon as Redis invalidates it, whether
// the file is open in the reading client (its layouts are then kept with
// the open file) or not.
func TestReadSeesWrites(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("open=%v", open), func(t *testing.T) { testReadSeesWrites(t, open) })
	}
}

func testReadSeesWrites(t *testing.T, open bool) {
	v := newVolume(t, 0)
	e := v.e
	other := v.open(meta.Options{})
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	if open {
		for _, c := range []*meta.Engine{e, other} {
			if _, err := c.Open(bg, f, 0); err != nil {
				t.Fatal(err)
			}
			defer c.Release(bg, f)
		}
	}
	mustWrite(t, e, f, 0, 0, 1, 100, 0, 100)
	for i := range 2 {
		for range 2 { // cache it; the second read is answered by the cache
			if _, err := e.Read(bg, f, 0); err != nil {
				t.Fatal(err)
			}
		}
		mustWrite(t, e, f, 0, 10, uint64(2+i), 10, 0, 10)
		got, _ := e.Read(bg, f, 0)
		if len(got) != 3 || got[1].ID != uint64(2+i) {
			t.Fatalf("own write not visible: %+v", got)
		}
	}
	readsEventually := func(what string, ok func([]codec.Slice) bool) {
		t.Helper()
		for range 2 {
			if _, err := other.Read(bg, f, 0); err != nil {
				t.Fatal(err)
			}
		}
		voltest.Eventually(t, 5*time.Second, what, func() error {
			got, err := other.Read(bg, f, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !ok(got) {
				return fmt.Errorf("the other client reads %+v", got)
			}
			return nil
		})
	}
	mustWrite(t, e, f, 0, 50, 9, 10, 0, 10)
	readsEventually("another engine's write", func(got []codec.Slice) bool { return len(got) == 5 && got[3].ID == 9 })
	raw := v.srv.Client(t, v.db)
	rec := codec.SliceRecord{Pos: 0, ID: 10, Size: 100, Off: 0, Len: 100}
	if err := raw.Do(bg, raw.B().Rpush().Key(fmt.Sprintf("c%d_0", f)).Element(string(rec.Append(nil))).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	readsEventually("a raw RPUSH", func(got []codec.Slice) bool { return len(got) == 1 && got[0].ID == 10 })
	v.check(other)
}

func TestReadTouchesAtime(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{engine: meta.Options{AtimeMode: codec.AtimeStrict}})
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	mustWrite(t, e, f, 0, 0, 1, 100, 0, 100)
	old := time.Unix(1000000000, 0)
	if _, err := e.SetAttr(bg, f, codec.SetAttrAtime, &meta.Attr{Atime: old.Unix()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Read(bg, f, 0); err != nil {
		t.Fatal(err)
	}
	if a, _ := e.GetAttr(bg, f); a.Atime == old.Unix() {
		t.Fatalf("atime not updated by a read in strictatime mode")
	}

	v2 := newVolume(t, 0) // noatime (default)
	f2 := mustCreate(t, v2.e, bg, meta.RootInode, "f", 0o644)
	if _, err := v2.e.SetAttr(bg, f2, codec.SetAttrAtime, &meta.Attr{Atime: old.Unix()}); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.e.Read(bg, f2, 0); err != nil {
		t.Fatal(err)
	}
	if a, _ := v2.e.GetAttr(bg, f2); a.Atime != old.Unix() {
		t.Fatalf("atime updated by a read in noatime mode")
	}
}

// TestTruncateLikeFixture replays data/trunc-short.txt and data/trunc-long.txt
// of the basic fixture and compares the chunk lists with the official
// client's.
func TestTruncateLikeFixture(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	short := mustCreate(t, e, bg, meta.RootInode, "trunc-short.txt", 0o644)
	mustWrite(t, e, short, 0, 0, 15, 50000, 0, 50000)
	a, err := e.Truncate(bg, short, 0, 12345, false)
	if err != nil || a.Length != 12345 {
		t.Fatalf("truncate: %+v %v", a, err)
	}
	wantList(t, e, short, 0, fixtureList(t, "c19_0")...)

	long := mustCreate(t, e, bg, meta.RootInode, "trunc-long.txt", 0o644)
	mustWrite(t, e, long, 0, 0, 16, 1000, 0, 1000)
	if _, err := e.Truncate(bg, long, 0, 1500000, false); err != nil {
		t.Fatal(err)
	}
	wantList(t, e, long, 0, fixtureList(t, "c20_0")...)
	if got := length(t, e, long); got != 1500000 {
		t.Fatalf("length %d", got)
	}
}

func TestTruncateAcrossChunks(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	mustWrite(t, e, f, 0, 0, 1, 10, 0, 10)
	before := usedSpace(t, e)
	// Growth: the middle chunks do not exist, RPUSHX leaves them absent.
	if _, err := e.Truncate(bg, f, 0, 3*chunk+100, false); err != nil {
		t.Fatal(err)
	}
	wantList(t, e, f, 0, rec(0, 1, 10, 0, 10), hole(10, chunk-10))
	wantList(t, e, f, 1)
	wantList(t, e, f, 2)
	wantList(t, e, f, 3, hole(0, 100))
	if got, want := usedSpace(t, e), before+int64(codec.Align4K(3*chunk+100))-4096; got != want {
		t.Fatalf("usedSpace %d, want %d", got, want)
	}
	// Data in chunks 1 and 2, then a shrink: like the official client, the
	// transaction blanks the chunk of the new end and the existing lists
	// after it; then (unlike it) the lists entirely past the new end are
	// dropped and their slices released, so that they cannot leak.
	mustWrite(t, e, f, 1, 0, 2, 100, 0, 100)
	mustWrite(t, e, f, 2, 0, 3, 100, 0, 100)
	a, err := e.Truncate(bg, f, 0, 5, false)
	if err != nil || a.Length != 5 {
		t.Fatalf("shrink: %+v %v", a, err)
	}
	wantList(t, e, f, 0, rec(0, 1, 10, 0, 10), hole(10, chunk-10), hole(5, chunk-5))
	wantList(t, e, f, 1)
	wantList(t, e, f, 2)
	wantList(t, e, f, 3)
	if got := usedSpace(t, e); got != before {
		t.Fatalf("usedSpace %d after shrinking back, want %d", got, before)
	}
	refs, _ := e.Client().Do(bg, e.Client().B().Hgetall().Key(e.Keys().SliceRef()).Build()).AsStrMap()
	if refs["k2_100"] != "-1" || refs["k3_100"] != "-1" {
		t.Fatalf("slices past the end not released: %v", refs)
	}
	// Growing to a chunk boundary: no record in the chunk of the new end,
	// nothing in the (absent) middle chunk.
	if _, err := e.Truncate(bg, f, 0, 2*chunk, false); err != nil {
		t.Fatal(err)
	}
	wantList(t, e, f, 0, rec(0, 1, 10, 0, 10), hole(10, chunk-10), hole(5, chunk-5), hole(5, chunk-5))
	wantList(t, e, f, 1)
	wantList(t, e, f, 2)
	// Within one chunk.
	if _, err := e.Truncate(bg, f, 0, 2*chunk+7, false); err != nil {
		t.Fatal(err)
	}
	wantList(t, e, f, 2, hole(0, 7))
	// An absent chunk below the length reads as zeros (an empty layout).
	got, err := e.Read(bg, f, 1)
	if err != nil || len(got) != 0 {
		t.Fatalf("chunk 1 after shrink and growth: %+v %v", got, err)
	}
}

// TestTruncateHugeSparse: past 10000 chunks only the chunk lists that exist
// are blanked (found with SCAN).
func TestTruncateHugeSparse(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "huge", 0o644)
	other := mustCreate(t, e, bg, meta.RootInode, "other", 0o644)
	mustWrite(t, e, f, 0, 0, 1, 100, 0, 100)
	mustWrite(t, e, f, 5, 0, 2, 100, 0, 100)
	mustWrite(t, e, f, 20000, 0, 3, 100, 0, 100)
	mustWrite(t, e, other, 7, 0, 4, 100, 0, 100)
	// Shrink to 100 bytes, then grow past 30000 chunks: both span more than
	// 10000 chunks.
	if _, err := e.Truncate(bg, f, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	end := uint64(30000)*chunk + 50
	if _, err := e.Truncate(bg, f, 0, end, false); err != nil {
		t.Fatal(err)
	}
	// The shrink dropped the lists past the new end (found with SCAN too).
	wantList(t, e, f, 0, rec(0, 1, 100, 0, 100), hole(100, chunk-100), hole(100, chunk-100))
	wantList(t, e, f, 5)
	wantList(t, e, f, 20000)
	wantList(t, e, f, 30000, hole(0, 50))
	wantList(t, e, other, 7, rec(0, 4, 100, 0, 100))
	c := e.Client()
	keys, err := c.Do(bg, c.B().Keys().Pattern("c"+f.String()+"_*").Build()).AsStrSlice()
	if err != nil || len(keys) != 2 {
		t.Fatalf("chunk keys after a huge truncate: %v %v", keys, err)
	}
	if got := length(t, e, f); got != end {
		t.Fatalf("length %d", got)
	}
}

func TestTruncateRules(t *testing.T) {
	clk := voltest.NewClock() // times move only when the test says so
	v := newVolumeWith(t, volumeOpts{trashDays: 1, engine: meta.Options{Clock: clk}})
	e := v.e
	f := mustCreate(t, e, as(1000), meta.RootInode, "f", 0o644)
	mustWrite(t, e, f, 0, 0, 1, 100, 0, 100)
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o777)
	fifo, _, err := e.Mknod(bg, meta.RootInode, "fifo", codec.TypeFIFO, 0o666, 0, 0)
	if err != nil {
		t.Fatal(err)
	}

	_, err = e.Truncate(bg, d, 0, 10, false)
	wantErrno(t, err, syscall.EPERM)
	_, err = e.Truncate(bg, fifo, 0, 10, false)
	wantErrno(t, err, syscall.EPERM)
	_, err = e.Truncate(bg, 999999, 0, 10, false)
	wantErrno(t, err, syscall.ENOENT)
	// Permission: write needed unless skipped (truncate through a handle).
	_, err = e.Truncate(as(2000), f, 0, 10, false)
	wantErrno(t, err, syscall.EACCES)
	if _, err := e.Truncate(as(2000), f, 1, 50, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Truncate(as(1000), f, 0, 60, false); err != nil {
		t.Fatal(err)
	}
	// Same length: nothing changes, not even mtime.
	a0, _ := e.GetAttr(bg, f)
	clk.Advance(time.Millisecond)
	a1, err := e.Truncate(bg, f, 0, 60, false)
	if err != nil || a1 != a0 {
		t.Fatalf("truncate to the same length changed %+v into %+v (%v)", a0, a1, err)
	}
	n := len(chunkList(t, e, f, 0))
	for _, flag := range []uint8{codec.FlagImmutable, codec.FlagAppend} {
		if _, err := e.SetAttr(bg, f, codec.SetAttrFlag, &meta.Attr{Flags: flag}); err != nil {
			t.Fatal(err)
		}
		_, err = e.Truncate(bg, f, 1, 0, true)
		wantErrno(t, err, syscall.EPERM)
	}
	if _, err := e.SetAttr(bg, f, codec.SetAttrFlag, &meta.Attr{}); err != nil {
		t.Fatal(err)
	}
	if got := len(chunkList(t, e, f, 0)); got != n {
		t.Fatalf("refused truncates wrote records")
	}
	// In the trash: only through an open handle (flags 1).
	if err := e.Unlink(bg, meta.RootInode, "f", false); err != nil {
		t.Fatal(err)
	}
	_, err = e.Truncate(bg, f, 0, 0, false)
	wantErrno(t, err, syscall.EPERM)
	if _, err := e.Truncate(bg, f, 1, 0, false); err != nil {
		t.Fatal(err)
	}
}

// TestHardLinkedResize: the statistics of every directory naming a
// hard-linked file follow its size, once per name (checked by the recount).
func TestHardLinkedResize(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{userGroupQuota: true})
	e := v.e
	a := mustMkdir(t, e, bg, meta.RootInode, "a", 0o777)
	b := mustMkdir(t, e, bg, meta.RootInode, "b", 0o777)
	f := mustCreate(t, e, as(1000), a, "f", 0o644)
	for _, l := range []struct {
		dir  meta.Ino
		name string
	}{{a, "f2"}, {b, "f3"}} {
		if _, err := e.Link(bg, f, l.dir, l.name); err != nil {
			t.Fatal(err)
		}
	}
	writeNew(t, e, f, 0, 10000)
	if _, err := e.Truncate(bg, f, 0, 3*chunk, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Fallocate(bg, f, 0, 3*chunk, 5000); err != nil {
		t.Fatal(err)
	}
	src := mustCreate(t, e, bg, b, "src", 0o644)
	writeNew(t, e, src, 0, 20000)
	if _, _, err := e.CopyFileRange(bg, src, 0, f, 4*chunk, 20000, 0); err != nil {
		t.Fatal(err)
	}
	v.check()
	if _, err := e.Truncate(bg, f, 0, 1, false); err != nil {
		t.Fatal(err)
	}
}

func TestFallocate(t *testing.T) {
	clk := voltest.NewClock() // times move only when the test says so
	v := newVolumeWith(t, volumeOpts{engine: meta.Options{Clock: clk}})
	e := v.e
	f := mustCreate(t, e, as(1000), meta.RootInode, "f", 0o644)
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o777)
	fifo, _, err := e.Mknod(bg, meta.RootInode, "fifo", codec.TypeFIFO, 0o666, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	const (
		keep     = codec.FallocKeepSize
		punch    = codec.FallocPunchHole
		zero     = codec.FallocZeroRange
		collapse = codec.FallocCollapseRange
		insert   = codec.FallocInsertRange
	)
	for _, c := range []struct {
		ino  meta.Ino
		mode uint8
		size uint64
		want syscall.Errno
	}{
		{f, collapse, 10, syscall.ENOTSUP},
		{f, insert, 10, syscall.ENOTSUP},
		{f, collapse | keep, 10, syscall.EINVAL},
		{f, insert | zero, 10, syscall.EINVAL},
		{f, punch, 10, syscall.EINVAL},
		{f, 0, 0, syscall.EINVAL},
		{fifo, 0, 10, syscall.EPIPE},
		{d, 0, 10, syscall.EPERM},
		{999999, 0, 10, syscall.ENOENT},
	} {
		_, err := e.Fallocate(bg, c.ino, c.mode, 0, c.size)
		wantErrno(t, err, c.want)
	}
	_, err = e.Fallocate(as(2000), f, 0, 0, 10)
	wantErrno(t, err, syscall.EACCES)

	// Plain allocation grows the file and writes no record.
	before := usedSpace(t, e)
	n, err := e.Fallocate(as(1000), f, 0, 100, 2*chunk+10)
	if err != nil || n != 2*chunk+110 {
		t.Fatalf("fallocate: %d %v", n, err)
	}
	for i := range uint32(3) {
		wantList(t, e, f, i)
	}
	if got, want := usedSpace(t, e), before+int64(codec.Align4K(2*chunk+110))-4096; got != want {
		t.Fatalf("usedSpace %d, want %d", got, want)
	}
	// KEEP_SIZE past the end: no growth, but mtime moves.
	a0, _ := e.GetAttr(bg, f)
	clk.Advance(time.Millisecond)
	if n, err := e.Fallocate(bg, f, keep, 3*chunk, 10); err != nil || n != a0.Length {
		t.Fatalf("keep size: %d %v", n, err)
	}
	if a1, _ := e.GetAttr(bg, f); a1.Length != a0.Length || a1.Mtimensec == a0.Mtimensec && a1.Mtime == a0.Mtime {
		t.Fatalf("keep size: before %+v after %+v", a0, a1)
	}
	// Punching a hole across a chunk boundary, clipped at the old length.
	if _, err := e.Fallocate(bg, f, punch|keep, chunk-5, 20); err != nil {
		t.Fatal(err)
	}
	wantList(t, e, f, 0, hole(chunk-5, 5))
	wantList(t, e, f, 1, hole(0, 15))
	if _, err := e.Fallocate(bg, f, punch|keep, 2*chunk+100, 1000); err != nil {
		t.Fatal(err)
	}
	wantList(t, e, f, 2, hole(100, 10))
	// ZERO_RANGE past the end grows the file; only the old part gets zeros.
	if n, err := e.Fallocate(bg, f, zero, 2*chunk+105, 100); err != nil || n != 2*chunk+205 {
		t.Fatalf("zero range: %d %v", n, err)
	}
	wantList(t, e, f, 2, hole(100, 10), hole(105, 5))
	// Entirely past the old end: nothing to zero.
	if _, err := e.Fallocate(bg, f, zero|keep, 3*chunk, 100); err != nil {
		t.Fatal(err)
	}
	wantList(t, e, f, 3)

	// Flags: immutable refuses everything, append-only all but KEEP_SIZE.
	if _, err := e.SetAttr(bg, f, codec.SetAttrFlag, &meta.Attr{Flags: codec.FlagAppend}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []uint8{keep, 0} {
		if _, err := e.Fallocate(bg, f, m, 0, 10); err != nil {
			t.Fatalf("mode %#x on an append-only file: %v", m, err)
		}
	}
	for _, m := range []uint8{zero, punch | keep, zero | keep} {
		_, err := e.Fallocate(bg, f, m, 0, 10)
		wantErrno(t, err, syscall.EPERM)
	}
	if _, err := e.SetAttr(bg, f, codec.SetAttrFlag, &meta.Attr{Flags: codec.FlagImmutable}); err != nil {
		t.Fatal(err)
	}
	_, err = e.Fallocate(bg, f, keep, 0, 10)
	wantErrno(t, err, syscall.EPERM)
	if _, err := e.SetAttr(bg, f, codec.SetAttrFlag, &meta.Attr{}); err != nil {
		t.Fatal(err)
	}
}

func sliceRefs(t *testing.T, e *meta.Engine) map[string]string {
	t.Helper()
	c := e.Client()
	m, err := c.Do(bg, c.B().Hgetall().Key(e.Keys().SliceRef()).Build()).AsStrMap()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCopyFileRange(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	src := mustCreate(t, e, bg, meta.RootInode, "src", 0o644)
	mustWrite(t, e, src, 0, 0, 11, 200000, 0, 200000)
	mustWrite(t, e, src, 0, 100000, 12, 60000, 0, 60000)
	mustWrite(t, e, src, 0, 130000, 13, 60000, 0, 60000)
	mustWrite(t, e, src, 0, 130000, 14, 60000, 0, 60000)
	dst := mustCreate(t, e, bg, meta.RootInode, "dst", 0o644)
	before := usedSpace(t, e)

	copied, n, err := e.CopyFileRange(bg, src, 0, dst, 0, 1<<30, 0)
	if err != nil || copied != 200000 || n != 200000 {
		t.Fatalf("copy: %d %d %v", copied, n, err)
	}
	wantList(t, e, dst, 0, rec(0, 11, 200000, 0, 100000), rec(100000, 12, 60000, 0, 30000),
		rec(130000, 14, 60000, 0, 60000), rec(190000, 11, 200000, 190000, 10000))
	if got, want := sliceRefs(t, e), map[string]string{"k11_200000": "2", "k12_60000": "1", "k14_60000": "1"}; !mapsEqual(got, want) {
		t.Fatalf("sliceRef %v, want %v", got, want)
	}
	if got, want := usedSpace(t, e), before+int64(codec.Align4K(200000))-4096; got != want {
		t.Fatalf("usedSpace %d, want %d", got, want)
	}
	sl, _ := e.Read(bg, src, 0)
	dl, _ := e.Read(bg, dst, 0)
	if !slices.Equal(sl, dl) {
		t.Fatalf("layouts differ: %+v / %+v", sl, dl)
	}

	// Across a destination chunk boundary: a piece is split in two records,
	// each a reference.
	dst2 := mustCreate(t, e, bg, meta.RootInode, "dst2", 0o644)
	copied, n, err = e.CopyFileRange(bg, src, 50000, dst2, chunk-20000, 100000, 0)
	if err != nil || copied != 100000 || n != chunk+80000 {
		t.Fatalf("copy: %d %d %v", copied, n, err)
	}
	wantList(t, e, dst2, 0, rec(chunk-20000, 11, 200000, 50000, 20000))
	wantList(t, e, dst2, 1, rec(0, 11, 200000, 70000, 30000), rec(30000, 12, 60000, 0, 30000),
		rec(60000, 14, 60000, 0, 20000))
	if got := sliceRefs(t, e)["k11_200000"]; got != "4" {
		t.Fatalf("k11 refs %s", got)
	}

	// Holes are copied as zero records, blanking the destination.
	sparse := mustCreate(t, e, bg, meta.RootInode, "sparse", 0o644)
	mustWrite(t, e, sparse, 0, 0, 21, 1000, 0, 1000)
	mustWrite(t, e, sparse, 0, 5000, 22, 1000, 0, 1000)
	if _, _, err := e.CopyFileRange(bg, sparse, 500, dst, 0, 5000, 0); err != nil {
		t.Fatal(err)
	}
	got := chunkList(t, e, dst, 0)[4:]
	want := []codec.SliceRecord{rec(0, 21, 1000, 500, 500), rec(500, 0, 0, 1000, 4000), rec(4500, 22, 1000, 0, 500)}
	if !slices.Equal(got, want) {
		t.Fatalf("copied records %+v, want %+v", got, want)
	}
	layout, _ := e.Read(bg, dst, 0)
	if layout[1] != (codec.Slice{Off: 1000, Len: 4000}) {
		t.Fatalf("layout %+v", layout)
	}

	// Chunks of the source beyond the first.
	big := mustCreate(t, e, bg, meta.RootInode, "big", 0o644)
	mustWrite(t, e, big, 0, chunk-100, 31, 100, 0, 100)
	mustWrite(t, e, big, 1, 0, 32, 100, 0, 100)
	dst3 := mustCreate(t, e, bg, meta.RootInode, "dst3", 0o644)
	if copied, n, err := e.CopyFileRange(bg, big, chunk-100, dst3, 0, 200, 0); err != nil || copied != 200 || n != 200 {
		t.Fatalf("copy across source chunks: %d %d %v", copied, n, err)
	}
	wantList(t, e, dst3, 0, rec(0, 31, 100, 0, 100), rec(100, 32, 100, 0, 100))

	// Removing every file releases every reference (checked by the recount:
	// the counts go negative, waiting for the slices' data to be deleted).
	v.check()
	for _, name := range []string{"src", "dst", "dst2", "sparse", "big", "dst3"} {
		if err := e.Unlink(bg, meta.RootInode, name, true); err != nil {
			t.Fatal(err)
		}
	}
	e.Sync(bg)
	for f, n := range sliceRefs(t, e) {
		if n != "-1" {
			t.Errorf("%s = %s after every file was deleted", f, n)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCopyThenDeleteSource: the copy keeps the slices referenced after the
// source is purged.
func TestCopyThenDeleteSource(t *testing.T) {
	var mu sync.Mutex
	var deleted []string
	v := newVolumeWith(t, volumeOpts{deleteSlice: func(_ context.Context, id uint64, size uint32) error {
		mu.Lock()
		defer mu.Unlock()
		deleted = append(deleted, strconv.FormatUint(id, 10)+"_"+strconv.FormatUint(uint64(size), 10))
		return nil
	}})
	e := v.e
	src := mustCreate(t, e, bg, meta.RootInode, "src", 0o644)
	id := writeNew(t, e, src, 0, 5000)
	dst := mustCreate(t, e, bg, meta.RootInode, "dst", 0o644)
	if _, _, err := e.CopyFileRange(bg, src, 0, dst, 0, 5000, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.Unlink(bg, meta.RootInode, "src", true); err != nil {
		t.Fatal(err)
	}
	e.Sync(bg)
	if len(deleted) != 0 {
		t.Fatalf("slices deleted while still referenced: %v", deleted)
	}
	if got := sliceRefs(t, e); len(got) != 1 || got[e.Keys().SliceRefField(id, 5000)] != "0" {
		t.Fatalf("sliceRef %v", got)
	}
	v.check()
	if err := e.Unlink(bg, meta.RootInode, "dst", true); err != nil {
		t.Fatal(err)
	}
	e.Sync(bg)
	if want := strconv.FormatUint(id, 10) + "_5000"; len(deleted) != 1 || deleted[0] != want {
		t.Fatalf("deleted %v, want [%s]", deleted, want)
	}
}

func TestCopyFileRangeRules(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	src := mustCreate(t, e, bg, meta.RootInode, "src", 0o600)
	writeNew(t, e, src, 0, 1000)
	dst := mustCreate(t, e, bg, meta.RootInode, "dst", 0o600)
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)

	_, _, err := e.CopyFileRange(bg, d, 0, dst, 0, 10, 0)
	wantErrno(t, err, syscall.EINVAL)
	_, _, err = e.CopyFileRange(bg, src, 0, d, 0, 10, 0)
	wantErrno(t, err, syscall.EINVAL)
	_, _, err = e.CopyFileRange(bg, 999999, 0, dst, 0, 10, 0)
	wantErrno(t, err, syscall.ENOENT)
	_, _, err = e.CopyFileRange(bg, src, 0, 999999, 0, 10, 0)
	wantErrno(t, err, syscall.ENOENT)
	// At or past the source's end: nothing copied, nothing changed, even for
	// a destination that could not be written.
	a0, _ := e.GetAttr(bg, d)
	if c, n, err := e.CopyFileRange(bg, src, 1000, d, 0, 10, 0); err != nil || c != 0 || n != 0 {
		t.Fatalf("copy past the end: %d %d %v", c, n, err)
	}
	if a1, _ := e.GetAttr(bg, d); a1 != a0 {
		t.Fatalf("destination changed")
	}
	for _, flag := range []uint8{codec.FlagImmutable, codec.FlagAppend} {
		if _, err := e.SetAttr(bg, dst, codec.SetAttrFlag, &meta.Attr{Flags: flag}); err != nil {
			t.Fatal(err)
		}
		_, _, err = e.CopyFileRange(bg, src, 0, dst, 0, 10, 0)
		wantErrno(t, err, syscall.EPERM)
	}
	if _, err := e.SetAttr(bg, dst, codec.SetAttrFlag, &meta.Attr{}); err != nil {
		t.Fatal(err)
	}
	// No permission checks in the engine; an immutable source is fine.
	if _, err := e.SetAttr(bg, src, codec.SetAttrFlag, &meta.Attr{Flags: codec.FlagImmutable}); err != nil {
		t.Fatal(err)
	}
	if c, n, err := e.CopyFileRange(as(1000), src, 900, dst, 5000, 500, 0); err != nil || c != 100 || n != 5100 {
		t.Fatalf("clamped copy: %d %d %v", c, n, err)
	}
	if _, err := e.SetAttr(bg, src, codec.SetAttrFlag, &meta.Attr{}); err != nil {
		t.Fatal(err)
	}
	// Copy within one file to a later offset.
	if c, n, err := e.CopyFileRange(bg, src, 0, src, 4096, 1000, 0); err != nil || c != 1000 || n != 5096 {
		t.Fatalf("copy within a file: %d %d %v", c, n, err)
	}
}

// TestGrowthLimits: every operation that grows a file is refused beyond a
// directory quota, a user or group quota (EDQUOT) or the capacity (ENOSPC);
// shrinking is always allowed.
func TestGrowthLimits(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{userGroupQuota: true, capacity: 64 << 20})
	e := v.e
	c := e.Client()
	q := mustMkdir(t, e, bg, meta.RootInode, "q", 0o777)
	var f, src meta.Ino
	setLimit := func(key, field string, space int64) {
		t.Helper()
		lim := codec.QuotaLimits{MaxSpace: space, MaxInodes: -1}
		if err := c.Do(bg, c.B().Hset().Key(key).FieldValue().FieldValue(field, string(lim.Marshal())).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{e.Keys().DirQuotaUsedSpace(), e.Keys().DirQuotaUsedInodes()} {
			if key == e.Keys().DirQuota() {
				if err := c.Do(bg, c.B().Hsetnx().Key(k).Field(field).Value("0").Build()).Error(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := e.LoadQuotasForTest(bg); err != nil {
			t.Fatal(err)
		}
	}
	grow := func(to uint64, want syscall.Errno) {
		t.Helper()
		_, err := e.Truncate(bg, f, 0, to, false)
		wantErrno(t, err, want)
		id, _ := e.NewSlice(bg)
		wantErrno(t, e.Write(bg, f, 0, uint32(to-1), codec.Slice{ID: id, Size: 1, Len: 1}, time.Now()), want)
		_, err = e.Fallocate(bg, f, 0, 0, to)
		wantErrno(t, err, want)
		_, _, err = e.CopyFileRange(bg, src, 0, f, to-1, 1, 0)
		wantErrno(t, err, want)
	}

	// Directory quota on q: 1 MiB.
	setLimit(e.Keys().DirQuota(), q.String(), 1<<20)
	f = mustCreate(t, e, bg, q, "f", 0o644)
	src = mustCreate(t, e, bg, meta.RootInode, "src", 0o644)
	writeNew(t, e, src, 0, 1<<20)
	grow(1<<20+1, syscall.EDQUOT)
	grow(1<<20, 0)
	// A hard link elsewhere does not escape the quota of the other parent.
	if _, err := e.Link(bg, f, meta.RootInode, "link"); err != nil {
		t.Fatal(err)
	}
	_, err := e.Truncate(bg, f, 0, 2<<20, false)
	wantErrno(t, err, syscall.EDQUOT)
	if err := e.Unlink(bg, meta.RootInode, "link", true); err != nil {
		t.Fatal(err)
	}
	setLimit(e.Keys().DirQuota(), q.String(), -1)
	e.Sync(bg)

	// User quota of the owner (root): current usage + 1 MiB.
	used := userUsed(t, e, e.Keys().UserQuotaUsedSpace(), "0")
	setLimit(e.Keys().UserQuota(), "0", used+1<<20)
	grow(2<<20+1, syscall.EDQUOT)
	grow(2<<20, 0)
	setLimit(e.Keys().UserQuota(), "0", -1)
	used = userUsed(t, e, e.Keys().GroupQuotaUsedSpace(), "0")
	setLimit(e.Keys().GroupQuota(), "0", used+1<<20)
	grow(3<<20+1, syscall.EDQUOT)
	grow(3<<20, 0)
	setLimit(e.Keys().GroupQuota(), "0", -1)

	// Capacity: 64 MiB for the whole volume.
	if _, err := e.Truncate(bg, f, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	room := uint64(64<<20 - usedSpace(t, e) + 4096)
	grow(room+1, syscall.ENOSPC)
	grow(room, 0)
	// Shrinking is never refused.
	if _, err := e.Truncate(bg, f, 0, 10, false); err != nil {
		t.Fatal(err)
	}
}

func userUsed(t *testing.T, e *meta.Engine, key, field string) int64 {
	t.Helper()
	e.Sync(bg)
	c := e.Client()
	n, err := c.Do(bg, c.B().Hget().Key(key).Field(field).Build()).AsInt64()
	if err != nil && !rueidis.IsRedisNil(err) {
		t.Fatal(err)
	}
	return n
}

// TestFileOpsChangeLog checks the change-log entries of the file operations.
func TestFileOpsChangeLog(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	f := *e.Format()
	f.ChangeLog = true
	if err := e.Init(bg, &f, false); err != nil {
		t.Fatal(err)
	}
	a := mustCreate(t, e, bg, meta.RootInode, "a", 0o644)
	b := mustCreate(t, e, bg, meta.RootInode, "b", 0o644)
	c := e.Client()
	if err := c.Do(bg, c.B().Del().Key(e.Keys().TxnLog()).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1700000000, 5)
	if err := e.Write(bg, a, 0, 10, codec.Slice{ID: 42, Size: 100, Len: 100}, mtime); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Truncate(bg, a, 0, 50, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Fallocate(bg, a, codec.FallocKeepSize, 10, 1000); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.CopyFileRange(bg, a, 0, b, 7, 1000, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := e.SetAttr(bg, a, codec.SetAttrMode, &meta.Attr{Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	logs, err := c.Do(bg, c.B().Lrange().Key(e.Keys().TxnLog()).Start(0).Stop(-1).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"WRITE(" + a.String() + ",0,10,42,100,1700000000,5):0",
		"TRUNCATE(" + a.String() + ",110,50,0)",
		"FALLOCATE(" + a.String() + ",10,1000,1)",
		"COPYFILERANGE(" + a.String() + ",0," + b.String() + ",7,50):57",
		"SETATTR(" + a.String() + ",1,0,0,0,384,0," + strconv.FormatInt(sa.Atime, 10) + "," + strconv.FormatInt(sa.Mtime, 10) + "," +
			strconv.FormatUint(uint64(sa.Atimensec), 10) + "," + strconv.FormatUint(uint64(sa.Mtimensec), 10) + "," +
			strconv.FormatInt(sa.Ctime, 10) + "," + strconv.FormatUint(uint64(sa.Ctimensec), 10) + ",0)",
	}
	if len(logs) != len(want) {
		t.Fatalf("change log %q", logs)
	}
	for i, l := range logs {
		parts := strings.Split(l, "|")
		if len(parts) != 3 || parts[1] != want[i] {
			t.Errorf("entry %d: %q, want op %q", i, l, want[i])
		}
	}
}

// TestConcurrentFileOps has several clients, each with several goroutines,
// write, truncate, fallocate, copy and chmod the same few files (two of them
// hard-linked across directories). Afterwards used space, directory
// statistics, quotas and slice references must equal a recount.
func TestConcurrentFileOps(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{userGroupQuota: true})
	clients := []*meta.Engine{v.e, v.open(meta.Options{}), v.open(meta.Options{})}
	e := v.e
	d1 := mustMkdir(t, e, bg, meta.RootInode, "d1", 0o777)
	d2 := mustMkdir(t, e, bg, meta.RootInode, "d2", 0o777)
	files := []meta.Ino{
		mustCreate(t, e, bg, d1, "a", 0o666),
		mustCreate(t, e, as(1000), d1, "b", 0o666),
		mustCreate(t, e, bg, d2, "c", 0o666),
	}
	if _, err := e.Link(bg, files[1], d2, "b2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Link(bg, files[1], d1, "b3"); err != nil {
		t.Fatal(err)
	}
	const workers, ops = 4, 60
	var wg sync.WaitGroup
	errs := make(chan error, len(clients)*workers)
	for ci, c := range clients {
		for w := range workers {
			wg.Add(1)
			go func(e *meta.Engine, seed uint64) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, seed+1))
				for range ops {
					f := files[r.IntN(len(files))]
					var err error
					switch r.IntN(6) {
					case 0, 1:
						id, _ := e.NewSlice(bg)
						n := uint32(r.IntN(20000) + 1)
						err = e.Write(bg, f, uint32(r.IntN(3)), uint32(r.IntN(1<<20)), codec.Slice{ID: id, Size: n, Len: n}, time.Now())
					case 2:
						_, err = e.Truncate(bg, f, 0, uint64(r.IntN(3*chunk)), false)
					case 3:
						_, err = e.Fallocate(bg, f, uint8(r.IntN(2))*codec.FallocKeepSize, uint64(r.IntN(2*chunk)), uint64(r.IntN(100000)+1))
					case 4:
						_, _, err = e.CopyFileRange(bg, files[r.IntN(len(files))], uint64(r.IntN(chunk)), f, uint64(r.IntN(2*chunk)), uint64(r.IntN(200000)), 0)
					case 5:
						_, err = e.SetAttr(bg, f, codec.SetAttrMode, &meta.Attr{Mode: uint16(r.IntN(0o777))})
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}(c, uint64(ci*100+w))
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v.check(clients[1:]...)
}
