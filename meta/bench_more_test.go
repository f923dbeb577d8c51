package meta_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// runMoreMetaOps holds the sub-benchmarks on attributes, extended
// attributes and data of BenchmarkMetaOps, as JuiceFS's benchmarks do them.
func runMoreMetaOps(b *testing.B, e *meta.Engine) {
	b.Run("setattr", func(b *testing.B) {
		ino := mustBenchCreate(b, e, benchDir(b, e, "setattr"), "file")
		attr := meta.Attr{Mode: 0o644}
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			attr.Mode ^= 1
			if _, err := e.SetAttr(bg, ino, codec.SetAttrMode, &attr); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("setxattr", func(b *testing.B) {
		ino := mustBenchCreate(b, e, benchDir(b, e, "setxattr"), "fxattr")
		value := []byte("value0")
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			value[5] = byte(i%10 + 48)
			if err := e.SetXattr(bg, ino, "key", value, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("getxattr", func(b *testing.B) {
		ino := mustBenchCreate(b, e, benchDir(b, e, "getxattr"), "fxattr")
		if err := e.SetXattr(bg, ino, "key", []byte("value"), 0); err != nil {
			b.Fatal(err)
		}
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			if _, err := e.GetXattr(bg, ino, "key"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("removexattr", func(b *testing.B) {
		ino := mustBenchCreate(b, e, benchDir(b, e, "removexattr"), "fxattr")
		m := startMeter(b, e)
		defer m.done()
		m.batched(func(i int) {
			if err := e.SetXattr(bg, ino, fmt.Sprintf("key%d", i), []byte("value"), 0); err != nil {
				b.Fatal(err)
			}
		}, func(i int) {
			if err := e.RemoveXattr(bg, ino, fmt.Sprintf("key%d", i)); err != nil {
				b.Fatal(err)
			}
		})
	})
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("listxattr_%d", n), func(b *testing.B) {
			ino := mustBenchCreate(b, e, benchDir(b, e, "listxattr"), "fxattr")
			for j := 0; j < n; j++ {
				if err := e.SetXattr(bg, ino, fmt.Sprintf("key%d", j), []byte("value"), 0); err != nil {
					b.Fatal(err)
				}
			}
			m := startMeter(b, e)
			defer m.done()
			for i := 0; i < b.N; i++ {
				if _, err := e.ListXattr(bg, ino); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("write", func(b *testing.B) {
		ino := mustBenchCreate(b, e, benchDir(b, e, "write"), "file")
		const step = 1024
		var off uint32
		m := startMeter(b, e)
		defer m.done()
		for i := 0; i < b.N; i++ {
			id, err := e.NewSlice(bg)
			if err != nil {
				b.Fatal(err)
			}
			if err := e.Write(bg, ino, 0, off, codec.Slice{ID: id, Size: step, Len: step}, time.Now()); err != nil {
				b.Fatal(err)
			}
			if off += step; off+step > codec.ChunkSize {
				off = 0
			}
		}
	})
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("read_%d", n), func(b *testing.B) {
			// The file stays open, as in JuiceFS's benchmark (Create opens).
			ino, _, err := e.Create(bg, benchDir(b, e, "read"), "file", 0o644, 0o022, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Release(bg, ino)
			const step = 1024
			for j := 0; j < n; j++ {
				id, err := e.NewSlice(bg)
				if err != nil {
					b.Fatal(err)
				}
				if err := e.Write(bg, ino, 0, uint32(j)*step, codec.Slice{ID: id, Size: step, Len: step}, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			m := startMeter(b, e)
			defer m.done()
			for i := 0; i < b.N; i++ {
				if _, err := e.Read(bg, ino, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
