package meta_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/faulttest"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/mdtest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestCluster runs a volume on a Redis Cluster of three masters with one
// replica each, as JuiceFS lays it out: every key carries the hash tag {DB},
// so the whole volume lives in one slot, on one master. The subtests share
// the cluster and run in order; the last one kills the slot's master.
func TestCluster(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	// The volume's client is an ACL user with the documented least
	// privileges and only the volume's keys (~{7}*), plus the legacy session
	// list, which has no prefix (the stale-session cleanup reads it).
	rules := append([]string{"~{7}*", "~sessions", "resetchannels"}, leastPrivileges...)
	c := redistest.StartCluster(t, 3, 1, redistest.WithACLUser("jfs", "jfs-pw", rules...))
	t.Logf("3+3 cluster ready in %v", time.Since(begin))
	url := "redis://jfs:jfs-pw@" + strings.Join(c.Addrs(), ",") + "/7"
	slot := c.Slot(t, "{7}setting")
	e := formatAt(t, url, meta.Options{})
	if !e.Conn().Cluster || e.Keys().Prefix() != "{7}" {
		t.Fatalf("cluster %v, prefix %q", e.Conn().Cluster, e.Keys().Prefix())
	}

	t.Run("volume", func(t *testing.T) { clusterVolume(t, c, url, e, slot) })
	t.Run("official-volume", func(t *testing.T) { clusterOfficialVolume(t, c) })
	t.Run("replica-reads", func(t *testing.T) { clusterReplicaReads(t, c, url, e, slot) })
	t.Run("ask-redirect", func(t *testing.T) { clusterAskRedirect(t, c, url, slot) })
	t.Run("reshard", func(t *testing.T) { clusterReshard(t, c, url, e, slot) })
	t.Run("failover", func(t *testing.T) { clusterFailover(t, c, url, e, slot) })
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		if log, err := n.Do(t, 0, "ACL", "LOG").ToAny(); err != nil {
			t.Fatal(err)
		} else if entries, _ := log.([]any); len(entries) > 0 {
			t.Fatalf("%s denied commands to the engine's ACL user: %v", n.Addr, log)
		}
	}
}

// clusterVolume: format, namespace operations and mdtest; all keys in the
// volume's slot on its master; scripts run there; a single-address URL is
// recognised as the same cluster and volume; the volume is consistent.
func clusterVolume(t *testing.T, c *redistest.Cluster, url string, e *meta.Engine, slot int) {
	ctx := context.Background()
	master := c.MasterOfSlot(t, slot)
	before := commandCalls(t, master)
	namespaceOps(t, e, "ns")
	opts := mdtest.Options{Threads: 2, Dirs: 2, Depth: 2, Files: 5, Write: 1 << 20, Phases: []string{"stat", "readdir", "rename"}}
	err := mdtest.Run(ctx, e, "/md", opts, nil, func(mdtest.Result) {})
	if err != nil {
		t.Fatalf("mdtest: %v", err)
	}

	// JuiceFS's rule: one address of a cluster node means Cluster mode, with
	// the same {DB} prefix, hence the same volume.
	single := openAt(t, "redis://jfs:jfs-pw@"+c.Nodes[1].Addr+"/7", meta.Options{NoBackgroundJobs: true})
	if !single.Conn().Cluster || single.Keys().Prefix() != "{7}" {
		t.Fatalf("single address: cluster %v, prefix %q", single.Conn().Cluster, single.Keys().Prefix())
	}
	// A fresh client resolves with the server-side script (nothing cached).
	if ino, _, err := single.Resolve(ctx, meta.RootInode, "md/test-dir.0-0/mdtest_tree.0/mdtest_tree.1"); err != nil || ino == 0 {
		t.Fatalf("resolve through a single-address client: %d %v", ino, err)
	}

	// The session jobs also read the legacy, unprefixed session list.
	e.Cleanup().CleanStaleSessions(ctx)
	if _, err := e.Inspect().Sessions(ctx); err != nil {
		t.Fatalf("list sessions: %v", err)
	}
	n, err := e.Inspect().KeyCount(ctx)
	if err != nil || n < 50 {
		t.Fatalf("KeyCount %d %v", n, err)
	}
	inSlot, err := master.Do(t, 0, "CLUSTER", "COUNTKEYSINSLOT", strconv.Itoa(slot)).AsInt64()
	if err != nil || inSlot != n {
		t.Fatalf("slot %d holds %d keys (%v), the volume %d", slot, inSlot, err, n)
	}
	for _, m := range c.Masters(t) {
		keys, err := m.Do(t, 0, "KEYS", "*").AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if m != master || !strings.HasPrefix(k, "{7}") {
				t.Fatalf("key %q on %s (the volume's slot %d is on %s)", k, m.Addr, slot, master.Addr)
			}
		}
	}
	after := commandCalls(t, master)
	if after["evalsha"]+after["eval"] <= before["evalsha"]+before["eval"] || after["evalsha_ro"]+after["eval_ro"] <= before["evalsha_ro"]+before["eval_ro"] {
		t.Fatalf("the slot's master ran no transaction or resolve script: before %v after %v", before, after)
	}
	// A failover in a Cluster may pass unseen (rueidis follows MOVED): every
	// transaction script makes sure its marker hash expires.
	if after["pttl"]-before["pttl"] < 10 {
		t.Fatalf("the transactions asked their marker hash's PTTL %d times", after["pttl"]-before["pttl"])
	}
	recount(t, e, single)
}

// clusterOfficialVolume loads a volume the official client made, with the
// keys prefixed {9} as JuiceFS lays out database 9 in a Cluster, and reads
// it through a Cluster URL of database 9: same paths, inodes and attributes
// as the official client's mount showed, and a clean recount.
func clusterOfficialVolume(t *testing.T, c *redistest.Cluster) {
	if _, err := fixtures.LoadVolume(bg, c.Client(t), "basic", "{9}"); err != nil {
		t.Fatal(err)
	}
	e := openAt(t, c.URL("redis", 9), meta.Options{NoBackgroundJobs: true})
	if e.Keys().Prefix() != "{9}" {
		t.Fatalf("prefix %q", e.Keys().Prefix())
	}
	for _, me := range readManifest(t, "basic").Entries {
		p := me.rawPath(t)
		if p == "." {
			p = ""
		}
		ino, a, err := e.Resolve(bg, meta.RootInode, p)
		if err != nil {
			t.Errorf("%s: %v", me.Path, err)
			continue
		}
		compareAttr(t, e, &me, ino, &a)
	}
	recount(t, e)
}

// replicasOf returns the running replicas of master.
func replicasOf(t *testing.T, c *redistest.Cluster, master *redistest.Server) []*redistest.Server {
	t.Helper()
	var out []*redistest.Server
	for _, n := range c.Nodes {
		if n.Running() && n.Info(t, "replication", "role") == "slave" && n.Info(t, "replication", "master_port") == strconv.Itoa(master.Port()) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no running replica", master.Addr)
	}
	return out
}

// clusterReplicaReads: a read-only client with route-read=replica reads from
// the slot's replica, with client-side caching kept coherent by the
// replica's invalidations; a writable client ignores route-read.
func clusterReplicaReads(t *testing.T, c *redistest.Cluster, url string, e *meta.Engine, slot int) {
	ctx := context.Background()
	master := c.MasterOfSlot(t, slot)
	replica := replicasOf(t, c, master)[0]
	d, _, err := e.Mkdir(ctx, meta.RootInode, "rr", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := e.Mknod(ctx, d, "f", 1, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	master.WaitReplicas(t, 1)
	quiet := meta.Options{NoBackgroundJobs: true, Heartbeat: time.Hour}
	// Redis 7.0 lists a replica in CLUSTER SLOTS only once a node has heard
	// (through the cluster bus) that it replicated something; the client
	// below learns the topology from any node.
	voltest.Eventually(t, 30*time.Second, "every node lists the slot's replica in CLUSTER SLOTS", func() error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			text := fmt.Sprint(n.Do(t, 0, "CLUSTER", "SLOTS").ToAny())
			if !strings.Contains(text, strconv.Itoa(replica.Port())) {
				return fmt.Errorf("CLUSTER SLOTS on %s: %s", n.Addr, text)
			}
		}
		return nil
	})

	// A writable client ignores route-read: reads go to the master.
	rw := openAt(t, url+"?route-read=replica", quiet)
	beforeRW := readCalls(commandCalls(t, replica))
	if _, _, err := rw.Resolve(ctx, meta.RootInode, "rr/f"); err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Readdir(ctx, d, true); err != nil {
		t.Fatal(err)
	}
	if got := readCalls(commandCalls(t, replica)); got != beforeRW {
		t.Fatalf("a writable client with route-read=replica sent %d reads to the replica", got-beforeRW)
	}

	roOpts := quiet
	roOpts.ReadOnly = true
	ro := openAt(t, url+"?route-read=replica", roOpts)
	before := readCalls(commandCalls(t, replica))
	if ino, _, err := ro.Resolve(ctx, meta.RootInode, "rr/f"); err != nil || ino != f {
		t.Fatalf("read-only resolve: %d %v", ino, err)
	}
	if _, err := ro.Readdir(ctx, d, true); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.GetAttr(ctx, f); err != nil {
		t.Fatal(err)
	}
	if got := readCalls(commandCalls(t, replica)); got <= before {
		var b strings.Builder
		for _, n := range c.Nodes {
			if n.Running() {
				fmt.Fprintf(&b, "\n%s %s: %v", n.Addr, n.Info(t, "replication", "role"), commandCalls(t, n))
			}
		}
		t.Fatalf("the read-only client with route-read=replica sent no read to the replica %s (master %s):%s", replica.Addr, master.Addr, b.String())
	}
	if _, _, err := ro.Mknod(ctx, d, "g", 1, 0o644, 0, 0); err == nil {
		t.Fatal("a read-only client wrote")
	}

	// random and latency route reads too (master or replica; the master).
	for _, rr := range []string{"random", "latency"} {
		other := openAt(t, url+"?route-read="+rr, roOpts)
		if ino, _, err := other.Resolve(ctx, meta.RootInode, "rr/f"); err != nil || ino != f {
			t.Fatalf("route-read=%s: resolve %d %v", rr, ino, err)
		}
		other.Close(ctx)
	}

	// Cached reads from the replica are invalidated when the replica
	// applies the master's writes.
	hits := ro.CacheStats().Hits
	if _, err := ro.GetAttr(ctx, f); err != nil {
		t.Fatal(err)
	}
	if ro.CacheStats().Hits == hits {
		t.Fatal("the second read of an attribute from the replica was not a cache hit")
	}
	inval := ro.CacheStats().Invalidations
	chmod(t, e, f, 0o600)
	voltest.Eventually(t, 10*time.Second, "the replica reader sees the master's chmod", modeIs(ro, f, 0o600))
	if ro.CacheStats().Invalidations == inval {
		t.Fatal("the change was seen without an invalidation from the replica")
	}
	chmod(t, e, f, 0o640)
	voltest.Eventually(t, 10*time.Second, "the replica reader sees a second chmod", modeIs(ro, f, 0o640))
}

// clusterReshard moves the volume's slot to another master while a
// workload runs: rueidis follows MOVED and ASK, the engine sends mutations
// refused with TRYAGAIN again, nothing acknowledged is lost, and cached
// reads stay coherent.
func clusterReshard(t *testing.T, c *redistest.Cluster, url string, e *meta.Engine, slot int) {
	ctx := context.Background()
	reader := openAt(t, url, meta.Options{NoBackgroundJobs: true})
	d, _, err := e.Mkdir(ctx, meta.RootInode, "reshard-probe", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := e.Mknod(ctx, d, "f", 1, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.GetAttr(ctx, f); err != nil { // cached, on the old master's connection
		t.Fatal(err)
	}

	w, err := faulttest.Start(ctx, e, "reshard", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if !w.WaitProgress(100, 30*time.Second) {
		t.Fatalf("the workload made no progress before the migration: %v", w.Errors())
	}
	from := c.MasterOfSlot(t, slot)
	to := c.OtherMaster(t, from)
	// A client without cache resolves paths with the server-side script on
	// every call; during the migration the script is answered TRYAGAIN and
	// the engine falls back to lookups.
	uncached := openAt(t, url+"?client-cache=false", meta.Options{NoBackgroundJobs: true})
	stop, running := make(chan struct{}), make(chan struct{})
	resolved := make(chan error, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				resolved <- nil
				return
			default:
			}
			if n == 1 {
				close(running)
			}
			ino, _, err := uncached.Resolve(ctx, meta.RootInode, "reshard-probe/f")
			if err == nil && ino != f {
				err = fmt.Errorf("resolved inode %d, want %d", ino, f)
			}
			if err != nil {
				resolved <- fmt.Errorf("resolve during the migration (after %d): %w", n, err)
				return
			}
			n++
		}
	}()
	select {
	case <-running:
	case err := <-resolved:
		t.Fatal(err)
	}
	retries := e.TxStats().Retries
	begin := time.Now()
	c.MigrateSlot(t, slot, to, 5, 2*time.Millisecond)
	t.Logf("slot %d migrated from %s to %s in %v, %d keys", slot, from.Addr, to.Addr, time.Since(begin),
		mustInt(t, to.Do(t, 0, "CLUSTER", "COUNTKEYSINSLOT", strconv.Itoa(slot))))
	close(stop)
	if err := <-resolved; err != nil {
		t.Error(err)
	}
	if !w.WaitProgress(100, 30*time.Second) {
		t.Fatalf("the workload made no progress after the migration: %v", w.Errors())
	}
	w.Stop()
	t.Logf("workload: %d operations, %d failed, %d mutations sent again", w.Succeeded(), w.Failed(), e.TxStats().Retries-retries)
	if errs := w.Errors(); len(errs) > 0 {
		t.Errorf("operations failed during the migration: %v", errs)
	}
	if v := w.Violations(); len(v) > 0 {
		t.Errorf("reads contradicting acknowledged operations: %v", v)
	}
	fresh := openAt(t, url, meta.Options{NoBackgroundJobs: true})
	rep, err := w.Check(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Lost) > 0 {
		t.Fatalf("acknowledged operations lost: %v", rep.Lost)
	}
	t.Logf("%d names checked, %d unknown", rep.Checked, rep.Unknown)

	// The reader's entry from the old master was invalidated by MIGRATE;
	// what it caches now comes from the new master and is invalidated there.
	chmod(t, e, f, 0o600)
	voltest.Eventually(t, 10*time.Second, "the reader sees a chmod made after the migration", modeIs(reader, f, 0o600))
	chmod(t, e, f, 0o640)
	voltest.Eventually(t, 10*time.Second, "the reader sees a second chmod", modeIs(reader, f, 0o640))
	recount(t, e, reader)
}

// clusterFailover kills the master of the volume's slot: clients follow the
// promoted replica, cached values from the dead connection are never served
// afterwards, and invalidation works on the new master.
func clusterFailover(t *testing.T, c *redistest.Cluster, url string, e *meta.Engine, slot int) {
	ctx := context.Background()
	reader := openAt(t, url, meta.Options{NoBackgroundJobs: true})
	d, _, err := e.Mkdir(ctx, meta.RootInode, "failover", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := e.Mknod(ctx, d, "f", 1, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := modeIs(reader, f, 0o644)(); err != nil { // cached
		t.Fatal(err)
	}
	old := c.MasterOfSlot(t, slot)
	old.WaitReplicas(t, 1)
	begin := time.Now()
	promoted := c.Failover(t, slot)
	t.Logf("failover of slot %d: %s -> %s in %v", slot, old.Addr, promoted.Addr, time.Since(begin))

	// The first write after the failover: the engine sends it again until
	// the cluster has settled (CLUSTERDOWN, broken connection, MOVED).
	begin = time.Now()
	chmod(t, e, f, 0o600)
	t.Logf("first write after the failover took %v", time.Since(begin))
	voltest.Eventually(t, 10*time.Second, "the reader sees the first chmod after the failover", modeIs(reader, f, 0o600))
	chmod(t, e, f, 0o640)
	voltest.Eventually(t, 10*time.Second, "the reader sees a second chmod", modeIs(reader, f, 0o640))
	namespaceOps(t, e, "after-failover")
	// The URL still names the dead node: new clients must not trip on it
	// (rueidis sends keyless commands to any seed, the dead one included).
	for i := 0; i < 5; i++ {
		ro := openAt(t, url+"?route-read=replica", meta.Options{ReadOnly: true})
		if _, err := ro.GetAttr(ctx, f); err != nil {
			t.Fatal(err)
		}
		ro.Close(ctx)
		recount(t, openAt(t, url, meta.Options{NoBackgroundJobs: true}), e, reader)
	}
	recount(t, e, reader)
}

func mustInt(t *testing.T, r interface{ AsInt64() (int64, error) }) int64 {
	t.Helper()
	n, err := r.AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// clusterAskRedirect holds the volume's slot half migrated, with the root
// directory's attribute already on the importing node, so that reading it
// is answered ASK: rueidis sends ASKING and the read again in one batch.
// Readers with and without client-side caching must both get the attribute.
// (With caching off, a read marked for rueidis' static-TTL caching made the
// connection's reader goroutine dereference the absent cache and crash the
// process; the engine now marks reads only when caching is on.)
func clusterAskRedirect(t *testing.T, c *redistest.Cluster, url string, slot int) {
	ctx := context.Background()
	// Opened first: sessions write keys that a half-migrated slot refuses.
	readers := map[string]*meta.Engine{
		"cached":   openAt(t, url, meta.Options{NoBackgroundJobs: true}),
		"uncached": openAt(t, url+"?client-cache=false", meta.Options{NoBackgroundJobs: true}),
	}
	from := c.MasterOfSlot(t, slot)
	to := c.OtherMaster(t, from)
	// The root's attribute moves first; the rest follows when the readers
	// are done, so the slot ends on another master (as after a reshard).
	m := c.BeginMigration(t, slot, to)
	m.Move("{7}i1")
	defer m.Finish()
	for name, r := range readers {
		for i := 0; i < 3; i++ {
			a, err := r.GetAttr(ctx, meta.RootInode)
			if err != nil {
				t.Fatalf("%s reader, root attribute behind ASK: %v", name, err)
			}
			if a.Typ != codec.TypeDirectory {
				t.Fatalf("%s reader: root attribute %+v", name, a)
			}
		}
	}
}
