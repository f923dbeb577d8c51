package fileio_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/fileio"
)

// manySlices writes count overlapping pieces into a new file, each flushed
// on its own so that every one becomes a slice, and returns the content.
func manySlices(t *testing.T, v *volume, name string, count int) (*fileio.File, model) {
	t.Helper()
	f := v.create(name)
	var m model
	for i := range count {
		off := (i * 7919) % 150000
		p := randomBytes(uint64(i+50), 20000+i*100)
		if _, err := f.WriteAt(ctx, p, int64(off)); err != nil {
			t.Fatal(err)
		}
		m.writeAt(p, off)
		if err := f.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return f, m
}

// TestCompactNoTrash: compaction merges a chunk's slices into one, the
// content is unchanged, and the replaced slices' objects are deleted.
func TestCompactNoTrash(t *testing.T) {
	v := newVolume(t, volumeOpts{compression: "zstd"})
	f, m := manySlices(t, v, "f", 4) // fewer than 5: reading does not compact
	defer f.Close(ctx)
	before := v.bucket.Objects("chunks/")
	if err := v.e.Compact(ctx, f.Ino(), nil); err != nil {
		t.Fatal(err)
	}
	recs, err := v.e.Inspect().ChunkRecords(ctx, f.Ino(), 0)
	if err != nil || len(recs) != 1 || recs[0].Off != 0 || recs[0].Len != recs[0].Size {
		t.Fatalf("records after compaction: %+v (%v)", recs, err)
	}
	if got := v.readAll("f"); !bytes.Equal(got, m) {
		t.Fatalf("content changed by compaction (first difference at %d)", firstDiff(got, m))
	}
	after := v.bucket.Objects("chunks/")
	for _, k := range after {
		for _, b := range before {
			if k == b {
				t.Fatalf("object %s of a replaced slice is still stored", k)
			}
		}
	}
	refs, err := v.e.Client().Do(ctx, v.e.Client().B().Hgetall().Key(v.e.Keys().SliceRef()).Build()).AsStrMap()
	if err != nil || len(refs) != 0 {
		t.Fatalf("sliceRef after compaction: %v (%v)", refs, err)
	}
}

// TestCompactWithTrash: with the trash enabled the replaced slices are
// kept in delSlices, and their objects stay until the delayed slices are
// released.
func TestCompactWithTrash(t *testing.T) {
	v := newVolume(t, volumeOpts{trashDays: 1})
	f, m := manySlices(t, v, "f", 4)
	defer f.Close(ctx)
	before := v.bucket.Objects("chunks/")
	if err := v.e.Compact(ctx, f.Ino(), nil); err != nil {
		t.Fatal(err)
	}
	delayed, err := v.e.Inspect().DelayedSlices(ctx)
	if err != nil || len(delayed) != 1 || len(delayed[0].Slices) != 4 {
		t.Fatalf("delSlices after compaction: %+v (%v)", delayed, err)
	}
	if got := v.readAll("f"); !bytes.Equal(got, m) {
		t.Fatal("content changed by compaction")
	}
	if n := len(v.bucket.Objects("chunks/")); n != len(before)+1 {
		t.Fatalf("%d objects, want the %d old ones and the merged one", n, len(before))
	}
	if _, err := v.e.Cleanup().ReleaseDelayedSlices(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(v.bucket.Objects("chunks/")); n != 1 {
		t.Fatalf("%d objects after the delayed slices were released, want 1", n)
	}
}

// TestCompactOnRead: reading a chunk of five or more slices compacts it in
// the background, as the official client does.
func TestCompactOnRead(t *testing.T) {
	v := newVolume(t, volumeOpts{compression: "lz4"})
	f, m := manySlices(t, v, "f", 12)
	f.Close(ctx)
	if got := v.readAll("f"); !bytes.Equal(got, m) {
		t.Fatal("content differs")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := v.e.Inspect().ChunkRecords(ctx, f.Ino(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chunk still has %d records", len(recs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := v.readAll("f"); !bytes.Equal(got, m) {
		t.Fatal("content changed by compaction")
	}
}
