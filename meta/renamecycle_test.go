package meta_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestRenameNoCycle: a directory may not move below itself, however deep:
// mv /a /b/c/x, then mv /b /b/c/x/y must fail; the official client only
// checks the destination and its parent.
func TestRenameNoCycle(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	a := mustMkdir(t, e, bg, meta.RootInode, "a", 0o755)
	b := mustMkdir(t, e, bg, meta.RootInode, "b", 0o755)
	c := mustMkdir(t, e, bg, b, "c", 0o755)
	if _, _, err := e.Rename(bg, meta.RootInode, "a", c, "x", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Rename(bg, meta.RootInode, "b", a, "y", 0); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("mv /b /b/c/x/y: %v, want EPERM", err)
	}
	// Exchanging with a directory below the other is refused too.
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	if _, _, err := e.Rename(bg, meta.RootInode, "b", a, "y", codec.RenameExchange); !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EPERM) {
		t.Fatalf("exchange of /b with a name below it: %v", err)
	}
	mustMkdir(t, e, bg, a, "z", 0o755)
	if _, _, err := e.Rename(bg, meta.RootInode, "d", a, "z", codec.RenameExchange); err != nil {
		t.Fatalf("exchange of /d and /b/c/x/z: %v", err)
	}
	if _, _, err := e.Rename(bg, a, "z", meta.RootInode, "b", codec.RenameExchange); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("exchange of /b/c/x/z with /b: %v, want EPERM", err)
	}
	_ = d
	reachable(t, e, 6)
}

// TestRenameNoCycleConcurrent: two clients move two directories each below
// the other at the same time (mv /a /b/c/x and mv /b /a/y). One of them must
// fail; both succeeding detaches them from the tree in a cycle.
func TestRenameNoCycleConcurrent(t *testing.T) {
	v := newVolume(t, 0)
	e1, e2 := v.e, v.open(meta.Options{})
	const rounds = 30
	for i := 0; i < rounds; i++ {
		top := mustMkdir(t, e1, bg, meta.RootInode, fmt.Sprint("r", i), 0o755)
		a := mustMkdir(t, e1, bg, top, "a", 0o755)
		b := mustMkdir(t, e1, bg, top, "b", 0o755)
		c := mustMkdir(t, e1, bg, b, "c", 0o755)
		// Both clients know the tree (their caches hold what they decide from).
		for _, e := range []*meta.Engine{e1, e2} {
			for _, ino := range []meta.Ino{top, a, b, c} {
				if _, err := e.GetAttr(bg, ino); err != nil {
					t.Fatal(err)
				}
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() { defer wg.Done(); _, _, errs[0] = e1.Rename(bg, top, "a", c, "x", 0) }()
		go func() { defer wg.Done(); _, _, errs[1] = e2.Rename(bg, top, "b", a, "y", 0) }()
		wg.Wait()
		if errs[0] == nil && errs[1] == nil {
			t.Fatalf("round %d: both renames succeeded: a and b form a cycle", i)
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, syscall.EPERM) {
				t.Fatalf("round %d: %v", i, err)
			}
		}
	}
	reachable(t, e1, 1+4*rounds)
	v.check(e2)
}

// reachable walks the tree from the root and checks that it finds want
// directories (the root included): none was detached.
func reachable(t *testing.T, e *meta.Engine, want int) {
	t.Helper()
	n := 0
	var walk func(meta.Ino)
	walk = func(dir meta.Ino) {
		n++
		ents, err := e.Readdir(bg, dir, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range ents {
			if ent.Name != "." && ent.Name != ".." && ent.Attr.Typ == codec.TypeDirectory && ent.Inode != meta.TrashInode {
				walk(ent.Inode)
			}
		}
	}
	walk(meta.RootInode)
	if n != want {
		t.Errorf("%d directories reachable from the root, want %d", n, want)
	}
}

// TestGetPathsCycle: on a volume holding a cycle of directories (/a moved
// into /a/b by hand, as racing renames of a client that does not prevent
// them can leave it), GetPaths of a directory in the cycle returns at once
// with no path, instead of walking the cycle forever.
func TestGetPathsCycle(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true})
	e := v.e
	a := mustMkdir(t, e, bg, meta.RootInode, "a", 0o755)
	b := mustMkdir(t, e, bg, a, "b", 0o755)
	k := e.Keys()
	entry, err := v.srv.Do(t, v.db, "HGET", k.Entries(meta.RootInode), "a").ToString()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := v.srv.Do(t, v.db, "GET", k.Inode(a)).ToString()
	if err != nil {
		t.Fatal(err)
	}
	var attr codec.Attr
	if err := codec.UnmarshalAttr(raw, &attr); err != nil {
		t.Fatal(err)
	}
	attr.Parent = b
	for _, cmd := range [][]string{
		{"HDEL", k.Entries(meta.RootInode), "a"},
		{"HSET", k.Entries(b), "a", entry},
		{"SET", k.Inode(a), string(attr.Marshal())},
	} {
		if err := v.srv.Do(t, v.db, cmd...).Error(); err != nil {
			t.Fatal(err)
		}
	}
	e2 := v.open(meta.Options{})
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	for _, ino := range []meta.Ino{a, b} {
		paths, err := e2.GetPaths(ctx, ino)
		if err != nil || len(paths) != 0 {
			t.Errorf("GetPaths(%d) in a cycle: %v %v, want no path", ino, paths, err)
		}
	}
}
