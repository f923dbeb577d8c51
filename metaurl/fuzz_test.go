package metaurl

import (
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors keep their
// prefix, that what it accepts is well formed, and that the URL rebuilt from
// a Config parses back into the same Config.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"localhost:6379/1", "redis://", "redis://u:p@h:6379/1?read-timeout=1s",
		"rediss://:p%40ss@m,s1,s2:26380/2?insecure-skip-verify=false&route-read=replica",
		"redis://h1:7000,h2:7001,h3/5?client-cache-size=10&client-cache-ttl=1m",
		"unix://u:pw@/tmp/r.sock?db=3&pipeline-multiplex=2&max-flush-delay=20us",
		"redis://[fe80::1%25eth0]:7000,[::1]/1?ring-scale=9&io-retries=0",
		"ruediss://h/1?tls-cert-file=/c&tls-key-file=/k&tls-ca-cert-file=/ca&tls-server-name=x",
		"redis://h/1?protocol=2&client_name=n&dial_timeout=3&pool_size=4&conn_max_lifetime=60&max_retries=-1",
		"redis://h/1?pool_fifo=1&foo=bar&read_timeout=5&client_cache_expire=2m&client-cache-preload=9",
		"redis://:pa/ss@h/1", "redis://h/1#x", "redis://m,,s", "redis://[::1", "unix://h/s",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, _, err := Parse(raw, nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "meta URL") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		checkWellFormed(t, c)
		if c.Password != "" && !strings.Contains(c.Redacted(), "****") {
			t.Fatalf("Redacted %q shows the URL's password", c.Redacted())
		}
		if _, _, err := Parse(c.Redacted(), nil); err != nil {
			t.Fatalf("Redacted %q does not parse: %v", c.Redacted(), err)
		}
		rebuilt := c.build(true)
		c2, _, err := Parse(rebuilt, nil)
		if err != nil {
			t.Fatalf("rebuilt URL %q of %q does not parse: %v", rebuilt, raw, err)
		}
		a, b := *c, *c2
		a.redacted, b.redacted = "", ""
		if a.PasswordSource != b.PasswordSource {
			t.Fatalf("password source %q became %q through %q", a.PasswordSource, b.PasswordSource, rebuilt)
		}
		if a.String() != b.String() || !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip through %q changed the config\n was: %+v\n now: %+v", rebuilt, a, b)
		}
	})
}

func checkWellFormed(t *testing.T, c *Config) {
	t.Helper()
	if c.DB < 0 {
		t.Fatalf("negative DB %d", c.DB)
	}
	switch c.Mode {
	case ModeUnix:
		if c.SocketPath == "" || len(c.Addrs) != 0 {
			t.Fatalf("bad unix config %+v", c)
		}
		return
	case ModeSingle:
		if len(c.Addrs) != 1 {
			t.Fatalf("single mode with %d addresses", len(c.Addrs))
		}
	case ModeSentinel:
		if c.MasterName == "" || len(c.Addrs) == 0 {
			t.Fatalf("bad sentinel config %+v", c)
		}
	case ModeCluster:
		if len(c.Addrs) < 2 {
			t.Fatalf("cluster mode with %d addresses", len(c.Addrs))
		}
	default:
		t.Fatalf("unknown mode %d", c.Mode)
	}
	for _, a := range c.Addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			t.Fatalf("bad address %q: %v", a, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("bad port in %q", a)
		}
	}
}
