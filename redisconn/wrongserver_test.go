package redisconn_test

import (
	"net"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

// TestWrongKindOfServer: a URL that reaches a server of another kind says
// how the URL was read and what the server is not, at once — a Sentinel
// URL to plain servers used to retry for a minute; an HTTP server gave
// "received unknown message type: 72"; a Cluster URL said only "cluster
// support disabled".
func TestWrongKindOfServer(t *testing.T) {
	t.Parallel()
	plain, _ := redistest.NewDB(t)
	other, _ := redistest.NewDB(t)
	http, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer http.Close()
	go func() {
		for {
			c, err := http.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	for _, c := range []struct {
		name, url string
		parts     []string
	}{
		{"an HTTP server", "redis://" + http.Addr().String() + "/1",
			[]string{"does not speak the Redis protocol", `answered with 'H'`}},
		{"Sentinel form to a plain server", "redis://mymaster," + plain.Addr + "/1",
			[]string{`read as Sentinel: master name "mymaster"`, "not sentinels", "redis://HOST:PORT/DB"}},
		{"Cluster form to plain servers", "redis://" + plain.Addr + "," + other.Addr + "/1",
			[]string{"read as a Redis Cluster", "no Cluster node", "master's name first"}},
	} {
		_, err := dialURL(t, c.url, redisconn.Options{})
		if err == nil {
			t.Errorf("%s: connected", c.name)
			continue
		}
		for _, p := range c.parts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s: %q does not say %q", c.name, err, p)
			}
		}
	}
}
