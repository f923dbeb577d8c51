package meta_test

import (
	"context"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// benchEngine is a freshly formatted volume with a session, for benchmarks
// (no recount at the end: benchmarks leave millions of records behind).
func benchEngine(b *testing.B) *meta.Engine {
	b.Helper()
	srv, db := redistest.NewDB(b)
	ctx := context.Background()
	e, err := meta.Open(ctx, srv.URL("redis", db), meta.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(context.Background()) })
	f := &codec.Format{Name: "bench", UUID: "00000000-0000-0000-0000-000000000002", Storage: "file", BlockSize: 4096,
		MetaVersion: 1, DirStats: true, Tiers: map[uint8]codec.Tier{0: {}}}
	if err := e.Init(ctx, f, false); err != nil {
		b.Fatal(err)
	}
	if err := e.NewSession(ctx, true); err != nil {
		b.Fatal(err)
	}
	return e
}

func benchFile(b *testing.B, e *meta.Engine, name string) meta.Ino {
	b.Helper()
	ino, _, err := e.Create(context.Background(), meta.RootInode, name, 0o644, 0o022, 0)
	if err != nil {
		b.Fatal(err)
	}
	return ino
}

// BenchmarkWrite is JuiceFS's benchWrite: NewSlice and Write of 1 KiB
// slices one after the other into chunk 0 of one file.
func BenchmarkWrite(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	ino := benchFile(b, e, "file")
	const step = 1024
	var off uint32
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		id, err := e.NewSlice(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Write(ctx, ino, 0, off, codec.Slice{ID: id, Size: step, Len: step}, time.Now()); err != nil {
			b.Fatal(err)
		}
		off += step
		if off+step > codec.ChunkSize {
			off = 0
		}
	}
}

// BenchmarkRead is JuiceFS's benchRead: the layout of a chunk made of 1 or
// 10 adjacent 1 KiB slices.
func BenchmarkRead(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(map[int]string{1: "1", 10: "10"}[n], func(b *testing.B) {
			e := benchEngine(b)
			ctx := context.Background()
			ino := benchFile(b, e, "file")
			for j := range n {
				id, err := e.NewSlice(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := e.Write(ctx, ino, 0, uint32(j)*1024, codec.Slice{ID: id, Size: 1024, Len: 1024}, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s, err := e.Read(ctx, ino, 0)
				if err != nil || len(s) != n {
					b.Fatalf("read: %d slices, %v", len(s), err)
				}
			}
		})
	}
}

// BenchmarkSetAttr is JuiceFS's benchSetAttr: chmod toggling one mode bit.
func BenchmarkSetAttr(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	ino := benchFile(b, e, "file")
	attr := meta.Attr{Mode: 0o644}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		attr.Mode ^= 1
		if _, err := e.SetAttr(ctx, ino, codec.SetAttrMode, &attr); err != nil {
			b.Fatal(err)
		}
	}
}
