package meta_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/meta"
)

// TestRemovedDirQuota: removing a directory removes its quota (rmdir, to
// the trash or not, and a rename over it). Usage that clients charged to
// the quota before and have not flushed yet (the writer's creates, the
// remover's unlinks) must not bring back a stray quota of the removed
// directory when they flush, nor may a writer's flush whose reply was lost
// (applied before the removal, or not at all) when it is sent again. In
// "rmdir-stale" the remover's first change since the quota was set is the
// rmdir (the writer empties the directory): it learns the quota only when
// its commit is refused for the quota fence it did not know.
func TestRemovedDirQuota(t *testing.T) {
	for _, how := range []string{"rmdir", "rmdir-stale", "trash", "rename-over"} {
		for _, flush := range []string{"pending", "reply-lost", "not-reached"} {
			t.Run(how+"/"+flush, func(t *testing.T) { removedDirQuota(t, how, flush) })
		}
	}
}

func removedDirQuota(t *testing.T, how, flush string) {
	trashDays := 0
	if how == "trash" {
		trashDays = 1
	}
	v := newVolume(t, trashDays)
	r := v.e
	mustMkdir(t, r, bg, meta.RootInode, "before", 0o777) // r reads the fence
	w, p := proxiedClient(t, v)
	d := quotaWithUnflushed(t, w)
	switch flush {
	case "reply-lost":
		loseReply(t, p, func() { w.FlushStats(bg) }, w.Keys().DirQuotaUsedInodes())
	case "not-reached":
		p.Break()
		w.FlushStats(bg)
	}

	// Another client (or the writer) empties /q, and the other removes it.
	emptier := r
	if how == "rmdir-stale" {
		emptier = v.open(meta.Options{})
	}
	for _, name := range []string{"warm", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"} {
		if err := emptier.Unlink(bg, d, name, true); err != nil {
			t.Fatal(err)
		}
	}
	switch how {
	case "rename-over":
		mustMkdir(t, r, bg, meta.RootInode, "other", 0o777)
		if _, _, err := r.Rename(bg, meta.RootInode, "other", meta.RootInode, "q", 0); err != nil {
			t.Fatal(err)
		}
	default:
		if err := r.Rmdir(bg, meta.RootInode, "q", false); err != nil {
			t.Fatal(err)
		}
	}

	if flush != "pending" {
		p.Resume(t)
	}
	w.FlushStats(bg) // sends the pending usage (or the kept call again)
	r.FlushStats(bg)
	emptier.FlushStats(bg)
	field := d.String()
	for _, key := range []string{v.e.Keys().DirQuota(), v.e.Keys().DirQuotaUsedSpace(), v.e.Keys().DirQuotaUsedInodes()} {
		ok, err := v.e.Client().Do(bg, v.e.Client().B().Hexists().Key(key).Field(field).Build()).AsBool()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			t.Errorf("%s still has field %s after the directory was removed", key, field)
		}
	}
	v.check(w, emptier)
}

// TestQuotaSetOnRemovedDir: a directory removed (or moved to the trash)
// while `quota set` counts it gets no quota: the store finds it gone,
// instead of leaving a stray quota behind (the rmdir, committed before
// the quota existed, deleted nothing).
func TestQuotaSetOnRemovedDir(t *testing.T) {
	for _, trashDays := range []int{0, 1} {
		t.Run(fmt.Sprintf("trash=%d", trashDays), func(t *testing.T) {
			v := newVolume(t, trashDays)
			setter := v.open(meta.Options{})
			d := mustMkdir(t, v.e, bg, meta.RootInode, "q", 0o777)
			setter.SetQuotaFenceForTest(0, false, func() {
				if err := v.e.Rmdir(bg, meta.RootInode, "q", false); err != nil {
					t.Error(err)
				}
			})
			_, err := setter.Quotas().Set(bg, meta.QuotaDir, "/q", -1, 100, false, false)
			if !errors.Is(err, syscall.ENOENT) {
				t.Fatalf("quota set of a directory removed during its count: %v, want ENOENT", err)
			}
			ok, err := v.e.Client().Do(bg, v.e.Client().B().Hexists().Key(v.e.Keys().DirQuota()).Field(d.String()).Build()).AsBool()
			if err != nil || ok {
				t.Fatalf("quota of the removed directory stored: %v %v", ok, err)
			}
			v.check(setter)
		})
	}
}
