package fileio_test

import (
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/fileio"
	"github.com/rueidisfs/rueidisfs/internal/datatest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore/file"
)

// Throughput of the file API on a `file` bucket, as `juicefs bench` measures
// a mount: one big file written sequentially in 1 MiB writes, then read
// back in 1 MiB reads; and many 128 KiB files written, then read whole.
// Reads go through a fresh chunk store (empty memory cache, no disk cache),
// as after a remount. The bucket is a temporary directory
// (BENCH_BUCKET_DIR puts it elsewhere, e.g. on the disk juicefs is compared
// on); BENCH_BIG_MIB (default 1024) and BENCH_SMALL_FILES (default 1000)
// set the sizes. scripts/bench-fileio.sh runs these next to the official
// client's mount.

func newBenchVolume(b *testing.B) *volume {
	o := volumeOpts{blockKiB: 4096}
	if dir := os.Getenv("BENCH_BUCKET_DIR"); dir != "" {
		root, err := os.MkdirTemp(dir, "fileio-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(root) })
		st, err := file.New(root)
		if err != nil {
			b.Fatal(err)
		}
		o.bucket = &datatest.Dir{Store: st, Root: root}
	}
	return newVolume(b, o)
}

// freshReader is a file API over a new chunk store with empty caches.
func (v *volume) freshReader(b testing.TB) *fileio.FS {
	o := v.opts
	o.storage, o.chunk = nil, chunk.Config{} // plain storage, fresh caches
	store := v.openStore(v.format, o)
	fs := fileio.New(v.e, store, fileio.Options{})
	b.Cleanup(func() { fs.Close(ctx); store.Close() })
	return fs
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil || v <= 0 {
		return def
	}
	return v
}

func mibPerSec(n int, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

func BenchmarkBigFile(b *testing.B) {
	v := newBenchVolume(b)
	size := envInt("BENCH_BIG_MIB", 1024) << 20
	buf := randomBytes(1, 1<<20)
	var wtime, rtime time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("big-%d", i)
		start := time.Now()
		f := v.create(name)
		for off := 0; off < size; off += len(buf) {
			if _, err := f.WriteAt(ctx, buf, int64(off)); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(ctx); err != nil {
			b.Fatal(err)
		}
		wtime += time.Since(start)
		start = time.Now()
		fs := v.freshReader(b)
		r, _, err := fs.Open(ctx, f.Ino(), 0)
		if err != nil {
			b.Fatal(err)
		}
		p := make([]byte, 1<<20)
		for off := 0; ; off += len(p) {
			n, err := r.ReadAt(ctx, p, int64(off))
			if n == 0 || err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		r.Close(ctx)
		rtime += time.Since(start)
	}
	b.ReportMetric(mibPerSec(size*b.N, wtime), "write-MiB/s")
	b.ReportMetric(mibPerSec(size*b.N, rtime), "read-MiB/s")
}

func BenchmarkSmallFiles(b *testing.B) {
	v := newBenchVolume(b)
	count := envInt("BENCH_SMALL_FILES", 1000)
	data := randomBytes(2, 128<<10)
	var wtime, rtime time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		inos := make([]meta.Ino, count)
		for j := range count {
			f := v.create(fmt.Sprintf("small-%d-%d", i, j))
			if _, err := f.WriteAt(ctx, data, 0); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(ctx); err != nil {
				b.Fatal(err)
			}
			inos[j] = f.Ino()
		}
		wtime += time.Since(start)
		start = time.Now()
		fs := v.freshReader(b)
		p := make([]byte, len(data))
		for _, ino := range inos {
			r, _, err := fs.Open(ctx, ino, 0)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.ReadAt(ctx, p, 0); err != nil && err != io.EOF {
				b.Fatal(err)
			}
			r.Close(ctx)
		}
		rtime += time.Since(start)
	}
	b.ReportMetric(float64(count*b.N)/wtime.Seconds(), "write-files/s")
	b.ReportMetric(float64(count*b.N)/rtime.Seconds(), "read-files/s")
}
