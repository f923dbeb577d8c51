package meta_test

import (
	"context"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/mdtest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestEachPrivilegeUsed tests the least-privilege list command by command:
// for each rule, a user holding every other rule runs the operations of
// the ACL workload (errors expected, ignored) after the script cache was
// flushed, and Redis' ACL LOG must show a command of that rule denied.
// TestACLUser shows that the list is enough; this shows that it holds
// nothing the engine does not use. The Cluster-only rules are
// TestCluster's.
func TestEachPrivilegeUsed(t *testing.T) {
	t.Parallel()
	clusterOnly := []string{"+cluster|slots", "+readonly", "+asking"}
	rules := leastPrivileges[1:] // after -@all
	opts := []redistest.Option{redistest.WithPassword("admin-pw")}
	for i := range rules {
		without := slices.Delete(slices.Clone(rules), i, i+1)
		opts = append(opts, redistest.WithACLUser("u"+strconv.Itoa(i), "pw",
			append([]string{"~*", "resetchannels", "-@all"}, without...)...))
	}
	srv := redistest.Start(t, opts...)
	for i, r := range rules {
		if slices.Contains(clusterOnly, r) {
			continue
		}
		t.Run(r, func(t *testing.T) {
			for _, cmd := range [][]string{{"FLUSHDB"}, {"SCRIPT", "FLUSH"}, {"ACL", "LOG", "RESET"}} {
				if err := srv.Do(t, 1, cmd...).Error(); err != nil {
					t.Fatal(err)
				}
			}
			privilegeSteps(srv.URLAs("redis", "u"+strconv.Itoa(i), "pw", 1))
			log, err := srv.Do(t, 0, "ACL", "LOG", "128").ToArray()
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimPrefix(r, "+")
			var denied []string
			for _, entry := range log {
				m, err := entry.AsMap()
				if err != nil {
					t.Fatal(err)
				}
				o := m["object"]
				obj, _ := o.ToString()
				denied = append(denied, obj)
				if obj == want {
					return
				}
			}
			t.Errorf("nothing the engine ran needed %s (denied: %v): drop it from the list, or cover its use here", r, denied)
		})
	}
}

// privilegeSteps runs the operation families of aclWorkload plus a
// compaction, a session's details and a dump, ignoring every error (a
// missing privilege makes some fail).
func privilegeSteps(url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	noop := func(context.Context, uint64, []codec.Slice) error { return nil }
	e, err := meta.Open(ctx, url, meta.Options{Compact: noop})
	if err != nil {
		return
	}
	defer e.Close(ctx)
	f := &codec.Format{Name: "acl", UUID: "00000000-0000-0000-0000-00000000ac02", Storage: "file", BlockSize: 4096,
		MetaVersion: 1, DirStats: true, TrashDays: 1, UserGroupQuota: true, EnableACL: true, Tiers: map[uint8]codec.Tier{0: {}}}
	if e.Init(ctx, f, false) != nil || e.NewSession(ctx, true) != nil {
		return
	}
	d, _, _ := e.Mkdir(ctx, meta.RootInode, "ns", 0o755, 0)
	sub, _, _ := e.Mkdir(ctx, d, "sub", 0o755, 0)
	file, _, _ := e.Create(ctx, sub, "file", 0o644, 0, 0)
	e.Release(ctx, file)
	e.Link(ctx, file, d, "hardlink")
	e.Symlink(ctx, d, "symlink", "sub/file")
	e.SetXattr(ctx, file, "user.k", []byte("v"), 0)
	e.ListXattr(ctx, file)
	for i := range 4 {
		if id, err := e.NewSlice(ctx); err == nil {
			e.Write(ctx, file, 0, uint32(i)*4096, codec.Slice{ID: id, Size: 4096, Len: 4096}, time.Now())
		}
	}
	e.CompactChunk(ctx, file, 0)
	e.Rename(ctx, sub, "file", d, "moved", 0)
	e.Resolve(ctx, meta.RootInode, "ns/moved")
	e.Unlink(ctx, d, "hardlink", false)
	e.Rmdir(ctx, d, "sub", false)
	e.Readdir(ctx, d, true)
	e.Quotas().Set(ctx, codec.QuotaDir, "/ns", 1<<30, 1000, false, false)
	opts := mdtest.Options{Threads: 2, Dirs: 2, Depth: 1, Files: 3, Write: 1 << 20, Phases: mdtest.KnownPhases()}
	mdtest.Run(ctx, e, "/md", opts, nil, func(mdtest.Result) {})
	e.Remove(ctx, meta.RootInode, "md", true, 2, nil)
	e.GetSummary(ctx, meta.RootInode, true, true)
	future := time.Now().Add(48 * time.Hour)
	e.Cleanup().ExpireTrash(ctx, future, nil)
	e.Cleanup().PurgeDeletedFilesBefore(ctx, future, 100)
	e.Cleanup().ReleaseUnreferencedSlices(ctx)
	e.Cleanup().CleanStaleSessions(ctx)
	e.Inspect().Leaks(ctx)
	e.Cleanup().MigrateLegacyRefs(ctx, false)
	e.Inspect().Slices(ctx, meta.SliceScan{Pending: true})
	e.Inspect().Sessions(ctx)
	e.Inspect().Session(ctx, e.SID(), true)
	dump.Dump(ctx, e, io.Discard, dump.DumpOptions{})
	e.Inspect().KeyCount(ctx)
	e.Quotas().Check(ctx, codec.QuotaDir, "/ns", false, false)
	e.Sync(ctx)
	fsck.Recount(ctx, e.Client(), e.Keys(), fsck.Options{})
	e.Close(ctx)
	if ro, err := meta.Open(ctx, url, meta.Options{ReadOnly: true}); err == nil {
		if ro.NewSession(ctx, false) == nil {
			ro.Readdir(ctx, meta.RootInode, true)
		}
		ro.Close(ctx)
	}
}
