package gc_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/gc"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/keyspace"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/mem"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// putSlice stores the blocks of slice id (size bytes) in the bucket.
func putSlice(t *testing.T, store objstore.Store, f *codec.Format, id uint64, size uint32) []string {
	t.Helper()
	var keys []string
	for i, bs := range objstore.BlockSizes(objstore.BlockSize(f), size) {
		key := objstore.BlockKey(f.HashPrefix, id, i, bs)
		if err := store.Put(context.Background(), key, make([]byte, bs)); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys
}

func keysOf(t *testing.T, store objstore.Store) []string {
	t.Helper()
	var out []string
	for o, err := range store.List(context.Background(), objstore.ChunksPrefix, "") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Key)
	}
	return out
}

// TestRun: gc reports a live file's data as valid and, as leaked, a leaked
// inode, a leaked chunk list, a file deleted but not purged and an object of
// no slice; with Delete it removes all of them (metadata and objects) and
// leaves the live file alone.
func TestRun(t *testing.T) {
	store := mem.New()
	v := voltest.New(t, voltest.Options{
		Format: func(f *codec.Format) { f.BlockSize = 64 },
		Engine: meta.Options{SliceDeleter: func(f *codec.Format) (meta.DeleteSliceFunc, error) {
			return func(ctx context.Context, id uint64, size uint32) error {
				return objstore.RemoveSlice(ctx, store, f, id, size)
			}, nil
		}},
	})
	ctx := context.Background()
	e, k := v.E, v.E.Keys()
	f := e.Format()
	do := func(args ...string) {
		t.Helper()
		v.Srv.Do(t, v.DB, args...)
	}
	live, _, err := e.Create(ctx, meta.RootInode, "live", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	liveID, _ := e.NewSlice(ctx)
	if err := e.Write(ctx, live, 0, 0, codec.Slice{ID: liveID, Size: 100 << 10, Len: 100 << 10}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.Release(ctx, live); err != nil {
		t.Fatal(err)
	}
	liveKeys := putSlice(t, store, f, liveID, 100<<10)
	// A leaked inode with data, two hours old, counted as the engine would.
	old := time.Now().Add(-2 * time.Hour).Unix()
	leaked := codec.Attr{Typ: codec.TypeFile, Mode: 0o644, Nlink: 1, Length: 5000, Parent: meta.RootInode, Atime: old, Mtime: old, Ctime: old}
	do("SET", k.Inode(100000), string(leaked.Marshal()))
	do("INCRBY", k.UsedSpace(), "8192")
	do("INCRBY", k.TotalInodes(), "1")
	do("RPUSH", k.Chunk(100000, 0), string(codec.SliceRecord{ID: 900, Size: 5000, Len: 5000}.Marshal()))
	putSlice(t, store, f, 900, 5000)
	// A chunk list whose inode is gone, not queued for deletion.
	do("RPUSH", k.Chunk(100001, 3), string(codec.SliceRecord{ID: 901, Size: 70 << 10, Len: 70 << 10}.Marshal()))
	putSlice(t, store, f, 901, 70<<10)
	// A file deleted but not purged.
	do("ZADD", k.DelFiles(), strconv.FormatInt(old, 10), codec.DelFileMember(100002, 3000))
	do("RPUSH", k.Chunk(100002, 0), string(codec.SliceRecord{ID: 902, Size: 3000, Len: 3000}.Marshal()))
	putSlice(t, store, f, 902, 3000)
	// An object of no slice.
	putSlice(t, store, f, 12345, 1000)
	everyObject := time.Now().Add(time.Hour)

	rep, err := gc.Run(ctx, e, f, gc.Options{Store: store, SkipAfter: everyObject})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.LeakedInodes) != 1 || rep.LeakedInodes[0].Ino != 100000 || len(rep.LeakedChunks) != 1 ||
		rep.LeakedChunks[0].Key != k.Chunk(100001, 3) || rep.PendingFiles != (gc.Tally{Count: 1, Bytes: 3000}) {
		t.Fatalf("metadata report %+v", rep)
	}
	// Valid: the live file's two blocks, the leaked inode's and chunk's
	// (still referenced until deleted) and the pending file's. Leaked: one.
	if o := rep.Objects; !rep.ObjectsScanned || o.Scanned != 7 || o.Valid.Count != 6 || o.Leaked.Count != 1 {
		t.Fatalf("objects %+v", o)
	}
	if n := len(keysOf(t, store)); n != 7 {
		t.Fatalf("a report-only run deleted objects: %d left", n)
	}

	rep, err = gc.Run(ctx, e, f, gc.Options{Store: store, SkipAfter: everyObject, Delete: true, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CleanedFiles.Count != 1 || rep.Objects.Leaked.Count != 1 {
		t.Fatalf("delete run %+v", rep)
	}
	left := keysOf(t, store)
	slices.Sort(left)
	slices.Sort(liveKeys)
	if !slices.Equal(left, liveKeys) {
		t.Fatalf("objects left %v, want the live file's %v", left, liveKeys)
	}
	rep, err = gc.Run(ctx, e, f, gc.Options{Store: store, SkipAfter: everyObject})
	if err != nil || rep.LeakedMetadata() != 0 || rep.PendingFiles.Count != 0 || rep.Objects.Leaked.Count != 0 {
		t.Fatalf("after the delete run: %+v %v", rep, err)
	}
}

// TestRunCorrupt: a value gc cannot decode stops every deletion it could
// affect: Run reports the key, returns ErrCorrupt and leaves the data of the
// live file alone (before, one malformed chunk-list element made gc --delete
// take a live file's blocks for leaked ones and exit 0).
func TestRunCorrupt(t *testing.T) {
	cases := []struct {
		name, key string
		trash     bool
		damage    func(do func(...string), k keyspace.Keys, live meta.Ino, liveID uint64)
	}{
		{name: "malformed chunk-list element", key: "c2_0",
			damage: func(do func(...string), k keyspace.Keys, live meta.Ino, _ uint64) {
				do("RPUSH", k.Chunk(live, 0), "not a slice record")
			}},
		{name: "corrupt entry naming an old file", key: "d1",
			damage: func(do func(...string), k keyspace.Keys, live meta.Ino, _ uint64) {
				do("HSET", k.Entries(meta.RootInode), "live", "garbage")
			}},
		{name: "live file queued for deletion", key: "c2_0",
			damage: func(do func(...string), k keyspace.Keys, live meta.Ino, _ uint64) {
				do("ZADD", k.DelFiles(), "1", codec.DelFileMember(live, 100<<10))
			}},
		{name: "slice reference not a number", key: "sliceRef",
			damage: func(do func(...string), k keyspace.Keys, _ meta.Ino, liveID uint64) {
				do("HSET", k.SliceRef(), k.SliceRefField(liveID, 100<<10), "-x")
			}},
		{name: "delSlices entry not decodable", key: "delSlices", trash: true,
			damage: func(do func(...string), k keyspace.Keys, _ meta.Ino, _ uint64) {
				do("HSET", k.DelSlices(), "777_"+strconv.FormatInt(time.Now().Unix(), 10), "garbage")
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store := mem.New()
			v := voltest.New(t, voltest.Options{
				NoCheck: true,
				Format: func(f *codec.Format) {
					f.BlockSize = 64
					if c.trash {
						f.TrashDays = 1
					}
				},
				Engine: meta.Options{SliceDeleter: func(f *codec.Format) (meta.DeleteSliceFunc, error) {
					return func(ctx context.Context, id uint64, size uint32) error {
						return objstore.RemoveSlice(ctx, store, f, id, size)
					}, nil
				}},
			})
			ctx := context.Background()
			e, k := v.E, v.E.Keys()
			f := e.Format()
			live, _, err := e.Create(ctx, meta.RootInode, "live", 0o644, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			liveID, _ := e.NewSlice(ctx)
			if err := e.Write(ctx, live, 0, 0, codec.Slice{ID: liveID, Size: 100 << 10, Len: 100 << 10}, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := e.Release(ctx, live); err != nil {
				t.Fatal(err)
			}
			want := putSlice(t, store, f, liveID, 100<<10)
			if c.trash { // an object of the slice the corrupt delSlices entry kept
				want = append(want, putSlice(t, store, f, 777, 1000)...)
			}
			// The file was created two hours ago: it looks leaked when no
			// entry names it.
			a, err := e.GetAttr(ctx, live)
			if err != nil {
				t.Fatal(err)
			}
			a.Ctime = time.Now().Add(-2 * time.Hour).Unix()
			v.Srv.Do(t, v.DB, "SET", k.Inode(live), string(a.Marshal()))
			c.damage(func(args ...string) { t.Helper(); v.Srv.Do(t, v.DB, args...) }, k, live, liveID)
			e.InvalidateCache(k.Inode(live), k.Entries(meta.RootInode), k.Chunk(live, 0), k.SliceRef())

			rep, err := gc.Run(ctx, e, f, gc.Options{Store: store, SkipAfter: time.Now().Add(time.Hour), Delete: true, Threads: 2})
			if !errors.Is(err, gc.ErrCorrupt) || len(rep.Corrupt) == 0 || !strings.Contains(rep.Corrupt[0].Error(), strconv.Quote(c.key)) {
				t.Fatalf("gc --delete: %v, corrupt %v (want ErrCorrupt naming %s)", err, rep.Corrupt, c.key)
			}
			left := keysOf(t, store)
			for _, k := range want {
				if !slices.Contains(left, k) {
					t.Errorf("object %s of a live file or the trash was deleted", k)
				}
			}
			if n, _ := v.Srv.Do(t, v.DB, "EXISTS", k.Inode(live)).AsInt64(); n != 1 {
				t.Error("the live file's attribute is gone")
			}
		})
	}
}
