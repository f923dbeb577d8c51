package meta_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
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

// leastPrivileges are the Redis ACL rules the engine needs, command by
// command, as docs/deployments.md gives them (TestPrivilegesDocumented).
// Key patterns come on top: ~* for a standalone or Sentinel database,
// ~{DB}* in a Cluster.
var leastPrivileges = meta.LeastPrivileges()

// categoryPrivileges is the shorter, category-based grant of the docs.
var categoryPrivileges = []string{
	"-@all", "+@read", "+@write", "+@scripting", "+@transaction", "+@connection", "-@dangerous",
	"+info", "+client|tracking", "+client|caching", "+cluster|info", "+cluster|slots", "-script|flush", "-script|kill",
}

// TestACLUser runs a broad workload as a Redis ACL user holding exactly the
// documented privileges, checks that Redis denied nothing (ACL LOG), and
// that a missing privilege produces an error naming it.
func TestACLUser(t *testing.T) {
	t.Parallel()
	rules := func(extra ...string) []string { // a fresh slice each time
		return append(append([]string{"~*", "resetchannels"}, leastPrivileges...), extra...)
	}
	least := rules()
	cats := append([]string{"~*", "resetchannels"}, categoryPrivileges...)
	srv := redistest.Start(t,
		redistest.WithPassword("admin-pw"),
		redistest.WithACLUser("jfs", "jfs-pw", least...),
		redistest.WithACLUser("jfscat", "cat-pw", cats...),
		redistest.WithACLUser("noeval", "pw", rules("-evalsha", "-eval")...),
		redistest.WithACLUser("nohset", "pw", rules("-hset")...),
		redistest.WithACLUser("nohincrby", "pw", rules("-hincrby")...),
		redistest.WithACLUser("otherkeys", "pw", append([]string{"resetkeys", "~other*", "resetchannels"}, leastPrivileges...)...))

	for _, u := range []struct{ user, pass string }{{"jfs", "jfs-pw"}, {"jfscat", "cat-pw"}} {
		t.Run(u.user, func(t *testing.T) {
			db := map[string]int{"jfs": 1, "jfscat": 2}[u.user]
			aclWorkload(t, srv.URLAs("redis", u.user, u.pass, db))
			log, err := srv.Do(t, 0, "ACL", "LOG").ToAny()
			if err != nil {
				t.Fatal(err)
			}
			if entries, _ := log.([]any); len(entries) > 0 {
				t.Fatalf("Redis denied commands to %s: %v", u.user, log)
			}
		})
	}

	ctx := context.Background()
	t.Run("errors", func(t *testing.T) {
		admin := formatAt(t, srv.URL("redis", 4), meta.Options{})
		if _, _, err := admin.Mkdir(ctx, meta.RootInode, "d", 0o755, 0); err != nil {
			t.Fatal(err)
		}
		// A mutation denied: the error names the command to grant.
		e := openNoSession(t, srv.URLAs("redis", "noeval", "pw", 4), true)
		_, _, err := e.Mknod(ctx, meta.RootInode, "f", codec.TypeFile, 0o644, 0, 0)
		wantPermission(t, "mknod without +evalsha", err, "may not run EVAL", "+eval")
		// A command of the transaction scripts denied: found before the
		// first mutation, named with its grant.
		e = openNoSession(t, srv.URLAs("redis", "nohset", "pw", 4), true)
		_, _, err = e.Mknod(ctx, meta.RootInode, "f", codec.TypeFile, 0o644, 0, 0)
		wantPermission(t, "mknod without +hset", err, "may not run HSET", "+hset", "nothing was written")
		// Before, rmr failed mid-script (Redis does not undo a script's
		// writes) and left leaked inodes and wrong statistics.
		for i := range 20 {
			if _, _, err := admin.Mknod(ctx, dirIno(t, admin, "d"), "f"+strconv.Itoa(i), codec.TypeFile, 0o644, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		admin.Sync(ctx)
		before := dumpDB(t, srv, 4)
		e = openNoSession(t, srv.URLAs("redis", "nohincrby", "pw", 4), true)
		_, err = e.Remove(ctx, meta.RootInode, "d", true, 2, nil)
		wantPermission(t, "rmr without +hincrby", err, "may not run HINCRBY", "+hincrby", "nothing was written")
		if after := dumpDB(t, srv, 4); !maps.Equal(before, after) {
			t.Errorf("rmr refused for a missing privilege changed the keyspace")
		}
		// Keys outside the user's patterns.
		e = openNoSession(t, srv.URLAs("redis", "otherkeys", "pw", 4), false)
		_, err = e.Readdir(ctx, meta.RootInode, false)
		wantPermission(t, "keys outside ~other*", err, "may not access the volume's keys", "~*")
		if _, err := srv.Do(t, 0, "ACL", "LOG", "RESET").ToString(); err != nil {
			t.Fatal(err)
		}
	})
}

func dirIno(t *testing.T, e *meta.Engine, name string) meta.Ino {
	t.Helper()
	ino, _, err := e.Lookup(context.Background(), meta.RootInode, name)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

// dumpDB is every key of database db with its DUMP, the session keys left
// out.
func dumpDB(t *testing.T, srv *redistest.Server, db int) map[string]string {
	t.Helper()
	keys, err := srv.Do(t, db, "KEYS", "*").AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		if k == "allSessions" || k == "sessionInfos" || strings.HasPrefix(k, "lastCleanup") || strings.HasPrefix(k, "nextCleanup") {
			continue
		}
		d, err := srv.Do(t, db, "DUMP", k).ToString()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = d
	}
	return out
}

// openNoSession opens an engine at url without a session; with load it
// reads the volume's format (which mutations need).
func openNoSession(t *testing.T, url string, load bool) *meta.Engine {
	t.Helper()
	e, err := meta.Open(context.Background(), url, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	if _, err := e.Load(context.Background(), true); load && err != nil {
		t.Fatalf("load the format at %s: %v", url, err)
	}
	return e
}

func wantPermission(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
	t.Logf("%s: %v", what, err)
}

// aclWorkload runs aclOps at url and fails the test on the first error.
func aclWorkload(t *testing.T, url string) {
	t.Helper()
	aclOps(url, func(what string, err error) bool {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return true
	})
}

// aclOps exercises every family of keys and commands, on a volume it
// formats at url: session life, namespace operations with trash, xattrs,
// data and a compaction, quotas, mdtest, rmr, summaries, the cleanup jobs,
// gc, sessions, a dump, fsck's recount, closing, and a read-only client.
// Each step's error goes to check; the steps that later ones need stop
// the run when check returns false.
func aclOps(url string, check func(what string, err error) bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	noCompaction := func(context.Context, uint64, []codec.Slice) error { return nil }
	e, err := meta.Open(ctx, url, meta.Options{Compact: noCompaction})
	if !check("open", err) {
		return
	}
	defer e.Close(ctx)
	f := &codec.Format{Name: "acl", UUID: "00000000-0000-0000-0000-00000000ac01", Storage: "file", BlockSize: 4096,
		MetaVersion: 1, DirStats: true, TrashDays: 1, UserGroupQuota: true, EnableACL: true, Tiers: map[uint8]codec.Tier{0: {}}}
	if !check("format", e.Init(ctx, f, false)) || !check("session", e.NewSession(ctx, true)) {
		return
	}
	if !e.CacheEnabled() {
		check("client-side caching", errors.New("off"))
	}
	d, _, err := e.Mkdir(ctx, meta.RootInode, "ns", 0o755, 0)
	sub, _, err2 := e.Mkdir(ctx, d, "sub", 0o755, 0)
	file, _, err3 := e.Create(ctx, sub, "file", 0o644, 0, 0)
	if !check("mkdir and create", errors.Join(err, err2, err3)) {
		return
	}
	check("release", e.Release(ctx, file))
	_, err = e.Link(ctx, file, d, "hardlink")
	check("link", err)
	_, _, err = e.Symlink(ctx, d, "symlink", "sub/file")
	check("symlink", err)
	check("setxattr", e.SetXattr(ctx, file, "user.k", []byte("v"), 0))
	_, err = e.ListXattr(ctx, file)
	check("listxattr", err)
	for i := range 4 {
		id, err := e.NewSlice(ctx)
		if check("new slice", err) {
			check("write", e.Write(ctx, file, 0, uint32(i)*4096, codec.Slice{ID: id, Size: 4096, Len: 4096}, time.Now()))
		}
	}
	check("compact", e.CompactChunk(ctx, file, 0))
	_, _, err = e.Rename(ctx, sub, "file", d, "moved", 0)
	check("rename", err)
	_, _, err = e.Resolve(ctx, meta.RootInode, "ns/moved")
	check("resolve", err)
	check("unlink", e.Unlink(ctx, d, "hardlink", false))
	check("rmdir", e.Rmdir(ctx, d, "sub", false))
	_, err = e.Readdir(ctx, d, true)
	check("readdir", err)
	_, err = e.Quotas().Set(ctx, codec.QuotaDir, "/ns", 1<<30, 1000, false, false)
	check("set quota", err)
	opts := mdtest.Options{Threads: 2, Dirs: 2, Depth: 1, Files: 3, Write: 1 << 20, Phases: mdtest.KnownPhases()}
	check("mdtest", mdtest.Run(ctx, e, "/md", opts, nil, func(mdtest.Result) {}))
	_, err = e.Remove(ctx, meta.RootInode, "md", true, 2, nil)
	check("rmr", err)
	_, err = e.GetSummary(ctx, meta.RootInode, true, true)
	check("summary", err)
	future := time.Now().Add(48 * time.Hour)
	_, err = e.Cleanup().ExpireTrash(ctx, future, nil)
	check("trash cleanup", err)
	_, err = e.Cleanup().PurgeDeletedFilesBefore(ctx, future, 100)
	check("deleted files cleanup", err)
	_, err = e.Cleanup().ReleaseUnreferencedSlices(ctx)
	check("slice cleanup", err)
	e.Cleanup().CleanStaleSessions(ctx)
	_, err = e.Inspect().Leaks(ctx)
	check("gc leaks", err)
	_, err = e.Cleanup().MigrateLegacyRefs(ctx, false)
	check("gc legacy references", err)
	_, err = e.Inspect().Slices(ctx, meta.SliceScan{Pending: true})
	check("gc slices", err)
	_, err = e.Inspect().Sessions(ctx)
	check("sessions", err)
	_, err = e.Inspect().Session(ctx, e.SID(), true)
	check("session details", err)
	_, err = e.Inspect().KeyCount(ctx)
	check("key count", err)
	_, err = e.Quotas().Check(ctx, codec.QuotaDir, "/ns", false, false)
	check("quota check", err)
	check("dump", dump.Dump(ctx, e, io.Discard, dump.DumpOptions{}))
	e.Sync(ctx)
	rep, err := fsck.Recount(ctx, e.Client(), e.Keys(), fsck.Options{})
	if check("recount", err) && !rep.OK() {
		check("recount", fmt.Errorf("inconsistent:\n%s", rep))
	}
	check("close", e.Close(ctx))
	ro, err := meta.Open(ctx, url, meta.Options{ReadOnly: true})
	if !check("read-only open", err) {
		return
	}
	defer ro.Close(ctx)
	check("read-only session", ro.NewSession(ctx, false))
	_, err = ro.Readdir(ctx, meta.RootInode, true)
	check("read-only readdir", err)
}

// TestPrivilegesDocumented: the least-privilege grant docs/deployments.md
// shows is the engine's list, rule for rule.
func TestPrivilegesDocumented(t *testing.T) {
	b, err := os.ReadFile("../docs/deployments.md")
	if err != nil {
		t.Fatal(err)
	}
	const head = "ACL SETUSER jfs on >secret resetchannels -@all ~*"
	_, block, ok := strings.Cut(string(b), head)
	if !ok {
		t.Fatalf("docs/deployments.md shows no %q", head)
	}
	block, _, _ = strings.Cut(block, "```")
	documented := append([]string{"-@all"}, strings.Fields(block)...)
	if !slices.Equal(documented, leastPrivileges) {
		t.Errorf("docs/deployments.md grants\n%v\nthe engine needs\n%v", documented, leastPrivileges)
	}
}
