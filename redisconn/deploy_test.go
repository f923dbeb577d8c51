package redisconn_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/metaurl"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

// dialURL parses rawURL (in an empty environment) and connects; unlike dial
// (checks_test.go), a URL that does not parse is an error to check, not a
// test failure.
func dialURL(t *testing.T, rawURL string, opts redisconn.Options) (*redisconn.Conn, error) {
	t.Helper()
	cfg, _, err := metaurl.Parse(rawURL, func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	c, err := redisconn.Dial(context.Background(), cfg, opts)
	if err == nil {
		t.Cleanup(c.Close)
	}
	return c, err
}

// roundTrip writes and reads back a key through c.
func roundTrip(t *testing.T, c *redisconn.Conn) {
	t.Helper()
	ctx := context.Background()
	cl := c.Client
	key := c.Prefix + "roundtrip"
	if err := cl.Do(ctx, cl.B().Set().Key(key).Value("v").Build()).Error(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if v, err := cl.Do(ctx, cl.B().Get().Key(key).Build()).ToString(); err != nil || v != "v" {
		t.Fatalf("GET: %q %v", v, err)
	}
}

// withQuery returns u with its query replaced by the given pairs (pairs
// with an empty value are dropped).
func withQuery(t *testing.T, u string, pairs ...string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	p.RawQuery = q.Encode()
	return p.String()
}

// wantOneLine checks that err is a single line containing every part.
func wantOneLine(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: connected", what)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: error on several lines: %q", what, msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("%s: error %q does not mention %q", what, msg, p)
		}
	}
	t.Logf("%s: %v", what, err)
}

// TestTLS: rediss:// and ruediss:// against TLS-only servers, with every
// TLS option of the meta URL, and one clear line for each way it can fail.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithTLS())          // client certificates optional
	mutual := redistest.Start(t, redistest.WithMutualTLS()) // client certificates required
	other := redistest.Start(t, redistest.WithTLS())        // only for its CA, which did not sign srv's certificate
	plain, _ := redistest.NewDB(t)
	ca, cert, key := srv.TLSFiles()
	mca, mcert, mkey := mutual.TLSFiles()
	otherCA, _, _ := other.TLSFiles()
	host := "127.0.0.1:" + strings.TrimPrefix(srv.Addr, "127.0.0.1:")

	ok := []struct{ name, url string }{
		{"rediss with CA, certificate and key", srv.URL("rediss", 1)},
		{"ruediss with the CA only", withQuery(t, "ruediss://"+host+"/1", "tls-ca-cert-file", ca)},
		{"rueidiss with CA and client certificate", withQuery(t, "rueidiss://"+host+"/1", "tls-ca-cert-file", ca, "tls-cert-file", cert, "tls-key-file", key)},
		{"insecure-skip-verify without a CA", withQuery(t, "rediss://"+host+"/1", "insecure-skip-verify", "true")},
		{"tls-server-name matching the certificate", withQuery(t, "rediss://"+host+"/1", "tls-ca-cert-file", ca, "tls-server-name", "localhost")},
		{"mutual TLS", mutual.URL("rediss", 1)},
		{"mutual TLS, client caching off", withQuery(t, mutual.URL("rediss", 1), "tls-ca-cert-file", mca, "tls-cert-file", mcert, "tls-key-file", mkey, "client-cache", "false")},
	}
	for _, c := range ok {
		conn, err := dialURL(t, c.url, redisconn.Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		roundTrip(t, conn)
	}

	mhost := strings.TrimPrefix(mutual.Addr, "127.0.0.1:")
	fail := []struct {
		name, url string
		parts     []string
	}{
		{"a CA that did not sign the certificate", withQuery(t, "rediss://"+host+"/1", "tls-ca-cert-file", otherCA),
			[]string{"not signed by a trusted CA", "tls-ca-cert-file"}},
		{"no CA (system roots)", "rediss://" + host + "/1",
			[]string{"not signed by a trusted CA"}},
		{"tls-server-name the certificate is not valid for", withQuery(t, "rediss://"+host+"/1", "tls-ca-cert-file", ca, "tls-server-name", "redis.example.com"),
			[]string{`not valid for "redis.example.com"`, "tls-server-name"}},
		{"no client certificate for a server that requires one", withQuery(t, "rediss://127.0.0.1:"+mhost+"/1", "tls-ca-cert-file", mca),
			[]string{"client certificate", "tls-cert-file"}},
		{"TLS to a plain server", withQuery(t, "rediss://"+plain.Addr+"/1", "tls-ca-cert-file", ca, "dial_timeout", "1s"),
			[]string{"speak TLS", "redis://"}},
		{"plain to a TLS server", withQuery(t, "redis://"+host+"/1", "dial_timeout", "1s"),
			[]string{"rediss://"}},
		{"a key without its certificate", withQuery(t, "rediss://"+host+"/1", "tls-ca-cert-file", ca, "tls-key-file", key),
			[]string{"tls-key-file"}},
	}
	for _, c := range fail {
		_, err := dialURL(t, c.url, redisconn.Options{})
		wantOneLine(t, c.name, err, c.parts...)
	}
}

// TestUnixSocket: unix:// with the database in the query and a password.
func TestUnixSocket(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithUnixSocket(), redistest.WithPassword("sock-pw"))
	conn, err := dialURL(t, srv.URL("unix", 3), redisconn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, conn)
	if n, err := srv.Do(t, 3, "EXISTS", "roundtrip").AsInt64(); err != nil || n != 1 {
		t.Fatalf("the key is not in database 3: %d %v", n, err)
	}
	_, err = dialURL(t, strings.Replace(srv.URL("unix", 3), "sock-pw", "wrong", 1), redisconn.Options{})
	wantOneLine(t, "wrong password over a unix socket", err, "authentication failed")
}

// TestACLUserErrors: connection-time failures of ACL users are one line
// naming what is wrong.
func TestACLUserErrors(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t,
		redistest.WithPassword("default-pw"),
		redistest.WithACLUser("notrack", "pw", "~*", "+@all", "-client|tracking"),
		redistest.WithACLUser("nocaching", "pw", "~*", "+@all", "-client|caching"),
		redistest.WithACLUser("noselect", "pw", "~*", "+@all", "-select"))
	_, err := dialURL(t, srv.URLAs("redis", "nobody", "pw", 1), redisconn.Options{})
	wantOneLine(t, "unknown user", err, "authentication failed")

	// CLIENT TRACKING denied: the connection works without client-side
	// caching (a warning names the permission).
	conn, err := dialURL(t, srv.URLAs("redis", "notrack", "pw", 1), redisconn.Options{})
	if err != nil {
		t.Fatalf("user without CLIENT TRACKING: %v", err)
	}
	if conn.Cache != nil {
		t.Fatal("client-side caching enabled although CLIENT TRACKING is denied")
	}
	roundTrip(t, conn)
	// CLIENT CACHING denied: values would be cached without Redis tracking
	// them (stale reads), so caching is off as well.
	conn, err = dialURL(t, srv.URLAs("redis", "nocaching", "pw", 1), redisconn.Options{})
	if err != nil {
		t.Fatalf("user without CLIENT CACHING: %v", err)
	}
	if conn.Cache != nil {
		t.Fatal("client-side caching enabled although CLIENT CACHING is denied")
	}
	roundTrip(t, conn)

	_, err = dialURL(t, srv.URLAs("redis", "noselect", "pw", 1), redisconn.Options{})
	wantOneLine(t, "SELECT denied", err, "may not run SELECT", "+select", "docs/deployments.md")
}
