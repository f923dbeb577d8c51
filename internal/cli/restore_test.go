package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/meta"
)

// trashedTree makes /a/{f1, b/f2} and /g, removes /a (rmr) and /g into the
// trash, and returns the trash hour directory they went to.
func trashedTree(t *testing.T, url string) (*meta.Engine, string) {
	t.Helper()
	ctx := context.Background()
	e := engine(t, url)
	a, _, err := e.Mkdir(ctx, meta.RootInode, "a", 0o755, 0)
	must(t, err)
	b, _, err := e.Mkdir(ctx, a, "b", 0o755, 0)
	must(t, err)
	for _, f := range []struct {
		dir  meta.Ino
		name string
	}{{a, "f1"}, {b, "f2"}, {meta.RootInode, "g"}} {
		ino, _, err := e.Create(ctx, f.dir, f.name, 0o644, 0, 0)
		must(t, err)
		must(t, e.Release(ctx, ino))
	}
	_, err = e.Remove(ctx, meta.RootInode, "a", false, 4, nil)
	must(t, err)
	must(t, e.Unlink(ctx, meta.RootInode, "g", false))
	// Directory statistics reach Redis before other clients change the
	// same directories (two clients that change a directory whose
	// statistics are missing may count a change twice).
	e.Sync(ctx)
	hours, err := e.Readdir(ctx, meta.TrashInode, false)
	must(t, err)
	if len(hours) != 3 {
		t.Fatalf("trash holds %d entries, want one hour directory", len(hours)-2)
	}
	return e, hours[2].Name
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRestore: juicefs restore's two modes. Without --put-back the trees
// removed that hour are rebuilt in the trash; with it every entry goes
// back where it was, a taken name counting as a conflict.
func TestRestore(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "restore")
	e, hour := trashedTree(t, url)
	ctx := context.Background()

	r := run(t, "restore", url, hour).ok(t)
	for _, want := range []string{`restore files in "` + hour + `" ...`, hour + ": rebuilt 3, need-put-back 2, conflicts 0, failed 0"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("restore does not say %q", want)
		}
	}
	fresh := engine(t, url)
	if _, _, err := fresh.Resolve(ctx, meta.TrashInode, hour+"/1-2-a/b/f2"); err != nil {
		t.Errorf("the tree is not rebuilt in the trash: %v", err)
	}

	// /g is taken again: its entry stays in the trash as a conflict.
	ino, _, err := e.Create(ctx, meta.RootInode, "g", 0o644, 0, 0)
	must(t, err)
	must(t, e.Release(ctx, ino))
	e.Sync(ctx)
	r = run(t, "restore", url, hour, "--put-back").ok(t)
	if !strings.Contains(r.stderr, hour+": restored 1, conflicts 1, failed 0") || !strings.Contains(r.stderr, "-g: target already exists") {
		t.Errorf("restore --put-back does not report the conflict:\n%s", r.stderr)
	}
	for _, p := range []string{"a/f1", "a/b/f2", "g"} {
		if _, _, err := fresh.Resolve(ctx, meta.RootInode, p); err != nil {
			t.Errorf("%s is not back: %v", p, err)
		}
	}
}

// TestRestoreBadInput: an hour that is not in the trash, or not an hour,
// is one clear line and changes nothing; only root may restore.
func TestRestoreBadInput(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "restore-bad")
	_, hour := trashedTree(t, url)
	before := run(t, "dump", url).ok(t).stdout
	run(t, "restore", url, "2020-01-01-01").fails(t, `no directory "2020-01-01-01" in the trash; the trash holds `+hour)
	run(t, "restore", url, "yesterday").fails(t, `invalid hour "yesterday": give the name of a trash directory, YYYY-MM-DD-HH in UTC`)
	user := session{setup: func(a *app) { a.isRoot = false }, how: "not root"}
	user.run(t, "restore", url, hour).fails(t, "only root can restore files from trash")
	if after := run(t, "dump", url).ok(t).stdout; after != before {
		t.Errorf("a refused restore changed the volume")
	}
	// Several hours: each is restored if it can be, and the command says
	// which could not.
	r := run(t, "restore", url, hour, "2020-01-01-01").fails(t, "1 of 2 hours could not be restored: 2020-01-01-01")
	if !strings.Contains(r.stderr, hour+": rebuilt 3, need-put-back 2") {
		t.Errorf("the existing hour was not restored:\n%s", r.stderr)
	}
}

// TestRestoreOfficialTrash: the trash the official client filled in the
// fixture is restored as juicefs restore restores it (checked by hand: the
// two clients leave the same trees): first the removed tree rebuilt in the
// trash, then everything put back where it was.
func TestRestoreOfficialTrash(t *testing.T) {
	fv := loadFixture(t, "basic", false)
	const hour = "2026-11-27-11"
	r := run(t, "restore", fv.url, hour).ok(t)
	if !strings.Contains(r.stderr, hour+": rebuilt 3, need-put-back 5, conflicts 0, failed 0") {
		t.Errorf("restore of the official trash:\n%s", r.stderr)
	}
	e := engine(t, fv.url)
	ctx := context.Background()
	if _, _, err := e.Resolve(ctx, meta.TrashInode, hour+"/373-374-gone/y/z.txt"); err != nil {
		t.Errorf("the removed tree is not rebuilt in the trash: %v", err)
	}
	r = run(t, "restore", fv.url, hour, "--put-back").ok(t)
	if !strings.Contains(r.stderr, hour+": restored 5, conflicts 0, failed 0") {
		t.Errorf("restore --put-back of the official trash:\n%s", r.stderr)
	}
	for _, p := range []string{"scratch/gone/y/z.txt", "scratch/gone/x.txt", "scratch/tmp-delete.bin", "trash-me.txt", "links/old-link"} {
		if _, _, err := e.Resolve(ctx, meta.RootInode, p); err != nil {
			t.Errorf("%s is not back: %v", p, err)
		}
	}
}
