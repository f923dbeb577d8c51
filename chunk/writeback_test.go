package chunk

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/compress"
	"github.com/rueidisfs/rueidisfs/internal/datatest"
)

func writebackConf(dir string, delay time.Duration) Config {
	c := cachedConf(dir)
	c.Writeback = true
	c.UploadDelay = delay
	c.stagingRescan = 20 * time.Millisecond
	return c
}

func stagedPath(dir, key string) string {
	return filepath.Join(dir, "vol-uuid", "rawstaging", filepath.FromSlash(key))
}

func cachedPath(dir, key string) string {
	return filepath.Join(dir, "vol-uuid", "raw", filepath.FromSlash(key))
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func nlink(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}

// TestWritebackStagedThenUploadedAfterRestart: with a long upload delay a
// finished slice's blocks are in the staging area (data and checksums,
// linked into the cache), none in the object storage, and reads are served
// from them. A store opened again on the same cache directory, without
// the delay, uploads them and empties the staging area.
func TestWritebackStagedThenUploadedAfterRestart(t *testing.T) {
	st := datatest.NewDir(t)
	dir := t.TempDir()
	s := newStore(t, st, writebackConf(dir, time.Hour))
	bs := s.BlockSize()
	data := randomBytes(1, 2*bs+100)
	writeSlice(t, s, 81, data)
	if objs := st.Objects("chunks/"); len(objs) != 0 {
		t.Fatalf("objects stored before the upload delay: %v", objs)
	}
	keys := []string{"chunks/0/0/81_0_65536", "chunks/0/0/81_1_65536", "chunks/0/0/81_2_100"}
	for i, key := range keys {
		raw, err := os.ReadFile(stagedPath(dir, key))
		if err != nil {
			t.Fatal(err)
		}
		block := data[i*bs : min((i+1)*bs, len(data))]
		if !bytes.Equal(raw[:len(block)], block) || !bytes.Equal(raw[len(block):], checksums(block)) {
			t.Fatalf("staged file of %s does not hold the block and its checksums", key)
		}
		if n := nlink(t, cachedPath(dir, key)); n != 2 {
			t.Fatalf("%s: %d links, want the staged file linked into the cache", key, n)
		}
	}
	if n, size := s.Staging(); n != 3 || size != int64(len(data)) {
		t.Fatalf("Staging() = %d blocks, %d bytes", n, size)
	}
	got, err := readSlice(s, 81, len(data), 0, len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read of a staged slice: %v", err)
	}
	// Without the cached copies, the staged files still serve reads.
	for _, key := range keys {
		s.disk.remove(key)
	}
	got, err = readSlice(s, 81, len(data), 10, bs)
	if err != nil || !bytes.Equal(got, data[10:10+bs]) {
		t.Fatalf("read of a staged slice without its cached copy: %v", err)
	}
	s.Close()

	s2 := newStore(t, st, writebackConf(dir, 0))
	waitFor(t, "the staged blocks uploaded after a restart", func() bool { n, _ := s2.Staging(); return len(st.Objects("chunks/")) == 3 && n == 0 })
	for _, key := range keys {
		waitFor(t, "the staged file removed", func() bool { return !exists(stagedPath(dir, key)) })
	}
	got, err = readSlice(newStore(t, st, Config{}), 81, len(data), 0, len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read of the uploaded slice: %v", err)
	}
}

// TestWritebackUploadsAtOnce: without a delay blocks are uploaded right
// after staging; the cached copy stays as an ordinary cache file.
func TestWritebackUploadsAtOnce(t *testing.T) {
	st := datatest.NewDir(t)
	dir := t.TempDir()
	s := newStore(t, st, writebackConf(dir, 0))
	data := randomBytes(2, 5000)
	writeSlice(t, s, 82, data)
	key := "chunks/0/0/82_0_5000"
	waitFor(t, "the upload", func() bool { n, _ := s.Staging(); return exists(st.Path(key)) && n == 0 })
	waitFor(t, "the staged file removed", func() bool { return !exists(stagedPath(dir, key)) })
	if n := nlink(t, cachedPath(dir, key)); n != 1 {
		t.Fatalf("cached copy has %d links", n)
	}
	if !s.disk.contains(key) {
		t.Fatal("the uploaded block left the cache index")
	}
}

// TestWritebackRemoveWhileStaged: deleting a slice whose blocks are staged
// drops them (no upload follows); one whose upload is under way when the
// slice is deleted has its object deleted after the upload.
func TestWritebackRemoveWhileStaged(t *testing.T) {
	st := datatest.NewDir(t)
	dir := t.TempDir()
	s := newStore(t, st, writebackConf(dir, time.Hour))
	data := randomBytes(3, 3000)
	writeSlice(t, s, 83, data)
	key := "chunks/0/0/83_0_3000"
	if err := s.Remove(context.Background(), 83, 3000); err != nil {
		t.Fatal(err)
	}
	if exists(stagedPath(dir, key)) || exists(cachedPath(dir, key)) {
		t.Fatal("a removed slice's staged block was kept")
	}
	if n, _ := s.Staging(); n != 0 {
		t.Fatalf("%d blocks still pending", n)
	}

	// The race: the upload runs when the slice goes.
	faulty := datatest.NewFaulty(datatest.NewDir(t))
	started, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	faulty.SetHooks(func(string) error {
		if once.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
		return nil
	}, nil)
	dir2 := t.TempDir()
	s2 := newStore(t, faulty, writebackConf(dir2, 0))
	writeSlice(t, s2, 84, data)
	<-started
	if err := s2.Remove(context.Background(), 84, 3000); err != nil {
		t.Fatal(err)
	}
	close(release)
	key = "chunks/0/0/84_0_3000"
	dirStore := faulty.Storage.(*datatest.Dir)
	waitFor(t, "the raced upload undone", func() bool { return !exists(dirStore.Path(key)) && len(dirStore.Objects("chunks/")) == 0 })
	time.Sleep(50 * time.Millisecond) // let a wrong re-upload show
	if objs := dirStore.Objects("chunks/"); len(objs) != 0 || exists(stagedPath(dir2, key)) {
		t.Fatalf("after a removal during the upload: objects %v, staged file %v", objs, exists(stagedPath(dir2, key)))
	}
}

// TestWritebackAbort: an aborted slice leaves nothing staged.
func TestWritebackAbort(t *testing.T) {
	st := datatest.NewDir(t)
	dir := t.TempDir()
	s := newStore(t, st, writebackConf(dir, time.Hour))
	w := s.NewWriter(85)
	data := randomBytes(4, 2*s.BlockSize())
	if err := w.WriteAt(context.Background(), data, 0); err != nil {
		t.Fatal(err)
	}
	w.FlushTo(len(data))
	w.Abort()
	if n, _ := s.Staging(); n != 0 {
		t.Fatalf("%d blocks of an aborted slice staged", n)
	}
	if exists(stagedPath(dir, "chunks/0/0/85_0_65536")) {
		t.Fatal("staged file of an aborted slice kept")
	}
}

// TestWritebackFallsBack: a cache disk short of space, staging writes at
// their limit, or a compaction writer: blocks are uploaded before Finish
// returns.
func TestWritebackFallsBack(t *testing.T) {
	st := datatest.NewDir(t)
	conf := writebackConf(t.TempDir(), time.Hour)
	conf.FreeSpaceRatio = 0.1
	conf.diskUsage = diskWithFree(0.04) // below half the ratio
	s := newStore(t, st, conf)
	waitFor(t, "the free-space check", s.disk.dirs[0].stageFull.Load)
	writeSlice(t, s, 86, randomBytes(5, 100))
	if !exists(st.Path("chunks/0/0/86_0_100")) {
		t.Fatal("block staged on a disk short of space")
	}
	// Between half the ratio and the ratio the cache stores nothing more,
	// but blocks are still staged.
	dir1 := t.TempDir()
	conf = writebackConf(dir1, time.Hour)
	conf.FreeSpaceRatio = 0.1
	conf.diskUsage = diskWithFree(0.07)
	s1 := newStore(t, st, conf)
	waitFor(t, "the free-space check", s1.disk.dirs[0].lowSpace.Load)
	writeSlice(t, s1, 89, randomBytes(7, 100))
	if exists(st.Path("chunks/0/0/89_0_100")) || !exists(stagedPath(dir1, "chunks/0/0/89_0_100")) {
		t.Fatal("block uploaded at once on a disk with more than half the free-space ratio free")
	}

	s2 := newStore(t, st, writebackConf(t.TempDir(), time.Hour))
	s2.wb.writes.Store(int64(s2.conf.MaxStageWrite))
	writeSlice(t, s2, 87, randomBytes(6, 100))
	if !exists(st.Path("chunks/0/0/87_0_100")) {
		t.Fatal("block staged beyond --max-stage-write")
	}
	s2.wb.writes.Store(0)

	w := s2.NewWriter(88)
	w.SetWriteback(false)
	if err := w.WriteAt(context.Background(), []byte("compacted"), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(context.Background()); err != nil || !exists(st.Path("chunks/0/0/88_0_9")) {
		t.Fatalf("a writer without writeback did not upload: %v", err)
	}
}

// TestWritebackRetriesFailedUploads: a staged block whose upload fails is
// tried again later.
func TestWritebackRetriesFailedUploads(t *testing.T) {
	dirStore := datatest.NewDir(t)
	faulty := datatest.NewFaulty(dirStore)
	var fails atomic.Int32
	fails.Store(5) // more than one round of tries
	faulty.SetHooks(func(string) error {
		if fails.Add(-1) >= 0 {
			return errors.New("503 slow down")
		}
		return nil
	}, nil)
	s := newStore(t, faulty, writebackConf(t.TempDir(), 0))
	data := randomBytes(7, 700)
	writeSlice(t, s, 89, data)
	waitFor(t, "the upload after failures", func() bool { n, _ := s.Staging(); return exists(dirStore.Path("chunks/0/0/89_0_700")) && n == 0 })
}

// TestWritebackUploadHours: outside the upload hours nothing is uploaded.
func TestWritebackUploadHours(t *testing.T) {
	st := datatest.NewDir(t)
	conf := writebackConf(t.TempDir(), 0)
	h := time.Now().Hour()
	conf.UploadHours = time.Now().Add(time.Hour).Format("15") + "-" + time.Now().Add(2*time.Hour).Format("15")
	s := newStore(t, st, conf)
	if s.wb.canUpload(time.Now()) {
		t.Fatalf("hour %d inside %q", h, conf.UploadHours)
	}
	writeSlice(t, s, 90, randomBytes(8, 100))
	time.Sleep(100 * time.Millisecond)
	if objs := st.Objects("chunks/"); len(objs) != 0 {
		t.Fatalf("uploaded outside the upload hours: %v", objs)
	}
}

func TestParseUploadHours(t *testing.T) {
	for in, want := range map[string][2]int{"": {0, 0}, "1-5": {1, 5}, "22,6": {22, 6}, "0-23": {0, 23}} {
		from, to, err := ParseUploadHours(in)
		if err != nil || from != want[0] || to != want[1] {
			t.Errorf("ParseUploadHours(%q) = %d, %d, %v", in, from, to, err)
		}
	}
	for _, in := range []string{"1", "1-2-3", "a-b", "24-1", "-1-3", "3-"} {
		if _, _, err := ParseUploadHours(in); err == nil {
			t.Errorf("ParseUploadHours(%q) accepted", in)
		}
	}
	wb := &writeback{fromHour: 22, toHour: 6}
	for h, want := range map[int]bool{21: false, 22: true, 23: true, 0: true, 5: true, 6: false, 12: false} {
		if got := wb.canUpload(time.Date(2026, 1, 1, h, 30, 0, 0, time.UTC)); got != want {
			t.Errorf("22-6 at %d:30: %v", h, got)
		}
	}
}

// TestWritebackOfficialLayout: staged files as JuiceFS writes them (no
// checksums with --verify-cache-checksum none; a footer for another
// storage tier, with or without checksums) are uploaded with the block's
// bytes; files that are no staged block are left alone.
func TestWritebackOfficialLayout(t *testing.T) {
	st := datatest.NewDir(t)
	dir := t.TempDir()
	footer := func(n int) []byte { // magic, length, n bytes of (stand-in) msgpack
		b := binary.BigEndian.AppendUint16(nil, footerMagic)
		return append(binary.BigEndian.AppendUint16(b, uint16(n)), bytes.Repeat([]byte{0x80}, n)...)
	}
	blocks := map[string][]byte{}
	files := map[string][]byte{}
	add := func(key string, block []byte, tail ...[]byte) {
		blocks[key] = block
		files[key] = append(append([]byte(nil), block...), bytes.Join(tail, nil)...)
	}
	b1, b2, b3 := randomBytes(9, 40000), randomBytes(10, 1000), randomBytes(11, 65536)
	add("chunks/0/0/91_0_40000", b1)                           // no checksums
	add("chunks/0/0/92_0_1000", b2, checksums(b2), footer(12)) // checksums + footer (trailer % 4 == 0)
	add("chunks/0/0/93_0_65536", b3, footer(11))               // footer alone (trailer % 4 != 0)
	add("chunks/A1/0/161_0_1000", b2, checksums(b2))           // hash-prefixed name
	for key, content := range files {
		p := stagedPath(dir, key)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stray := stagedPath(dir, "chunks/0/0/notablock")
	os.WriteFile(stray, []byte("x"), 0o600)

	newStore(t, st, writebackConf(dir, 0))
	waitFor(t, "the official staged blocks uploaded", func() bool { return len(st.Objects("chunks/")) == len(blocks) })
	codec, _ := compress.New("none")
	for key, block := range blocks {
		waitFor(t, "the staged file removed", func() bool { return !exists(stagedPath(dir, key)) })
		body, err := os.ReadFile(st.Path(key))
		got := make([]byte, len(block))
		if err != nil || codec.Decompress(got, body) != nil || !bytes.Equal(got, block) {
			t.Fatalf("%s: object does not hold the staged block (%v)", key, err)
		}
	}
	if !exists(stray) {
		t.Fatal("a file that is no staged block was removed")
	}
}

// TestWarmupActions: FillCache puts every block of a slice in the disk
// cache (also with CachePartialOnly), CheckCache reports them, EvictCache
// drops them but leaves staged blocks alone.
func TestWarmupActions(t *testing.T) {
	st := datatest.NewDir(t)
	data := randomBytes(12, 2*65536+10)
	writeSlice(t, newStore(t, st, Config{}), 95, data)
	conf := writebackConf(t.TempDir(), time.Hour)
	conf.CachePartialOnly = true
	s := newStore(t, st, conf)
	count := func(id uint64, size int) (cached, missing int) {
		s.CheckCache(id, uint32(size), func(ok bool, dir string, blen int) {
			if ok && strings.HasSuffix(dir, "/vol-uuid/") {
				cached += blen
			} else if !ok {
				missing += blen
			}
		})
		return
	}
	if c, m := count(95, len(data)); c != 0 || m != len(data) {
		t.Fatalf("before warmup: %d cached, %d missing", c, m)
	}
	if err := s.FillCache(context.Background(), 95, uint32(len(data))); err != nil {
		t.Fatal(err)
	}
	if c, m := count(95, len(data)); c != len(data) || m != 0 {
		t.Fatalf("after warmup: %d cached, %d missing", c, m)
	}
	s.EvictCache(95, uint32(len(data)))
	if c, _ := count(95, len(data)); c != 0 {
		t.Fatalf("after evict: %d cached", c)
	}
	staged := randomBytes(13, 1000)
	writeSlice(t, s, 96, staged)
	s.EvictCache(96, 1000)
	if c, _ := count(96, 1000); c != 1000 {
		t.Fatal("evict dropped a staged block")
	}
}
