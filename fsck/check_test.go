package fsck_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestCheckFixturesClean(t *testing.T) {
	for _, name := range fixtures.Volumes() {
		t.Run(name, func(t *testing.T) {
			srv, db := redistest.NewDB(t)
			ctx := context.Background()
			if _, err := fixtures.LoadVolume(ctx, srv.Client(t, db), name, ""); err != nil {
				t.Fatal(err)
			}
			e, err := meta.Open(ctx, srv.URL("redis", db), meta.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(ctx)
			progress := 0
			res, err := fsck.Check(ctx, e, fsck.CheckOptions{Path: "/", Recursive: true, Progress: func() { progress++ }})
			if err != nil {
				t.Fatalf("%v: %s", err, kinds(res.Problems))
			}
			if res.Checked == 0 || progress != res.Checked {
				t.Fatalf("checked %d nodes, progress %d", res.Checked, progress)
			}
			if name == "basic" && len(res.Slices) == 0 {
				t.Fatal("no slices listed")
			}
		})
	}
}

// TestCheckRepairs injects each kind of damage Check knows and repairs it.
func TestCheckRepairs(t *testing.T) {
	v := newVolume(t, 1, false)
	e := v.e
	ctx := context.Background()
	k := e.Keys()
	a, _, err := e.Mkdir(ctx, meta.RootInode, "a", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	var subs [2]meta.Ino
	for i, name := range []string{"b", "c"} {
		if subs[i], _, err = e.Mkdir(ctx, a, name, 0o755, 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.Mknod(ctx, subs[i], "f", codec.TypeFile, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	d2, _, err := e.Mkdir(ctx, meta.RootInode, "d2", 0o700, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Mkdir(ctx, d2, "sub", 0o755, 0); err != nil {
		t.Fatal(err)
	}
	// Something in the trash, counted by the counter rebuild.
	if _, _, err := e.Mknod(ctx, meta.RootInode, "gone", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.Unlink(ctx, meta.RootInode, "gone", false); err != nil {
		t.Fatal(err)
	}
	e.Sync(ctx)

	v.setNlink(a, 9)                                        // wrong nlink
	v.do("DEL", k.Inode(d2))                                // missing directory attribute
	v.do("HSET", k.DirUsedSpace(), subs[0].String(), "-5")  // broken statistics
	v.do("HSET", k.DirUsedInodes(), subs[1].String(), "42") // wrong statistics
	v.do("INCRBY", k.UsedSpace(), "123")                    // wrong counter

	// The path on the way to a node is checked too.
	res, err := fsck.Check(ctx, v.fresh(), fsck.CheckOptions{Path: "/d2/sub"})
	if !errors.Is(err, fsck.ErrProblems) || kinds(res.Problems) != "missing-attr" || res.Problems[0].Path != "/d2" {
		t.Fatalf("check /d2/sub: %v %s", err, kinds(res.Problems))
	}
	res, err = fsck.Check(ctx, v.fresh(), fsck.CheckOptions{Path: "/", Recursive: true})
	if !errors.Is(err, fsck.ErrProblems) {
		t.Fatalf("check: %v", err)
	}
	if got := problemPaths(res.Problems); got != "dirstat:/a/b missing-attr:/d2 nlink:/a" {
		t.Fatalf("found %s", got)
	}
	res, err = fsck.Check(ctx, v.fresh(), fsck.CheckOptions{Path: "/", Recursive: true, SyncDirStat: true})
	if !errors.Is(err, fsck.ErrProblems) || problemPaths(res.Problems) != "dirstat:/a/b dirstat:/a/c missing-attr:/d2 nlink:/a" {
		t.Fatalf("check with sync: %v %s", err, problemPaths(res.Problems))
	}
	// The counter rebuild needs the recursive walk.
	if _, err := fsck.Check(ctx, v.fresh(), fsck.CheckOptions{Path: "/", Repair: true, SyncDirStat: true}); err == nil || errors.Is(err, fsck.ErrProblems) {
		t.Fatalf("non-recursive counter rebuild: %v", err)
	}
	e2 := v.fresh()
	res, err = fsck.Check(ctx, e2, fsck.CheckOptions{Path: "/", Recursive: true, Repair: true, SyncDirStat: true, RepairDirMode: 0o750})
	if err != nil {
		t.Fatalf("repair: %v: %s", err, kinds(res.Problems))
	}
	if kinds(res.Problems) == "" || !res.OK() {
		t.Fatalf("repair reported %s", kinds(res.Problems))
	}
	used, inodes, _ := e2.Counters(ctx)
	if res.UsedSpace != used || res.UsedInodes != inodes || used != 9*4096 {
		t.Fatalf("counters %d/%d, result %d/%d", used, inodes, res.UsedSpace, res.UsedInodes)
	}
	attr, ok, err := e2.Inspect().Attr(ctx, d2)
	if err != nil || !ok || attr.Mode != 0o750 || attr.Nlink != 3 || attr.Parent != meta.RootInode || attr.Typ != codec.TypeDirectory {
		t.Fatalf("rebuilt attribute %+v %v %v", attr, ok, err)
	}
	res, err = fsck.Check(ctx, v.fresh(), fsck.CheckOptions{Path: "/", Recursive: true, SyncDirStat: true})
	if err != nil || len(res.Problems) != 0 {
		t.Fatalf("check after repair: %v %s", err, kinds(res.Problems))
	}
}

func TestCheckDanglingEntry(t *testing.T) {
	v := newVolume(t, 0, false)
	e := v.e
	ctx := context.Background()
	d, _, err := e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	v.do("HSET", e.Keys().Entries(d), "ghost", string(codec.Entry{Typ: codec.TypeFile, Inode: 424242}.Marshal()))
	res, err := fsck.Check(ctx, v.fresh(), fsck.CheckOptions{Path: "/d", Recursive: true, Repair: true})
	if !errors.Is(err, fsck.ErrProblems) || kinds(res.Problems) != "dangling-entry" {
		t.Fatalf("check: %v %s", err, kinds(res.Problems))
	}
	v.do("HDEL", e.Keys().Entries(d), "ghost")
	// Repair stored the statistics with the ghost counted: recompute.
	if _, err := v.fresh().Repair().RecountDirStat(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// problemPaths lists "kind:path" of the problems, sorted.
func problemPaths(ps []fsck.Problem) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Kind+":"+p.Path)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
