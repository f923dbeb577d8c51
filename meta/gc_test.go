package meta_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestGCLeaks(t *testing.T) {
	var mu sync.Mutex
	released := map[uint64]uint32{}
	v := newVolumeWith(t, volumeOpts{trashDays: 1,
		deleteSlice: func(_ context.Context, id uint64, size uint32) error {
			mu.Lock()
			released[id] = size
			mu.Unlock()
			return nil
		},
	})
	e := v.e
	ctx := context.Background()
	k := e.Keys()
	// A normal file using slice 10, referenced three times.
	f, _, err := e.Mknod(ctx, meta.RootInode, "f", codec.TypeFile, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		v.pushSlice(f, 0, 10, 100)
	}
	v.do("HSET", k.SliceRef(), k.SliceRefField(10, 100), "1")
	// ...one reference still recorded the old way.
	v.do("SET", k.LegacySliceRef(10, 100), "1")
	v.do("SET", k.LegacySliceRef(11, 100), "0")
	// A leaked file (no entry, old) with data, a young leaked one, a leaked
	// empty directory, and a chunk list whose inode is gone.
	v.putInode(900001, oldAttr(codec.TypeFile, 5000, meta.RootInode))
	v.pushSlice(900001, 0, 20, 5000)
	young := oldAttr(codec.TypeFile, 0, meta.RootInode)
	young.Ctime = time.Now().Unix()
	v.putInode(900002, young)
	v.putInode(900003, oldAttr(codec.TypeDirectory, 0, meta.RootInode))
	v.putDirStat(900003, 0, 0)
	v.pushSlice(900004, 2, 30, 700)
	// A delayed slice and a pending one.
	v.do("HSET", k.DelSlices(), codec.DelSlicesField(40, time.Now().Unix()),
		string(codec.MarshalDelSliceRecords([]codec.DelSliceRecord{{ID: 41, Size: 10}})))
	v.do("HSET", k.SliceRef(), k.SliceRefField(50, 10), "-1")

	var listed int
	leaks, err := e.Inspect().Leaks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks.Inodes) != 2 || leaks.Inodes[0].Ino != 900001 || leaks.Inodes[1].Ino != 900003 {
		t.Fatalf("leaked inodes %+v", leaks.Inodes)
	}
	if len(leaks.Chunks) != 1 || leaks.Chunks[0].Ino != 900004 || leaks.Chunks[0].Indx != 2 {
		t.Fatalf("leaked chunks %+v", leaks.Chunks)
	}
	legacy, err := e.Cleanup().MigrateLegacyRefs(ctx, false)
	if err != nil || legacy.Migrated != 1 || legacy.Deleted != 0 {
		t.Fatalf("legacy refs: %+v, %v", legacy, err)
	}
	rep, err := e.Inspect().Slices(ctx, meta.SliceScan{Pending: true, Progress: func() { listed++ }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Used[f]) != 3 || len(rep.Used[900001]) != 1 || len(rep.Used[900004]) != 1 {
		t.Fatalf("used slices %+v", rep.Used)
	}
	if len(rep.Pending) != 1 || rep.Pending[0] != (meta.SliceID{ID: 50, Size: 10}) {
		t.Fatalf("pending %+v", rep.Pending)
	}
	if len(rep.Delayed) != 1 || rep.Delayed[0] != (meta.SliceID{ID: 41, Size: 10}) {
		t.Fatalf("delayed %+v", rep.Delayed)
	}
	if listed != 6 {
		t.Fatalf("progress called %d times, want 6", listed)
	}
	if n, _ := v.raw().Do(ctx, v.raw().B().Hget().Key(k.SliceRef()).Field(k.SliceRefField(10, 100)).Build()).AsInt64(); n != 2 {
		t.Fatalf("legacy reference not migrated: sliceRef holds %d", n)
	}

	cl := e.Cleanup()
	for _, l := range leaks.Inodes {
		if kept, err := cl.DeleteLeakedInode(ctx, l.Ino); kept || err != nil {
			t.Fatalf("delete leaked inode %d: kept %v, %v", l.Ino, kept, err)
		}
	}
	if err := cl.DeleteLeakedChunk(ctx, leaks.Chunks[0]); err != nil {
		t.Fatal(err)
	}
	if legacy, err := cl.MigrateLegacyRefs(ctx, true); err != nil || legacy.Deleted != 2 {
		t.Fatalf("legacy refs: %+v, %v", legacy, err)
	}
	if _, err := cl.ReleaseUnreferencedSlices(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err = e.Inspect().Slices(ctx, meta.SliceScan{Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{20, 30, 50} {
		if _, ok := released[id]; !ok {
			t.Fatalf("slice %d was not released: %v", id, released)
		}
	}
	if len(rep.Pending) != 0 {
		t.Fatalf("pending after cleanup %+v", rep.Pending)
	}
	if len(rep.Used) != 1 {
		t.Fatalf("used after cleanup %+v", rep.Used)
	}
	for _, key := range []string{k.Inode(900001), k.Inode(900003), k.Chunk(900001, 0), k.Chunk(900004, 2), k.LegacySliceRef(10, 100)} {
		if n, _ := v.raw().Do(ctx, v.raw().B().Exists().Key(key).Build()).AsInt64(); n != 0 {
			t.Fatalf("%s still exists", key)
		}
	}
	if del, _ := e.Inspect().DeletedFiles(ctx); len(del) != 0 {
		t.Fatalf("delfiles left: %+v", del)
	}
	// The young one stays until it is old enough; make the recount happy.
	v.do("DEL", k.Inode(900002))
	v.do("INCRBY", k.UsedSpace(), "-4096")
	v.do("INCRBY", k.TotalInodes(), "-1")
	v.do("DEL", k.DelSlices())
}

func TestGCDetachedAndDeletedFiles(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	ctx := context.Background()
	k := e.Keys()
	// A detached clone tree: a directory with a file, never attached.
	v.putInode(800001, oldAttr(codec.TypeDirectory, 0, meta.RootInode))
	v.putDirStat(800001, 4096, 1)
	v.putInode(800002, oldAttr(codec.TypeFile, 0, 800001))
	v.do("HSET", k.Entries(800001), "file", string(codec.Entry{Typ: codec.TypeFile, Inode: 800002}.Marshal()))
	v.do("ZADD", k.DetachedNodes(), "1", "800001")
	// A younger one is kept.
	v.putInode(800003, oldAttr(codec.TypeDirectory, 0, meta.RootInode))
	v.putDirStat(800003, 0, 0)
	v.do("ZADD", k.DetachedNodes(), "9999999999", "800003")

	n, err := e.Cleanup().RemoveDetachedTrees(ctx, time.Now().Add(-24*time.Hour), nil)
	if err != nil || n != 1 {
		t.Fatalf("cleaned %d detached trees, %v; want 1", n, err)
	}
	left, _ := v.raw().Do(ctx, v.raw().B().Zrange().Key(k.DetachedNodes()).Min("0").Max("-1").Build()).AsStrSlice()
	if len(left) != 1 || left[0] != "800003" {
		t.Fatalf("detached nodes left: %v", left)
	}
	for _, key := range []string{k.Inode(800001), k.Inode(800002), k.Entries(800001)} {
		if n, _ := v.raw().Do(ctx, v.raw().B().Exists().Key(key).Build()).AsInt64(); n != 0 {
			t.Fatalf("%s still exists", key)
		}
	}

	// Pending deleted files, a legacy member included.
	v.pushSlice(700001, 0, 60, 10)
	v.do("ZADD", k.DelFiles(), "100", "700001:10", "200", "700002")
	v.pushSlice(700002, 1, 61, 10)
	files, err := e.Inspect().DeletedFiles(ctx)
	if err != nil || len(files) != 2 {
		t.Fatalf("deleted files %+v %v", files, err)
	}
	if files[1].Length != codec.LegacyDelFileLength || files[0].Time.Unix() != 100 {
		t.Fatalf("deleted files %+v", files)
	}
	purged := 0
	if n, err := e.Cleanup().PurgeDeletedFiles(ctx, files, 4, func(meta.DeletedFile) { purged++ }); err != nil || n != 2 || purged != 2 {
		t.Fatalf("purged %d (progress %d): %v", n, purged, err)
	}
	if files, _ := e.Inspect().DeletedFiles(ctx); len(files) != 0 {
		t.Fatalf("left %+v", files)
	}
	for _, key := range []string{k.Chunk(700001, 0), k.Chunk(700002, 1)} {
		if n, _ := v.raw().Do(ctx, v.raw().B().Exists().Key(key).Build()).AsInt64(); n != 0 {
			t.Fatalf("%s still exists", key)
		}
	}
	// Unreleased slices stay negative for a later gc with a data layer.
	v.do("DEL", k.SliceRef())
	v.do("ZREM", k.DetachedNodes(), "800003")
	v.do("DEL", k.Inode(800003))
	v.do("HDEL", k.DirUsedSpace(), "800003")
	v.do("HDEL", k.DirUsedInodes(), "800003")
	v.do("HDEL", k.DirDataLength(), "800003")
	v.do("INCRBY", k.UsedSpace(), "-4096")
	v.do("INCRBY", k.TotalInodes(), "-1")
}
