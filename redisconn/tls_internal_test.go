package redisconn

import (
	"testing"

	"github.com/rueidisfs/rueidisfs/metaurl"
)

// Without tls-server-name every connection verifies the host it dials: a
// Cluster's other nodes and the master found through Sentinel are not the
// URL's first host.
func TestTLSServerNamePerHost(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"rediss://node-a:7000,node-b:7001/1", ""},
		{"rediss://mymaster,sentinel-a,sentinel-b:26379/1", ""},
		{"rediss://redis.example:6380/1", ""},
		{"rediss://node-a:7000,node-b:7001/1?tls-server-name=redis.internal", "redis.internal"},
	} {
		cfg, _, err := metaurl.Parse(c.url, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tlsConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if tc.ServerName != c.want {
			t.Errorf("%s: ServerName %q, want %q", c.url, tc.ServerName, c.want)
		}
	}
}
