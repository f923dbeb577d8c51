package meta_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestReadYourWrites: after an operation returns, every later read by the
// same client sees its effect, even while other goroutines keep reads of the
// same keys in flight (so that old replies race with the write).
func TestReadYourWrites(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	f := mustCreate(t, e, bg, d, "f", 0o644)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				e.GetAttr(bg, f)
				e.Lookup(bg, d, "x")
				e.Lookup(bg, d, "f")
				e.Readdir(bg, d, true)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	checkReadYourWrites(t, e, d, f, 100)
}

// checkReadYourWrites changes f (in d) and creates and removes d/x, rounds
// times, each change checked by the reads that follow it: getattr, lookup
// and readdir must all see it at once.
func checkReadYourWrites(t *testing.T, e *meta.Engine, d, f meta.Ino, rounds int) {
	t.Helper()
	for i := 0; i < rounds; i++ {
		mode := uint16(0o600 + i%64)
		if _, err := e.SetAttrForTest(bg, f, mode, 0, 0); err != nil {
			t.Fatal(err)
		}
		if a, err := e.GetAttr(bg, f); err != nil || a.Mode != mode {
			t.Fatalf("iteration %d: getattr after chmod: mode %o, want %o (%v)", i, a.Mode, mode, err)
		}
		if _, a, err := e.Lookup(bg, d, "f"); err != nil || a.Mode != mode {
			t.Fatalf("iteration %d: lookup after chmod: mode %o, want %o (%v)", i, a.Mode, mode, err)
		}
		x := mustCreate(t, e, bg, d, "x", 0o644)
		if ino, _, err := e.Lookup(bg, d, "x"); err != nil || ino != x {
			t.Fatalf("iteration %d: lookup after create: %d %v", i, ino, err)
		}
		if !hasEntry(t, e, d, "x") {
			t.Fatalf("iteration %d: readdir after create misses x", i)
		}
		if err := e.Unlink(bg, d, "x", false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.Lookup(bg, d, "x"); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("iteration %d: lookup after unlink: %v", i, err)
		}
		if hasEntry(t, e, d, "x") {
			t.Fatalf("iteration %d: readdir after unlink still lists x", i)
		}
	}
}

// TestReadYourWritesAlone: a caller alone sends its writes on a connection
// of its own (direct-when-alone), not the one Redis tracks for the cache,
// so the invalidations of what it wrote come back on another connection,
// at their own pace. Each read right after a write must still see it.
func TestReadYourWritesAlone(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	f := mustCreate(t, e, bg, d, "f", 0o644)
	for range 100 { // alone long enough for direct calls
		if _, err := e.GetAttr(bg, f); err != nil {
			t.Fatal(err)
		}
		if _, err := e.SetAttrForTest(bg, f, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	c := e.Client()
	piped, err := c.Do(bg, c.B().ClientId().Build().ToPipe()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if id, err := c.Do(bg, c.B().ClientId().Build()).AsInt64(); err != nil || id == piped {
		t.Fatalf("a lone call went on connection %d (%v), the pipeline's is %d: not a direct call", id, err, piped)
	}
	checkReadYourWrites(t, e, d, f, 300)
}

// TestDirectCallsPausedByDirQuotas: while the engine knows a directory
// quota, its calls keep the pipeline even when alone. Charging a quota
// after a change reads the cached ancestry, which only a reply on the
// tracked connection orders after the invalidations sent before it.
func TestDirectCallsPausedByDirQuotas(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	c := e.Client()
	direct := func() bool {
		for range 100 { // alone long enough for direct calls
			if _, err := e.GetAttr(bg, d); err != nil {
				t.Fatal(err)
			}
			if _, err := e.SetAttrForTest(bg, d, 0o755, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		piped, err := c.Do(bg, c.B().ClientId().Build().ToPipe()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.Do(bg, c.B().ClientId().Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return id != piped
	}
	if !direct() {
		t.Fatal("no direct calls without a directory quota")
	}
	if _, err := e.Quotas().Set(bg, meta.QuotaDir, "/d", -1, -1, false, false); err != nil {
		t.Fatal(err)
	}
	if direct() {
		t.Fatal("direct calls while a directory quota is known")
	}
	if err := e.Quotas().Delete(bg, meta.QuotaDir, "/d"); err != nil {
		t.Fatal(err)
	}
	if !direct() {
		t.Fatal("no direct calls once the directory quota is gone")
	}
}

// TestAbandonedJoinedRead: a GetAttr joins a read of the same attribute
// already in flight; the first reader gives up (context cancelled) while the
// read is still on the wire, held by a proxy. The second reader, whose
// context is alive, must get the attribute, not the first reader's context
// error. (Read-your-writes around abandoned reads needs the read and the
// write on different connections, as when a caller alone sends its writes
// on a connection of its own (direct-when-alone) while cached reads use the
// pipeline's: the cache store's stress test covers it, its writer's writes
// reaching the tracking connections only as pushes; TestReadYourWritesAlone
// checks the engine there.)
func TestAbandonedJoinedRead(t *testing.T) {
	v := newVolume(t, 0)
	f := mustCreate(t, v.e, bg, meta.RootInode, "f", 0o644)
	proxy := redistest.StartProxy(t, v.srv)
	// Without rueidis' own retries, which would hide the error by sending
	// the read again for the joined reader.
	e, err := meta.Open(bg, proxy.URL("redis", v.db)+"?io-retries=0", meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(bg)
	release := proxy.HoldReplies("GET", v.e.Keys().Inode(f))
	defer release()

	ctxA, cancelA := context.WithCancel(bg)
	aDone := make(chan error, 1)
	go func() { _, err := e.GetAttr(ctxA, f); aDone <- err }()
	voltest.Eventually(t, 2*time.Second, "the first read reaches the held connection", voltest.Holds(func() bool { return proxy.Held() > 0 }))
	jDone := make(chan error, 1)
	joined := e.CacheStats().Joined
	go func() {
		a, err := e.GetAttr(bg, f)
		if err == nil && a.Mode != 0o644 {
			err = fmt.Errorf("mode %o", a.Mode)
		}
		jDone <- err
	}()
	voltest.Eventually(t, 2*time.Second, "the second read joins the first", voltest.Holds(func() bool { return e.CacheStats().Joined > joined }))
	cancelA()
	if err := <-aDone; !errors.Is(err, context.Canceled) && !errors.Is(err, syscall.EINTR) {
		t.Fatalf("abandoned read: %v", err)
	}
	release()
	if err := <-jDone; err != nil {
		t.Fatalf("a reader that joined the abandoned read got %v", err)
	}
	if a, err := e.GetAttr(bg, f); err != nil || a.Mode != 0o644 {
		t.Fatalf("getattr: mode %o (%v)", a.Mode, err)
	}
}

func hasEntry(t *testing.T, e *meta.Engine, dir meta.Ino, name string) bool {
	t.Helper()
	ents, err := e.Readdir(bg, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		if en.Name == name {
			return true
		}
	}
	return false
}

// cachedReaderCases runs, for every kind of cached data, a read that warms
// the reader's cache, then change() made by someone else, and waits until
// the reader sees the change.
type cacheCase struct {
	name   string
	warm   func(r *meta.Engine) // read once so the value is cached
	change func()               // made by another client or raw Redis
	seen   func(r *meta.Engine) bool
}

func runCacheCases(t *testing.T, r *meta.Engine, cases []cacheCase) {
	t.Helper()
	for _, c := range cases {
		c.warm(r)
		c.warm(r) // second read is a cache hit
		hits := r.CacheStats().Hits
		if hits == 0 && r.CacheEnabled() {
			t.Fatalf("%s: no cache hit after warming", c.name)
		}
		c.change()
		d := voltest.Eventually(t, 2*time.Second, c.name, voltest.Holds(func() bool { return c.seen(r) }))
		t.Logf("%-28s seen after %v", c.name, d)
	}
}

func TestInvalidationAcrossClients(t *testing.T) {
	v := newVolume(t, 0)
	w := v.e
	r := v.open(meta.Options{})
	d := mustMkdir(t, w, bg, meta.RootInode, "d", 0o755)
	f := mustCreate(t, w, bg, d, "f", 0o644)
	l, _, err := w.Symlink(bg, d, "l", "target")
	if err != nil {
		t.Fatal(err)
	}
	raw := v.srv.Client(t, v.db)
	var listed meta.Ino
	runCacheCases(t, r, []cacheCase{
		{"attr (other engine)", func(r *meta.Engine) { r.GetAttr(bg, f) },
			func() { w.SetAttrForTest(bg, f, 0o600, 0, 0) },
			func(r *meta.Engine) bool { a, _ := r.GetAttr(bg, f); return a.Mode == 0o600 }},
		{"negative lookup (create)", func(r *meta.Engine) { r.Lookup(bg, d, "new") },
			func() { mustCreate(t, w, bg, d, "new", 0o644) },
			func(r *meta.Engine) bool { _, _, err := r.Lookup(bg, d, "new"); return err == nil }},
		{"positive lookup (unlink)", func(r *meta.Engine) { r.Lookup(bg, d, "new") },
			func() { w.Unlink(bg, d, "new", false) },
			func(r *meta.Engine) bool { _, _, err := r.Lookup(bg, d, "new"); return errors.Is(err, syscall.ENOENT) }},
		{"readdir (create)", func(r *meta.Engine) { r.Readdir(bg, d, true) },
			func() { mustCreate(t, w, bg, d, "listed", 0o644) },
			func(r *meta.Engine) bool { return hasEntry(t, r, d, "listed") }},
		{"readdir attrs (chmod)", func(r *meta.Engine) { r.Readdir(bg, d, true) },
			func() { w.SetAttrForTest(bg, f, 0o640, 0, 0) },
			func(r *meta.Engine) bool { return modeInListing(t, r, d, "f") == 0o640 }},
		{"symlink (unlink)", func(r *meta.Engine) { r.ReadLink(bg, l) },
			func() { w.Unlink(bg, d, "l", false) },
			func(r *meta.Engine) bool { _, err := r.ReadLink(bg, l); return errors.Is(err, syscall.ENOENT) }},
		{"attr (raw SET)", func(r *meta.Engine) { r.GetAttr(bg, f) },
			func() {
				a, _ := w.GetAttr(bg, f)
				a.Mode = 0o604
				if err := raw.Do(bg, raw.B().Set().Key("i"+f.String()).Value(string(a.Marshal())).Build()).Error(); err != nil {
					t.Fatal(err)
				}
			},
			func(r *meta.Engine) bool { a, _ := r.GetAttr(bg, f); return a.Mode == 0o604 }},
		{"entry (raw HDEL)", func(r *meta.Engine) { listed, _, _ = r.Lookup(bg, d, "listed") },
			func() {
				raw.Do(bg, raw.B().Hdel().Key("d"+d.String()).Field("listed").Build())
			},
			func(r *meta.Engine) bool {
				_, _, err := r.Lookup(bg, d, "listed")
				return errors.Is(err, syscall.ENOENT)
			}},
		{"setting (other engine)", func(r *meta.Engine) { r.Load(bg, false) },
			func() {
				f := *w.Format()
				f.TrashDays = 7
				if err := w.Init(bg, &f, false); err != nil {
					t.Fatal(err)
				}
			},
			func(r *meta.Engine) bool { f, _ := r.Load(bg, false); return f != nil && f.TrashDays == 7 }},
	})
	// The raw HDEL above removed the entry of a live file behind the engine's
	// back: put it back so that the volume is consistent again.
	ent := codec.Entry{Typ: codec.TypeFile, Inode: listed}
	if err := raw.Do(bg, raw.B().Hset().Key("d"+d.String()).FieldValue().FieldValue("listed", string(ent.Marshal())).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	v.check(r)
}

func modeInListing(t *testing.T, e *meta.Engine, dir meta.Ino, name string) uint16 {
	ents, err := e.Readdir(bg, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		if en.Name == name {
			return en.Attr.Mode
		}
	}
	return 0
}

// TestInvalidationFromChildProcess has a separate OS process (this test
// binary re-executed) change the volume while this process holds cached
// values.
func TestInvalidationFromChildProcess(t *testing.T) {
	if os.Getenv("RUEIDISFS_CHILD_URL") != "" {
		t.Skip("runs as the parent only")
	}
	v := newVolume(t, 0)
	r := v.e
	d := mustMkdir(t, r, bg, meta.RootInode, "d", 0o755)
	f := mustCreate(t, r, bg, d, "f", 0o644)
	child := func(op string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RUEIDISFS_CHILD_URL="+v.url, "RUEIDISFS_CHILD_OP="+op,
			"RUEIDISFS_CHILD_DIR="+d.String(), "RUEIDISFS_CHILD_FILE="+f.String())
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "PASS") {
			t.Fatalf("child %s: %v\n%s", op, err, out)
		}
	}
	runCacheCases(t, r, []cacheCase{
		{"attr (child process)", func(r *meta.Engine) { r.GetAttr(bg, f) },
			func() { child("chmod") },
			func(r *meta.Engine) bool { a, _ := r.GetAttr(bg, f); return a.Mode == 0o611 }},
		{"lookup (child process)", func(r *meta.Engine) { r.Lookup(bg, d, "child") },
			func() { child("create") },
			func(r *meta.Engine) bool { _, _, err := r.Lookup(bg, d, "child"); return err == nil }},
	})
}

// TestChildWriter is the child side of TestInvalidationFromChildProcess.
func TestChildWriter(t *testing.T) {
	url := os.Getenv("RUEIDISFS_CHILD_URL")
	if url == "" {
		t.Skip("runs only as the child of TestInvalidationFromChildProcess")
	}
	e, err := meta.Open(bg, url, meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(bg)
	if err := e.NewSession(bg, true); err != nil {
		t.Fatal(err)
	}
	dir, _ := strconv.ParseUint(os.Getenv("RUEIDISFS_CHILD_DIR"), 10, 64)
	file, _ := strconv.ParseUint(os.Getenv("RUEIDISFS_CHILD_FILE"), 10, 64)
	switch os.Getenv("RUEIDISFS_CHILD_OP") {
	case "chmod":
		_, err = e.SetAttrForTest(bg, meta.Ino(file), 0o611, 0, 0)
	case "create":
		var ino meta.Ino
		ino, _, err = e.Create(bg, meta.Ino(dir), "child", 0o644, 0, 0)
		e.Release(bg, ino)
	}
	if err != nil {
		t.Fatal(err)
	}
	e.Sync(bg)
}

// TestCacheKillSwitch: with the kill switch the engine's connection does not
// enable tracking at all; with caching on it tracks in OPTIN mode.
func TestCacheKillSwitch(t *testing.T) {
	srv, db := redistest.NewDB(t)
	for _, c := range []struct {
		name    string
		url     string
		env     map[string]string
		enabled bool
	}{
		{"default", srv.URL("redis", db), nil, true},
		{"url option", srv.URL("redis", db) + "?client-cache=false", nil, false},
		{"environment", srv.URL("redis", db), map[string]string{"RUEIDISFS_CLIENT_CACHE": "0"}, false},
		{"environment beats url", srv.URL("redis", db) + "?client-cache=true", map[string]string{"RUEIDISFS_CLIENT_CACHE": "off"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			getenv := func(k string) string { return c.env[k] }
			e, err := meta.Open(bg, c.url, meta.Options{Getenv: getenv})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(bg)
			if e.CacheEnabled() != c.enabled {
				t.Fatalf("CacheEnabled %v", e.CacheEnabled())
			}
			info, err := e.Client().Do(bg, e.Client().B().ClientTrackinginfo().Build()).ToMap()
			if err != nil {
				t.Fatal(err)
			}
			fm := info["flags"]
			flags, _ := fm.AsStrSlice()
			got := strings.Join(flags, ",")
			want := "off"
			if c.enabled {
				want = "on,optin"
			}
			if got != want {
				t.Fatalf("CLIENT TRACKINGINFO flags %q, want %q", got, want)
			}
			// Reads work either way, and are cache hits only when enabled.
			e.GetAttr(bg, meta.RootInode)
			e.GetAttr(bg, meta.RootInode)
			if hits := e.CacheStats().Hits; (hits > 0) != c.enabled {
				t.Fatalf("cache hits %d", hits)
			}
		})
	}
}

// BenchmarkInvalidationDelay measures how long a change made by one client
// takes to become visible in another client's cache.
func BenchmarkInvalidationDelay(b *testing.B) {
	url := benchURL(b)
	w := benchEngine(b, url, true)
	if err := w.Init(bg, &codec.Format{Name: "inval", UUID: "u", Storage: "file", BlockSize: 4096, MetaVersion: 1, DirStats: true}, true); err != nil {
		b.Fatal(err)
	}
	r := benchEngine(b, url, true)
	if _, err := r.Load(bg, false); err != nil {
		b.Fatal(err)
	}
	f := mustBenchCreate(b, w, meta.RootInode, fmt.Sprintf("f%d", time.Now().UnixNano()))
	var total time.Duration
	var n atomic.Int64
	delays := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mode := uint16(0o600 + i%64)
		r.GetAttr(bg, f)
		r.GetAttr(bg, f)
		if _, err := w.SetAttrForTest(bg, f, mode, 0, 0); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for {
			a, _ := r.GetAttr(bg, f)
			if a.Mode == mode {
				break
			}
			n.Add(1)
			time.Sleep(20 * time.Microsecond) // poll like a reader, leaving the CPU to the connection
		}
		d := time.Since(start)
		total += d
		delays = append(delays, d)
	}
	slices.Sort(delays)
	at := func(q float64) float64 { return float64(delays[int(q*float64(len(delays)-1))].Microseconds()) }
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-to-visible")
	b.ReportMetric(at(0.5), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
	b.ReportMetric(at(1), "max-µs")
	b.ReportMetric(float64(n.Load())/float64(b.N), "stale-reads/op")
}
