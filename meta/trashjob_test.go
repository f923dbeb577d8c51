package meta_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestExpireTrash(t *testing.T) {
	v := newVolume(t, 1)
	e := v.e
	ctx := context.Background()
	old := mkTree(t, e, meta.RootInode, "old", 2, 3)
	// A file deleted while its other name stays: the cleanup must only drop
	// the trash's link.
	f, _, err := e.Lookup(ctx, old.root, "f000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Link(ctx, f, meta.RootInode, "survivor"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Remove(ctx, meta.RootInode, "old", false, 4, nil); err != nil {
		t.Fatal(err)
	}
	oldName := codec.TrashHourName(time.Now().Add(-72 * time.Hour))
	oldHour, err := meta.AgeTrashHour(ctx, e, oldName)
	if err != nil {
		t.Fatal(err)
	}
	// An hour directory too young to expire, a bad name, and deletions of
	// the current hour.
	youngName := codec.TrashHourName(time.Now().Add(-10 * time.Hour))
	if _, err := meta.MakeTrashHour(ctx, e, youngName); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.MakeTrashHour(ctx, e, "not-an-hour"); err != nil {
		t.Fatal(err)
	}
	recent := mkTree(t, e, meta.RootInode, "recent", 1, 2)
	if _, err := e.Remove(ctx, meta.RootInode, "recent", false, 1, nil); err != nil {
		t.Fatal(err)
	}
	e.Sync(ctx)
	usedBefore, inodesBefore, _ := e.Counters(ctx)

	var mu sync.Mutex
	reported := 0
	n, err := e.Cleanup().ExpireTrash(ctx, time.Now().Add(-26*time.Hour), func(d int) {
		mu.Lock()
		reported += d
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != old.nodes {
		t.Fatalf("deleted %d entries, want %d", n, old.nodes)
	}
	if reported != n {
		t.Fatalf("progress reported %d, want %d", reported, n)
	}
	hours := trashEntries(t, e)
	if _, ok := hours[oldName]; ok {
		t.Fatalf("expired hour directory %s is still there", oldName)
	}
	if _, err := e.GetAttr(ctx, oldHour); err == nil {
		t.Fatalf("attribute of the expired hour directory %d is still there", oldHour)
	}
	for _, name := range []string{youngName, "not-an-hour", codec.TrashHourName(time.Now())} {
		if _, ok := hours[name]; !ok {
			t.Fatalf("hour directory %s was removed", name)
		}
	}
	if cur := hours[codec.TrashHourName(time.Now())]; len(cur) != recent.nodes {
		t.Fatalf("current hour has %d entries, want %d", len(cur), recent.nodes)
	}
	if a, err := e.GetAttr(ctx, f); err != nil || a.Nlink != 1 {
		t.Fatalf("surviving hard link: %+v %v", a, err)
	}
	// Everything deleted but the survivor's inode, and the hour directory.
	e.Sync(ctx)
	used, inodes, _ := e.Counters(ctx)
	if inodesBefore-inodes != int64(old.nodes) || usedBefore-used != 4096*int64(old.nodes) {
		t.Fatalf("counters went from %d/%d to %d/%d", usedBefore, inodesBefore, used, inodes)
	}
}

func TestTrashJobEdges(t *testing.T) {
	v := newVolume(t, 2)
	e := v.e
	ctx := context.Background()
	names := map[time.Duration]string{}
	for _, age := range []time.Duration{51 * time.Hour, 49 * time.Hour} {
		names[age] = codec.TrashHourName(time.Now().Add(-age))
		if _, err := meta.MakeTrashHour(ctx, e, names[age]); err != nil {
			t.Fatal(err)
		}
	}
	meta.RunTrashJob(ctx, e)
	hours := trashEntries(t, e)
	if _, ok := hours[names[49*time.Hour]]; !ok {
		t.Fatal("an hour directory within 24*TrashDays+2 hours was removed")
	}
	if _, ok := hours[names[51*time.Hour]]; ok {
		t.Fatal("an hour directory older than 24*TrashDays+2 hours was kept")
	}
}

func TestDelayedSlicesAndSliceCleanup(t *testing.T) {
	var released sync.Map
	var count atomic.Int32
	v := newVolumeWith(t, volumeOpts{trashDays: 1,
		deleteSlice: func(_ context.Context, id uint64, size uint32) error {
			released.Store(id, size)
			count.Add(1)
			return nil
		},
	})
	e := v.e
	ctx := context.Background()
	k := e.Keys()
	f, _, err := e.Mknod(ctx, meta.RootInode, "f", codec.TypeFile, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The file's chunk uses slices 100 and 200; a compaction two days ago
	// kept 100 and 400 for the trash, one a minute ago kept 200.
	v.pushSlice(f, 0, 100, 1000)
	v.pushSlice(f, 0, 200, 2000)
	v.do("HSET", k.SliceRef(), k.SliceRefField(100, 1000), "1", k.SliceRefField(200, 2000), "1")
	oldField := codec.DelSlicesField(300, time.Now().Add(-48*time.Hour).Unix())
	newField := codec.DelSlicesField(301, time.Now().Add(-time.Minute).Unix())
	v.do("HSET", k.DelSlices(),
		oldField, string(codec.MarshalDelSliceRecords([]codec.DelSliceRecord{{ID: 100, Size: 1000}, {ID: 400, Size: 500}})),
		newField, string(codec.MarshalDelSliceRecords([]codec.DelSliceRecord{{ID: 200, Size: 2000}})),
		"bogus", "x")

	n, err := e.Cleanup().ReleaseDelayedSlices(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || count.Load() != 1 {
		t.Fatalf("released %d slices (%d deletions), want 1", n, count.Load())
	}
	if size, ok := released.Load(uint64(400)); !ok || size.(uint32) != 500 {
		t.Fatalf("slice 400 was not released: %v", size)
	}
	fields, err := v.raw().Do(ctx, v.raw().B().Hkeys().Key(k.DelSlices()).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 2 || (fields[0] != newField && fields[1] != newField) {
		t.Fatalf("delSlices fields left: %v", fields)
	}
	v.do("HDEL", k.DelSlices(), "bogus")
	refs, err := v.raw().Do(ctx, v.raw().B().Hgetall().Key(k.SliceRef()).Build()).AsStrMap()
	if err != nil {
		t.Fatal(err)
	}
	if refs[k.SliceRefField(100, 1000)] != "0" || refs[k.SliceRefField(200, 2000)] != "1" {
		t.Fatalf("references after expiry: %v", refs)
	}
	if _, ok := refs[k.SliceRefField(400, 500)]; ok {
		t.Fatalf("released slice 400 keeps a reference: %v", refs)
	}

	// The hourly slice job: a negative count is released, a "0" dropped.
	v.do("HSET", k.SliceRef(), k.SliceRefField(500, 10), "-1")
	got, err := e.Cleanup().ReleaseUnreferencedSlices(ctx)
	if err != nil || got != 1 {
		t.Fatalf("ReleaseUnreferencedSlices = %d, %v; want 1", got, err)
	}
	if _, ok := released.Load(uint64(500)); !ok {
		t.Fatal("slice 500 was not released")
	}
	refs, _ = v.raw().Do(ctx, v.raw().B().Hgetall().Key(k.SliceRef()).Build()).AsStrMap()
	if len(refs) != 1 || refs[k.SliceRefField(200, 2000)] != "1" {
		t.Fatalf("references after cleanup: %v", refs)
	}
}
