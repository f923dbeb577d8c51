package meta_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/mdtest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// leastPrivileges are the Redis ACL rules docs/deployments.md gives for the
// engine's user, command by command (keep both in sync). Key patterns come
// on top: ~* for a standalone or Sentinel database, ~{DB}* in a Cluster.
var leastPrivileges = []string{
	"-@all",
	// Connection set-up (rueidis; HELLO and AUTH need no grant) and the
	// server checks; CLUSTER INFO tells a Cluster node given as a single
	// address (JuiceFS's rule).
	"+ping", "+select", "+info", "+client|tracking", "+client|caching", "+cluster|info",
	// Cluster only: topology, replica reads (route-read), and the ASKING
	// that precedes a command sent after an ASK redirection while the
	// volume's slot is being migrated.
	"+cluster|slots", "+readonly", "+asking",
	// Every mutation is a script; read-only path resolution is one too.
	"+evalsha", "+eval", "+evalsha_ro", "+eval_ro",
	// Reads.
	"+get", "+mget", "+exists", "+hget", "+hmget", "+hgetall", "+hkeys", "+hlen", "+hexists", "+hscan",
	"+lrange", "+llen", "+smembers", "+zrange", "+zrangebyscore", "+zscore", "+scan", "+dbsize",
	// Writes, inside scripts and outside them (counters, format, cleanup).
	"+set", "+del", "+incr", "+incrby", "+decrby", "+hset", "+hsetnx", "+hdel", "+hincrby",
	"+rpush", "+rpushx", "+sadd", "+srem", "+zadd", "+zrem", "+multi", "+exec",
}

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
		// A command inside the transaction script denied: the error lists the
		// commands the script was about to run.
		e = openNoSession(t, srv.URLAs("redis", "nohset", "pw", 4), true)
		_, _, err = e.Mknod(ctx, meta.RootInode, "f", codec.TypeFile, 0o644, 0, 0)
		wantPermission(t, "mknod without +hset", err, "may not run one of", "HSET")
		// Keys outside the user's patterns.
		e = openNoSession(t, srv.URLAs("redis", "otherkeys", "pw", 4), false)
		_, err = e.Readdir(ctx, meta.RootInode, false)
		wantPermission(t, "keys outside ~other*", err, "may not access the volume's keys", "~*")
		if _, err := srv.Do(t, 0, "ACL", "LOG", "RESET").ToString(); err != nil {
			t.Fatal(err)
		}
	})
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

// aclWorkload exercises every family of keys and commands: format, session
// life, namespace operations with trash, xattrs, data, quotas, mdtest, the
// cleanup jobs, gc, summaries, fsck, and closing.
func aclWorkload(t *testing.T, url string) {
	ctx := context.Background()
	e, err := meta.Open(ctx, url, meta.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	f := &codec.Format{Name: "acl", UUID: "00000000-0000-0000-0000-00000000ac01", Storage: "file", BlockSize: 4096,
		MetaVersion: 1, DirStats: true, TrashDays: 1, UserGroupQuota: true, EnableACL: true, Tiers: map[uint8]codec.Tier{0: {}}}
	if err := e.Init(ctx, f, false); err != nil {
		t.Fatalf("format: %v", err)
	}
	if err := e.NewSession(ctx, true); err != nil {
		t.Fatalf("session: %v", err)
	}
	if !e.CacheEnabled() {
		t.Fatal("client-side caching is off")
	}
	namespaceOps(t, e, "ns")
	if _, err := e.Quotas().Set(ctx, codec.QuotaDir, "/ns", 1<<30, 1000, false, false); err != nil {
		t.Fatalf("set quota: %v", err)
	}
	opts := mdtest.Options{Threads: 2, Dirs: 2, Depth: 1, Files: 3, Write: 1 << 20, Phases: mdtest.KnownPhases()}
	if err := mdtest.Run(ctx, e, "/md", opts, nil, func(mdtest.Result) {}); err != nil {
		t.Fatalf("mdtest: %v", err)
	}
	if _, err := e.Remove(ctx, meta.RootInode, "md", true, 2, nil); err != nil {
		t.Fatalf("rmr: %v", err)
	}
	if _, err := e.GetSummary(ctx, meta.RootInode, true, true); err != nil {
		t.Fatalf("summary: %v", err)
	}
	future := time.Now().Add(48 * time.Hour)
	if _, err := e.Cleanup().ExpireTrash(ctx, future, nil); err != nil {
		t.Fatalf("trash cleanup: %v", err)
	}
	if _, err := e.Cleanup().PurgeDeletedFilesBefore(ctx, future, 100); err != nil {
		t.Fatalf("deleted files cleanup: %v", err)
	}
	if _, err := e.Cleanup().ReleaseUnreferencedSlices(ctx); err != nil {
		t.Fatalf("slice cleanup: %v", err)
	}
	e.Cleanup().CleanStaleSessions(ctx)
	if _, err := e.Inspect().Leaks(ctx); err != nil {
		t.Fatalf("gc leaks: %v", err)
	}
	if _, err := e.Cleanup().MigrateLegacyRefs(ctx, false); err != nil {
		t.Fatalf("gc legacy references: %v", err)
	}
	if _, err := e.Inspect().Slices(ctx, meta.SliceScan{Pending: true}); err != nil {
		t.Fatalf("gc slices: %v", err)
	}
	if _, err := e.Inspect().Sessions(ctx); err != nil {
		t.Fatalf("sessions: %v", err)
	}
	if _, err := e.Inspect().KeyCount(ctx); err != nil {
		t.Fatalf("key count: %v", err)
	}
	if _, err := e.Quotas().Check(ctx, codec.QuotaDir, "/ns", false, false); err != nil {
		t.Fatalf("quota check: %v", err)
	}
	e.Sync(ctx)
	rep, err := fsck.Recount(ctx, e.Client(), e.Keys(), fsck.Options{})
	if err != nil || !rep.OK() {
		t.Fatalf("recount: %v\n%s", err, rep)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	ro, err := meta.Open(ctx, url, meta.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	defer ro.Close(ctx)
	if err := ro.NewSession(ctx, false); err != nil {
		t.Fatalf("read-only session: %v", err)
	}
	if _, err := ro.Readdir(ctx, meta.RootInode, true); err != nil {
		t.Fatalf("read-only readdir: %v", err)
	}
}
