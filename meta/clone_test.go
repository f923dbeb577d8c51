package meta_test

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// writeSlice gives a file one new slice of size bytes at chunk indx.
func (v *volume) writeSlice(ino meta.Ino, indx uint32, size uint32) uint64 {
	v.t.Helper()
	ctx := context.Background()
	id, err := v.e.NewSlice(ctx)
	mustNil(v.t, "new slice", err)
	mustNil(v.t, "write", v.e.Write(ctx, ino, indx, 0, codec.Slice{ID: id, Size: size, Len: size}, time.Now()))
	return id
}

// sliceRefs returns the sliceRef hash.
func (v *volume) sliceRefs() map[string]string {
	v.t.Helper()
	m, err := v.srv.Do(v.t, v.db, "HGETALL", v.e.Keys().SliceRef()).AsStrMap()
	mustNil(v.t, "HGETALL sliceRef", err)
	return m
}

// tree lists the nodes below dir (paths relative to it) with their type,
// length, mode, link count, symlink target, xattrs and chunk lists.
func (v *volume) tree(dir meta.Ino) []string {
	v.t.Helper()
	ctx := context.Background()
	var out []string
	var walk func(ino meta.Ino, p string)
	walk = func(ino meta.Ino, p string) {
		ents, err := v.e.Readdir(ctx, ino, true)
		mustNil(v.t, "readdir", err)
		for _, ent := range ents[2:] {
			a := ent.Attr
			line := fmt.Sprintf("%s type=%d len=%d mode=%o nlink=%d", path.Join(p, ent.Name), a.Typ, a.Length, a.Mode, a.Nlink)
			if a.Typ == codec.TypeSymlink {
				target, err := v.e.ReadLink(ctx, ent.Inode)
				mustNil(v.t, "readlink", err)
				line += " -> " + target
			}
			names, err := v.e.ListXattr(ctx, ent.Inode)
			mustNil(v.t, "listxattr", err)
			sort.Strings(names)
			for _, n := range names {
				val, err := v.e.GetXattr(ctx, ent.Inode, n)
				mustNil(v.t, "getxattr", err)
				line += fmt.Sprintf(" %s=%q", n, val)
			}
			for indx := uint32(0); a.Typ == codec.TypeFile && uint64(indx)*codec.ChunkSize < a.Length; indx++ {
				recs, err := v.e.Read(ctx, ent.Inode, indx)
				mustNil(v.t, "read", err)
				line += fmt.Sprintf(" chunk%d=%v", indx, recs)
			}
			out = append(out, line)
			if a.Typ == codec.TypeDirectory {
				walk(ent.Inode, path.Join(p, ent.Name))
			}
		}
	}
	walk(dir, "")
	sort.Strings(out)
	return out
}

// sampleTree makes /src: files with data, a hard link, a symlink, a FIFO,
// extended attributes, and a sub-directory of many files.
func sampleTree(v *volume) meta.Ino {
	ctx := context.Background()
	src, _, err := v.e.Mkdir(ctx, meta.RootInode, "src", 0o755, 0)
	mustNil(v.t, "mkdir", err)
	big := v.file(src, "big")
	v.writeSlice(big, 0, 1<<20)
	v.writeSlice(big, 1, 4096)
	mustNil(v.t, "setxattr", v.e.SetXattr(ctx, big, "user.k", []byte("v"), 0))
	_, err = v.e.Link(ctx, big, src, "big-link")
	mustNil(v.t, "link", err)
	_, _, err = v.e.Symlink(ctx, src, "sym", "big")
	mustNil(v.t, "symlink", err)
	_, _, err = v.e.Mknod(ctx, src, "fifo", codec.TypeFIFO, 0o644, 0, 0)
	mustNil(v.t, "mknod", err)
	sub, _, err := v.e.Mkdir(ctx, src, "sub", 0o700, 0)
	mustNil(v.t, "mkdir", err)
	mustNil(v.t, "setxattr", v.e.SetXattr(ctx, sub, "user.d", []byte("dir"), 0))
	for i := range 1200 { // more than one batch
		f := v.file(sub, fmt.Sprintf("f%04d", i))
		if i%100 == 0 {
			v.writeSlice(f, 0, 100)
		}
	}
	_, _, err = v.e.Mkdir(ctx, sub, "empty", 0o755, 0)
	mustNil(v.t, "mkdir", err)
	return src
}

// TestCloneTree: a tree is copied node for node (a hard link becomes a
// file of its own), its slices gain a reference each, nothing is left
// detached, and every counter recounts right.
func TestCloneTree(t *testing.T) {
	v := newVolume(t, 1)
	ctx := context.Background()
	src := sampleTree(v)
	before := v.sliceRefs()
	var calls int
	var last, total uint64
	copied, n, err := v.e.Clone(ctx, meta.RootInode, src, meta.RootInode, "dst", true, 0o022, 4, func(done, tot uint64) {
		calls++
		last, total = done, tot
	})
	mustNil(t, "clone", err)
	if copied != n || n != 1207 || last != n || total != n || calls == 0 {
		t.Fatalf("clone copied %d of %d (progress %d calls, last %d/%d), want 1207", copied, n, calls, last, total)
	}
	dst, _, err := v.e.Lookup(ctx, meta.RootInode, "dst")
	mustNil(t, "lookup", err)
	want := v.tree(src)
	// The hard link's two names are two files in the copy.
	for i, l := range want {
		if strings.Contains(l, " type=1 ") {
			want[i] = strings.Replace(l, "nlink=2", "nlink=1", 1)
		}
	}
	if got := v.tree(dst); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the copy differs:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	after := v.sliceRefs()
	for field := range after {
		if before[field] == after[field] {
			t.Errorf("slice %s gained no reference (%s)", field, after[field])
		}
	}
	if n, _ := v.srv.Do(t, v.db, "ZCARD", v.e.Keys().DetachedNodes()).AsInt64(); n != 0 {
		t.Errorf("%d trees left detached", n)
	}
}

// TestClonePreserve: without --preserve the copy belongs to the caller,
// with the umask applied and new times; with it, everything is kept.
func TestClonePreserve(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	f := v.file(meta.RootInode, "f")
	// An old mtime, so that a copy made now differs.
	_, err := v.e.SetAttr(ctx, f, codec.SetAttrMode|codec.SetAttrUID|codec.SetAttrGID|codec.SetAttrMtime,
		&meta.Attr{Mode: 0o666, Uid: 7, Gid: 8, Mtime: 1000000000, Mtimensec: 7})
	mustNil(t, "setattr", err)
	orig := v.attr(f)
	user := meta.WithCaller(ctx, meta.Caller{Uid: 1000, Gids: []uint32{1000}})
	_, err = v.e.SetAttr(ctx, meta.RootInode, codec.SetAttrMode, &meta.Attr{Mode: 0o777})
	mustNil(t, "chmod /", err)
	_, _, err = v.e.Clone(user, meta.RootInode, f, meta.RootInode, "mine", false, 0o027, 1, nil)
	mustNil(t, "clone", err)
	_, _, err = v.e.Clone(ctx, meta.RootInode, f, meta.RootInode, "same", true, 0o027, 1, nil)
	mustNil(t, "clone --preserve", err)
	mine, _, _ := v.e.Lookup(ctx, meta.RootInode, "mine")
	same, _, _ := v.e.Lookup(ctx, meta.RootInode, "same")
	a, p := v.attr(mine), v.attr(same)
	if a.Uid != 1000 || a.Gid != 1000 || a.Mode != 0o640 || a.Mtime == orig.Mtime {
		t.Errorf("copy without preserve: uid %d gid %d mode %o mtime %d (source %d)", a.Uid, a.Gid, a.Mode, a.Mtime, orig.Mtime)
	}
	if p.Uid != 7 || p.Gid != 8 || p.Mode != 0o666 || p.Mtime != orig.Mtime || p.Mtimensec != orig.Mtimensec {
		t.Errorf("copy with preserve: %+v, source %+v", p, orig)
	}
}

// TestCloneRefused: bad destinations change nothing.
func TestCloneRefused(t *testing.T) {
	v := newVolume(t, 1)
	ctx := context.Background()
	src := sampleTree(v)
	v.file(meta.RootInode, "taken")
	keys := func() int64 {
		n, _ := v.srv.Do(t, v.db, "DBSIZE").AsInt64()
		return n
	}
	n := keys()
	for _, tc := range []struct {
		parent meta.Ino
		name   string
		want   error
	}{
		{meta.RootInode, "taken", syscall.EEXIST},
		{meta.TrashInode, "x", syscall.EPERM},
		{meta.RootInode, ".trash", syscall.EPERM},
		{meta.RootInode, "", syscall.ENOENT},
		{12345678, "x", syscall.ENOENT},
	} {
		if _, _, err := v.e.Clone(ctx, meta.RootInode, src, tc.parent, tc.name, false, 0, 2, nil); !errors.Is(err, tc.want) {
			t.Errorf("clone into %d/%q: %v, want %v", tc.parent, tc.name, err, tc.want)
		}
	}
	if _, _, err := v.e.Clone(ctx, meta.RootInode, 99999999, meta.RootInode, "x", false, 0, 2, nil); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("clone of a missing node: %v", err)
	}
	if got := keys(); got != n {
		t.Errorf("refused clones changed the database: %d keys, were %d", got, n)
	}
}

// TestCloneDetachedUntilDone: while a directory is being copied its copy
// is listed in detachedNodes and has no name; a copy that fails half way
// (here: a sub-directory the caller may not read) is removed, leaving
// nothing behind.
func TestCloneDetachedUntilDone(t *testing.T) {
	v := newVolume(t, 1)
	ctx := context.Background()
	src := sampleTree(v)
	seen := false
	_, _, err := v.e.Clone(ctx, meta.RootInode, src, meta.RootInode, "dst", false, 0, 1, func(done, _ uint64) {
		if done != 1 {
			return
		}
		seen = true
		members, _ := v.srv.Do(t, v.db, "ZRANGE", v.e.Keys().DetachedNodes(), "0", "-1").AsStrSlice()
		if len(members) != 1 {
			t.Errorf("detachedNodes while copying: %v", members)
		}
		if _, _, err := v.e.Lookup(ctx, meta.RootInode, "dst"); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("the copy is visible before it is complete: %v", err)
		}
	})
	mustNil(t, "clone", err)
	if !seen {
		t.Fatal("no progress call after the top directory")
	}

	before := v.volumeKeys()
	user := meta.WithCaller(ctx, meta.Caller{Uid: 1000, Gids: []uint32{1000}})
	_, err = v.e.SetAttr(ctx, meta.RootInode, codec.SetAttrMode, &meta.Attr{Mode: 0o777})
	mustNil(t, "chmod /", err)
	_, err = v.e.SetAttr(ctx, src, codec.SetAttrMode, &meta.Attr{Mode: 0o755})
	mustNil(t, "chmod src", err)
	// Another client clones, and closes before the keys are compared: the
	// data of the copies it removed is purged in the background until then.
	other := v.open(meta.Options{NoBackgroundJobs: true})
	if _, _, err := other.Clone(user, meta.RootInode, src, meta.RootInode, "half", false, 0, 1, nil); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("clone of a tree with an unreadable directory: %v", err)
	}
	mustNil(t, "close", other.Close(ctx))
	if _, _, err := v.e.Lookup(ctx, meta.RootInode, "half"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("a failed clone left its copy: %v", err)
	}
	if after := v.volumeKeys(); !slices.Equal(after, before) {
		t.Errorf("a failed clone changed the keys:\nnow  %v\nwere %v", diff(after, before), diff(before, after))
	}
}

// volumeKeys lists the keys of the volume, sorted (the replay markers of
// recent transactions left out: they expire by themselves).
func (v *volume) volumeKeys() []string {
	v.t.Helper()
	keys, err := v.srv.Do(v.t, v.db, "KEYS", "*").AsStrSlice()
	mustNil(v.t, "KEYS", err)
	keys = slices.DeleteFunc(keys, func(k string) bool { return strings.HasPrefix(k, "rueidisfsTxn") })
	sort.Strings(keys)
	return keys
}

// diff lists what a has and b has not.
func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestCloneIntoQuota: a clone into a directory under a quota charges the
// quota with the whole copy, file and directory clones alike (charged with
// the copy's accounting, after it is attached).
func TestCloneIntoQuota(t *testing.T) {
	v := newVolume(t, 1)
	ctx := context.Background()
	src := sampleTree(v)
	q := mustMkdir(t, v.e, ctx, meta.RootInode, "q", 0o777)
	if _, err := v.e.Quotas().Set(ctx, meta.QuotaDir, "/q", -1, -1, false, false); err != nil {
		t.Fatal(err)
	}
	big, _, err := v.e.Lookup(ctx, src, "big")
	mustNil(t, "lookup", err)
	_, _, err = v.e.Clone(ctx, src, big, q, "big", true, 0o022, 4, nil)
	mustNil(t, "clone a file", err)
	_, _, err = v.e.Clone(ctx, meta.RootInode, src, q, "tree", true, 0o022, 4, nil)
	mustNil(t, "clone a tree", err)
	v.e.Sync(ctx)
	res, err := v.e.Quotas().Check(ctx, meta.QuotaDir, "/q", true, false)
	mustNil(t, "quota check", err)
	if len(res.Mismatches) != 0 {
		t.Fatalf("the quota after the clones: %+v", res.Mismatches)
	}
	if got := res.Quotas["/q"]; got.UsedInodes != 1+1207 {
		t.Fatalf("the quota counts %d inodes, want 1208 (a file and a tree of 1207)", got.UsedInodes)
	}
	v.check()
}
