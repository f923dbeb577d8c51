package chunk

import (
	"bytes"
	"context"
	"encoding/binary"
	"github.com/rueidisfs/rueidisfs/internal/datatest"
	"hash/crc32"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cachedConf(dir string) Config {
	return Config{CacheDir: dir, CacheSize: 1 << 30, VolumeUUID: "vol-uuid", MemCacheSize: 1}
}

// TestDiskCacheLayout: a block read from the storage lands in
// <dir>/<uuid>/raw/<key> as its bytes plus a CRC-32C per 32 KiB, and later
// reads are served from it (even with the object gone); a new store on the
// same directory finds it again.
func TestDiskCacheLayout(t *testing.T) {
	st := datatest.NewDir(t)
	dir := t.TempDir()
	s := newStore(t, st, cachedConf(dir))
	data := randomBytes(5, 3*s.BlockSize())
	writeSlice(t, s, 61, data) // full blocks are not cached on write
	key := "chunks/0/0/61_1_65536"
	path := filepath.Join(dir, "vol-uuid", "raw", filepath.FromSlash(key))
	if _, err := readSlice(s, 61, len(data), 0, len(data)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the block in the disk cache", func() bool { return s.disk.contains(key) })
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block := data[65536 : 2*65536]
	if !bytes.Equal(raw[:65536], block) || len(raw) != 65536+8 {
		t.Fatalf("cache file of %d bytes does not hold the block and two checksums", len(raw))
	}
	for i := range 2 {
		want := crc32.Checksum(block[i*32768:(i+1)*32768], crc32.MakeTable(crc32.Castagnoli))
		if got := binary.BigEndian.Uint32(raw[65536+4*i:]); got != want {
			t.Fatalf("checksum %d = %x, want %x", i, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "vol-uuid", ".lock")); err != nil {
		t.Fatal(err)
	}
	os.Remove(st.Path(key))
	got, err := readSlice(s, 61, len(data), 65536+100, 1000)
	if err != nil || !bytes.Equal(got, data[65536+100:65536+1100]) {
		t.Fatalf("read from the cache: %v", err)
	}
	s.Close()

	// After a restart the cached block is found and used.
	s2 := newStore(t, st, cachedConf(dir))
	waitFor(t, "the scan of the cache", func() bool { return s2.disk.contains(key) })
	got, err = readSlice(s2, 61, len(data), 65536, 65536)
	if err != nil || !bytes.Equal(got, block) {
		t.Fatalf("read from the cache after a restart: %v", err)
	}
}

// TestDiskCacheCorrupt: a cache file whose bytes no longer match their
// checksums is dropped and the block read from the storage.
func TestDiskCacheCorrupt(t *testing.T) {
	st := datatest.NewDir(t)
	dir := t.TempDir()
	s := newStore(t, st, cachedConf(dir))
	data := randomBytes(6, 1000) // short block: cached on write
	writeSlice(t, s, 71, data)
	key := "chunks/0/0/71_0_1000"
	waitFor(t, "the block in the disk cache", func() bool { return s.disk.contains(key) })
	path := filepath.Join(dir, "vol-uuid", "raw", filepath.FromSlash(key))
	raw, _ := os.ReadFile(path)
	raw[10] ^= 0xFF
	os.WriteFile(path, raw, 0o600)
	got, err := readSlice(s, 71, 1000, 0, 1000)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read past a corrupt cache file: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		// It may have been cached again from the storage: then it is good.
		raw, _ := os.ReadFile(path)
		if !bytes.Equal(raw[:1000], data) {
			t.Fatal("the corrupt cache file was kept")
		}
	}
}

// TestDiskCacheEviction keeps usage within the capacity.
func TestDiskCacheEviction(t *testing.T) {
	st := datatest.NewDir(t)
	conf := cachedConf(t.TempDir())
	conf.CacheSize = 10 * (65536 + entryOverhead)
	s := newStore(t, st, conf)
	for i := range 40 {
		data := randomBytes(uint64(i), 65536)
		writeSlice(t, s, uint64(100+i), data)
		if _, err := readSlice(s, uint64(100+i), len(data), 0, len(data)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "cache writes", func() bool { return cacheWritesDone(s) })
	d := s.disk.dirs[0]
	d.mu.Lock()
	used, n := d.index.used, d.index.len()
	d.mu.Unlock()
	if used > conf.CacheSize || n == 0 {
		t.Fatalf("cache holds %d blocks, %d bytes, capacity %d", n, used, conf.CacheSize)
	}
}

// TestDiskCacheUnusable: a cache directory that cannot be written steps
// aside; reads and writes go on.
func TestDiskCacheUnusable(t *testing.T) {
	st := datatest.NewDir(t)
	dir := t.TempDir()
	s := newStore(t, st, cachedConf(dir))
	// Replace raw/ by a file: every cache write fails.
	raw := filepath.Join(dir, "vol-uuid", "raw")
	if err := os.RemoveAll(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(raw, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		data := randomBytes(uint64(i), 1000)
		writeSlice(t, s, uint64(200+i), data)
		got, err := readSlice(s, uint64(200+i), 1000, 0, 1000)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read with a broken cache: %v", err)
		}
	}
	waitFor(t, "the cache to step aside", s.disk.dirs[0].down)

	// A cache directory that cannot even be created is no error either.
	s2 := newStore(t, st, cachedConf(filepath.Join(raw, "below-a-file")))
	if s2.disk != nil {
		t.Fatal("a cache in an impossible directory was opened")
	}
	got, err := readSlice(s2, 200, 1000, 0, 1000)
	if err != nil || !bytes.Equal(got, randomBytes(0, 1000)) {
		t.Fatalf("read without a cache: %v", err)
	}
	_ = context.Background
}

// diskWithFree stands for statfs on a 100 GiB disk (and a million inodes)
// with the share free of both: the tests do not depend on the free space
// of the machine's disk.
func diskWithFree(share float64) func(string) (usage, error) {
	return func(string) (usage, error) {
		const total, files = 100 << 30, 1 << 20
		return usage{total: total, free: int64(total * share), files: files, ffree: int64(files * share)}, nil
	}
}

// TestDiskCacheFullDisk: a cache disk with less free space than the ratio
// asks for stores no more blocks (and evicts); reads go on.
func TestDiskCacheFullDisk(t *testing.T) {
	st := datatest.NewDir(t)
	conf := cachedConf(t.TempDir())
	conf.FreeSpaceRatio = 0.1
	conf.diskUsage = diskWithFree(0.07)
	s := newStore(t, st, conf)
	waitFor(t, "the free-space check", s.disk.dirs[0].lowSpace.Load)
	for i := range 5 {
		data := randomBytes(uint64(i), 1000)
		writeSlice(t, s, uint64(300+i), data)
		got, err := readSlice(s, uint64(300+i), 1000, 0, 1000)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read with a full cache disk: %v", err)
		}
	}
	if n := s.disk.dirs[0].index.len(); n != 0 {
		t.Fatalf("%d blocks cached on a disk short of space", n)
	}
}

// TestDiskCacheStuck: a cache read that hangs (here: the cache file is a
// FIFO nobody writes) makes the cache step aside once it has run too long;
// other reads then go to the storage instead of hanging too.
func TestDiskCacheStuck(t *testing.T) {
	st := datatest.NewDir(t)
	dir := t.TempDir()
	conf := cachedConf(dir)
	conf.maxIODuration = 2 * time.Second // far above a loaded machine's cache write, far below the 10 s waits
	// No start-up scan: one running late on a loaded machine removes the
	// FIFO below as a malformed cache file (its size fits no block).
	conf.CacheScanInterval = -1
	s := newStore(t, st, conf)
	data := randomBytes(8, 1000)
	writeSlice(t, s, 72, data) // a short block: cached on write
	key := "chunks/0/0/72_0_1000"
	waitFor(t, "the block in the disk cache", func() bool { return s.disk.contains(key) })
	path := filepath.Join(dir, "vol-uuid", "raw", filepath.FromSlash(key))
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	stuck := make(chan error, 1)
	go func() { _, err := readSlice(s, 72, 1000, 0, 1000); stuck <- err }()
	waitFor(t, "the cache to step aside", s.disk.dirs[0].down)
	// While the operation is stuck, each check moves the end of the time
	// aside on: the directory never comes back under it.
	d := s.disk.dirs[0]
	end := time.Now().Add(time.Second).UnixNano()
	d.downTill.Store(end)
	d.checkStuck()
	if d.downTill.Load() <= end {
		t.Fatal("the time aside was not extended while an operation was still stuck")
	}
	got, err := readSlice(s, 72, 1000, 0, 1000)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read while the cache hangs: %v", err)
	}
	// Release the stuck reader: it reads nothing, which fails the cache
	// file, and falls back to the storage too.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := <-stuck; err != nil {
		t.Fatalf("the stuck read: %v", err)
	}
}
