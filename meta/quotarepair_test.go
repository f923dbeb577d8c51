package meta_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// A quota flush that reached Redis but lost its reply, or never reached it,
// is sent again after another client recounted the quota (`quota check
// --repair`, or the quota deleted and set again): the recount has the
// usage the flush carries, so the flush must be applied exactly once if it
// was applied before the recount's store (which overwrote it), and dropped
// otherwise. Usage charged after the recount is added.
func TestQuotaFlushAcrossRecount(t *testing.T) {
	recounts := map[string]func(t *testing.T, admin *meta.Engine){
		"repair": func(t *testing.T, admin *meta.Engine) {
			if _, err := admin.Quotas().Check(bg, meta.QuotaDir, "/q", true, true); err != nil {
				t.Fatal(err)
			}
		},
		"delete-set": func(t *testing.T, admin *meta.Engine) {
			if err := admin.Quotas().Delete(bg, meta.QuotaDir, "/q"); err != nil {
				t.Fatal(err)
			}
			if _, err := admin.Quotas().Set(bg, meta.QuotaDir, "/q", -1, 100, false, false); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, recount := range recounts {
		for _, reached := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/reached=%v", name, reached), func(t *testing.T) {
				quotaFlushAcrossRecount(t, reached, recount)
			})
		}
	}
}

// quotaWithUnflushed makes /q with an inode quota through e and 10 files
// in it whose usage e has not flushed yet. One flush comes first, so that
// Redis holds the flush's script (on a fresh server a held reply would be
// NOSCRIPT, nothing applied).
func quotaWithUnflushed(t *testing.T, e *meta.Engine) meta.Ino {
	t.Helper()
	d := mustMkdir(t, e, bg, meta.RootInode, "q", 0o777)
	if _, err := e.Quotas().Set(bg, meta.QuotaDir, "/q", -1, 100, false, false); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, bg, d, "warm", 0o644)
	e.FlushStats(bg)
	for i := range 10 {
		mustCreate(t, e, bg, d, fmt.Sprintf("f%d", i), 0o644)
	}
	return d
}

func quotaFlushAcrossRecount(t *testing.T, reached bool, recount func(*testing.T, *meta.Engine)) {
	v := newVolume(t, 0)
	a, p := proxiedClient(t, v)
	d := quotaWithUnflushed(t, a)
	if reached {
		loseReply(t, p, func() { a.FlushStats(bg) }, a.Keys().DirQuotaUsedInodes())
	} else {
		p.Break()
		a.FlushStats(bg)
	}
	used := func() int64 {
		t.Helper()
		q, err := v.e.Quotas().Get(bg, meta.QuotaDir, "/q")
		if err != nil || q == nil {
			t.Fatalf("quota: %+v %v", q, err)
		}
		return q.UsedInodes
	}
	if n, want := used(), map[bool]int64{true: 11, false: 1}[reached]; n != want {
		t.Fatalf("before the recount the quota counts %d inodes, want %d", n, want)
	}
	recount(t, v.e)
	p.Resume(t)
	a.FlushStats(bg) // sends the kept call again
	if n := used(); n != 11 {
		t.Fatalf("the quota counts %d inodes for 11 files", n)
	}
	for i := range 5 {
		mustCreate(t, a, bg, d, fmt.Sprintf("g%d", i), 0o644)
	}
	a.FlushStats(bg)
	if n := used(); n != 16 {
		t.Fatalf("the quota counts %d inodes for 16 files", n)
	}
	v.check(a)
}

// TestUnlinkedFileQuota: a file unlinked while open is in no directory: its
// writes are charged to no directory quota or statistics (its unlink took
// its length out of its old parent's), and are not refused by the old
// parent's quota; the volume's usage and its owner's still count them.
func TestUnlinkedFileQuota(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "D", 0o777)
	if _, err := e.Quotas().Set(bg, meta.QuotaDir, "/D", 1<<20, -1, false, false); err != nil {
		t.Fatal(err)
	}
	f, _, err := e.Create(bg, d, "f", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(bg, f, 0, 0, codec.Slice{ID: 1, Size: 8192, Len: 8192}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.Unlink(bg, d, "f", false); err != nil {
		t.Fatal(err)
	}
	// 2 MiB through the open handle: beyond /D's limit, were it charged.
	if err := e.Write(bg, f, 0, 0, codec.Slice{ID: 2, Size: 2 << 20, Len: 2 << 20}, time.Now()); err != nil {
		t.Fatalf("write to an unlinked file under a full quota's old directory: %v", err)
	}
	if _, err := e.Truncate(bg, f, 0, 3<<20, true); err != nil {
		t.Fatal(err)
	}
	e.Sync(bg)
	if res, err := e.Quotas().Check(bg, meta.QuotaDir, "/D", true, false); err != nil {
		t.Fatalf("check: %v %+v", err, res.Mismatches)
	}
	v.check()
	if err := e.Release(bg, f); err != nil {
		t.Fatal(err)
	}
	v.check()
}
