package fsck_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/meta"
)

// tree is the small volume every damage case starts from: /d holds a
// regular file f (hard-linked as /hl), a sub-directory sub and a file g;
// /sym is a symlink; /d has a directory quota; user and group quotas are
// on.
type tree struct {
	d, sub, f, g, sym meta.Ino
	sid               uint64
}

func buildTree(t *testing.T, v *volume) *tree {
	t.Helper()
	ctx := context.Background()
	e := v.e
	tr := &tree{sid: e.SID()}
	var err error
	if tr.d, _, err = e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0); err != nil {
		t.Fatal(err)
	}
	if tr.sub, _, err = e.Mkdir(ctx, tr.d, "sub", 0o755, 0); err != nil {
		t.Fatal(err)
	}
	if tr.f, _, err = e.Mknod(ctx, tr.d, "f", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if tr.g, _, err = e.Mknod(ctx, tr.d, "g", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Link(ctx, tr.f, meta.RootInode, "hl"); err != nil {
		t.Fatal(err)
	}
	if tr.sym, _, err = e.Symlink(ctx, meta.RootInode, "sym", "d/f"); err != nil {
		t.Fatal(err)
	}
	id, err := e.NewSlice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(ctx, tr.f, 0, 0, codec.Slice{ID: id, Size: 5000, Len: 5000}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Quotas().Set(ctx, meta.QuotaDir, "/d", -1, 100, true, false); err != nil {
		t.Fatal(err)
	}
	e.Sync(ctx)
	if rep, err := fsck.Volume(ctx, v.fresh(), false); err != nil {
		t.Fatalf("the tree is not clean before the damage: %v\n%s", err, rep)
	}
	return tr
}

// attrOf reads an attribute as stored.
func (v *volume) attrOf(ino meta.Ino) codec.Attr {
	v.t.Helper()
	s, err := v.raw().Do(context.Background(), v.raw().B().Get().Key(v.e.Keys().Inode(ino)).Build()).ToString()
	if err != nil {
		v.t.Fatal(err)
	}
	var a codec.Attr
	if err := codec.UnmarshalAttr(s, &a); err != nil {
		v.t.Fatal(err)
	}
	return a
}

// putAttr stores an attribute as given.
func (v *volume) putAttr(ino meta.Ino, a codec.Attr) {
	v.do("SET", v.e.Keys().Inode(ino), string(a.Marshal()))
}

// changeAttr rewrites an attribute with fn and returns the undo.
func (v *volume) changeAttr(ino meta.Ino, fn func(a *codec.Attr)) func() {
	old := v.attrOf(ino)
	a := old
	fn(&a)
	v.putAttr(ino, a)
	return func() { v.putAttr(ino, old) }
}

func entryOf(typ codec.FileType, ino meta.Ino) string {
	return string(codec.Entry{Typ: typ, Inode: ino}.Marshal())
}

// TestVolumeDamageTable: for every kind of problem the whole-volume check
// knows, one kind of damage that causes it: Volume reports it (among what
// the damage also causes); with repair, the problems that have a repair
// are repaired and a second check is clean; the others are left for the
// tools meant for them (the case undoes the damage, and the volume must
// then be clean again).
func TestVolumeDamageTable(t *testing.T) {
	old := time.Now().Add(-3 * time.Hour).Unix()
	cases := []struct {
		kind string
		// damage damages the volume and returns how to undo it (nil for
		// damage that a repair removes).
		damage func(v *volume, tr *tree) (undo func())
	}{
		{"usedSpace", func(v *volume, tr *tree) func() { v.do("SET", v.e.Keys().UsedSpace(), "1"); return nil }},
		{"totalInodes", func(v *volume, tr *tree) func() { v.do("SET", v.e.Keys().TotalInodes(), "1000"); return nil }},
		{"nlink", func(v *volume, tr *tree) func() { v.setNlink(tr.d, 7); return nil }},
		{"nlink", func(v *volume, tr *tree) func() { v.setNlink(tr.f, 5); return nil }},
		{"parent-count", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().Parents(tr.f), tr.d.String(), "3")
			return nil
		}},
		{"dirstat", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().DirUsedSpace(), tr.d.String(), "77777")
			return nil
		}},
		{"dirstat", func(v *volume, tr *tree) func() { // missing statistics
			k := v.e.Keys()
			for _, h := range []string{k.DirUsedSpace(), k.DirUsedInodes(), k.DirDataLength()} {
				v.do("HDEL", h, tr.sub.String())
			}
			return nil
		}},
		{"dirstat-orphan", func(v *volume, tr *tree) func() {
			k := v.e.Keys()
			for _, h := range []string{k.DirUsedSpace(), k.DirUsedInodes(), k.DirDataLength()} {
				v.do("HSET", h, "999999", "1")
			}
			return nil
		}},
		{"dirquota", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().DirQuotaUsedSpace(), tr.d.String(), "1")
			return nil
		}},
		{"userquota", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().UserQuotaUsedInodes(), "0", "99")
			return nil
		}},
		{"groupquota", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().GroupQuotaUsedInodes(), "4242", "5")
			v.do("HSET", v.e.Keys().GroupQuotaUsedSpace(), "4242", "5")
			return nil
		}},
		// Reported only.
		{"cycle", func(v *volume, tr *tree) func() { // /d moved into /d/sub, as two racing renames can leave it
			k := v.e.Keys()
			v.do("HDEL", k.Entries(meta.RootInode), "d")
			v.do("HSET", k.Entries(tr.sub), "d", entryOf(codec.TypeDirectory, tr.d))
			v.changeAttr(tr.d, func(a *codec.Attr) { a.Parent = tr.sub })
			v.changeAttr(meta.RootInode, func(a *codec.Attr) { a.Nlink-- })
			v.changeAttr(tr.sub, func(a *codec.Attr) { a.Nlink++ })
			return nil
		}},
		{"dangling-entry", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().Entries(tr.d), "ghost", entryOf(codec.TypeFile, 515151))
			return func() { v.do("HDEL", v.e.Keys().Entries(tr.d), "ghost") }
		}},
		{"dangling-dir", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().Entries(777777), "x", entryOf(codec.TypeFile, 515151))
			return func() { v.do("DEL", v.e.Keys().Entries(777777)) }
		}},
		{"not-a-dir", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().Entries(tr.g), "x", entryOf(codec.TypeFile, 515151))
			return func() { v.do("DEL", v.e.Keys().Entries(tr.g)) }
		}},
		{"entry-type", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().Entries(tr.d), "g", entryOf(codec.TypeSymlink, tr.g))
			return func() { v.do("HSET", v.e.Keys().Entries(tr.d), "g", entryOf(codec.TypeFile, tr.g)) }
		}},
		{"leaked-inode", func(v *volume, tr *tree) func() {
			a := codec.Attr{Typ: codec.TypeFile, Mode: 0o644, Nlink: 1, Parent: tr.d, Atime: old, Mtime: old, Ctime: old}
			v.putAttr(525252, a)
			v.do("INCRBY", v.e.Keys().UsedSpace(), "4096")
			v.do("INCRBY", v.e.Keys().TotalInodes(), "1")
			return func() {
				v.do("DEL", v.e.Keys().Inode(525252))
				v.do("INCRBY", v.e.Keys().UsedSpace(), "-4096")
				v.do("INCRBY", v.e.Keys().TotalInodes(), "-1")
			}
		}},
		{"sustained", func(v *volume, tr *tree) func() {
			a := codec.Attr{Typ: codec.TypeFile, Mode: 0o644, Nlink: 1, Parent: tr.d, Atime: old, Mtime: old, Ctime: old}
			v.putAttr(535353, a)
			v.do("SADD", v.e.Keys().Sustained(tr.sid), "535353")
			v.do("INCRBY", v.e.Keys().UsedSpace(), "4096")
			v.do("INCRBY", v.e.Keys().TotalInodes(), "1")
			return func() {
				v.do("DEL", v.e.Keys().Inode(535353))
				v.do("SREM", v.e.Keys().Sustained(tr.sid), "535353")
				v.do("INCRBY", v.e.Keys().UsedSpace(), "-4096")
				v.do("INCRBY", v.e.Keys().TotalInodes(), "-1")
			}
		}},
		{"dir-length", func(v *volume, tr *tree) func() {
			return v.changeAttr(tr.sub, func(a *codec.Attr) { a.Length = 1234 })
		}},
		{"dir-links", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().Entries(meta.RootInode), "alias", entryOf(codec.TypeDirectory, tr.sub))
			return func() { v.do("HDEL", v.e.Keys().Entries(meta.RootInode), "alias") }
		}},
		{"parent", func(v *volume, tr *tree) func() { // the one entry is elsewhere: the parent field follows it
			v.changeAttr(tr.g, func(a *codec.Attr) { a.Parent = meta.RootInode })
			return nil
		}},
		{"cross-link", func(v *volume, tr *tree) func() { // an entry naming the root: a loop
			v.do("HSET", v.e.Keys().Entries(tr.sub), "loop", entryOf(codec.TypeDirectory, meta.RootInode))
			return nil
		}},
		{"cross-link", func(v *volume, tr *tree) func() { // a second name of a directory living elsewhere
			v.do("HSET", v.e.Keys().Entries(meta.RootInode), "alias", entryOf(codec.TypeDirectory, tr.sub))
			return nil
		}},
		{"symlink", func(v *volume, tr *tree) func() {
			v.do("DEL", v.e.Keys().Symlink(tr.sym))
			return func() { v.do("SET", v.e.Keys().Symlink(tr.sym), "d/f") }
		}},
		{"quota-orphan", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().DirQuotaUsedInodes(), "888888", "1")
			return func() { v.do("HDEL", v.e.Keys().DirQuotaUsedInodes(), "888888") }
		}},
		{"orphan", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().Xattrs(979797), "user.k", "v")
			return func() { v.do("DEL", v.e.Keys().Xattrs(979797)) }
		}},
		{"sliceRef", func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().SliceRef(), v.e.Keys().SliceRefField(55, 100), "3")
			return func() { v.do("HDEL", v.e.Keys().SliceRef(), v.e.Keys().SliceRefField(55, 100)) }
		}},
	}
	seen := map[string]bool{}
	for i, c := range cases {
		seen[c.kind] = true
		t.Run(strconv.Itoa(i)+"-"+c.kind, func(t *testing.T) {
			ctx := context.Background()
			v := newVolume(t, 0, true)
			tr := buildTree(t, v)
			undo := c.damage(v, tr)
			rep, err := fsck.Volume(ctx, v.fresh(), false)
			if !errors.Is(err, fsck.ErrProblems) || !slices.ContainsFunc(rep.Problems, func(p fsck.Problem) bool { return p.Kind == c.kind }) {
				t.Fatalf("damage not reported as %s: %v\n%s", c.kind, err, rep)
			}
			rep, _ = fsck.Volume(ctx, v.fresh(), true)
			for _, p := range rep.Problems {
				if p.Kind == c.kind && p.Repaired != (undo == nil) {
					t.Fatalf("%s: repaired %v, want %v", p, p.Repaired, undo == nil)
				}
				if p.Repaired && p.Fix == nil {
					t.Fatalf("%s: repaired without a repair", p)
				}
			}
			if undo != nil {
				undo()
				// What the repair did because of the damage (a link count
				// counted with a bad entry) is put right by another one.
				fsck.Volume(ctx, v.fresh(), true)
			}
			if rep, err := fsck.Volume(ctx, v.fresh(), false); err != nil {
				t.Fatalf("not clean at the end: %v\n%s", err, rep)
			}
		})
	}
	// Every kind the recount can report has a case, here or among the
	// corrupt values (TestVolumeCorruption).
	for _, c := range corruptionCases() {
		seen[c.kind] = true
	}
	for _, kind := range fsck.ProblemKinds() {
		if !seen[kind] {
			t.Errorf("no damage case for problem kind %q", kind)
		}
	}
}

// TestCheckDamageTable: for every kind of problem the path check knows,
// one kind of damage that causes it: Check reports it, with Repair repairs
// what it can, and a second check is clean (after the case undid what
// Check only reports).
func TestCheckDamageTable(t *testing.T) {
	cases := []struct {
		kind   string
		damage func(v *volume, tr *tree) (undo func())
	}{
		{fsck.KindMissingAttr, func(v *volume, tr *tree) func() {
			v.do("DEL", v.e.Keys().Inode(tr.sub))
			return nil
		}},
		{fsck.KindNlink, func(v *volume, tr *tree) func() { v.setNlink(tr.d, 9); return nil }},
		{fsck.KindDirStat, func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().DirUsedSpace(), tr.sub.String(), "-1")
			return nil
		}},
		{fsck.KindDirStat, func(v *volume, tr *tree) func() { // statistics that are not integers
			v.do("HSET", v.e.Keys().DirUsedSpace(), tr.sub.String(), "x")
			return nil
		}},
		{fsck.KindDanglingEntry, func(v *volume, tr *tree) func() {
			v.do("HSET", v.e.Keys().Entries(tr.d), "ghost", entryOf(codec.TypeFile, 515151))
			return func() { v.do("HDEL", v.e.Keys().Entries(tr.d), "ghost") }
		}},
		{fsck.KindCrossLink, func(v *volume, tr *tree) func() { // an entry naming the root: a loop
			v.do("HSET", v.e.Keys().Entries(tr.sub), "loop", entryOf(codec.TypeDirectory, meta.RootInode))
			return func() { v.do("HDEL", v.e.Keys().Entries(tr.sub), "loop") }
		}},
		{fsck.KindError, func(v *volume, tr *tree) func() { // a chunk list the check cannot read
			v.do("RPUSH", v.e.Keys().Chunk(tr.f, 0), "junk")
			return func() { v.do("RPOP", v.e.Keys().Chunk(tr.f, 0)) }
		}},
	}
	for i, c := range cases {
		t.Run(strconv.Itoa(i)+"-"+c.kind, func(t *testing.T) {
			ctx := context.Background()
			v := newVolume(t, 0, true)
			tr := buildTree(t, v)
			undo := c.damage(v, tr)
			opts := fsck.CheckOptions{Path: "/d", Recursive: true}
			res, err := fsck.Check(ctx, v.fresh(), opts)
			if !errors.Is(err, fsck.ErrProblems) || !slices.ContainsFunc(res.Problems, func(p fsck.Problem) bool { return p.Kind == c.kind }) {
				t.Fatalf("damage not reported as %s: %v %s", c.kind, err, kinds(res.Problems))
			}
			opts.Repair = true
			res, _ = fsck.Check(ctx, v.fresh(), opts)
			for _, p := range res.Problems {
				if p.Kind == c.kind && p.Repaired != (undo == nil) {
					t.Fatalf("%s: repaired %v, want %v", p, p.Repaired, undo == nil)
				}
			}
			if undo != nil {
				undo()
			}
			opts.Repair = false
			if res, err := fsck.Check(ctx, v.fresh(), opts); err != nil {
				t.Fatalf("not clean at the end: %v %s", err, kinds(res.Problems))
			}
		})
	}
}

// TestReattachCycles: a directory moved inside its own child (by hand here)
// is found and moved back under the root, where GetPaths finds it again.
func TestReattachCycles(t *testing.T) {
	v := newVolume(t, 0, true)
	tr := buildTree(t, v)
	k := v.e.Keys()
	v.do("HDEL", k.Entries(meta.RootInode), "d")
	v.do("HSET", k.Entries(tr.sub), "d", entryOf(codec.TypeDirectory, tr.d))
	v.changeAttr(tr.d, func(a *codec.Attr) { a.Parent = tr.sub })
	ctx := context.Background()
	e := v.fresh()
	probs, err := fsck.ReattachCycles(ctx, e)
	if err != nil || len(probs) != 1 || !probs[0].Repaired || probs[0].Kind != fsck.KindCycle {
		t.Fatalf("ReattachCycles: %v %v", probs, err)
	}
	paths, err := e.GetPaths(ctx, tr.f)
	if err != nil || !slices.Contains(paths, "/lost+found-"+tr.d.String()+"/f") {
		t.Fatalf("paths of /d/f after the repair: %v %v", paths, err)
	}
	if probs, err := fsck.ReattachCycles(ctx, e); err != nil || len(probs) != 0 {
		t.Fatalf("a second pass found %v %v", probs, err)
	}
	// The counts the damage left (root's link count and statistics, the
	// quota crossed twice) are the other repairs' business.
	if rep, err := fsck.Volume(ctx, e, true); err != nil {
		t.Fatalf("repair after reattaching: %v\n%s", err, rep)
	}
}
