package chunk

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// One directory of the disk cache, laid out as JuiceFS lays out its cache
// directories: below <cache dir>/<volume UUID>/raw/ every cached block is a
// file named by the block's object key (see cachefile.go for its content),
// and below rawstaging/ the blocks written with --writeback wait for their
// upload (see staging.go). Files are written under a ".tmp" name and
// renamed, so a file with the final name is complete; a file that fails its
// checksums is deleted on read.
const (
	// entryOverhead is what every cached block is charged beyond its bytes
	// (a file system block, roughly), as JuiceFS counts.
	entryOverhead = 4096
	// stepAside is how long the cache is bypassed after an I/O error.
	stepAside = time.Minute
	// cacheQueue bounds the blocks waiting to be written to the cache;
	// beyond it blocks are not cached.
	cacheQueue = 64
	// expireBatch bounds the blocks one expiry round removes.
	expireBatch = 1000
)

type diskCache struct {
	id        string // the UUID in the .lock file
	dir       string // <dir>/<uuid>/
	root      string // <dir>/<uuid>/raw/
	stageRoot string // <dir>/<uuid>/rawstaging/
	capacity  int64
	maxItems  int64 // 0: no limit
	freeRatio float64
	fileMode  os.FileMode
	dirMode   os.FileMode
	checksum  string
	expire    time.Duration
	scanEvery time.Duration
	log       *slog.Logger
	metrics   *storeMetrics
	clock     ioClock       // operations in flight
	maxIO     time.Duration // longest an operation may run before the directory steps aside
	statfs    func(path string) (usage, error)

	mu    sync.Mutex
	index *cacheIndex

	queue     chan cacheWrite
	pending   atomic.Int64 // blocks queued or being written (tests wait for 0)
	downTill  atomic.Int64 // unix nanos until which the cache is bypassed
	lowSpace  atomic.Bool  // free space or inodes below freeRatio
	stageFull atomic.Bool  // free space or inodes below half of freeRatio
	hurry     func(*diskCache)
	stop      chan struct{}
	wg        sync.WaitGroup
}

type cacheWrite struct {
	key   string
	block []byte
}

// openDiskCache prepares <dir>/<VolumeUUID> with a share of the capacity
// and indexes the blocks a previous run left there in the background.
func openDiskCache(dir string, conf *Config, capacity, maxItems int64, log *slog.Logger, m *storeMetrics) (*diskCache, error) {
	if conf.VolumeUUID == "" {
		return nil, errors.New("no volume UUID to name the cache directory")
	}
	dir = filepath.Join(dir, conf.VolumeUUID)
	dirMode := conf.CacheMode | (conf.CacheMode&0o444)>>1 | (conf.CacheMode&0o444)>>2 // r → rwx
	if err := mkdirMode(filepath.Join(dir, "raw"), dirMode); err != nil {
		return nil, err
	}
	id, err := lockFileID(dir, conf.CacheMode)
	if err != nil {
		return nil, err
	}
	sep := string(filepath.Separator)
	c := &diskCache{
		id:        id,
		dir:       dir + sep,
		root:      filepath.Join(dir, "raw") + sep,
		stageRoot: filepath.Join(dir, "rawstaging") + sep,
		capacity:  capacity,
		maxItems:  maxItems,
		freeRatio: conf.FreeSpaceRatio,
		fileMode:  conf.CacheMode,
		dirMode:   dirMode,
		checksum:  conf.CacheChecksum,
		expire:    conf.CacheExpire,
		scanEvery: conf.CacheScanInterval,
		log:       log,
		metrics:   m,
		maxIO:     conf.maxIODuration,
		statfs:    conf.diskUsage,
		index:     newCacheIndex(conf.CacheEviction),
		queue:     make(chan cacheWrite, cacheQueue),
		hurry:     func(*diskCache) {},
		stop:      make(chan struct{}),
	}
	if d, err := c.statfs(dir); err == nil {
		c.capacity = min(c.capacity, int64(float64(d.total)*(1-c.freeRatio)))
		if d.files > 0 {
			if limit := int64(float64(d.files) * (1 - c.freeRatio)); c.maxItems == 0 || limit < c.maxItems {
				c.maxItems = limit
			}
		}
	}
	return c, nil
}

// start runs the background work: writing queued blocks, indexing what is
// on disk, watching the free space, expiring unused blocks.
func (c *diskCache) start() {
	c.wg.Add(2)
	go c.writeLoop()
	go c.watchLoop()
	if c.expire > 0 {
		c.wg.Add(1)
		go c.expireLoop()
	}
}

// lockFileID reads the .lock file identifying this cache directory, as
// JuiceFS writes it (a random UUID), creating it first if needed.
func lockFileID(dir string, mode os.FileMode) (string, error) {
	p := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if errors.Is(err, fs.ErrExist) {
		b, err := os.ReadFile(p)
		return strings.TrimSpace(string(b)), err
	}
	if err != nil {
		return "", err
	}
	id := uuid.NewString()
	_, err = f.WriteString(id)
	return id, errors.Join(err, f.Close())
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
	_, ok := c.index.get(key)
	return ok
}

// full reports whether a new block would have to evict and cannot.
func (c *diskCache) full() bool {
	return c.index.policy == EvictionNone && (c.lowSpace.Load() || c.index.used >= c.capacity || c.maxItems > 0 && int64(c.index.len()) >= c.maxItems)
}

// store queues a copy of a block to be written to the cache; when the
// queue is full, the disk low on space or failing, the block is not cached.
func (c *diskCache) store(key string, block []byte) {
	if c.down() || c.lowSpace.Load() || len(c.queue) == cap(c.queue) {
		c.metrics.cacheDrops.Inc()
		return
	}
	c.mu.Lock()
	_, ok := c.index.get(key)
	full := c.full()
	c.mu.Unlock()
	if ok {
		return
	}
	if full {
		c.metrics.cacheDrops.Inc()
		return
	}
	c.pending.Add(1)
	select {
	case c.queue <- cacheWrite{key, append([]byte(nil), block...)}:
	default:
		c.pending.Add(-1)
		c.metrics.cacheDrops.Inc()
	}
}

func (c *diskCache) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case w := <-c.queue:
			c.write(w)
			c.pending.Add(-1)
		}
	}
}

// write writes a queued block to its cache file and indexes it.
func (c *diskCache) write(w cacheWrite) {
	if c.down() {
		c.metrics.cacheDrops.Inc()
		return
	}
	start := time.Now()
	end := c.clock.begin()
	err := writeCacheFile(c.path(w.key), w.block, c.checksum != ChecksumNone, c.fileMode, c.dirMode)
	end()
	if err != nil {
		c.failed("write", w.key, err)
		return
	}
	c.metrics.cacheWrites.Inc()
	c.metrics.cacheWriteBytes.Add(float64(len(w.block)))
	c.metrics.cacheWriteHist.Observe(time.Since(start).Seconds())
	c.add(w.key, len(w.block), time.Now().UnixNano(), false)
}

// read fills p from offset off of the cached block key (blen bytes),
// verifying checksums as configured. A cache file that is short or fails
// its checksums is deleted; false means the caller must read elsewhere.
func (c *diskCache) read(key string, blen int, p []byte, off int) bool {
	if c.down() {
		return false
	}
	c.mu.Lock()
	e, ok := c.index.get(key)
	if ok {
		c.index.touch(e, time.Now().UnixNano())
	}
	c.mu.Unlock()
	if !ok {
		return false
	}
	end := c.clock.begin()
	defer end()
	f, err := os.Open(c.path(key))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.failed("open", key, err)
		}
		c.drop(key, false)
		return false
	}
	defer f.Close()
	if err := readCacheFile(f, blen, p, off, c.checksum); err != nil {
		c.log.Warn(fmt.Sprintf("disk cache: %s: %v; removed from the cache", c.path(key), err))
		c.drop(key, true)
		return false
	}
	return true
}

// remove deletes key from the cache (the slice is gone).
func (c *diskCache) remove(key string) { c.drop(key, true) }

func (c *diskCache) drop(key string, file bool) {
	c.mu.Lock()
	c.index.remove(key)
	c.mu.Unlock()
	if file {
		if err := os.Remove(c.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.failed("remove", key, err)
		}
	}
}

// add indexes a block in the cache (a staged one: waiting for its upload)
// and evicts others when over capacity.
func (c *diskCache) add(key string, blen int, atime int64, staged bool) {
	c.mu.Lock()
	c.index.add(key, &cacheEntry{charged: int64(blen) + entryOverhead, atime: atime, staged: staged})
	victims := c.evictLocked(c.capacity, c.maxItems)
	c.mu.Unlock()
	c.removeFiles(victims)
}

// evictLocked picks blocks to remove, when usage exceeds limit or the
// count maxItems, until usage is at most 95 % of limit and the count 99 %
// of maxItems. c.mu is held; the caller removes the files.
func (c *diskCache) evictLocked(limit, maxItems int64) []string {
	over := func(used, n int64) bool { return c.index.used > used || maxItems > 0 && int64(c.index.len()) > n }
	if !over(limit, maxItems) {
		return nil
	}
	var victims []string
	for over(limit*95/100, maxItems*99/100) {
		key := c.index.victim()
		if key == "" {
			break
		}
		c.index.remove(key)
		victims = append(victims, key)
	}
	return victims
}

func (c *diskCache) removeFiles(keys []string) {
	c.metrics.cacheEvicts.Add(float64(len(keys)))
	for _, k := range keys {
		if err := os.Remove(c.path(k)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.failed("evict", k, err)
			return
		}
	}
}

// watchLoop indexes what a previous run cached (again every scanEvery when
// it is positive; never when negative), and checks the disk's free space
// every second: below the free-space ratio the cache evicts down to what
// leaves that much free and stores nothing while it cannot, and staged
// blocks are uploaded without waiting for their delay.
func (c *diskCache) watchLoop() {
	defer c.wg.Done()
	if c.scanEvery >= 0 {
		c.scan()
	}
	lastScan := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.checkStuck()
		c.checkSpace()
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			if c.scanEvery > 0 && now.Sub(lastScan) >= c.scanEvery {
				c.scan()
				lastScan = now
			}
		}
	}
}

func (c *diskCache) checkSpace() {
	d, err := c.statfs(c.root)
	if err != nil {
		c.failed("statfs", "", err)
		return
	}
	c.stageFull.Store(d.short(c.freeRatio / 2))
	if !d.short(c.freeRatio) {
		c.lowSpace.Store(false)
		return
	}
	c.lowSpace.Store(true)
	c.hurry(c)
	if c.index.policy == EvictionNone {
		return
	}
	wantFree := int64(float64(d.total) * c.freeRatio)
	wantFiles := int64(float64(d.files) * c.freeRatio)
	c.mu.Lock()
	limit := max(0, c.index.used-max(0, wantFree-d.free))
	items := int64(c.index.len())
	if wantFiles > d.ffree {
		items = max(0, items-(wantFiles-d.ffree))
	}
	victims := c.evictLocked(min(limit, c.capacity), items)
	c.mu.Unlock()
	c.removeFiles(victims)
}

// expireLoop removes blocks not read for longer than c.expire, checking
// every minute (or every c.expire when shorter).
func (c *diskCache) expireLoop() {
	defer c.wg.Done()
	t := time.NewTicker(min(time.Minute, c.expire))
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.mu.Lock()
			keys := c.index.expired(now.Add(-c.expire).UnixNano(), expireBatch)
			for _, k := range keys {
				c.index.remove(k)
			}
			c.mu.Unlock()
			c.removeFiles(keys)
		}
	}
}

// usage is what statfs tells of a cache disk.
type usage struct{ total, free, files, ffree int64 }

// short reports whether less than ratio of the space or of the inodes is
// free.
func (d usage) short(ratio float64) bool {
	return d.free < int64(float64(d.total)*ratio) || d.files > 0 && d.ffree < int64(float64(d.files)*ratio)
}

// diskUsage returns the size, the space available to this user and the
// inodes of the file system holding path.
func diskUsage(path string) (usage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return usage{}, err
	}
	return usage{int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, int64(st.Files), int64(st.Ffree)}, nil
}

// scan indexes the cache files on disk (left by an earlier run, or by
// JuiceFS), removing temporary files older than a minute (an interrupted
// write) and files whose size does not fit their name. Files with more
// than one link are staged blocks (also linked below rawstaging/). Blocks
// indexed already keep their access time.
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
		if _, err := cacheLayout(fi.Size(), blen); !ok || err != nil {
			os.Remove(p)
			return nil
		}
		c.add(key, blen, accessTime(fi), links(fi) > 1)
		n++
		return nil
	})
	if err != nil {
		c.log.Warn(fmt.Sprintf("disk cache %s: scan: %v", c.root, err))
	}
	if n > 0 {
		c.log.Debug(fmt.Sprintf("disk cache %s: found %d cached blocks in %v", c.root, n, time.Since(start).Round(time.Millisecond)))
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
	blen, err := strconv.Atoi(parts[2])
	if err != nil || blen <= 0 || blen > 16<<20 {
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

func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
