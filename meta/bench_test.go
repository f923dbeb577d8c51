package meta_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// benchURL returns the meta URL of a database the benchmarks may wipe:
// RUEIDISFS_BENCH_META when set, otherwise a fresh database on the test
// binary's own redis-server.
func benchURL(b *testing.B) string {
	if u := os.Getenv("RUEIDISFS_BENCH_META"); u != "" {
		return u
	}
	srv, db := redistest.NewDB(b)
	return srv.URL("redis", db)
}

func benchEngine(b *testing.B, url string, cache bool) *meta.Engine {
	b.Helper()
	ctx := context.Background()
	if !cache {
		if strings.Contains(url, "?") {
			url += "&client-cache=false"
		} else {
			url += "?client-cache=false"
		}
	}
	e, err := meta.Open(ctx, url, meta.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(context.Background()) })
	return e
}

var benchDirSeq atomic.Int64

// benchDir makes a fresh directory for one sub-benchmark.
func benchDir(b *testing.B, e *meta.Engine, name string) meta.Ino {
	b.Helper()
	ino, _, err := e.Mkdir(bg, meta.RootInode, fmt.Sprintf("%s-%d", name, benchDirSeq.Add(1)), 0o755, 0)
	if err != nil {
		b.Fatal(err)
	}
	return ino
}

// BenchmarkMetaOps runs, serially on one client against one Redis, the same
// operations as JuiceFS's own metadata benchmarks (pkg/meta/benchmarks_test.go
// of JuiceFS 1.4.1), with the client-side cache on and off.
func BenchmarkMetaOps(b *testing.B) {
	for _, cache := range []bool{true, false} {
		b.Run(fmt.Sprintf("cache=%v", cache), func(b *testing.B) {
			url := benchURL(b)
			setup := benchEngine(b, url, true)
			f := &codec.Format{Name: "bench", UUID: "bench", Storage: "file", BlockSize: 4096, MetaVersion: 1, DirStats: true}
			if err := setup.Reset(bg); err != nil { // the benchmark database may be wiped
				b.Fatal(err)
			}
			if err := setup.Init(bg, f, true); err != nil {
				b.Fatal(err)
			}
			e := benchEngine(b, url, cache)
			if err := e.NewSession(bg, false); err != nil {
				b.Fatal(err)
			}
			runMetaOps(b, e)
		})
	}
}

func runMetaOps(b *testing.B, e *meta.Engine) {
	// One PING through the engine's client: the round trip every other
	// figure contains (scripts/bench-compare.sh subtracts it).
	b.Run("roundtrip", func(b *testing.B) {
		c := e.Client()
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if err := c.Do(bg, c.B().Ping().Build()).Error(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mkdir", func(b *testing.B) {
		p := benchDir(b, e, "mkdir")
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if _, _, err := e.Mkdir(bg, p, fmt.Sprintf("d%d", i), 0o755, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mvdir", func(b *testing.B) {
		p := benchDir(b, e, "mvdir")
		if _, _, err := e.Mkdir(bg, p, "d0", 0o755, 0); err != nil {
			b.Fatal(err)
		}
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if _, _, err := e.Rename(bg, p, fmt.Sprintf("d%d", i), p, fmt.Sprintf("d%d", i+1), 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mvdir_across", func(b *testing.B) {
		// Between two parents four levels down: the move reads (from the
		// cache) and re-checks every ancestor of the destination, so that
		// no rename can close a cycle.
		p := benchDir(b, e, "mvdir_across")
		var parents [2]meta.Ino
		for i := range parents {
			d := p
			for depth := 0; depth < 4; depth++ {
				var err error
				if d, _, err = e.Mkdir(bg, d, fmt.Sprintf("p%d", i), 0o755, 0); err != nil {
					b.Fatal(err)
				}
			}
			parents[i] = d
		}
		if _, _, err := e.Mkdir(bg, parents[0], "d", 0o755, 0); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, _, err := e.Rename(bg, parents[i%2], "d", parents[(i+1)%2], "d", 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rmdir", func(b *testing.B) {
		p := benchDir(b, e, "rmdir")
		m := startMeter(b, e)
		defer m.done()
		m.batched(func(i int) {
			if _, _, err := e.Mkdir(bg, p, fmt.Sprintf("dir%d", i), 0o755, 0); err != nil {
				b.Fatal(err)
			}
		}, func(i int) {
			if err := e.Rmdir(bg, p, fmt.Sprintf("dir%d", i), false); err != nil {
				b.Fatal(err)
			}
		})
	})
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("readdir_%s", map[int]string{10: "10", 1000: "1k"}[n]), func(b *testing.B) {
			p := benchDir(b, e, "readdir")
			for j := 0; j < n; j++ {
				ino, _, err := e.Create(bg, p, fmt.Sprintf("f%d", j), 0o644, 0o022, 0)
				if err != nil {
					b.Fatal(err)
				}
				e.Release(bg, ino)
			}
			m := startMeter(b, e)
			defer m.done()
			for i := 0; i < b.N; i++ {
				ents, err := e.Readdir(bg, p, true)
				if err != nil {
					b.Fatal(err)
				}
				if len(ents) != n+2 {
					b.Fatalf("%d entries", len(ents))
				}
			}
		})
	}
	b.Run("mknod", func(b *testing.B) {
		p := benchDir(b, e, "mknod")
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if _, _, err := e.Mknod(bg, p, fmt.Sprintf("f%d", i), codec.TypeFile, 0o644, 0o022, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create", func(b *testing.B) {
		p := benchDir(b, e, "create")
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			ino, _, err := e.Create(bg, p, fmt.Sprintf("f%d", i), 0o644, 0o022, 0)
			if err != nil {
				b.Fatal(err)
			}
			e.Release(bg, ino)
		}
	})
	b.Run("rename", func(b *testing.B) {
		p := benchDir(b, e, "rename")
		mustBenchCreate(b, e, p, "f0")
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if _, _, err := e.Rename(bg, p, fmt.Sprintf("f%d", i), p, fmt.Sprintf("f%d", i+1), 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unlink", func(b *testing.B) {
		p := benchDir(b, e, "unlink")
		m := startMeter(b, e)
		defer m.done()
		m.batched(func(i int) {
			mustBenchCreate(b, e, p, fmt.Sprintf("file%d", i))
		}, func(i int) {
			if err := e.Unlink(bg, p, fmt.Sprintf("file%d", i), false); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("lookup", func(b *testing.B) {
		p := benchDir(b, e, "lookup")
		mustBenchCreate(b, e, p, "file")
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if _, _, err := e.Lookup(bg, p, "file"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("getattr", func(b *testing.B) {
		p := benchDir(b, e, "getattr")
		ino := mustBenchCreate(b, e, p, "file")
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if _, err := e.GetAttr(bg, ino); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("access", func(b *testing.B) {
		p := benchDir(b, e, "access")
		ino := mustBenchCreate(b, e, p, "file")
		ctx := meta.WithCaller(bg, meta.Caller{Uid: 100, Gids: []uint32{1}})
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if err := e.Access(ctx, ino, meta.MayRead, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("link", func(b *testing.B) {
		p := benchDir(b, e, "link")
		ino := mustBenchCreate(b, e, p, "source")
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if _, err := e.Link(bg, ino, p, fmt.Sprintf("l%d", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("symlink", func(b *testing.B) {
		p := benchDir(b, e, "symlink")
		mustBenchCreate(b, e, p, "source")
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if _, _, err := e.Symlink(bg, p, fmt.Sprintf("s%d", i), "/benchSymlink/source"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("newchunk", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := e.NewSlice(bg); err != nil {
				b.Fatal(err)
			}
		}
	})
	runMoreMetaOps(b, e)
}

func mustBenchCreate(b *testing.B, e *meta.Engine, parent meta.Ino, name string) meta.Ino {
	b.Helper()
	ino, _, err := e.Create(bg, parent, name, 0o644, 0o022, 0)
	if err != nil {
		b.Fatal(err)
	}
	e.Release(bg, ino)
	return ino
}

// BenchmarkParallel runs metadata operations from 1, 4, 16 and 64
// goroutines of one client and reports operations per second: with
// auto-pipelining, throughput should grow with the number of goroutines until
// Redis or the CPU saturates. Each goroutine works in its own directory
// (create, stat, rename, unlink a file); "shared" has all of them in one
// directory.
func BenchmarkParallel(b *testing.B) {
	url := benchURL(b)
	setup := benchEngine(b, url, true)
	f := &codec.Format{Name: "bench", UUID: "bench", Storage: "file", BlockSize: 4096, MetaVersion: 1, DirStats: true}
	if err := setup.Reset(bg); err != nil {
		b.Fatal(err)
	}
	if err := setup.Init(bg, f, true); err != nil {
		b.Fatal(err)
	}
	for _, cache := range []bool{true, false} {
		e := benchEngine(b, url, cache)
		if err := e.NewSession(bg, false); err != nil {
			b.Fatal(err)
		}
		for _, shared := range []bool{false, true} {
			for _, n := range []int{1, 4, 16, 64} {
				name := fmt.Sprintf("cache=%v/shared=%v/goroutines=%d", cache, shared, n)
				b.Run(name, func(b *testing.B) {
					shareDir := benchDir(b, e, "par")
					var next atomic.Int64
					b.ResetTimer()
					start := time.Now()
					var wg sync.WaitGroup
					errs := make(chan error, n)
					for g := 0; g < n; g++ {
						wg.Add(1)
						go func(g int) {
							defer wg.Done()
							dir := shareDir
							if !shared {
								d, _, err := e.Mkdir(bg, shareDir, fmt.Sprintf("g%d", g), 0o755, 0)
								if err != nil {
									errs <- err
									return
								}
								dir = d
							}
							for {
								i := next.Add(1)
								if i > int64(b.N) {
									return
								}
								if err := parallelOp(e, dir, fmt.Sprintf("f%d", i)); err != nil {
									errs <- err
									return
								}
							}
						}(g)
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						b.Fatal(err)
					}
					b.ReportMetric(float64(b.N*4)/time.Since(start).Seconds(), "ops/s")
				})
			}
		}
	}
}

// parallelOp is four metadata operations on one file.
func parallelOp(e *meta.Engine, dir meta.Ino, name string) error {
	ino, _, err := e.Create(bg, dir, name, 0o644, 0, 0)
	if err != nil {
		return err
	}
	e.Release(bg, ino)
	if _, _, err := e.Lookup(bg, dir, name); err != nil {
		return err
	}
	if _, _, err := e.Rename(bg, dir, name, dir, name+".r", 0); err != nil {
		return err
	}
	return e.Unlink(bg, dir, name+".r", false)
}
