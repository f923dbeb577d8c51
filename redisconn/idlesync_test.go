package redisconn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

// TestDirectWhenAlone: a caller that has been alone for a while talks to
// Redis on a connection of its own, not the pipeline's; as soon as calls
// overlap they go through the pipeline again; a script and its WAIT stay
// on one connection; direct-when-alone=false pipelines everything. With a
// single server and with Sentinel; a Cluster client pipelines everything.
func TestDirectWhenAlone(t *testing.T) {
	topologies := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"single", func(t *testing.T) string { return redistest.Start(t).URL("redis", 0) }},
		{"sentinel", func(t *testing.T) string { return redistest.StartSentinel(t).URL("redis", 0) }},
		{"cluster", func(t *testing.T) string { return redistest.StartCluster(t, 3, 0).URL("redis", 0) }},
	}
	for _, tp := range topologies {
		t.Run(tp.name, func(t *testing.T) {
			url := tp.url(t)
			c, _, err := dial(t, url)
			if err != nil {
				t.Fatal(err)
			}
			if c.Cluster {
				// Direct calls are off on a Cluster (see clientOption).
				beAlone(t, c)
				if pipe, got := clientID(t, c, true), clientID(t, c, false); got != pipe {
					t.Errorf("Cluster: a lone call went on connection %d, not the pipeline's %d", got, pipe)
				}
				return
			}
			checkDirectWhenAlone(t, c)

			off, _, err := dial(t, url+"?direct-when-alone=false")
			if err != nil {
				t.Fatal(err)
			}
			beAlone(t, off)
			if pipe, got := clientID(t, off, true), clientID(t, off, false); got != pipe {
				t.Errorf("direct-when-alone=false: a lone call went on connection %d, not the pipeline's %d", got, pipe)
			}
		})
	}
}

func checkDirectWhenAlone(t *testing.T, c *redisconn.Conn) {
	ctx := context.Background()
	pipe := clientID(t, c, true)
	beAlone(t, c)
	direct := clientID(t, c, false)
	if direct == pipe {
		t.Fatalf("a lone call went through the pipeline (connection %d)", pipe)
	}
	if again := clientID(t, c, true); again != pipe {
		t.Fatalf("the pipeline's connection changed from %d to %d", pipe, again)
	}
	c.PauseDirectCalls(true)
	if got := clientID(t, c, false); got != pipe {
		t.Errorf("paused: a lone call went on connection %d, not the pipeline's %d", got, pipe)
	}
	c.PauseDirectCalls(false)
	if got := clientID(t, c, false); got == pipe {
		t.Errorf("resumed: a lone call went through the pipeline (connection %d)", got)
	}

	// A script and its WAIT: one connection (WAIT counts that
	// connection's writes), alone or not.
	key := c.Prefix + "direct-when-alone"
	script := c.Client.B().Eval().Script("return redis.call('SET', KEYS[1], 'v')").Numkeys(1).Key(key).Build()
	id := c.Client.B().ClientId().Build().SetSlot(key)
	wait := c.Client.B().Wait().Numreplicas(0).Timeout(1000).Build().SetSlot(key)
	res := c.Client.DoMulti(ctx, script, id, wait)
	for i, r := range res {
		if err := r.Error(); err != nil {
			t.Fatalf("script and WAIT: reply %d: %v", i, err)
		}
	}
	if id, _ := res[1].AsInt64(); id == pipe {
		t.Errorf("a lone script with WAIT ran on the pipeline's connection %d", id)
	}

	// While a call is under way, others go through the pipeline, and keep
	// doing so for a while after.
	list := c.Prefix + "direct-when-alone-list"
	done := make(chan error, 1)
	go func() {
		done <- c.Client.Do(ctx, c.Client.B().Blpop().Key(list).Timeout(10).Build()).Error()
	}()
	waitBlocked(t, c)
	if got := clientID(t, c, false); got != pipe {
		t.Errorf("a call made while another was under way went on connection %d, not the pipeline's %d", got, pipe)
	}
	if err := c.Client.Do(ctx, c.Client.B().Lpush().Key(list).Element("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("BLPOP: %v", err)
	}
	if got := clientID(t, c, false); got != pipe {
		t.Errorf("the first call after an overlap went on connection %d, not the pipeline's %d", got, pipe)
	}
}

// beAlone makes enough calls in a row, one at a time, for the client to
// take its caller as alone.
func beAlone(t *testing.T, c *redisconn.Conn) {
	for range 100 {
		if err := c.Client.Do(context.Background(), ping(c)).Error(); err != nil {
			t.Fatal(err)
		}
	}
}

func ping(c *redisconn.Conn) rueidis.Completed {
	cmd := c.Client.B().Ping().Build()
	if c.Prefix != "" {
		cmd = cmd.SetSlot(c.Prefix)
	}
	return cmd
}

// clientID returns the id of the connection a CLIENT ID call went on: the
// pipeline's when piped, wherever the client sends it otherwise.
func clientID(t *testing.T, c *redisconn.Conn, piped bool) int64 {
	t.Helper()
	cmd := c.Client.B().ClientId().Build()
	if c.Prefix != "" {
		cmd = cmd.SetSlot(c.Prefix)
	}
	if piped {
		cmd = cmd.ToPipe()
	}
	id, err := c.Client.Do(context.Background(), cmd).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitBlocked waits until a client of the server is blocked in BLPOP.
func waitBlocked(t *testing.T, c *redisconn.Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		cmd := c.Client.B().ClientList().Build().ToPipe()
		if c.Prefix != "" {
			cmd = cmd.SetSlot(c.Prefix)
		}
		list, err := c.Client.Do(context.Background(), cmd).ToString()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(list, "cmd=blpop") {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("BLPOP never blocked")
}
