package meta_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/meta"
)

// fillUntil creates files in dir as ctx's caller until the quota refuses
// one; it returns how many were created.
func fillUntil(t *testing.T, e *meta.Engine, ctx context.Context, dir meta.Ino, prefix string, max int) int {
	t.Helper()
	for i := 0; i < max; i++ {
		_, _, err := e.Mknod(ctx, dir, fmt.Sprintf("%s%d", prefix, i), codec.TypeFile, 0o644, 0, 0)
		if errors.Is(err, syscall.EDQUOT) {
			return i
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("no EDQUOT after %d files", max)
	return max
}

func TestDirQuota(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	ctx := context.Background()
	q, _, err := e.Mkdir(ctx, meta.RootInode, "q", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub, _, err := e.Mkdir(ctx, q, "sub", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := e.Mknod(ctx, sub, fmt.Sprintf("f%d", i), codec.TypeFile, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.Quotas().Set(ctx, meta.QuotaDir, "/q", -1, 10, false, false)
	if err != nil {
		t.Fatal(err)
	}
	want := meta.Quota{MaxSpace: -1, MaxInodes: 10, UsedSpace: 4 * 4096, UsedInodes: 4}
	if got != want {
		t.Fatalf("set quota: %+v, want %+v", got, want)
	}
	// Enforced at once: 6 more inodes fit below /q, wherever they go.
	if n := fillUntil(t, e, ctx, sub, "more", 100); n != 6 {
		t.Fatalf("created %d files before EDQUOT, want 6", n)
	}
	if _, _, err := e.Mkdir(ctx, q, "late", 0o755, 0); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("mkdir over the quota: %v", err)
	}
	if _, _, err := e.Mknod(ctx, meta.RootInode, "outside", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatalf("create outside the quota: %v", err)
	}
	// Another client enforces it too (it loads quotas with its session).
	e.FlushStats(ctx)
	other := v.open(meta.Options{})
	if _, _, err := other.Mknod(ctx, q, "other", codec.TypeFile, 0o644, 0, 0); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("create over the quota from another client: %v", err)
	}
	// Raise the space limit only: the inode limit is kept.
	if got, err = e.Quotas().Set(ctx, meta.QuotaDir, "/q", 1<<30, -1, false, false); err != nil || got.MaxInodes != 10 || got.MaxSpace != 1<<30 {
		t.Fatalf("update quota: %+v %v", got, err)
	}
	e.FlushStats(ctx)
	if g, err := e.Quotas().Get(ctx, meta.QuotaDir, "/q"); err != nil || g == nil || g.UsedInodes != 10 || g.UsedSpace != 10*4096 {
		t.Fatalf("get quota: %+v %v", g, err)
	}
	list, err := e.Quotas().List(ctx, meta.QuotaAll, "")
	if err != nil || len(list) != 1 || list["/q"].MaxInodes != 10 {
		t.Fatalf("list quotas: %v %v", list, err)
	}
	res, err := e.Quotas().Check(ctx, meta.QuotaDir, "/q", true, false)
	if err != nil || len(res.Mismatches) != 0 || res.Quotas["/q"].UsedInodes != 10 {
		t.Fatalf("check quota: %+v %v", res, err)
	}
	// Damage the usage: check reports it, repair fixes it.
	v.do("HSET", e.Keys().DirQuotaUsedInodes(), q.String(), "3")
	res, err = e.Quotas().Check(ctx, meta.QuotaDir, "/q", false, false)
	if !errors.Is(err, meta.ErrQuotaInconsistent) || len(res.Mismatches) != 1 || res.Mismatches[0].Actual.Inodes != 10 {
		t.Fatalf("check of a damaged quota: %+v %v", res, err)
	}
	if res, err = e.Quotas().Check(ctx, meta.QuotaDir, "/q", true, true); err != nil || !res.Repaired {
		t.Fatalf("repair: %+v %v", res, err)
	}
	if res, err = e.Quotas().Check(ctx, meta.QuotaDir, "/q", true, false); err != nil {
		t.Fatalf("check after repair: %+v %v", res, err)
	}
	if err := e.Quotas().Delete(ctx, meta.QuotaDir, "/q"); err != nil {
		t.Fatal(err)
	}
	if g, err := e.Quotas().Get(ctx, meta.QuotaDir, "/q"); err != nil || g != nil {
		t.Fatalf("quota after delete: %+v %v", g, err)
	}
	if _, _, err := e.Mkdir(ctx, q, "late", 0o755, 0); err != nil {
		t.Fatalf("mkdir after the quota was deleted: %v", err)
	}
	if _, err := e.Quotas().Check(ctx, meta.QuotaDir, "/q", false, false); err == nil {
		t.Fatal("check of a deleted quota succeeded")
	}
}

func TestDirQuotaPaths(t *testing.T) {
	v := newVolume(t, 1)
	e := v.e
	ctx := meta.WithCaller(context.Background(), meta.Caller{Uid: 0, Gids: []uint32{0}, Umask: 0o022})
	if _, err := e.Quotas().Set(ctx, meta.QuotaDir, "/a/b/c", 4096*5, -1, true, false); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("missing path without create: %v", err)
	}
	got, err := e.Quotas().Set(ctx, meta.QuotaDir, "/a/b/c", 4096*5, -1, true, true)
	if err != nil || got.UsedInodes != 0 || got.MaxSpace != 4096*5 {
		t.Fatalf("set with create: %+v %v", got, err)
	}
	ino, a, err := e.Resolve(ctx, meta.RootInode, "/a/b/c")
	if err != nil || a.Mode != 0o755 {
		t.Fatalf("created directory: %+v %v", a, err)
	}
	if n := fillUntil(t, e, ctx, ino, "f", 100); n != 5 {
		t.Fatalf("created %d files, want 5", n)
	}
	for _, p := range []string{"/.trash", "/a/b/c/f0"} {
		if _, err := e.Quotas().Set(ctx, meta.QuotaDir, p, 1, 1, false, false); err == nil {
			t.Fatalf("quota on %s accepted", p)
		}
	}
	if _, err := e.Quotas().Set(ctx, meta.QuotaUser, "abc", 1, 1, false, false); err == nil {
		t.Fatal("non-numeric uid accepted")
	}
	// A path is listed by its first path; an unreachable quota by inode.
	list, err := e.Quotas().List(ctx, meta.QuotaDir, "/a/b/c")
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, ok := list["/a/b/c"]; !ok {
		t.Fatalf("list keys: %v", list)
	}
}

func TestDirQuotaTurnsOnDirStats(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	ctx := context.Background()
	f := *e.Format()
	f.DirStats = false
	if err := e.Init(ctx, &f, false); err != nil {
		t.Fatal(err)
	}
	d, _, err := e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Mknod(ctx, d, "x", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	got, err := e.Quotas().Set(ctx, meta.QuotaDir, "/d", -1, 2, false, false)
	if err != nil || !e.Format().DirStats || got.UsedInodes != 1 {
		t.Fatalf("set: %+v %v (DirStats %v)", got, err, e.Format().DirStats)
	}
	if n := fillUntil(t, e, ctx, d, "y", 10); n != 1 {
		t.Fatalf("created %d, want 1", n)
	}
}

func TestUserGroupQuota(t *testing.T) {
	v := newVolume(t, 1)
	e := v.e
	ctx := context.Background()
	alice := meta.WithCaller(ctx, meta.Caller{Uid: 1000, Gids: []uint32{500}})
	bob := meta.WithCaller(ctx, meta.Caller{Uid: 1001, Gids: []uint32{500}})
	pub, _, err := e.Mkdir(ctx, meta.RootInode, "pub", 0o777, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := e.Mknod(alice, pub, fmt.Sprintf("a%d", i), codec.TypeFile, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.Mkdir(bob, pub, "bobdir", 0o755, 0); err != nil {
		t.Fatal(err)
	}
	// Turning user quotas on scans every owner's usage.
	got, err := e.Quotas().Set(ctx, meta.QuotaUser, "1000", -1, 5, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Format().UserGroupQuota || got != (meta.Quota{MaxSpace: -1, MaxInodes: 5, UsedSpace: 3 * 4096, UsedInodes: 3}) {
		t.Fatalf("set user quota: %+v (UserGroupQuota %v)", got, e.Format().UserGroupQuota)
	}
	if g, err := e.Quotas().Get(ctx, meta.QuotaGroup, "500"); err != nil || g == nil || g.UsedInodes != 4 || g.MaxInodes != -1 {
		t.Fatalf("scanned group usage: %+v %v", g, err)
	}
	if n := fillUntil(t, e, alice, pub, "more", 100); n != 2 {
		t.Fatalf("alice created %d more files, want 2", n)
	}
	if _, _, err := e.Mknod(bob, pub, "bobfile", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatalf("bob is not limited: %v", err)
	}
	// A group limit binds both.
	if _, err := e.Quotas().Set(ctx, meta.QuotaGroup, "500", -1, 8, false, false); err != nil {
		t.Fatal(err)
	}
	if n := fillUntil(t, e, bob, pub, "b", 100); n != 1 {
		t.Fatalf("bob created %d files under the group limit, want 1", n)
	}
	list, err := e.Quotas().List(ctx, meta.QuotaAll, "")
	if err != nil || len(list) != 2 || list["uid:1000"].MaxInodes != 5 || list["gid:500"].MaxInodes != 8 {
		t.Fatalf("list: %v %v", list, err)
	}
	if only, err := e.Quotas().List(ctx, meta.QuotaGroup, "500"); err != nil || len(only) != 1 {
		t.Fatalf("list of one group: %v %v", only, err)
	}
	res, err := e.Quotas().Check(ctx, meta.QuotaUser, "", false, false)
	if err != nil || len(res.Mismatches) != 0 {
		t.Fatalf("check: %+v %v", res, err)
	}
	// Damage, check, repair.
	v.do("HSET", e.Keys().UserQuotaUsedSpace(), "1000", "1")
	v.do("HSET", e.Keys().GroupQuotaUsedInodes(), "77", "3")
	v.do("HSET", e.Keys().GroupQuotaUsedSpace(), "77", "0")
	res, err = e.Quotas().Check(ctx, meta.QuotaUser, "", false, false)
	if !errors.Is(err, meta.ErrQuotaInconsistent) || len(res.Mismatches) != 2 {
		t.Fatalf("check of damaged usage: %+v %v", res, err)
	}
	if res, err = e.Quotas().Check(ctx, meta.QuotaGroup, "", false, true); err != nil || !res.Repaired {
		t.Fatalf("repair: %+v %v", res, err)
	}
	if res, err = e.Quotas().Check(ctx, meta.QuotaUser, "", false, false); err != nil {
		t.Fatalf("check after repair: %+v %v", res, err)
	}
	// Deleting a user quota lifts the limit but keeps the usage.
	if err := e.Quotas().Delete(ctx, meta.QuotaUser, "1000"); err != nil {
		t.Fatal(err)
	}
	g, err := e.Quotas().Get(ctx, meta.QuotaUser, "1000")
	if err != nil || g == nil || g.MaxInodes != -1 || g.UsedInodes != 5 {
		t.Fatalf("after delete: %+v %v", g, err)
	}
	if list, _ := e.Quotas().List(ctx, meta.QuotaAll, ""); len(list) != 1 {
		t.Fatalf("list after delete: %v", list)
	}
	if err := e.Quotas().Delete(ctx, meta.QuotaGroup, "500"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Mknod(alice, pub, "free", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatalf("create after the limits were lifted: %v", err)
	}
}

// quotaRow is one row of a `juicefs quota` table.
type quotaRow struct{ key, size, used, inodes, iused string }

// readQuotaTables parses quota.txt: the rows of the table printed after each
// command line, keyed by the command.
func readQuotaTables(t *testing.T, path string) map[string][]quotaRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]quotaRow{}
	cmd := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "$ ") {
			cmd = strings.TrimPrefix(line, "$ ")
			continue
		}
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 7 || cells[1] == "Size" {
			continue
		}
		out[cmd] = append(out[cmd], quotaRow{cells[0], cells[1], cells[2], cells[4], cells[5]})
	}
	return out
}

// ibytes formats like the tables (go-humanize IBytes).
func ibytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n) / 1024
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.0f %s", f, units[i])
}

func quotaRowOf(key string, q meta.Quota) quotaRow {
	return quotaRow{key, ibytes(q.MaxSpace), ibytes(q.UsedSpace), strconv.FormatInt(q.MaxInodes, 10), strconv.FormatInt(q.UsedInodes, 10)}
}

func TestQuotaFixture(t *testing.T) {
	e, _, _ := loadFixtureWith(t, "acl-quota", meta.Options{ReadOnly: true})
	ctx := context.Background()
	tables := readQuotaTables(t, fixtures.Path("acl-quota", "quota.txt"))
	if len(tables) != 5 {
		t.Fatalf("parsed %d tables from quota.txt", len(tables))
	}
	list, err := e.Quotas().List(ctx, meta.QuotaAll, "")
	if err != nil {
		t.Fatal(err)
	}
	for cmd, rows := range tables {
		for _, want := range rows {
			var q meta.Quota
			var ok bool
			switch {
			case strings.Contains(cmd, "quota list"):
				q, ok = list[want.key]
			case strings.Contains(cmd, "quota get"):
				var g *meta.Quota
				if g, err = e.Quotas().Get(ctx, meta.QuotaDir, want.key); err != nil {
					t.Fatal(err)
				}
				if ok = g != nil; ok {
					q = *g
				}
			case strings.Contains(cmd, "quota check"):
				res, err := e.Quotas().Check(ctx, meta.QuotaDir, want.key, strings.Contains(cmd, "--strict"), false)
				if err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				q, ok = res.Quotas[want.key]
			}
			if !ok {
				t.Fatalf("%s: no quota %s", cmd, want.key)
			}
			if got := quotaRowOf(want.key, q); got != want {
				t.Errorf("%s:\n got %+v\nwant %+v", cmd, got, want)
			}
		}
	}
	if len(list) != len(tables["juicefs quota list redis://127.0.0.1:6401/2"]) {
		t.Errorf("listed %d quotas: %v", len(list), list)
	}
}
