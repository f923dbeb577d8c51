package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/rueidisfs/rueidisfs/internal/datatest"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/compress"
)

func randomBytes(seed uint64, n int) []byte { return datatest.RandomBytes(seed, n) }

// testFreeSpaceRatio is the share of the disk the tests' caches keep free:
// the default 10 % would leave a test machine whose disk is over 90 % full
// (a shared CI disk often is) caching nothing, and every cache test failing.
const testFreeSpaceRatio = 1e-5

func newStore(t testing.TB, st Storage, conf Config) *Store {
	t.Helper()
	if conf.BlockSize == 0 {
		conf.BlockSize = 64 << 10
	}
	if conf.RetryDelay == nil {
		conf.RetryDelay = func(int) time.Duration { return time.Millisecond }
	}
	if conf.FreeSpaceRatio == 0 {
		conf.FreeSpaceRatio = testFreeSpaceRatio
	}
	s, err := New(st, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeSlice stores data as slice id in one go.
func writeSlice(t testing.TB, s *Store, id uint64, data []byte) {
	t.Helper()
	w := s.NewWriter(id)
	if err := w.WriteAt(context.Background(), data, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func readSlice(s *Store, id uint64, size, off, n int) ([]byte, error) {
	p := make([]byte, n)
	err := s.ReadAt(context.Background(), id, uint32(size), p, off)
	return p, err
}

// TestRoundTripAndNames writes slices of many lengths with each codec and
// block size, checks the objects' names and bodies, and reads them back
// whole and in odd pieces.
func TestRoundTripAndNames(t *testing.T) {
	for _, alg := range []string{"none", "lz4", "zstd"} {
		for _, bs := range []int{64 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", alg, bs), func(t *testing.T) {
				st := datatest.NewDir(t)
				s := newStore(t, st, Config{BlockSize: bs, Compression: alg})
				codec, _ := compress.New(alg)
				for i, n := range []int{1, 4097, bs - 1, bs, bs + 1, 3*bs + bs/2} {
					id := uint64(1000*i + 7)
					data := randomBytes(uint64(i), n)
					writeSlice(t, s, id, data)
					for b := 0; b*bs < n; b++ {
						blen := min(bs, n-b*bs)
						key := fmt.Sprintf("chunks/0/%d/%d_%d_%d", id/1000, id, b, blen)
						body, err := os.ReadFile(st.Path(key))
						if err != nil {
							t.Fatalf("slice of %d bytes: block %d: %v", n, b, err)
						}
						block := make([]byte, blen)
						if err := codec.Decompress(block, body); err != nil || !bytes.Equal(block, data[b*bs:b*bs+blen]) {
							t.Fatalf("slice of %d bytes: object %s does not hold block %d (%v)", n, key, b, err)
						}
					}
					got, err := readSlice(s, id, n, 0, n)
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("slice of %d bytes read back wrong (%v)", n, err)
					}
					for _, r := range [][2]int{{0, 1}, {n - 1, 1}, {n / 3, n / 2}} {
						got, err := readSlice(s, id, n, r[0], r[1])
						if err != nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
							t.Fatalf("slice of %d bytes: [%d,+%d) read wrong (%v)", n, r[0], r[1], err)
						}
					}
				}
			})
		}
	}
}

func TestHashPrefixNames(t *testing.T) {
	st := datatest.NewDir(t)
	s := newStore(t, st, Config{HashPrefix: true})
	writeSlice(t, s, 1234567, []byte("x"))
	if got := st.Objects(""); !slices.Equal(got, []string{"chunks/87/1/1234567_0_1"}) {
		t.Fatalf("objects %v", got)
	}
}

// TestGapsAndFlush: a write past the end zero-fills the gap; FlushTo hands
// complete blocks to uploads, after which they cannot be written.
func TestGapsAndFlush(t *testing.T) {
	st := datatest.NewDir(t)
	s := newStore(t, st, Config{})
	bs := s.BlockSize()
	ctx := context.Background()
	w := s.NewWriter(5)
	if err := w.WriteAt(ctx, []byte("head"), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt(ctx, []byte("tail"), 2*bs+10); err != nil {
		t.Fatal(err)
	}
	w.FlushTo(w.Len())
	if w.FlushedLen() != 2*bs {
		t.Fatalf("flushed %d, want %d", w.FlushedLen(), 2*bs)
	}
	if err := w.WriteAt(ctx, []byte("x"), bs); err == nil {
		t.Fatal("a write below the flushed prefix was accepted")
	}
	if err := w.WriteAt(ctx, []byte("more"), 2*bs+14); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 2*bs+18)
	copy(want, "head")
	copy(want[2*bs+10:], "tailmore")
	got, err := readSlice(s, 5, len(want), 0, len(want))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back wrong (%v)", err)
	}
	if n := len(st.Objects("")); n != 3 {
		t.Fatalf("%d objects, want 3", n)
	}
}

// TestFailedUpload: when a block cannot be stored, Finish fails naming the
// object, and the blocks already stored are deleted.
func TestFailedUpload(t *testing.T) {
	st := datatest.NewDir(t)
	f := datatest.NewFaulty(st)
	f.PutHook = func(key string) error {
		if strings.HasSuffix(key, "_2_65536") {
			return syscall.EIO
		}
		return nil
	}
	s := newStore(t, f, Config{UploadRetries: 2})
	w := s.NewWriter(9)
	if err := w.WriteAt(context.Background(), randomBytes(1, 4*s.BlockSize()), 0); err != nil {
		t.Fatal(err)
	}
	err := w.Finish(context.Background())
	if err == nil || !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), "chunks/0/0/9_2_65536") {
		t.Fatalf("Finish = %v, want an EIO naming chunks/0/0/9_2_65536", err)
	}
	if objs := st.Objects(""); len(objs) != 0 {
		t.Fatalf("objects left after a failed slice: %v", objs)
	}
}

// TestAbort deletes what was uploaded.
func TestAbort(t *testing.T) {
	st := datatest.NewDir(t)
	s := newStore(t, st, Config{})
	w := s.NewWriter(11)
	w.WriteAt(context.Background(), randomBytes(2, 3*s.BlockSize()), 0)
	w.FlushTo(w.Len())
	w.Abort()
	if objs := st.Objects(""); len(objs) != 0 {
		t.Fatalf("objects left after Abort: %v", objs)
	}
	if s.buffers.usage() != 0 {
		t.Fatalf("buffer memory still charged: %d", s.buffers.usage())
	}
}

// TestBadObjects: a missing, truncated, extended or garbled object fails
// the read with EIO naming the object, for every codec; never wrong bytes.
func TestBadObjects(t *testing.T) {
	for _, alg := range []string{"none", "lz4", "zstd"} {
		t.Run(alg, func(t *testing.T) {
			st := datatest.NewDir(t)
			s := newStore(t, st, Config{Compression: alg, MemCacheSize: 1})
			data := bytes.Repeat([]byte("compressible "), 10000)[:100000]
			writeSlice(t, s, 21, data)
			key := "chunks/0/0/21_0_65536"
			good, _ := os.ReadFile(st.Path(key))
			damage := map[string]func() error{
				"missing":   func() error { return os.Remove(st.Path(key)) },
				"truncated": func() error { return os.WriteFile(st.Path(key), good[:len(good)/2], 0o644) },
				"extended": func() error {
					return os.WriteFile(st.Path(key), append(slices.Clone(good), make([]byte, 70000)...), 0o644)
				},
			}
			if alg != "none" {
				damage["garbled"] = func() error { return os.WriteFile(st.Path(key), bytes.Repeat([]byte{0xAB}, len(good)), 0o644) }
			}
			for name, do := range damage {
				if err := do(); err != nil {
					t.Fatal(err)
				}
				_, err := readSlice(s, 21, len(data), 0, 1000)
				if !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), key) {
					t.Errorf("%s object: read = %v, want EIO naming %s", name, err, key)
				}
			}
		})
	}
}

// TestSingleFlight: concurrent readers of one block share one download.
func TestSingleFlight(t *testing.T) {
	st := datatest.NewDir(t)
	f := datatest.NewFaulty(st)
	s := newStore(t, f, Config{Compression: "zstd"})
	data := randomBytes(3, 50000)
	writeSlice(t, s, 31, data)
	s.mem.remove("chunks/0/0/31_0_50000")
	release := make(chan struct{})
	f.SetHooks(nil, func(string) error { <-release; return nil })
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := readSlice(s, 31, len(data), 0, len(data)); err != nil || !bytes.Equal(got, data) {
				t.Errorf("concurrent read wrong (%v)", err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them all reach the shared download
	close(release)
	wg.Wait()
	if n := f.Gets("chunks/0/0/31_0_50000"); n != 1 {
		t.Fatalf("%d downloads of one block, want 1", n)
	}
}

// TestRemove deletes every block of a slice and forgets cached copies.
func TestRemove(t *testing.T) {
	st := datatest.NewDir(t)
	cache := t.TempDir()
	s := newStore(t, st, Config{CacheDir: cache, CacheSize: 1 << 30, VolumeUUID: "u"})
	writeSlice(t, s, 41, randomBytes(4, 3*s.BlockSize()+5))
	if err := s.Remove(context.Background(), 41, uint32(3*s.BlockSize()+5)); err != nil {
		t.Fatal(err)
	}
	if objs := st.Objects(""); len(objs) != 0 {
		t.Fatalf("objects left: %v", objs)
	}
	if _, err := readSlice(s, 41, 3*s.BlockSize()+5, 0, 10); !errors.Is(err, ErrIO) {
		t.Fatalf("a removed slice still reads: %v", err)
	}
	// Removing again is no error (objects already gone).
	if err := s.Remove(context.Background(), 41, uint32(3*s.BlockSize()+5)); err != nil {
		t.Fatal(err)
	}
}

// gatedDeletes holds every Delete until release is closed, counting those
// in flight.
type gatedDeletes struct {
	*datatest.Dir
	mu             sync.Mutex
	inFlight, peak int
	release        chan struct{}
}

func (g *gatedDeletes) Delete(ctx context.Context, key string) error {
	g.mu.Lock()
	g.inFlight++
	g.peak = max(g.peak, g.inFlight)
	g.mu.Unlock()
	<-g.release
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
	return g.Dir.Delete(ctx, key)
}

func (g *gatedDeletes) counts() (inFlight, peak int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight, g.peak
}

// TestRemoveConcurrency: the objects of a slice are deleted MaxDeletes at
// a time, over all callers.
func TestRemoveConcurrency(t *testing.T) {
	st := &gatedDeletes{Dir: datatest.NewDir(t), release: make(chan struct{})}
	s := newStore(t, st, Config{MaxDeletes: 3})
	size := 10*s.BlockSize() + 5
	for id := uint64(61); id <= 62; id++ {
		writeSlice(t, s, id, randomBytes(id, size))
	}
	done := make(chan error, 2)
	for id := uint64(61); id <= 62; id++ {
		go func() { done <- s.Remove(context.Background(), id, uint32(size)) }()
	}
	waitFor(t, "three deletions at once", func() bool { n, _ := st.counts(); return n == 3 })
	time.Sleep(20 * time.Millisecond) // room for a fourth to show
	close(st.release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, p := st.counts(); p != 3 {
		t.Fatalf("%d deletions at once, want 3", p)
	}
	if objs := st.Objects(""); len(objs) != 0 {
		t.Fatalf("objects left: %v", objs)
	}
}

// TestBufferBackPressure: writers wait while the buffer budget is exceeded
// and uploads are running, so memory stays near the limit.
func TestBufferBackPressure(t *testing.T) {
	st := datatest.NewDir(t)
	f := datatest.NewFaulty(st)
	f.PutHook = func(string) error { time.Sleep(5 * time.Millisecond); return nil }
	const limit = 4 << 16
	s := newStore(t, f, Config{BufferSize: limit, MaxUploads: 2})
	bs := s.BlockSize()
	var peak int64
	w := s.NewWriter(51)
	for i := range 40 {
		if err := w.WriteAt(context.Background(), randomBytes(uint64(i), bs), i*bs); err != nil {
			t.Fatal(err)
		}
		w.FlushTo(w.Len())
		peak = max(peak, s.buffers.usage())
	}
	if err := w.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if peak > limit+int64(bs) {
		t.Fatalf("buffer usage peaked at %d with a limit of %d", peak, limit)
	}
	if u := s.buffers.usage(); u != 0 {
		t.Fatalf("%d bytes still charged after Finish", u)
	}
}

// TestRangeReads: on an uncompressed volume a small piece of a block (not
// at its start) is read with a range request, then the whole block is
// fetched in the background; compressed volumes and storages that only
// read whole objects (encryption) fetch whole blocks.
func TestRangeReads(t *testing.T) {
	for _, c := range []struct {
		name   string
		conf   Config
		ranged bool
	}{
		{"none", Config{}, true},
		{"zstd", Config{Compression: "zstd"}, false},
		{"whole objects", Config{WholeObjects: true}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := datatest.NewDir(t)
			f := datatest.NewFaulty(st)
			c.conf.Prefetch = 1
			s := newStore(t, f, c.conf)
			data := randomBytes(8, 2*s.BlockSize())
			writeSlice(t, s, 81, data)
			got, err := readSlice(s, 81, len(data), 1000, 100)
			if err != nil || !bytes.Equal(got, data[1000:1100]) {
				t.Fatalf("read: %v", err)
			}
			key := "chunks/0/0/81_0_65536"
			if ranged := f.RangedGets(key) > 0; ranged != c.ranged {
				t.Fatalf("range request made: %v, want %v", ranged, c.ranged)
			}
			if c.ranged {
				waitFor(t, "the prefetch of the whole block", func() bool { return s.mem.contains(key) })
			}
		})
	}
}

// TestReadJoinsReadahead: a small read of a block that readahead is
// fetching waits for it instead of reading the same bytes again with a
// range request.
func TestReadJoinsReadahead(t *testing.T) {
	st := datatest.NewDir(t)
	f := datatest.NewFaulty(st)
	release := make(chan struct{})
	s := newStore(t, f, Config{Prefetch: 1})
	data := randomBytes(9, 2*s.BlockSize())
	writeSlice(t, s, 91, data)
	key := "chunks/0/0/91_0_65536"
	f.SetHooks(nil, func(k string) error {
		if k == key {
			<-release // the readahead's download is slow
		}
		return nil
	})
	s.Prefetch(91, uint32(len(data)), 0, s.BlockSize())
	waitFor(t, "the readahead to start", func() bool { return f.Gets(key) == 1 })
	done := make(chan error, 1)
	go func() {
		got, err := readSlice(s, 91, len(data), 1000, 100)
		if err == nil && !bytes.Equal(got, data[1000:1100]) {
			err = errors.New("wrong bytes")
		}
		done <- err
	}()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := f.RangedGets(key); n != 0 {
		t.Fatalf("%d range requests for a block readahead was fetching", n)
	}
}

// TestReusedBlockBuffers: a writer's blocks reuse the buffers of blocks
// already uploaded, whose bytes are left over; what a slice never wrote
// still reads as zeros (gaps inside a block, between blocks, and the part
// of a growing first block above its old length).
func TestReusedBlockBuffers(t *testing.T) {
	s := newStore(t, datatest.NewDir(t), Config{})
	bs := s.BlockSize()
	ctx := context.Background()
	writeSlice(t, s, 1, bytes.Repeat([]byte{0xff}, 8*bs))
	if len(s.blocks.free) == 0 {
		t.Fatal("no block buffer came back after the upload")
	}
	want := make([]byte, 3*bs)
	w := s.NewWriter(2)
	for _, piece := range []struct {
		off  int
		data []byte
	}{
		{0, []byte("a")},
		{100, []byte("b")},     // a gap in a small first block
		{bs + 50, []byte("c")}, // the first block grows to a whole one; a gap opens the second
		{bs + 10, []byte("d")}, // into the gap
		{2 * bs, randomBytes(7, bs/2)},
		{3*bs - 5, []byte("tail")}, // a gap inside the third block
		{60, randomBytes(8, bs-60)},
	} {
		if err := w.WriteAt(ctx, piece.data, piece.off); err != nil {
			t.Fatal(err)
		}
		copy(want[piece.off:], piece.data)
	}
	want = want[:3*bs-1]
	if err := w.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := readSlice(s, 2, len(want), 0, len(want))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back wrong (%v)", err)
	}
}
