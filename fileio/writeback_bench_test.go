package fileio_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/datatest"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
)

// BenchmarkWriteback writes BENCH_SMALL_FILES (default 200) files of 128
// KiB, each closed before the next, on a real S3 server (versitygw on
// loopback) whose every upload is delayed by BENCH_PUT_LATENCY (default
// 20ms, a cloud object storage's latency; loopback has none): "direct"
// waits for every upload at close; "writeback" stages the blocks on a disk
// cache in a temporary directory and uploads them in the background.
// Reported: files written per second (what a program waiting for close(2)
// sees) and, for writeback, the seconds until the staging area drained.
func BenchmarkWriteback(b *testing.B) {
	for _, writeback := range []bool{false, true} {
		name := map[bool]string{false: "direct", true: "writeback"}[writeback]
		b.Run(name, func(b *testing.B) {
			o := volumeOpts{blockKiB: 4096, stack: func(f *codec.Format) {
				srv := s3test.Shared(b)
				f.Storage, f.Bucket = "s3", srv.Endpoint+"/"+srv.MakeBucket(b)
				f.AccessKey, f.SecretKey = s3test.AccessKey, s3test.SecretKey
			}}
			if writeback {
				o.chunk = chunk.Config{CacheDir: b.TempDir(), CacheSize: 1 << 30, FreeSpaceRatio: 1e-5, Writeback: true}
			}
			latency := 20 * time.Millisecond
			if d, err := time.ParseDuration(os.Getenv("BENCH_PUT_LATENCY")); err == nil {
				latency = d
			}
			o.storage = func(st datatest.Storage) datatest.Storage {
				f := datatest.NewFaulty(st)
				f.SetHooks(func(string) error { time.Sleep(latency); return nil }, nil)
				return f
			}
			v := newVolume(b, o)
			count := envInt("BENCH_SMALL_FILES", 200)
			data := randomBytes(3, 128<<10)
			var wtime, dtime time.Duration
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				for j := range count {
					f := v.create(fmt.Sprintf("wb-%d-%d", i, j))
					if _, err := f.WriteAt(ctx, data, 0); err != nil {
						b.Fatal(err)
					}
					if err := f.Close(ctx); err != nil {
						b.Fatal(err)
					}
				}
				wtime += time.Since(start)
				for n, _ := v.store.Staging(); n > 0; n, _ = v.store.Staging() {
					time.Sleep(time.Millisecond)
				}
				dtime += time.Since(start)
			}
			b.ReportMetric(float64(count*b.N)/wtime.Seconds(), "write-files/s")
			if writeback {
				b.ReportMetric(dtime.Seconds()/float64(b.N), "drained-s")
			}
		})
	}
}
