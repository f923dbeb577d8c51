package dump_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/meta"
)

// generateVolume writes a volume of files regular files key by key (much
// faster than through the engine): one directory "big" holding a tenth of
// them, the rest in directories of 1000 files; each file has one slice.
// It returns the number of nodes.
func generateVolume(t testing.TB, e *meta.Engine, files int) int {
	ctx := context.Background()
	if err := e.Init(ctx, testFormat("generated", 0), false); err != nil {
		t.Fatal(err)
	}
	c, k := e.Client(), e.Keys()
	var cmds rueidis.Commands
	flush := func() {
		for _, r := range c.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				t.Fatal(err)
			}
		}
		cmds = cmds[:0]
	}
	add := func(cmd rueidis.Completed) {
		cmds = append(cmds, cmd)
		if len(cmds) >= 20000 {
			flush()
		}
	}
	ino := codec.Ino(2)
	var space int64
	nodes := 0
	mkdir := func(name string) codec.Ino {
		d := ino
		ino++
		a := codec.Attr{Typ: codec.TypeDirectory, Mode: 0o755, Nlink: 2, Length: 4096, Parent: 1, Atime: 1700000000, Mtime: 1700000000, Ctime: 1700000000}
		add(c.B().Set().Key(k.Inode(d)).Value(string(a.Marshal())).Build())
		add(c.B().Hset().Key(k.Entries(1)).FieldValue().FieldValue(name, string(codec.Entry{Typ: codec.TypeDirectory, Inode: d}.Marshal())).Build())
		space += 4096
		nodes++
		return d
	}
	fill := func(dir codec.Ino, n int) {
		var stat [3]int64
		for i := range n {
			f := ino
			ino++
			length := uint64(1000 + i%50000)
			a := codec.Attr{Typ: codec.TypeFile, Mode: 0o644, Nlink: 1, Length: length, Parent: dir, Uid: uint32(i % 10),
				Atime: 1700000000, Mtime: 1700000000 + int64(i), Ctime: 1700000000, Mtimensec: uint32(i)}
			name := fmt.Sprintf("file-%08d-%x.dat", i, i*7919)
			add(c.B().Set().Key(k.Inode(f)).Value(string(a.Marshal())).Build())
			add(c.B().Hset().Key(k.Entries(dir)).FieldValue().FieldValue(name, string(codec.Entry{Typ: codec.TypeFile, Inode: f}.Marshal())).Build())
			rec := codec.SliceRecord{ID: uint64(f), Size: uint32(length), Len: uint32(length)}
			add(c.B().Rpush().Key(k.Chunk(f, 0)).Element(string(rec.Marshal())).Build())
			space += int64(codec.Align4K(length))
			stat[0] += int64(length)
			stat[1] += int64(codec.Align4K(length))
			stat[2]++
			nodes++
		}
		field := dir.String()
		add(c.B().Hset().Key(k.DirDataLength()).FieldValue().FieldValue(field, strconv.FormatInt(stat[0], 10)).Build())
		add(c.B().Hset().Key(k.DirUsedSpace()).FieldValue().FieldValue(field, strconv.FormatInt(stat[1], 10)).Build())
		add(c.B().Hset().Key(k.DirUsedInodes()).FieldValue().FieldValue(field, strconv.FormatInt(stat[2], 10)).Build())
	}
	big := files / 10
	fill(mkdir("big"), big)
	for d := 0; big < files; d++ {
		n := min(1000, files-big)
		fill(mkdir(fmt.Sprintf("dir-%05d", d)), n)
		big += n
	}
	add(c.B().Set().Key(k.UsedSpace()).Value(strconv.FormatInt(space, 10)).Build())
	add(c.B().Set().Key(k.TotalInodes()).Value(strconv.Itoa(nodes)).Build())
	add(c.B().Set().Key(k.NextInode()).Value(ino.String()).Build())
	add(c.B().Set().Key(k.NextChunk()).Value(ino.String()).Build())
	flush()
	return nodes
}

// heapPeak samples the live heap while it runs.
type heapPeak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		// Live heap as of the last GC: garbage not yet collected is not memory
		// the dump needs.
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			h.peak = max(h.peak, s[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// done returns the peak heap in MiB.
func (h *heapPeak) done() float64 {
	close(h.stop)
	h.wg.Wait()
	return float64(h.peak) / (1 << 20)
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// TestDumpMemory dumps and loads a generated volume of 100k files (1M with
// RUEIDISFS_DUMP_1M=1) and reports the peak live heap of each; the figures
// are recorded in docs/dump.md. Dump's memory must not grow with the volume.
func TestDumpMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a 100k-file volume")
	}
	files := 100_000
	if os.Getenv("RUEIDISFS_DUMP_1M") == "1" {
		files = 1_000_000
	}
	e := openEmpty(t)
	start := time.Now()
	nodes := generateVolume(t, e, files)
	t.Logf("generated %d nodes in %v", nodes, time.Since(start).Round(time.Millisecond))

	ctx := context.Background()
	var w countingWriter
	h := startHeapPeak()
	start = time.Now()
	if err := dump.Dump(ctx, e, &w, dump.DumpOptions{}); err != nil {
		t.Fatal(err)
	}
	peak := h.done()
	t.Logf("dump: %d files, %.1f MiB of JSON in %v, peak live heap %.1f MiB", files, float64(w.n)/(1<<20),
		time.Since(start).Round(time.Millisecond), peak)
	if peak > 256 {
		t.Errorf("dump used %.1f MiB of heap", peak)
	}

	// Load it back from a file, as the CLI would.
	f, err := os.CreateTemp(t.TempDir(), "dump-*.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := dump.Dump(ctx, e, f, dump.DumpOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	e2 := openEmpty(t)
	h = startHeapPeak()
	start = time.Now()
	if err := dump.Load(ctx, e2, f, dump.LoadOptions{TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	peak = h.done()
	t.Logf("load: %d files in %v, peak live heap %.1f MiB", files, time.Since(start).Round(time.Millisecond), peak)
	if n := keyCount(t, e2); n < int64(2*files) {
		t.Fatalf("only %d keys loaded", n)
	}
}

// BenchmarkDump reports the time and peak heap of dumping a 100k-file
// volume.
func BenchmarkDump(b *testing.B) {
	e := openEmpty(b)
	generateVolume(b, e, 100_000)
	var peak float64
	for b.Loop() {
		h := startHeapPeak()
		if err := dump.Dump(context.Background(), e, io.Discard, dump.DumpOptions{}); err != nil {
			b.Fatal(err)
		}
		peak = max(peak, h.done())
	}
	b.ReportMetric(peak, "peak-heap-MiB")
}

// BenchmarkValidate measures the loader's parser alone on a generated
// document of 20k files.
func BenchmarkValidate(b *testing.B) {
	var doc bytes.Buffer
	if err := writeGeneratedDump(&doc, 10, 2000); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(doc.Len()))
	for b.Loop() {
		if err := dump.Validate(bytes.NewReader(doc.Bytes()), dump.LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
