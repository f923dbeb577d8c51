package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/meta"
)

// TestClone: juicefs clone's shapes: META-URL SRC DST, a DST ending in "/",
// --preserve, and the refusals (DST taken, DST inside SRC), which change
// nothing.
func TestClone(t *testing.T) {
	fv := loadFixture(t, "basic", false)
	url := fv.url
	r := run(t, "clone", url, "/docs", "/docs-copy").ok(t)
	if !strings.Contains(r.stderr, "Cloned 11 entries from /docs to /docs-copy") {
		t.Errorf("clone does not say what it copied:\n%s", r.stderr)
	}
	want := run(t, "summary", url, "/docs", "--csv").ok(t).stdout
	if got := run(t, "summary", url, "/docs-copy", "--csv").ok(t).stdout; got != want {
		t.Errorf("the copy sums up differently:\n%s\nwant\n%s", got, want)
	}
	run(t, "clone", url, "hello.txt", "/docs/", "-p").ok(t)
	e := engine(t, url)
	ctx := context.Background()
	orig, _, err := e.Resolve(ctx, meta.RootInode, "hello.txt")
	must(t, err)
	copied, _, err := e.Resolve(ctx, meta.RootInode, "docs/hello.txt")
	must(t, err)
	a, b := mustAttr(t, e, orig), mustAttr(t, e, copied)
	if a.Uid != b.Uid || a.Mode != b.Mode || a.Mtime != b.Mtime || a.Length != b.Length {
		t.Errorf("clone -p did not preserve the attributes: %+v, original %+v", b, a)
	}

	before := run(t, "dump", url).ok(t).stdout
	run(t, "clone", url, "/docs", "/docs-copy").fails(t, "/docs-copy already exists")
	run(t, "clone", url, "/docs", "/docs/inner").fails(t, "the clone DST path should not be under the SRC path")
	run(t, "clone", url, "/nowhere", "/x").fails(t, "lookup inode for /nowhere: no such file or directory")
	run(t, "clone", url, "/docs", "/no/dir/x").fails(t, "lookup inode for /no/dir: no such file or directory")
	if after := run(t, "dump", url).ok(t).stdout; after != before {
		t.Errorf("refused clones changed the volume")
	}
}

// TestCloneMountPaths: clone takes juicefs's form, SRC and DST inside a
// mount (DST need not exist).
func TestCloneMountPaths(t *testing.T) {
	fv := loadFixture(t, "basic", false)
	mnt := t.TempDir()
	if err := os.Mkdir(filepath.Join(mnt, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	fakeMount(mnt, "").run(t, "clone", filepath.Join(mnt, "docs"), filepath.Join(mnt, "copy")).fails(t,
		"that mount does not name its META-URL (juicefs mounts do not); give the volume's META-URL and the path inside the volume instead: rueidisfs clone META-URL /docs")
	fakeMount(mnt, fv.url).run(t, "clone", filepath.Join(mnt, "docs"), filepath.Join(mnt, "copy")).ok(t)
	if _, _, err := engine(t, fv.url).Resolve(context.Background(), meta.RootInode, "copy"); err != nil {
		t.Errorf("no copy after a clone through the mount: %v", err)
	}
}

func mustResolve(t *testing.T, e *meta.Engine, p string) meta.Ino {
	t.Helper()
	ino, _, err := e.Resolve(context.Background(), meta.RootInode, p)
	must(t, err)
	return ino
}

func mustAttr(t *testing.T, e *meta.Engine, ino meta.Ino) meta.Attr {
	t.Helper()
	a, err := e.GetAttr(context.Background(), ino)
	must(t, err)
	return a
}

// TestCloneLikeOfficial: the official client cloned data/overwrite.dat to
// data/overwrite-clone.dat in the fixture; our clone of the same file
// stores the same attribute (but for the inode and times) and the same
// chunk records, and raises the reference of every slice by one.
func TestCloneLikeOfficial(t *testing.T) {
	fv := loadFixture(t, "basic", false)
	ctx := context.Background()
	refs := func() map[string]string {
		m, err := fv.srv.Do(t, fv.db, "HGETALL", "sliceRef").AsStrMap()
		must(t, err)
		return m
	}
	before := refs()
	run(t, "clone", fv.url, "data/overwrite.dat", "data/our-clone.dat").ok(t)
	e := engine(t, fv.url)
	theirs, _, err := e.Resolve(ctx, meta.RootInode, "data/overwrite-clone.dat")
	must(t, err)
	ours, _, err := e.Resolve(ctx, meta.RootInode, "data/our-clone.dat")
	must(t, err)
	a, b := mustAttr(t, e, theirs), mustAttr(t, e, ours)
	src := mustAttr(t, e, mustResolve(t, e, "data/overwrite.dat"))
	if umask := newApp(nil, nil, nil, nil).umask(); b.Mode != src.Mode&^umask {
		t.Errorf("our clone's mode %o, want %o less the umask %o", b.Mode, src.Mode, umask)
	}
	// The official clone was made with umask 022; times are the clones'.
	for _, x := range []*meta.Attr{&a, &b} {
		x.Atime, x.Mtime, x.Ctime, x.Atimensec, x.Mtimensec, x.Ctimensec, x.Mode = 0, 0, 0, 0, 0, 0, 0
	}
	if a != b {
		t.Errorf("our clone's attribute %+v, the official clone's %+v", b, a)
	}
	list := func(ino meta.Ino) []string {
		l, err := fv.srv.Do(t, fv.db, "LRANGE", fmt.Sprintf("c%d_0", ino), "0", "-1").AsStrSlice()
		must(t, err)
		return l
	}
	if !slices.Equal(list(ours), list(theirs)) {
		t.Errorf("our clone's chunk records differ from the official clone's")
	}
	after := refs()
	for _, f := range []string{"k11_200000", "k12_60000", "k14_60000"} {
		was, _ := strconv.Atoi(before[f])
		if now, _ := strconv.Atoi(after[f]); now != was+1 {
			t.Errorf("sliceRef %s: %d after the clone, %d before", f, now, was)
		}
	}
}
