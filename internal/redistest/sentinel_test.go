package redistest

import (
	"strings"
	"testing"
	"time"
)

func TestSentinel(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	g := StartSentinel(t, WithPassword("pw"))
	t.Logf("sentinel group ready in %v", time.Since(begin))
	if len(g.Sentinels) != 3 || g.CurrentMaster(t) != g.Master {
		t.Fatalf("group: %d sentinels, master %s", len(g.Sentinels), g.CurrentMaster(t).Addr)
	}
	u := g.URL("redis", 2)
	if want := "redis://:pw@mymaster," + strings.Join(g.SentinelAddrs(), ",") + "/2"; u != want {
		t.Fatalf("URL %s, want %s", u, want)
	}

	c := g.Client(t, 2)
	ctx := ctxT(t)
	if err := c.Do(ctx, c.B().Set().Key("k").Value("1").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if got := mustString(t, g.Master.Do(t, 2, "GET", "k")); got != "1" {
		t.Fatalf("master has %q", got)
	}
	g.Master.WaitReplicas(t, 1)

	old := g.Master
	begin = time.Now()
	g.Failover(t)
	t.Logf("SENTINEL FAILOVER done in %v", time.Since(begin))
	if g.Master == old || g.CurrentMaster(t) != g.Master || g.Replica != old {
		t.Fatal("Failover did not swap master and replica")
	}
	g.AwaitConverted(t)
	if role := g.Replica.Info(t, "replication", "role"); role != "slave" {
		t.Fatalf("old master has role %s", role)
	}
	// The sentinel-aware client follows the switch.
	err := waitFor(15*time.Second, 50*time.Millisecond, func() error {
		return c.Do(ctx, c.B().Set().Key("k").Value("2").Build()).Error()
	})
	if err != nil {
		t.Fatalf("write after failover: %v", err)
	}
	if got := mustString(t, g.Master.Do(t, 2, "GET", "k")); got != "2" {
		t.Fatalf("new master has %q", got)
	}
	g.Master.WaitReplicas(t, 1) // replication is asynchronous: the kill below must not lose it

	begin = time.Now()
	old = g.Master
	g.FailoverKill(t)
	t.Logf("failover after kill done in %v", time.Since(begin))
	if old.Running() || g.CurrentMaster(t) != g.Master || g.Master == old {
		t.Fatal("FailoverKill did not promote the replica")
	}
	if got := mustString(t, g.Master.Do(t, 2, "GET", "k")); got != "2" {
		t.Fatalf("promoted replica has %q", got)
	}
}

func TestSentinelTLS(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	g := StartSentinel(t, WithTLS())
	t.Logf("TLS sentinel group ready in %v", time.Since(begin))
	if !strings.HasPrefix(g.URL("rediss", 0), "rediss://mymaster,127.0.0.1:") {
		t.Fatalf("URL %s", g.URL("rediss", 0))
	}
	c := g.Client(t, 0)
	if err := c.Do(ctxT(t), c.B().Set().Key("k").Value("v").Build()).Error(); err != nil {
		t.Fatal(err)
	}
}
