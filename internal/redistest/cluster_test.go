package redistest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// slotKey returns a key that hashes to slot.
func slotKey(c rueidis.Client, slot int) string {
	for i := 0; ; i++ {
		k := "k" + strconv.Itoa(i)
		cmd := c.B().Get().Key(k).Build()
		if int(cmd.Slot()) == slot {
			return k
		}
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	c := StartCluster(t, 3, 1)
	t.Logf("3+3 cluster ready in %v", time.Since(begin))
	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes", len(c.Nodes))
	}
	for _, n := range c.Nodes {
		info := mustString(t, n.Do(t, 0, "CLUSTER", "INFO"))
		if infoField(info, "cluster_state") != "ok" || infoField(info, "cluster_known_nodes") != "6" {
			t.Fatalf("%s: %s", n.Addr, info)
		}
	}
	if m := c.Masters(t); len(m) != 3 {
		t.Fatalf("%d masters", len(m))
	}
	u := c.URL("redis", 0)
	if !strings.HasPrefix(u, "redis://127.0.0.1:") || strings.Count(u, ",") != 5 || !strings.HasSuffix(u, "/0") {
		t.Fatalf("URL %s", u)
	}

	cl := c.Client(t)
	ctx := ctxT(t)
	const slot = 1234
	key := slotKey(cl, slot)
	if err := cl.Do(ctx, cl.B().Set().Key(key).Value("before").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	old := c.MasterOfSlot(t, slot)
	// Make sure the replica has the key before its master dies.
	old.WaitReplicas(t, 1)

	begin = time.Now()
	promoted := c.Failover(t, slot)
	t.Logf("failover of slot %d: %s -> %s in %v", slot, old.Addr, promoted.Addr, time.Since(begin))
	if promoted == old || old.Running() || c.MasterOfSlot(t, slot) != promoted {
		t.Fatalf("failover: old %s, promoted %s, now %s", old.Addr, promoted.Addr, c.MasterOfSlot(t, slot).Addr)
	}
	var got string
	err := waitFor(10*time.Second, 50*time.Millisecond, func() error {
		var err error
		got, err = cl.Do(ctx, cl.B().Get().Key(key).Build()).ToString()
		return err
	})
	if err != nil || got != "before" {
		t.Fatalf("GET after failover = %q, %v", got, err)
	}
	if err := cl.Do(ctx, cl.B().Set().Key(key).Value("after").Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

func TestSmallCluster(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 1, 1, WithPassword("pw"))
	if m := c.Masters(t); len(m) != 1 {
		t.Fatalf("%d masters", len(m))
	}
	if m := c.MasterOfSlot(t, 0); m != c.MasterOfSlot(t, clusterSlots-1) {
		t.Fatal("a single master does not serve every slot")
	}
	cl := c.Client(t)
	if err := cl.Do(ctxT(t), cl.B().Set().Key("a").Value("1").Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

func TestClusterTLS(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3, 0, WithTLS(), WithPassword("pw"))
	if u := c.URL("rediss", 0); !strings.HasPrefix(u, "rediss://:pw@127.0.0.1:") || !strings.Contains(u, "tls-ca-cert-file=") {
		t.Fatalf("URL %s", u)
	}
	cl := c.Client(t)
	ctx := ctxT(t)
	for i := range 20 {
		k := "key" + strconv.Itoa(i)
		if err := cl.Do(ctx, cl.B().Set().Key(k).Value(k).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
}
