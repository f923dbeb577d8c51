package meta_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// within runs fn and fails the test when it does not return within d (a
// walk that loops on a damaged tree).
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

func entryValue(typ codec.FileType, ino meta.Ino) string {
	return string(codec.Entry{Typ: typ, Inode: ino}.Marshal())
}

// setParent rewrites the parent field of an attribute by hand.
func (v *volume) setParent(ino, parent meta.Ino) {
	v.t.Helper()
	a := v.attr(ino)
	a.Parent = parent
	v.do("SET", v.e.Keys().Inode(ino), string(a.Marshal()))
}

// TestRemoveStopsAtCrossLink: an entry naming the root (a directory that
// lives elsewhere) inside the tree being removed makes the removal stop
// with ErrNotATree before it deletes anything outside that tree; removing
// the bad entry itself is refused the same way.
func TestRemoveStopsAtCrossLink(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	victim := mustMkdir(t, e, bg, meta.RootInode, "victim", 0o755)
	sub := mustMkdir(t, e, bg, victim, "sub", 0o755)
	keep := mustMkdir(t, e, bg, meta.RootInode, "keep", 0o755)
	mustCreate(t, e, bg, keep, "file", 0o644)
	v.do("HSET", e.Keys().Entries(sub), "loop", entryValue(codec.TypeDirectory, meta.RootInode))
	fresh := v.Fresh()
	within(t, 10*time.Second, "rmr of a tree holding a loop", func() {
		if _, err := fresh.Remove(bg, meta.RootInode, "victim", true, 4, nil); !errors.Is(err, meta.ErrNotATree) {
			t.Errorf("remove: %v, want ErrNotATree", err)
		}
		if _, err := fresh.Remove(bg, sub, "loop", true, 4, nil); !errors.Is(err, meta.ErrNotATree) {
			t.Errorf("remove of the loop entry: %v, want ErrNotATree", err)
		}
	})
	for _, name := range []string{"keep", "victim"} {
		if _, _, err := fresh.Lookup(bg, meta.RootInode, name); err != nil {
			t.Fatalf("/%s after the refused removal: %v", name, err)
		}
	}
	if _, _, err := fresh.Lookup(bg, keep, "file"); err != nil {
		t.Fatalf("/keep/file after the refused removal: %v", err)
	}
	v.do("HDEL", e.Keys().Entries(sub), "loop")
}

// detachedCycle makes the tree /a/b/c a cycle cut off from the root, the
// way a rename of /a into its own descendant would: a's parent becomes c.
func detachedCycle(t *testing.T, v *volume) (a, b, c meta.Ino) {
	t.Helper()
	e := v.e
	a = mustMkdir(t, e, bg, meta.RootInode, "a", 0o755)
	b = mustMkdir(t, e, bg, a, "b", 0o755)
	c = mustMkdir(t, e, bg, b, "c", 0o755)
	e.Sync(bg)
	v.do("HDEL", e.Keys().Entries(meta.RootInode), "a")
	v.do("HSET", e.Keys().Entries(c), "a", entryValue(codec.TypeDirectory, a))
	v.setParent(a, c)
	return a, b, c
}

// TestWalksEndOnCycles: summaries, paths, statfs (which walks up to the
// quotas above a directory) and removals end on a tree with a cross-link
// or a detached cycle, reporting ErrNotATree where they must give up.
func TestWalksEndOnCycles(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true})
	e := v.e
	q := mustMkdir(t, e, bg, meta.RootInode, "q", 0o755)
	if _, err := e.Quotas().Set(bg, meta.QuotaDir, "/q", -1, 1000, false, false); err != nil {
		t.Fatal(err)
	}
	sub := mustMkdir(t, e, bg, q, "sub", 0o755)
	a, b, c := detachedCycle(t, v)
	v.do("HSET", e.Keys().Entries(sub), "loop", entryValue(codec.TypeDirectory, meta.RootInode))
	r := v.Fresh()
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	within(t, 30*time.Second, "walks of a damaged tree", func() {
		// A summary from directory statistics lists only directories whose
		// link count says they have sub-directories: it may not see the
		// damage, but it ends. One counted entry by entry finds it.
		for _, ino := range []meta.Ino{meta.RootInode, a} {
			if _, err := r.GetSummary(ctx, ino, true, false); err != nil && !errors.Is(err, meta.ErrNotATree) {
				t.Errorf("summary of %d: %v", ino, err)
			}
			if _, err := r.GetSummary(ctx, ino, true, true); !errors.Is(err, meta.ErrNotATree) {
				t.Errorf("strict summary of %d: %v, want ErrNotATree", ino, err)
			}
		}
		if _, err := r.GetTreeSummary(ctx, meta.RootInode, 5, 10, true, nil); !errors.Is(err, meta.ErrNotATree) {
			t.Errorf("tree summary of /: %v, want ErrNotATree", err)
		}
		for _, ino := range []meta.Ino{a, b, c} {
			if paths, err := r.GetPaths(ctx, ino); err != nil || len(paths) != 0 {
				t.Errorf("paths of %d in the detached cycle: %v %v", ino, paths, err)
			}
			r.StatFS(ctx, ino)
		}
		if _, err := r.Remove(ctx, c, "a", true, 4, nil); !errors.Is(err, meta.ErrNotATree) {
			t.Errorf("remove inside the cycle: %v, want ErrNotATree", err)
		}
	})
	if ctx.Err() != nil {
		t.Fatal("the walks used up their context instead of stopping")
	}
}
