package backup_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/rueidisfs/rueidisfs/backup"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/mdtest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// benchVolume is the volume the benchmarks back up: the one named by
// RUEIDISFS_BENCH_BACKUP (a META-URL), or a fresh one of 20,000 files made
// by the mdtest workload (one slice each).
func benchVolume(b *testing.B) *meta.Engine {
	ctx := context.Background()
	if url := os.Getenv("RUEIDISFS_BENCH_BACKUP"); url != "" {
		e, err := meta.Open(ctx, url, meta.Options{NoBackgroundJobs: true, ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close(ctx) })
		return e
	}
	e, _, _ := openEmpty(b)
	f := &codec.Format{Name: "bench", UUID: "bench", Storage: "file", Bucket: "/tmp/bench/", BlockSize: 4096, TrashDays: 1, MetaVersion: 1, DirStats: true}
	if err := e.Init(ctx, f, false); err != nil {
		b.Fatal(err)
	}
	if err := e.NewSession(ctx, true); err != nil {
		b.Fatal(err)
	}
	opts := mdtest.Options{Threads: 4, Dirs: 10, Depth: 1, Files: 455, Write: 4096}
	if err := mdtest.Run(ctx, e, "/bench", opts, nil, func(mdtest.Result) {}); err != nil {
		b.Fatal(err)
	}
	e.Sync(ctx)
	return e
}

// BenchmarkDump writes a binary backup of the volume (to nowhere).
func BenchmarkDump(b *testing.B) {
	e := benchVolume(b)
	f, err := e.Load(context.Background(), false)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := backup.Dump(context.Background(), e, f, io.Discard, backup.DumpOptions{Threads: 10}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck checks a backup of the volume (the first pass of a load).
func BenchmarkCheck(b *testing.B) {
	data := binaryDump(b, benchVolume(b), backup.DumpOptions{Threads: 10})
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if _, err := backup.Check(context.Background(), bytes.NewReader(data), int64(len(data)), 10, nil); err != nil {
			b.Fatal(err)
		}
	}
}
