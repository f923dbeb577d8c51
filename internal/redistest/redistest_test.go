package redistest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

func TestMain(m *testing.M) { Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustString(t *testing.T, r rueidis.RedisResult) string {
	t.Helper()
	s, err := r.ToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	s := Start(t, WithAOF())
	if d := time.Since(begin); d > time.Second {
		t.Errorf("startup took %v, want well under a second", d)
	}
	if s.Addr != "127.0.0.1:"+strconv.Itoa(s.Port()) {
		t.Fatalf("Addr %q, Port %d", s.Addr, s.Port())
	}
	if got := mustString(t, s.Do(t, 0, "PING")); got != "PONG" {
		t.Fatalf("PING = %q", got)
	}
	if want := fmt.Sprintf("redis://127.0.0.1:%d/3", s.Port()); s.URL("redis", 3) != want {
		t.Fatalf("URL = %q, want %q", s.URL("redis", 3), want)
	}
	if err := s.Do(t, 3, "SET", "k", "v\x00\xff").Error(); err != nil {
		t.Fatal(err)
	}

	s.Restart(t)
	if got := mustString(t, s.Do(t, 3, "GET", "k")); got != "v\x00\xff" {
		t.Fatalf("after Restart GET = %q", got)
	}
	s.Kill(t)
	if s.Running() {
		t.Fatal("running after Kill")
	}
	s.Restart(t) // from a killed state; AOF with fsync always keeps the key
	if got := mustString(t, s.Do(t, 3, "GET", "k")); got != "v\x00\xff" {
		t.Fatalf("after Kill+Restart GET = %q", got)
	}

	c := s.Client(t, 3)
	s.Pause(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := c.Do(ctx, c.B().Get().Key("k").Build()).Error()
	cancel()
	if err == nil {
		t.Fatal("GET on a paused server succeeded")
	}
	s.Resume(t)
	if got, err := c.Do(ctxT(t), c.B().Get().Key("k").Build()).ToString(); err != nil || got != "v\x00\xff" {
		t.Fatalf("after Resume GET = %q, %v", got, err)
	}

	s.FlushAll(t)
	if n, err := s.Do(t, 3, "DBSIZE").AsInt64(); err != nil || n != 0 {
		t.Fatalf("DBSIZE after FlushAll = %d, %v", n, err)
	}
	s.Stop(t)
	if s.Running() {
		t.Fatal("running after Stop")
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	t.Parallel()
	cfg := newConfig([]Option{WithConfig("maxmemory-policy no-such-policy")})
	dir := t.TempDir()
	_, err := launch(cfg, dir, dir)
	if err == nil {
		t.Fatal("a server with a bad configuration started")
	}
	if !strings.Contains(err.Error(), "no-such-policy") && !strings.Contains(err.Error(), "maxmemory-policy") {
		t.Fatalf("error does not show the log: %v", err)
	}
}

func TestPasswordAndACL(t *testing.T) {
	t.Parallel()
	s := Start(t, WithPassword("s3cret pw"), WithACLUser("alice", "wonder", "+@all", "~app:*"))
	if got := mustString(t, s.Do(t, 0, "PING")); got != "PONG" {
		t.Fatalf("PING = %q", got)
	}
	u, err := url.Parse(s.URL("redis", 1))
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); pw != "s3cret pw" {
		t.Fatalf("URL password %q", pw)
	}
	opt, err := rueidis.ParseURL(s.URLAs("redis", "alice", "wonder", 1))
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxT(t)
	if who, err := c.Do(ctx, c.B().AclWhoami().Build()).ToString(); err != nil || who != "alice" {
		t.Fatalf("ACL WHOAMI = %q, %v", who, err)
	}
	if err := c.Do(ctx, c.B().Set().Key("app:1").Value("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, c.B().Set().Key("other").Value("x").Build()).Error(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("write outside the allowed keys: %v", err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	s := Start(t, WithTLS())
	ca, cert, key := s.TLSFiles()
	for _, f := range []string{ca, cert, key} {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(s.URL("rediss", 2))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("tls-ca-cert-file") != ca || q.Get("tls-cert-file") != cert || q.Get("tls-key-file") != key || u.Path != "/2" {
		t.Fatalf("URL %s", u)
	}

	// A client built only from the files, as a user of the URL would.
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := s.TLSConfig().RootCAs
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{s.Addr},
		TLSConfig:    &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		DisableCache: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := c.Do(ctxT(t), c.B().Ping().Build()).ToString(); err != nil || got != "PONG" {
		t.Fatalf("PING over TLS = %q, %v", got, err)
	}

	// Without trusting the CA the handshake fails.
	_, err = rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{s.Addr},
		TLSConfig:    &tls.Config{MinVersion: tls.VersionTLS12},
		DisableCache: true,
	})
	if err == nil {
		t.Fatal("TLS connection without the CA succeeded")
	}
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	s := Start(t, WithMutualTLS())
	if got := mustString(t, s.Do(t, 0, "PING")); got != "PONG" {
		t.Fatalf("PING = %q", got)
	}
	// Trusting the CA but presenting no certificate is refused.
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{s.Addr},
		TLSConfig:    &tls.Config{RootCAs: s.TLSConfig().RootCAs, MinVersion: tls.VersionTLS12},
		DisableCache: true,
		DisableRetry: true,
	})
	if err == nil {
		defer c.Close()
		if err := c.Do(ctxT(t), c.B().Ping().Build()).Error(); err == nil {
			t.Fatal("mutual TLS accepted a client without a certificate")
		}
	}
}

func TestUnixSocket(t *testing.T) {
	t.Parallel()
	s := Start(t, WithUnixSocket())
	if s.Socket == "" || !filepath.IsAbs(s.Socket) {
		t.Fatalf("Socket = %q", s.Socket)
	}
	want := "unix://" + s.Socket + "?db=3"
	if got := s.URL("unix", 3); got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	opt, err := rueidis.ParseURL(s.URL("unix", 3))
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxT(t)
	if err := c.Do(ctx, c.B().Set().Key("via").Value("unix").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if got := mustString(t, s.Do(t, 3, "GET", "via")); got != "unix" {
		t.Fatalf("GET over TCP = %q", got)
	}
}

func TestNewDBIsolation(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]string{}
	for i := range 8 {
		name := fmt.Sprintf("db%d", i)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, db := NewDB(t)
			if db <= 0 || db >= sharedDatabases {
				t.Fatalf("db %d", db)
			}
			mu.Lock()
			if other, dup := seen[db]; dup {
				mu.Unlock()
				t.Fatalf("db %d handed to %s and %s", db, other, name)
			}
			seen[db] = name
			mu.Unlock()
			if n, err := s.Do(t, db, "DBSIZE").AsInt64(); err != nil || n != 0 {
				t.Fatalf("fresh DB has %d keys (%v)", n, err)
			}
			c := s.Client(t, db)
			ctx := ctxT(t)
			for k := range 20 {
				if err := c.Do(ctx, c.B().Set().Key("k"+strconv.Itoa(k)).Value(name).Build()).Error(); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(20 * time.Millisecond) // overlap with the other subtests
			if n, err := s.Do(t, db, "DBSIZE").AsInt64(); err != nil || n != 20 {
				t.Fatalf("DBSIZE = %d (%v), want 20", n, err)
			}
			for k := range 20 {
				if v := mustString(t, s.Do(t, db, "GET", "k"+strconv.Itoa(k))); v != name {
					t.Fatalf("k%d = %q, written by another test", k, v)
				}
			}
		})
	}
	t.Run("shared server is protected", func(t *testing.T) {
		s, _ := NewDB(t)
		if !s.shared || !s.Running() {
			t.Fatal("NewDB did not return the shared server")
		}
	})
}

func TestNewDBFlushedAtCleanup(t *testing.T) {
	var s *Server
	var db int
	ok := t.Run("writer", func(t *testing.T) {
		s, db = NewDB(t)
		if err := s.Do(t, db, "SET", "left", "behind").Error(); err != nil {
			t.Fatal(err)
		}
	})
	if !ok {
		return
	}
	if n, err := s.Do(t, db, "DBSIZE").AsInt64(); err != nil || n != 0 {
		t.Fatalf("db %d has %d keys after its test ended (%v)", db, n, err)
	}
}
