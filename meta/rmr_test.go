package meta_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestRemoveWithoutTrash(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	ctx := context.Background()
	tr := mkTree(t, e, meta.RootInode, "top", 3, 3)
	// A hard link from outside keeps one file alive.
	f, _, err := e.Lookup(ctx, tr.root, "f001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Link(ctx, f, meta.RootInode, "kept"); err != nil {
		t.Fatal(err)
	}
	var progress atomic.Int64
	n, err := e.Remove(ctx, meta.RootInode, "top", false, 4, func(d int) { progress.Add(int64(d)) })
	if err != nil {
		t.Fatal(err)
	}
	if n != tr.nodes || progress.Load() != int64(n) {
		t.Fatalf("removed %d (progress %d), want %d", n, progress.Load(), tr.nodes)
	}
	if _, _, err := e.Lookup(ctx, meta.RootInode, "top"); err == nil {
		t.Fatal("top still exists")
	}
	a, err := e.GetAttr(ctx, f)
	if err != nil || a.Nlink != 1 {
		t.Fatalf("hard-linked file: %+v %v", a, err)
	}
	used, inodes, err := e.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if used != 4096 || inodes != 1 {
		t.Fatalf("counters %d/%d after rmr, want 4096/1", used, inodes)
	}
}

func TestRemoveToTrash(t *testing.T) {
	v := newVolume(t, 1)
	e := v.e
	ctx := context.Background()
	tr := mkTree(t, e, meta.RootInode, "top", 3, 3)
	n, err := e.Remove(ctx, meta.RootInode, "top", false, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != tr.nodes {
		t.Fatalf("removed %d, want %d", n, tr.nodes)
	}
	hours := trashEntries(t, e)
	if len(hours) != 1 {
		t.Fatalf("trash hours %v", hours)
	}
	for _, ents := range hours {
		if len(ents) != tr.nodes {
			t.Fatalf("%d entries in the trash, want %d (every node on its own)", len(ents), tr.nodes)
		}
		for _, ent := range ents {
			if _, _, _, ok := codec.ParseTrashEntryName(ent.Name); !ok {
				t.Fatalf("bad trash name %q", ent.Name)
			}
			if ent.Attr.Typ == codec.TypeDirectory {
				if sub, err := e.Inspect().Entries(ctx, ent.Inode); err != nil || len(sub) != 0 {
					t.Fatalf("directory %s in the trash is not empty: %v %v", ent.Name, sub, err)
				}
			}
		}
	}
	// Nothing was deleted: the counters still charge every node.
	used, inodes, err := e.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inodes != int64(tr.nodes)+1 || used != 4096*(int64(tr.nodes)+1) {
		t.Fatalf("counters %d/%d", used, inodes)
	}
}

func TestRemoveSkipTrash(t *testing.T) {
	v := newVolume(t, 1)
	e := v.e
	ctx := context.Background()
	tr := mkTree(t, e, meta.RootInode, "top", 2, 4)
	n, err := e.Remove(ctx, meta.RootInode, "top", true, 300, nil)
	if err != nil || n != tr.nodes {
		t.Fatalf("removed %d, %v; want %d", n, err, tr.nodes)
	}
	if hours := trashEntries(t, e); len(hours) != 0 {
		t.Fatalf("skip-trash removal used the trash: %v", hours)
	}
}

func TestRemoveLargeDirectories(t *testing.T) {
	for _, trash := range []int{0, 1} {
		t.Run(fmt.Sprintf("trash=%d", trash), func(t *testing.T) {
			v := newVolume(t, trash)
			e := v.e
			ctx := context.Background()
			top, _, err := e.Mkdir(ctx, meta.RootInode, "big", 0o755, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			for i := range 1500 {
				if _, _, err := e.Mknod(ctx, top, fmt.Sprintf("file-%05d", i), codec.TypeFile, 0o644, 0, 0); err != nil {
					t.Fatal(err)
				}
				want++
			}
			for d := range 3 {
				sub, _, err := e.Mkdir(ctx, top, fmt.Sprintf("sub%d", d), 0o755, 0)
				if err != nil {
					t.Fatal(err)
				}
				want++
				for i := range 400 {
					if _, _, err := e.Mknod(ctx, sub, fmt.Sprintf("f%d", i), codec.TypeFile, 0o644, 0, 0); err != nil {
						t.Fatal(err)
					}
					want++
				}
			}
			n, err := e.Remove(ctx, meta.RootInode, "big", false, 8, nil)
			if err != nil || n != want {
				t.Fatalf("removed %d, %v; want %d", n, err, want)
			}
			if trash == 1 {
				total := 0
				for _, ents := range trashEntries(t, e) {
					total += len(ents)
				}
				if total != want {
					t.Fatalf("%d entries in the trash, want %d", total, want)
				}
			}
		})
	}
}

func TestRemovePermissions(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	ctx := context.Background()
	user := meta.WithCaller(ctx, meta.Caller{Uid: 1000, Gids: []uint32{1000}})
	pub, _, err := e.Mkdir(ctx, meta.RootInode, "pub", 0o777, 0)
	if err != nil {
		t.Fatal(err)
	}
	sys, _, err := e.Mkdir(ctx, meta.RootInode, "sys", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Mkdir(ctx, sys, "rootonly", 0o777, 0); err != nil {
		t.Fatal(err)
	}
	// No write permission on the parent.
	_, err = e.Remove(user, sys, "rootonly", false, 1, nil)
	wantErrno(t, err, syscall.EACCES)
	// Allowed on the parent, but a sub-directory of root's is not writable.
	mine, _, err := e.Mkdir(user, pub, "mine", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	locked, _, err := e.Mkdir(ctx, mine, "locked", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Mknod(ctx, locked, "x", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	_, err = e.Remove(user, pub, "mine", false, 1, nil)
	wantErrno(t, err, syscall.EACCES)
	if _, _, err := e.Lookup(ctx, locked, "x"); err != nil {
		t.Fatalf("file of the locked directory was removed: %v", err)
	}
	// A single file.
	if _, _, err := e.Mknod(user, pub, "one", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := e.Remove(user, pub, "one", false, 1, nil); err != nil || n != 1 {
		t.Fatalf("remove file: %d %v", n, err)
	}
	_, err = e.Remove(ctx, pub, "missing", false, 1, nil)
	wantErrno(t, err, syscall.ENOENT)
}
