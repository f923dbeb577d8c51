package fsck_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/gc"
	"github.com/rueidisfs/rueidisfs/meta"
)

// sortedKinds lists the problem kinds, sorted, "+" marking repaired ones.
func sortedKinds(ps []fsck.Problem) string {
	parts := strings.Split(kinds(ps), ",")
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// TestVolumeRepairs injects every kind of damage Volume repairs, checks it
// is found, repaired, and that a second check is clean.
func TestVolumeRepairs(t *testing.T) {
	v := newVolume(t, 1, true)
	e := v.e
	ctx := context.Background()
	k := e.Keys()
	q, _, err := e.Mkdir(ctx, meta.RootInode, "q", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub, _, err := e.Mkdir(ctx, q, "sub", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := e.Mknod(ctx, sub, "f", codec.TypeFile, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Link(ctx, f, q, "f-link"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Symlink(ctx, q, "sym", "f-link"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Quotas().Set(ctx, meta.QuotaDir, "/q", -1, 100, true, false); err != nil {
		t.Fatal(err)
	}
	e.Sync(ctx)
	if rep, err := fsck.Volume(ctx, v.fresh(), false); err != nil {
		t.Fatalf("volume not clean before the damage: %v\n%s", err, rep)
	}

	v.setNlink(q, 7)                                      // directory nlink
	v.setNlink(f, 5)                                      // hard-linked file nlink
	v.do("HSET", k.Parents(f), q.String(), "3")           // parent count
	v.do("HSET", k.DirUsedSpace(), sub.String(), "77777") // directory statistics
	v.do("HSET", k.DirUsedInodes(), "999999", "1")        // statistics of no directory
	v.do("HSET", k.DirUsedSpace(), "999999", "1")
	v.do("HSET", k.DirDataLength(), "999999", "1")
	v.do("SET", k.UsedSpace(), "1") // counters
	v.do("SET", k.TotalInodes(), "1000")
	v.do("HSET", k.DirQuotaUsedSpace(), q.String(), "1") // directory quota usage
	v.do("HSET", k.UserQuotaUsedInodes(), "0", "99")     // user quota usage
	v.do("HSET", k.GroupQuotaUsedInodes(), "4242", "5")  // group owning nothing
	v.do("HSET", k.GroupQuotaUsedSpace(), "4242", "5")

	const all = "dirquota,dirstat,dirstat-orphan,groupquota,nlink,nlink,parent-count,totalInodes,usedSpace,userquota"
	rep, err := fsck.Volume(ctx, v.fresh(), false)
	if !errors.Is(err, fsck.ErrProblems) || sortedKinds(rep.Problems) != all {
		t.Fatalf("check: %v\n%s", err, rep)
	}
	for _, p := range rep.Problems {
		if p.Fix == nil {
			t.Fatalf("no repair for %s", p)
		}
	}
	rep, err = fsck.Volume(ctx, v.fresh(), true)
	if err != nil {
		t.Fatalf("repair: %v\n%s", err, rep)
	}
	if sortedKinds(rep.Problems) != strings.ReplaceAll(all, ",", "+,")+"+" {
		t.Fatalf("repaired %s", sortedKinds(rep.Problems))
	}
	rep, err = fsck.Volume(ctx, v.fresh(), false)
	if err != nil || len(rep.Problems) != 0 {
		t.Fatalf("check after repair: %v\n%s", err, rep)
	}
}

// TestVolumeReportsOnly: damage Volume must not "repair" by guessing is
// reported and left alone; the tools meant for it (Check, gc) fix it.
func TestVolumeReportsOnly(t *testing.T) {
	v := newVolume(t, 0, false)
	e := v.e
	ctx := context.Background()
	k := e.Keys()
	d, _, err := e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Mknod(ctx, d, "f", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	lost, _, err := e.Mkdir(ctx, meta.RootInode, "lost", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Mknod(ctx, lost, "x", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	e.Sync(ctx)
	v.do("HSET", k.Entries(d), "ghost", string(codec.Entry{Typ: codec.TypeFile, Inode: 515151}.Marshal())) // dangling entry
	old := time.Now().Add(-3 * time.Hour).Unix()
	leaked := codec.Attr{Typ: codec.TypeFile, Mode: 0o644, Nlink: 1, Parent: d, Atime: old, Mtime: old, Ctime: old}
	v.do("SET", k.Inode(525252), string(leaked.Marshal())) // leaked inode
	v.do("INCRBY", k.UsedSpace(), "4096")
	v.do("INCRBY", k.TotalInodes(), "1")
	v.do("HSET", k.SliceRef(), k.SliceRefField(55, 100), "3") // wrong slice reference
	v.do("DEL", k.Inode(lost))                                // missing directory attribute

	rep, err := fsck.Volume(ctx, v.fresh(), true)
	if !errors.Is(err, fsck.ErrProblems) {
		t.Fatalf("repair: %v\n%s", err, rep)
	}
	unrepaired := map[string]bool{}
	for _, p := range rep.Problems {
		if !p.Repaired {
			unrepaired[p.Kind] = true
		}
	}
	for _, kind := range []string{"dangling-entry", "dangling-dir", "leaked-inode", "sliceRef"} {
		if !unrepaired[kind] {
			t.Errorf("%s not reported as left unrepaired:\n%s", kind, rep)
		}
	}

	// The proper tools: Check rebuilds the directory, gc deletes the leak.
	e2 := v.fresh()
	if res, err := fsck.Check(ctx, e2, fsck.CheckOptions{Path: "/lost", Repair: true}); err != nil {
		t.Fatalf("check /lost: %v %s", err, kinds(res.Problems))
	}
	if rep, err := gc.Run(ctx, e2, e2.Format(), gc.Options{Delete: true}); err != nil || len(rep.LeakedInodes) != 1 {
		t.Fatalf("gc: %+v %v", rep, err)
	}
	v.do("HDEL", k.Entries(d), "ghost")
	v.do("HDEL", k.SliceRef(), k.SliceRefField(55, 100))
	// Counters were set without the lost directory; repair once more.
	if rep, err := fsck.Volume(ctx, v.fresh(), true); err != nil {
		t.Fatalf("final repair: %v\n%s", err, rep)
	}
	if rep, err := fsck.Volume(ctx, v.fresh(), false); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("final check: %v\n%s", err, rep)
	}
}
