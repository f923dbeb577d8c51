package meta_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// getenv returns an environment for meta.Options.Getenv.
func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestSentinel: the master is found by name through password-protected
// sentinels (SENTINEL_PASSWORD), the engine follows SENTINEL FAILOVER and
// the death of the master by itself, client-side caching stays coherent
// across both, and a read-only client with route-read=replica reads from
// the replica while a writable one ignores the option.
func TestSentinel(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	g := redistest.StartSentinel(t, redistest.WithPassword("data-pw"), redistest.WithSentinelPassword("sentinel-pw"))
	t.Logf("sentinel group ready in %v", time.Since(begin))
	url := g.URL("redis", 3)
	env := getenv(map[string]string{"SENTINEL_PASSWORD": "sentinel-pw"})
	ctx := context.Background()

	// Without the sentinels' password: one clear line.
	_, err := meta.Open(ctx, url, meta.Options{Getenv: getenv(nil)})
	if err == nil || !strings.Contains(err.Error(), "SENTINEL_PASSWORD") || strings.Contains(err.Error(), "data-pw") {
		t.Fatalf("open without SENTINEL_PASSWORD: %v", err)
	}
	t.Logf("without SENTINEL_PASSWORD: %v", err)
	_, err = meta.Open(ctx, url, meta.Options{Getenv: getenv(map[string]string{"SENTINEL_PASSWORD": "wrong"})})
	if err == nil || !strings.Contains(err.Error(), "SENTINEL_PASSWORD are wrong") {
		t.Fatalf("open with a wrong SENTINEL_PASSWORD: %v", err)
	}
	// The master's password comes from the URL, not from SENTINEL_PASSWORD.
	bad := strings.Replace(url, ":data-pw@", ":wrong@", 1)
	_, err = meta.Open(ctx, bad, meta.Options{Getenv: env})
	if err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("open with a wrong master password: %v", err)
	}

	e := formatAt(t, url, meta.Options{Getenv: env})
	if e.Keys().Prefix() != "" {
		t.Fatalf("a Sentinel volume has prefix %q", e.Keys().Prefix())
	}
	namespaceOps(t, e, "before")
	reader := openAt(t, url, meta.Options{Getenv: env, NoBackgroundJobs: true})
	f, _, err := e.Mknod(ctx, meta.RootInode, "f", 1, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := modeIs(reader, f, 0o644)(); err != nil { // cached
		t.Fatal(err)
	}

	t.Run("replica-reads", func(t *testing.T) {
		g.Master.WaitReplicas(t, 1)
		quiet := meta.Options{Getenv: env, NoBackgroundJobs: true, Heartbeat: time.Hour}
		rw := openAt(t, url+"?route-read=replica", quiet)
		before := readCalls(commandCalls(t, g.Replica))
		if _, err := rw.Readdir(ctx, meta.RootInode, true); err != nil {
			t.Fatal(err)
		}
		if got := readCalls(commandCalls(t, g.Replica)); got != before {
			t.Fatalf("a writable client with route-read=replica sent %d reads to the replica", got-before)
		}
		quiet.ReadOnly = true
		ro := openAt(t, url+"?route-read=replica", quiet)
		before = readCalls(commandCalls(t, g.Replica))
		if _, err := ro.Readdir(ctx, meta.RootInode, true); err != nil {
			t.Fatal(err)
		}
		if err := modeIs(ro, f, 0o644)(); err != nil {
			t.Fatal(err)
		}
		if got := readCalls(commandCalls(t, g.Replica)); got <= before {
			t.Fatal("the read-only client with route-read=replica sent no read to the replica")
		}
		inval := ro.CacheStats().Invalidations
		chmod(t, e, f, 0o600)
		voltest.Eventually(t, 10*time.Second, "the replica reader sees the master's chmod", modeIs(ro, f, 0o600))
		if ro.CacheStats().Invalidations == inval {
			t.Fatal("the change was seen without an invalidation from the replica")
		}
		ro.Close(ctx)
	})

	// Replication is asynchronous: whatever the replica has not received
	// when it is promoted is lost (docs/deployments.md). Flush the pending
	// statistics and wait for the replica before each failover, so that the
	// volume is complete and the check at the end is exact.
	synced := func(t *testing.T) {
		e.Sync(ctx)
		g.Master.WaitReplicas(t, 1)
	}

	t.Run("failover", func(t *testing.T) {
		synced(t)
		begin := time.Now()
		g.Failover(t)
		t.Logf("SENTINEL FAILOVER done in %v", time.Since(begin))
		// Marker hashes the new master lacks (lost with the writes the
		// replica had not received) get their expiry again: what the
		// scripts knew of the old master does not carry over.
		master := g.CurrentMaster(t)
		markers := func() []string {
			keys, err := master.Do(t, 3, "KEYS", "rueidisfsTxn*").AsStrSlice()
			if err != nil {
				t.Fatal(err)
			}
			return keys
		}
		for _, k := range markers() {
			master.Do(t, 3, "DEL", k)
		}
		begin = time.Now()
		chmod(t, e, f, 0o640)
		t.Logf("first write after the failover took %v", time.Since(begin))
		for _, k := range markers() {
			if ttl, err := master.Do(t, 3, "PTTL", k).AsInt64(); err != nil || ttl <= 0 {
				t.Fatalf("marker hash %s written after the failover has PTTL %d (%v)", k, ttl, err)
			}
		}
		voltest.Eventually(t, 10*time.Second, "the reader sees the first chmod after the failover", modeIs(reader, f, 0o640))
		namespaceOps(t, e, "after-failover")
		g.AwaitConverted(t) // the old master is the replica the next failover promotes
	})

	t.Run("master-killed", func(t *testing.T) {
		synced(t)
		begin := time.Now()
		g.FailoverKill(t)
		t.Logf("failover after killing the master done in %v", time.Since(begin))
		begin = time.Now()
		chmod(t, e, f, 0o604)
		t.Logf("first write after the failover took %v", time.Since(begin))
		voltest.Eventually(t, 10*time.Second, "the reader sees the first chmod after the failover", modeIs(reader, f, 0o604))
		namespaceOps(t, e, "after-kill")
	})
	recount(t, e, reader)
}

// TestSentinelTLS: sentinels, master and replica all speak TLS only (with
// tls-replication), and the engine finds and uses the master with
// rediss:// and the CA, certificate and key of the URL.
func TestSentinelTLS(t *testing.T) {
	t.Parallel()
	g := redistest.StartSentinel(t, redistest.WithTLS())
	url := g.URL("rediss", 2)
	if !strings.Contains(url, "tls-ca-cert-file=") {
		t.Fatalf("URL %s has no TLS files", url)
	}
	e := formatAt(t, url, meta.Options{})
	namespaceOps(t, e, "tls")
	if got := g.Replica.Info(t, "replication", "master_link_status"); got != "up" {
		t.Fatalf("TLS replication link: %s", got)
	}
	recount(t, e)
}

// TestSentinelUser: sentinels that accept only an ACL user (the default
// user is off) are reached with SENTINEL_USERNAME and SENTINEL_PASSWORD;
// the password alone is refused with a line naming both variables.
func TestSentinelUser(t *testing.T) {
	t.Parallel()
	g := redistest.StartSentinel(t, redistest.WithPassword("data-pw"), redistest.WithSentinelUser("watcher", "watcher-pw"))
	url := g.URL("redis", 4)
	ctx := context.Background()
	_, err := meta.Open(ctx, url, meta.Options{Getenv: getenv(map[string]string{"SENTINEL_PASSWORD": "watcher-pw"})})
	if err == nil || !strings.Contains(err.Error(), "SENTINEL_USERNAME/SENTINEL_PASSWORD are wrong") {
		t.Fatalf("open without SENTINEL_USERNAME: %v", err)
	}
	env := getenv(map[string]string{"SENTINEL_USERNAME": "watcher", "SENTINEL_PASSWORD": "watcher-pw"})
	e := formatAt(t, url, meta.Options{Getenv: env})
	namespaceOps(t, e, "acl")
	recount(t, e)
}

// TestSentinelOneDown: with one of the sentinels named in the URL down, a
// client still connects through the others and works; the one that is down
// is tried again in the background.
func TestSentinelOneDown(t *testing.T) {
	t.Parallel()
	g := redistest.StartSentinel(t)
	g.Sentinels[0].Kill(t)
	e := formatAt(t, g.URL("redis", 5), meta.Options{})
	if _, _, err := e.Mknod(context.Background(), meta.RootInode, "f", 1, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
}
