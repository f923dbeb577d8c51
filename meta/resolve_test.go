package meta_test

import (
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/meta"
)

// TestResolve walks paths both through the client-side cache and through
// the server-side script (a fresh client has nothing cached).
func TestResolve(t *testing.T) {
	v := newVolume(t, 1)
	e := v.e
	a := mustMkdir(t, e, bg, meta.RootInode, "a", 0o755)
	b := mustMkdir(t, e, bg, a, "b", 0o711)
	c := mustMkdir(t, e, bg, b, "c", 0o700)
	f := mustCreate(t, e, bg, c, "f", 0o644)
	if _, _, err := e.Symlink(bg, a, "link", "b"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ctx  interface{}
		path string
		want meta.Ino
		err  syscall.Errno
	}{
		{nil, "a/b/c/f", f, 0},
		{nil, "/a//b/c/", c, 0},
		{nil, "", meta.RootInode, 0},
		{nil, "a/b/x", 0, syscall.ENOENT},
		{nil, "a/b/c/f/g", 0, syscall.ENOTDIR},
		{nil, "a/link/c", 0, syscall.ENOTSUP},
		{1000, "a/b", b, 0},                  // search permission on a and the root
		{1000, "a/b/c", c, 0},                // b is 0711: search is enough
		{1000, "a/b/c/f", 0, syscall.EACCES}, // c is 0700
		{nil, ".trash", meta.TrashInode, 0},  // the trash of the root
		{nil, "a/../a/b", b, 0},              // dot-dot is understood
	}
	// A trashed file: inodes of trash directories exceed 2^53, which the
	// script must still handle exactly.
	g := mustCreate(t, e, bg, a, "g", 0o644)
	if err := e.Unlink(bg, a, "g", false); err != nil {
		t.Fatal(err)
	}
	hour := names(t, e, meta.TrashInode)[0]
	trashed := ".trash/" + hour + "/" + a.String() + "-" + g.String() + "-g"
	cases = append(cases, struct {
		ctx  interface{}
		path string
		want meta.Ino
		err  syscall.Errno
	}{nil, trashed, g, 0})
	for round, client := range []*meta.Engine{v.open(meta.Options{}), e} {
		for _, cs := range cases {
			ctx := bg
			if cs.ctx != nil {
				ctx = as(uint32(cs.ctx.(int)))
			}
			ino, _, err := client.Resolve(ctx, meta.RootInode, cs.path)
			if cs.err != 0 {
				wantErrno(t, err, cs.err)
				continue
			}
			if err != nil || ino != cs.want {
				t.Fatalf("round %d: resolve %q = %d %v, want %d", round, cs.path, ino, err, cs.want)
			}
		}
	}
}
