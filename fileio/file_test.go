package fileio_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
)

var ctx = context.Background()

// TestShapes writes files of the shapes that matter (empty, small, one
// block exactly, many blocks, beyond a chunk, sparse, overwritten,
// appended, truncated down and up) and reads them back through another
// handle, for each codec.
func TestShapes(t *testing.T) {
	for _, alg := range []string{"none", "lz4", "zstd"} {
		t.Run(alg, func(t *testing.T) {
			v := newVolume(t, volumeOpts{compression: alg})
			bs := 64 << 10
			shapes := map[string][]func(*testing.T, *volume, string, *model){
				"empty":          nil,
				"small":          {writeStep(0, randomBytes(1, 13))},
				"one block":      {writeStep(0, randomBytes(2, bs))},
				"many blocks":    {writeStep(0, randomBytes(3, 5*bs+17))},
				"beyond a chunk": {writeStep(codec.ChunkSize-1000, randomBytes(4, 3000))},
				"sparse":         {writeStep(0, []byte("start")), writeStep(700000, randomBytes(5, 8192)), writeStep(70_000_000, []byte("end"))},
				"overwritten": append([]func(*testing.T, *volume, string, *model){writeStep(0, randomBytes(6, 200000))},
					overwrites(7, 200000, 30)...),
				"appended":       {writeStep(0, []byte("one ")), flushStep(), writeStep(4, []byte("two ")), flushStep(), writeStep(8, []byte("three"))},
				"truncated down": {writeStep(0, randomBytes(8, 50000)), truncStep(12345)},
				"truncated up":   {writeStep(0, randomBytes(9, 1000)), truncStep(1500000), writeStep(1400000, []byte("late"))},
			}
			for name, steps := range shapes {
				f := v.create(name)
				var m model
				for _, s := range steps {
					s(t, v, name, &m)
				}
				if err := f.Close(ctx); err != nil {
					t.Fatalf("%s: close: %v", name, err)
				}
				if got := v.readAll(name); !bytes.Equal(got, m) {
					t.Errorf("%s: read back %d bytes, want %d (first difference at %d)", name, len(got), len(m), firstDiff(got, m))
				}
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Steps of TestShapes; each opens the file anew, as separate programs would.
func writeStep(off int, p []byte) func(*testing.T, *volume, string, *model) {
	return func(t *testing.T, v *volume, name string, m *model) {
		f := v.open(name, 2)
		defer f.Close(ctx)
		if _, err := f.WriteAt(ctx, p, int64(off)); err != nil {
			t.Fatalf("%s: write %d bytes at %d: %v", name, len(p), off, err)
		}
		m.writeAt(p, off)
	}
}

func flushStep() func(*testing.T, *volume, string, *model) {
	return func(*testing.T, *volume, string, *model) {}
}

func truncStep(n int) func(*testing.T, *volume, string, *model) {
	return func(t *testing.T, v *volume, name string, m *model) {
		f := v.open(name, 2)
		defer f.Close(ctx)
		if _, err := f.Truncate(ctx, uint64(n)); err != nil {
			t.Fatalf("%s: truncate to %d: %v", name, n, err)
		}
		m.truncate(n)
	}
}

func overwrites(seed uint64, size, count int) []func(*testing.T, *volume, string, *model) {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []func(*testing.T, *volume, string, *model)
	for i := range count {
		off := r.IntN(size)
		n := r.IntN(size-off) + 1
		out = append(out, writeStep(off, randomBytes(uint64(100+i), n)))
	}
	return out
}

// TestOneHandleRandomWrites: many writes through one handle, in random
// order and overlapping, with reads between them (which flush), against a
// model.
func TestOneHandleRandomWrites(t *testing.T) {
	v := newVolume(t, volumeOpts{compression: "lz4"})
	f := v.create("random")
	r := rand.New(rand.NewPCG(3, 4))
	var m model
	for i := range 300 {
		off := r.IntN(3 << 20)
		n := r.IntN(200000) + 1
		p := randomBytes(uint64(i), n)
		if _, err := f.WriteAt(ctx, p, int64(off)); err != nil {
			t.Fatal(err)
		}
		m.writeAt(p, off)
		if i%37 == 0 {
			got := make([]byte, len(m)+10)
			n, err := f.ReadAt(ctx, got, 0)
			if err != io.EOF || n != len(m) || !bytes.Equal(got[:n], m) {
				t.Fatalf("after %d writes: read %d bytes (%v), want %d; first difference %d", i+1, n, err, len(m), firstDiff(got[:n], m))
			}
		}
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := v.readAll("random"); !bytes.Equal(got, m) {
		t.Fatalf("final content differs at %d", firstDiff(got, m))
	}
}

// TestSequentialBigFile writes 150 MiB sequentially in 1 MiB writes (three
// chunks, slices cut at chunk ends) and reads it back in 128 KiB reads.
func TestSequentialBigFile(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 150 MiB")
	}
	v := newVolume(t, volumeOpts{blockKiB: 4096})
	f := v.create("big")
	const size = 150 << 20
	piece := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%08d", i)), 1<<17) }
	for i := 0; i*(1<<20) < size; i++ {
		if _, err := f.WriteAt(ctx, piece(i), int64(i)<<20); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	g := v.open("big", 0)
	defer g.Close(ctx)
	buf := make([]byte, 128<<10)
	for off := 0; off < size; off += len(buf) {
		n, err := g.ReadAt(ctx, buf, int64(off))
		if n != len(buf) || (err != nil && err != io.EOF) {
			t.Fatalf("read at %d: %d bytes, %v", off, n, err)
		}
		want := piece(off >> 20)[off&(1<<20-1):]
		if !bytes.Equal(buf, want[:len(buf)]) {
			t.Fatalf("wrong bytes at %d", off)
		}
	}
	recs, err := v.e.Inspect().ChunkRecords(ctx, g.Ino(), 1)
	if err != nil || len(recs) == 0 {
		t.Fatalf("chunk 1 records: %v %v", recs, err)
	}
}
