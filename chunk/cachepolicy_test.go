package chunk

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rueidisfs/rueidisfs/internal/datatest"
)

// fillCache writes and reads n slices of one full block each, so that each
// block enters the disk cache, and waits for the cache writes.
func fillCache(t *testing.T, s *Store, first, n int) {
	t.Helper()
	for i := range n {
		id := uint64(first + i)
		data := randomBytes(id, s.BlockSize())
		writeSlice(t, s, id, data)
		if got, err := readSlice(s, id, len(data), 0, len(data)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read slice %d: %v", id, err)
		}
		key := s.blockKey(id, 0, len(data))
		waitFor(t, "the block cached", func() bool { return s.disk.contains(key) || cacheWritesDone(s) })
	}
}

// cacheWritesDone reports whether no block is queued for a cache directory
// of s or being written.
func cacheWritesDone(s *Store) bool {
	for _, d := range s.disk.dirs {
		if d.pending.Load() != 0 {
			return false
		}
	}
	return true
}

func cachedCount(s *Store) (n int, used int64) {
	for _, d := range s.disk.dirs {
		d.mu.Lock()
		n += d.index.len()
		used += d.index.used
		d.mu.Unlock()
	}
	return n, used
}

// TestCacheEvictionPolicies: lru evicts the blocks read longest ago, none
// keeps the first blocks and caches no more, and --cache-items bounds the
// count.
func TestCacheEvictionPolicies(t *testing.T) {
	const per = 65536 + entryOverhead
	t.Run("lru", func(t *testing.T) {
		conf := cachedConf(t.TempDir())
		conf.CacheEviction = EvictionLRU
		conf.CacheSize = 10 * per
		s := newStore(t, datatest.NewDir(t), conf)
		fillCache(t, s, 100, 10)
		// Touch the first five: the next blocks must evict the others.
		for id := 100; id < 105; id++ {
			if _, err := readSlice(s, uint64(id), 65536, 0, 10); err != nil {
				t.Fatal(err)
			}
		}
		fillCache(t, s, 200, 3)
		for id := 100; id < 105; id++ {
			if !s.disk.contains(s.blockKey(uint64(id), 0, 65536)) {
				t.Fatalf("lru evicted block %d, read recently", id)
			}
		}
		if n, used := cachedCount(s); used > conf.CacheSize {
			t.Fatalf("%d blocks, %d bytes over the capacity", n, used)
		}
	})
	t.Run("none", func(t *testing.T) {
		conf := cachedConf(t.TempDir())
		conf.CacheEviction = EvictionNone
		conf.CacheSize = 5 * per
		s := newStore(t, datatest.NewDir(t), conf)
		fillCache(t, s, 100, 8)
		for id := 100; id < 105; id++ {
			if !s.disk.contains(s.blockKey(uint64(id), 0, 65536)) {
				t.Fatalf("block %d evicted with --cache-eviction none", id)
			}
		}
		if n, _ := cachedCount(s); n != 5 {
			t.Fatalf("%d blocks cached, want the first 5", n)
		}
	})
	t.Run("items", func(t *testing.T) {
		conf := cachedConf(t.TempDir())
		conf.CacheItems = 4
		s := newStore(t, datatest.NewDir(t), conf)
		fillCache(t, s, 100, 10)
		if n, _ := cachedCount(s); n > 4 || n == 0 {
			t.Fatalf("%d blocks cached with --cache-items 4", n)
		}
	})
}

// TestCacheExpire: blocks not read for longer than the expiry leave the
// cache, files included.
func TestCacheExpire(t *testing.T) {
	dir := t.TempDir()
	conf := cachedConf(dir)
	conf.CacheExpire = time.Second
	s := newStore(t, datatest.NewDir(t), conf)
	fillCache(t, s, 100, 3)
	key := s.blockKey(100, 0, 65536)
	waitFor(t, "three blocks cached", func() bool { return testutil.ToFloat64(s.metrics.cacheWrites) == 3 })
	// The index forgets the blocks first, then their files are removed.
	waitFor(t, "the blocks expired", func() bool { n, _ := cachedCount(s); return n == 0 })
	waitFor(t, "the file of an expired block removed", func() bool { return !exists(cachedPath(dir, key)) })
}

// TestCachePartialOnly: whole blocks downloaded are not cached, short
// blocks are, and so are blocks prefetched after a range read.
func TestCachePartialOnly(t *testing.T) {
	st := datatest.NewDir(t)
	writer := newStore(t, st, Config{})
	big, small := randomBytes(1, 65536), randomBytes(2, 1000)
	writeSlice(t, writer, 1, big)
	writeSlice(t, writer, 2, small)
	writeSlice(t, writer, 3, big)

	conf := cachedConf(t.TempDir())
	conf.CachePartialOnly = true
	s := newStore(t, st, conf)
	readSlice(s, 1, 65536, 0, 65536)
	readSlice(s, 2, 1000, 0, 1000)
	readSlice(s, 3, 65536, 1000, 100) // range read, then prefetched whole
	waitFor(t, "the short block cached", func() bool { return s.disk.contains(s.blockKey(2, 0, 1000)) })
	waitFor(t, "the prefetched block cached", func() bool { return s.disk.contains(s.blockKey(3, 0, 65536)) })
	time.Sleep(20 * time.Millisecond)
	if s.disk.contains(s.blockKey(1, 0, 65536)) {
		t.Fatal("a whole block downloaded was cached with --cache-partial-only")
	}
}

// TestCacheChecksumLevels: "none" writes no checksums and verifies none;
// "full" catches damage on whole-block reads only; "shrink" only in the
// pieces a read covers wholly; "extend" in every piece a read touches.
func TestCacheChecksumLevels(t *testing.T) {
	data := randomBytes(3, 100000) // pieces [0,32K) [32K,64K) [64K,96K) [96K,100000)
	for _, tc := range []struct {
		level       string
		off, n      int
		wantCaught  bool
		corruptByte int
	}{
		{ChecksumExtend, 40000, 10, true, 50000},  // same piece, partly read
		{ChecksumShrink, 40000, 10, false, 50000}, // piece not wholly inside
		{ChecksumShrink, 30000, 40000, true, 50000},
		{ChecksumFull, 40000, 10, false, 50000},
		{ChecksumFull, 0, 100000, true, 50000},
		{ChecksumNone, 0, 100000, false, 50000},
	} {
		t.Run(fmt.Sprintf("%s/%d+%d", tc.level, tc.off, tc.n), func(t *testing.T) {
			st := datatest.NewFaulty(datatest.NewDir(t))
			dir := t.TempDir()
			conf := cachedConf(dir)
			conf.BlockSize = 128 << 10
			conf.CacheChecksum = tc.level
			s := newStore(t, st, conf)
			writeSlice(t, s, 5, data) // short block: cached on write
			key := s.blockKey(5, 0, len(data))
			waitFor(t, "the block cached", func() bool { return s.disk.contains(key) })
			p := cachedPath(dir, key)
			raw, _ := os.ReadFile(p)
			if want := len(data) + checksumsLen(len(data)); tc.level != ChecksumNone && len(raw) != want || tc.level == ChecksumNone && len(raw) != len(data) {
				t.Fatalf("cache file of %d bytes", len(raw))
			}
			raw[tc.corruptByte] ^= 1
			os.WriteFile(p, raw, 0o600)
			got, err := readSlice(s, 5, len(data), tc.off, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			caught := st.Gets(key) > 0 // read again from the storage
			if caught != tc.wantCaught {
				t.Fatalf("damage caught: %v, want %v", caught, tc.wantCaught)
			}
			if caught && !bytes.Equal(got, data[tc.off:tc.off+tc.n]) {
				t.Fatal("damaged bytes returned")
			}
		})
	}
}

// TestCacheDirs: blocks spread over several directories by consistent
// hashing on their .lock UUIDs, each directory with its share of the
// capacity; a new store on the same directories finds every block where
// it was; a block is found in another directory than its place too.
func TestCacheDirs(t *testing.T) {
	st := datatest.NewDir(t)
	base := t.TempDir()
	var dirs []string
	for i := range 3 {
		dirs = append(dirs, filepath.Join(base, fmt.Sprintf("d%d", i)))
	}
	conf := cachedConf(strings.Join(dirs, ":"))
	s := newStore(t, st, conf)
	if len(s.disk.dirs) != 3 || s.disk.dirs[0].capacity > conf.CacheSize/3 {
		t.Fatalf("%d directories, the first with %d bytes", len(s.disk.dirs), s.disk.dirs[0].capacity)
	}
	for i := range 30 {
		writeSlice(t, s, uint64(400+i), randomBytes(uint64(i), 1000))
	}
	used := map[string]int{}
	for i := range 30 {
		key := s.blockKey(uint64(400+i), 0, 1000)
		waitFor(t, "the block cached", func() bool { return s.disk.contains(key) })
		d := s.disk.pick(key)
		if !exists(d.path(key)) {
			t.Fatalf("%s not in its directory %s", key, d.dir)
		}
		used[d.dir]++
	}
	if len(used) != 3 {
		t.Fatalf("blocks in %d of 3 directories: %v", len(used), used)
	}
	s.Close()
	// Glob patterns name the same directories; each block is found again.
	conf.CacheDir = filepath.Join(base, "d*")
	s2 := newStore(t, st, conf)
	for i := range 30 {
		key := s2.blockKey(uint64(400+i), 0, 1000)
		waitFor(t, "the block found after a restart", func() bool { return s2.disk.contains(key) })
		os.Remove(st.Path(key))
		if got, err := readSlice(s2, uint64(400+i), 1000, 0, 1000); err != nil || !bytes.Equal(got, randomBytes(uint64(i), 1000)) {
			t.Fatalf("read from the cache after a restart: %v", err)
		}
	}
}

// TestCacheOfficialLayouts: cache files without checksums or with a stage
// footer (as JuiceFS writes them) are read; damaged ones are not.
func TestCacheOfficialLayouts(t *testing.T) {
	block := randomBytes(4, 70000)
	for _, tc := range []struct {
		name string
		tail []byte
		ok   bool
	}{
		{"no checksums", nil, true},
		{"checksums", checksums(block), true},
		{"footer", []byte{0x46, 0x53, 0, 3, 1, 2, 3}, true},
		{"short checksums", checksums(block)[:4], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.CreateTemp(t.TempDir(), "c")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.Write(append(append([]byte(nil), block...), tc.tail...))
			p := make([]byte, 5000)
			err = readCacheFile(f, len(block), p, 33000, ChecksumExtend)
			if (err == nil) != tc.ok || err == nil && !bytes.Equal(p, block[33000:38000]) {
				t.Fatalf("read: %v", err)
			}
		})
	}
}

// TestCachePlacementAsJuiceFS: blocks go to the cache directory JuiceFS
// puts them in, given the same directories (their .lock UUIDs).
func TestCachePlacementAsJuiceFS(t *testing.T) {
	raw, err := os.ReadFile("testdata/juicefs-placement.txt")
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	uuids := map[string]string{}
	want := map[string]string{}
	var dirs []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "#"):
		case f[0] == "lock":
			uuids[f[1]] = f[2]
			dirs = append(dirs, filepath.Join(base, f[1]))
			os.MkdirAll(filepath.Join(base, f[1], "vol-uuid"), 0o755)
			os.WriteFile(filepath.Join(base, f[1], "vol-uuid", ".lock"), []byte(f[2]), 0o600)
		default:
			want[f[1]] = f[0]
		}
	}
	s := newStore(t, datatest.NewDir(t), cachedConf(strings.Join(dirs, ":")))
	for key, dir := range want {
		got := s.disk.pick(key).dir
		if wantDir := filepath.Join(base, dir, "vol-uuid") + "/"; got != wantDir {
			t.Errorf("%s placed in %s, JuiceFS places it in %s", key, got, wantDir)
		}
	}
	if len(want) < 50 {
		t.Fatalf("only %d blocks in the fixture", len(want))
	}
}

// TestCacheModes: cache files get --cache-mode, directories that mode plus
// search and write for whoever may read (0644 -> 0777), whatever the umask.
func TestCacheModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	conf := writebackConf(dir, time.Hour)
	conf.CacheMode = 0o644
	s := newStore(t, datatest.NewDir(t), conf)
	writeSlice(t, s, 7, randomBytes(7, 100))
	key := s.blockKey(7, 0, 100)
	for _, p := range []string{cachedPath(dir, key), stagedPath(dir, key)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %o", p, fi.Mode().Perm())
		}
		for d := filepath.Dir(p); d != dir; d = filepath.Dir(d) {
			if fi, _ := os.Stat(d); fi.Mode().Perm() != 0o777 {
				t.Errorf("%s: mode %o, want 777", d, fi.Mode().Perm())
			}
		}
	}
}
