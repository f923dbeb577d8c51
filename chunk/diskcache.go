package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// The disk cache lays its files out as JuiceFS does: below
// <cache dir>/<volume UUID>/raw/ every cached block is a file named by the
// block's object key, holding the block's plain bytes followed by one
// CRC-32C (Castagnoli, big-endian) per 32 KiB piece of them. Files are
// written under a ".tmp" name and renamed, so a file with the final name is
// complete; a file whose checksums do not match is deleted on read.
const (
	checksumPiece = 32 << 10
	// entryOverhead is what every cached block is charged beyond its bytes
	// (a file system block, roughly), as JuiceFS counts.
	entryOverhead = 4096
	// stepAside is how long the cache is bypassed after an I/O error.
	stepAside = time.Minute
	// cacheQueue bounds the blocks waiting to be written to the cache;
	// beyond it blocks are not cached.
	cacheQueue = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type diskCache struct {
	root      string // <dir>/<uuid>/raw/
	capacity  int64
	freeRatio float64
	fileMode  os.FileMode
	dirMode   os.FileMode
	log       *slog.Logger

	mu      sync.Mutex
	entries *sampleSet[*cacheEntry]
	used    int64

	queue    chan cacheWrite
	downTill atomic.Int64 // unix nanos until which the cache is bypassed
	lowSpace atomic.Bool  // the disk's free space is below freeRatio
	stop     chan struct{}
	wg       sync.WaitGroup
}

type cacheEntry struct {
	charged int64
	atime   int64 // unix nanos of the last access
}

func diskLastUse(e *cacheEntry) int64 { return e.atime }

type cacheWrite struct {
	key   string
	block []byte
}

// openDiskCache prepares <CacheDir>/<VolumeUUID> and indexes the blocks a
// previous run left there in the background.
func openDiskCache(conf Config, log *slog.Logger) (*diskCache, error) {
	if conf.VolumeUUID == "" {
		return nil, errors.New("no volume UUID to name the cache directory")
	}
	dir := filepath.Join(conf.CacheDir, conf.VolumeUUID)
	dirMode := conf.CacheMode | (conf.CacheMode&0o444)>>1 | (conf.CacheMode&0o444)>>2 // r → rwx
	if err := os.MkdirAll(filepath.Join(dir, "raw"), dirMode); err != nil {
		return nil, err
	}
	if err := ensureLockFile(dir, conf.CacheMode); err != nil {
		return nil, err
	}
	c := &diskCache{
		root:      filepath.Join(dir, "raw") + string(filepath.Separator),
		capacity:  conf.CacheSize,
		freeRatio: conf.FreeSpaceRatio,
		fileMode:  conf.CacheMode,
		dirMode:   dirMode,
		log:       log,
		entries:   newSampleSet[*cacheEntry](),
		queue:     make(chan cacheWrite, cacheQueue),
		stop:      make(chan struct{}),
	}
	if total, _, err := diskSpace(dir); err == nil {
		c.capacity = min(c.capacity, int64(float64(total)*(1-c.freeRatio)))
	}
	c.wg.Add(2)
	go c.writeLoop()
	go c.watchLoop()
	return c, nil
}

// ensureLockFile creates the .lock file identifying this cache directory,
// as JuiceFS does (a random UUID in it).
func ensureLockFile(dir string, mode os.FileMode) error {
	p := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.WriteString(uuid.NewString())
	return errors.Join(err, f.Close())
}

func (c *diskCache) close() {
	close(c.stop)
	c.wg.Wait()
}

func (c *diskCache) down() bool { return time.Now().UnixNano() < c.downTill.Load() }

// failed steps the cache aside after an I/O error, saying so once.
func (c *diskCache) failed(op, key string, err error) {
	now := time.Now()
	if old := c.downTill.Load(); now.UnixNano() < old {
		return
	}
	c.downTill.Store(now.Add(stepAside).UnixNano())
	c.log.Warn(fmt.Sprintf("disk cache %s: %s %s: %v; bypassing the cache for %v", c.root, op, key, err, stepAside))
}

func (c *diskCache) path(key string) string { return c.root + filepath.FromSlash(key) }

func (c *diskCache) contains(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries.get(key)
	return ok
}

// store queues a copy of a block to be written to the cache; when the
// queue is full, the disk low on space or failing, the block is not cached.
func (c *diskCache) store(key string, block []byte) {
	if c.down() || c.lowSpace.Load() || c.contains(key) || len(c.queue) == cap(c.queue) {
		return
	}
	select {
	case c.queue <- cacheWrite{key, append([]byte(nil), block...)}:
	default:
	}
}

func (c *diskCache) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case w := <-c.queue:
			if c.down() {
				continue
			}
			if err := c.write(w.key, w.block); err != nil {
				c.failed("write", w.key, err)
				continue
			}
			c.add(w.key, int64(len(w.block)), time.Now().UnixNano())
		}
	}
}

// write stores block as key's cache file: data, then checksums.
func (c *diskCache) write(key string, block []byte) error {
	p := c.path(key)
	if err := os.MkdirAll(filepath.Dir(p), c.dirMode); err != nil {
		return err
	}
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, c.fileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(block)
	if err == nil {
		_, err = f.Write(checksums(block))
	}
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// checksums returns the CRC-32C of every 32 KiB piece of data.
func checksums(data []byte) []byte {
	out := make([]byte, 0, 4*((len(data)+checksumPiece-1)/checksumPiece))
	for off := 0; off < len(data); off += checksumPiece {
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(data[off:min(off+checksumPiece, len(data))], castagnoli))
	}
	return out
}

// read fills p from offset off of the cached block key (blen bytes),
// verifying the checksums of every 32 KiB piece it touches. A cache file
// that is short or fails its checksums is deleted; false means the caller
// must read elsewhere.
func (c *diskCache) read(key string, blen int, p []byte, off int) bool {
	if c.down() {
		return false
	}
	c.mu.Lock()
	e, ok := c.entries.get(key)
	if ok {
		e.atime = time.Now().UnixNano()
	}
	c.mu.Unlock()
	if !ok {
		return false
	}
	f, err := os.Open(c.path(key))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.failed("open", key, err)
		}
		c.drop(key, false)
		return false
	}
	defer f.Close()
	if err := readVerified(f, blen, p, off); err != nil {
		c.log.Warn(fmt.Sprintf("disk cache: %s: %v; removed from the cache", c.path(key), err))
		c.drop(key, true)
		return false
	}
	return true
}

// readVerified reads the 32 KiB pieces covering [off, off+len(p)) of a
// cache file of a blen-byte block and their checksums, and checks them.
func readVerified(f *os.File, blen int, p []byte, off int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	pieces := (blen + checksumPiece - 1) / checksumPiece
	if fi.Size() != int64(blen+4*pieces) {
		return fmt.Errorf("%d bytes, want %d (block and checksums)", fi.Size(), blen+4*pieces)
	}
	first, last := off/checksumPiece, (off+len(p)-1)/checksumPiece
	start, end := first*checksumPiece, min((last+1)*checksumPiece, blen)
	buf := make([]byte, end-start+4*(last-first+1))
	if _, err := f.ReadAt(buf[:end-start], int64(start)); err != nil {
		return err
	}
	if _, err := f.ReadAt(buf[end-start:], int64(blen+4*first)); err != nil && err != io.EOF {
		return err
	}
	data, sums := buf[:end-start], buf[end-start:]
	for i := 0; i < last-first+1; i++ {
		piece := data[i*checksumPiece : min((i+1)*checksumPiece, len(data))]
		if crc32.Checksum(piece, castagnoli) != binary.BigEndian.Uint32(sums[4*i:]) {
			return fmt.Errorf("checksum mismatch in bytes [%d, %d)", start+i*checksumPiece, start+i*checksumPiece+len(piece))
		}
	}
	copy(p, data[off-start:])
	return nil
}

// remove deletes key from the cache (the slice is gone).
func (c *diskCache) remove(key string) { c.drop(key, true) }

func (c *diskCache) drop(key string, file bool) {
	c.mu.Lock()
	c.forget(key)
	c.mu.Unlock()
	if file {
		if err := os.Remove(c.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.failed("remove", key, err)
		}
	}
}

// add indexes a cached block and evicts others when over capacity.
func (c *diskCache) add(key string, blen int64, atime int64) {
	c.mu.Lock()
	if c.entries.add(key, &cacheEntry{charged: blen + entryOverhead, atime: atime}) {
		c.used += blen + entryOverhead
	}
	victims := c.evictLocked(c.capacity)
	c.mu.Unlock()
	c.removeFiles(victims)
}

// forget drops key from the index; c.mu is held.
func (c *diskCache) forget(key string) {
	if e, ok := c.entries.remove(key); ok {
		c.used -= e.charged
	}
}

// evictLocked picks blocks to remove until usage is at most 95 % of limit,
// when it exceeds limit: of two random blocks, the one used longer ago
// goes (JuiceFS's default "2-random" policy). c.mu is held; the caller
// removes the files.
func (c *diskCache) evictLocked(limit int64) []string {
	if c.used <= limit {
		return nil
	}
	var victims []string
	for c.used > limit*95/100 && c.entries.len() > 0 {
		a := c.entries.victim(diskLastUse)
		c.forget(a)
		victims = append(victims, a)
	}
	return victims
}

func (c *diskCache) removeFiles(keys []string) {
	for _, k := range keys {
		if err := os.Remove(c.path(k)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.failed("evict", k, err)
			return
		}
	}
}

// watchLoop indexes what a previous run cached, then checks the disk's free
// space every second: below the free-space ratio the cache evicts down to
// what leaves that much free, and stores nothing while it cannot.
func (c *diskCache) watchLoop() {
	defer c.wg.Done()
	c.scan()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.checkSpace()
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

func (c *diskCache) checkSpace() {
	total, free, err := diskSpace(c.root)
	if err != nil {
		c.failed("statfs", "", err)
		return
	}
	want := int64(float64(total) * c.freeRatio)
	if free >= want {
		c.lowSpace.Store(false)
		return
	}
	c.lowSpace.Store(true)
	c.mu.Lock()
	victims := c.evictLocked(max(0, c.used-(want-free)))
	c.mu.Unlock()
	c.removeFiles(victims)
}

// diskSpace returns the size and the space available to this user of the
// file system holding path.
func diskSpace(path string) (total, free int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, nil
}

// scan indexes the cache files left by an earlier run, removing temporary
// files older than a minute (an interrupted write) and files whose size
// does not fit their name.
func (c *diskCache) scan() {
	start := time.Now()
	n := 0
	err := filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a directory removed meanwhile
		}
		select {
		case <-c.stop:
			return fs.SkipAll
		default:
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if strings.HasSuffix(p, ".tmp") {
			if time.Since(fi.ModTime()) > time.Minute {
				os.Remove(p)
			}
			return nil
		}
		key := filepath.ToSlash(strings.TrimPrefix(p, c.root))
		blen, ok := cachedBlockLen(key)
		pieces := (blen + checksumPiece - 1) / checksumPiece
		if !ok || fi.Size() != int64(blen+4*pieces) {
			os.Remove(p)
			return nil
		}
		c.add(key, int64(blen), accessTime(fi))
		n++
		return nil
	})
	if err != nil {
		c.log.Warn(fmt.Sprintf("disk cache %s: scan: %v", c.root, err))
	}
	if n > 0 {
		c.log.Info(fmt.Sprintf("disk cache %s: found %d cached blocks in %v", c.root, n, time.Since(start).Round(time.Millisecond)))
	}
}

// cachedBlockLen parses the block length from a key "chunks/…/id_i_len".
func cachedBlockLen(key string) (int, bool) {
	if !strings.HasPrefix(key, "chunks/") {
		return 0, false
	}
	name := key[strings.LastIndexByte(key, '/')+1:]
	parts := strings.Split(name, "_")
	if len(parts) != 3 {
		return 0, false
	}
	var blen int
	if _, err := fmt.Sscanf(parts[2], "%d", &blen); err != nil || blen <= 0 || blen > 16<<20 {
		return 0, false
	}
	return blen, true
}

func accessTime(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Atim.Sec*1e9 + st.Atim.Nsec
	}
	return fi.ModTime().UnixNano()
}
