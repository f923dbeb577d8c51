package redisconn_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/metaurl"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func dial(t *testing.T, url string) (*redisconn.Conn, string, error) {
	t.Helper()
	cfg, warnings, err := metaurl.Parse(url, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for _, w := range warnings {
		log.Warn(w)
	}
	c, err := redisconn.Dial(context.Background(), cfg, redisconn.Options{Logger: log})
	if c != nil {
		t.Cleanup(c.Close)
	}
	return c, buf.String(), err
}

// TestServerChecks: like the official client, connecting warns when AOF is
// off and switches an evicting maxmemory-policy to noeviction.
func TestServerChecks(t *testing.T) {
	srv := redistest.Start(t, redistest.WithConfig("maxmemory-policy allkeys-lru"))
	c, logs, err := dial(t, srv.URL("redis", 0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "AOF is not enabled") {
		t.Errorf("no AOF warning in %q", logs)
	}
	if !strings.Contains(logs, "changed it to noeviction") {
		t.Errorf("no eviction-policy message in %q", logs)
	}
	if got := srv.Info(t, "memory", "maxmemory_policy"); got != "noeviction" {
		t.Errorf("maxmemory_policy is %q after connecting", got)
	}
	if c.ServerVersion == "" || !c.RESP3 || c.Cache == nil || c.Cluster || c.Prefix != "" {
		t.Errorf("conn %+v", c)
	}
	aof := redistest.Start(t, redistest.WithAOF())
	if _, logs, err := dial(t, aof.URL("redis", 0)); err != nil || strings.Contains(logs, "AOF is not enabled") {
		t.Errorf("with AOF: %v %q", err, logs)
	}
}

// TestRESP2: with protocol=2 the client works without client-side caching
// and says so once.
func TestRESP2(t *testing.T) {
	srv, db := redistest.NewDB(t)
	c, logs, err := dial(t, srv.URL("redis", db)+"?protocol=2")
	if err != nil {
		t.Fatal(err)
	}
	if c.Cache != nil || c.RESP3 {
		t.Fatalf("caching on a RESP2 connection: %+v", c)
	}
	if strings.Count(logs, "caching") != 1 {
		t.Fatalf("want one warning about caching, got %q", logs)
	}
	if err := c.Client.Do(context.Background(), c.Client.B().Set().Key("k").Value("v").Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

// TestDialErrors: unreachable servers and wrong credentials give one clear
// line naming the server, never the password.
func TestDialErrors(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("s3cret"))
	for _, c := range []struct{ url, want string }{
		{"redis://127.0.0.1:1/0", "connection refused"},
		{srv.URLAs("redis", "", "p4ssw0rd-x", 0), "authentication failed"},
		{srv.URLAs("redis", "", "", 0), "requires a password"},
		{srv.URLAs("redis", "", "s3cret", 99999), "database 99999 does not exist"},
	} {
		_, _, err := dial(t, c.url)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.url, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "p4ssw0rd") || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("error %q leaks the password or spans lines", err)
		}
	}
}
