// Package chunk is the chunk store: it turns slices (immutable byte strings
// of up to 64 MiB named by a slice id) into block objects of the volume's
// object storage and back, with the buffers, caches and concurrency that
// make this fast.
//
// A slice of n bytes is stored as ceil(n / block size) blocks; every block
// is one object named by the slice id, its index and its length (see
// objstore.BlockKey), compressed as the volume's format says (package
// compress), then handed to the storage, which may encrypt it. Writing a
// slice buffers its bytes, uploads each block as soon as it is complete and
// the rest when the writer finishes; Finish returns only when every block
// is stored, so the caller may then commit the slice in the metadata.
//
// Reads go through a small memory cache, then an optional disk cache (the
// block's plain bytes with a CRC-32C per 32 KiB, as JuiceFS lays out its
// cache directories), then the object storage, where concurrent readers of
// one block share one download. Uncompressed volumes read a small part of a
// block with a range request.
package chunk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/compress"
	"github.com/rueidisfs/rueidisfs/objstore"
)

// Storage is what the chunk store needs of an object storage (objstore's
// stores satisfy it): keys are relative to the volume's prefix
// ("chunks/0/0/7_0_4096"), a missing object is an error wrapping
// fs.ErrNotExist, deleting a missing object is no error.
type Storage interface {
	// Get returns limit bytes of key from off (limit < 0: to the end).
	Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error)
	// Put stores data as key; readers never see a part of it.
	Put(ctx context.Context, key string, data []byte) error
	// Delete removes key.
	Delete(ctx context.Context, key string) error
}

var _ Storage = objstore.Store(nil)

// ChunkSize is the longest slice: 64 MiB.
const ChunkSize = codec.ChunkSize

// Config sets up a Store. BlockSize and Compression come from the volume's
// format; the rest are the client's tunables, whose zero values give the
// defaults noted.
type Config struct {
	BlockSize   int    // bytes, from the format (BlockSize KiB × 1024)
	Compression string // from the format: none, lz4, zstd
	HashPrefix  bool   // from the format
	// WholeObjects: the storage cannot read part of an object cheaply
	// (an encrypted volume decrypts whole objects), so no range reads.
	WholeObjects bool

	// BufferSize bounds the memory of write buffers (default 300 MiB):
	// writers wait while more is in use and uploads are under way.
	BufferSize int64
	// MaxUploads is the number of block uploads in flight (default 20).
	MaxUploads int
	// MaxDownloads is the number of object downloads in flight (default
	// 200).
	MaxDownloads int
	// MaxDeletes is the number of object deletions in flight, over every
	// Remove (default 10).
	MaxDeletes int
	// UploadRetries is how many times a failed upload is tried again
	// (default 10), waiting RetryDelay(attempt) before each.
	UploadRetries int
	// RetryDelay is the wait before retry number attempt (1, 2, ...);
	// default attempt² seconds, capped at 30 s.
	RetryDelay func(attempt int) time.Duration

	// CacheDir is the disk cache's directory, or several separated by
	// colons (or commas) sharing CacheSize, glob patterns allowed (""
	// or CacheSize 0: none; "memory": the memory cache takes CacheSize).
	// The volume's UUID is appended, so that volumes sharing a directory
	// do not mix.
	CacheDir string
	// CacheSize is the disk cache's capacity in bytes (each block counts
	// its length plus 4 KiB).
	CacheSize int64
	// CacheItems bounds the number of cached blocks (0: as many as leave
	// FreeSpaceRatio of the disk's inodes free).
	CacheItems int64
	// FreeSpaceRatio is the share of the cache disk kept free (default
	// 0.1): below it the cache evicts and stops storing; below half of it
	// blocks are no longer staged.
	FreeSpaceRatio float64
	// CacheMode is the permission of cache files (default 0600).
	CacheMode os.FileMode
	// CacheLargeWrite also caches full blocks on write (by default only
	// blocks shorter than BlockSize are, as JuiceFS does).
	CacheLargeWrite bool
	// CachePartialOnly: whole blocks downloaded are not cached (blocks
	// shorter than BlockSize still are, and blocks prefetched after a
	// partial read).
	CachePartialOnly bool
	// CacheEviction is the eviction policy: Eviction2Random (default),
	// EvictionLRU or EvictionNone.
	CacheEviction string
	// CacheExpire: cached blocks not read for this long are removed (0:
	// never).
	CacheExpire time.Duration
	// CacheChecksum is the checksum level of cached blocks: ChecksumNone,
	// ChecksumFull, ChecksumShrink or ChecksumExtend (default).
	CacheChecksum string
	// CacheScanInterval: the cache directories are indexed at start and
	// again at this interval (0: at start only; negative: never, the
	// blocks an earlier run cached are not used).
	CacheScanInterval time.Duration

	// Writeback stages new blocks in the disk cache and lets their slice
	// be committed before they are uploaded (see writeback.go). Needs a
	// disk cache.
	Writeback bool
	// WritebackThreshold: only blocks shorter than this are staged
	// (default BlockSize+1: all).
	WritebackThreshold int
	// UploadDelay is how long staged blocks wait before their upload.
	UploadDelay time.Duration
	// UploadHours limits uploads of staged blocks to hours of the day
	// ("start-end", see ParseUploadHours; "": any time).
	UploadHours string
	// MaxStageWrite bounds the staging writes in flight (default 1000);
	// beyond it blocks are uploaded directly.
	MaxStageWrite int
	// StageTimeout: a staging write taking longer is abandoned and the
	// block uploaded directly (default 60 s).
	StageTimeout time.Duration

	// VolumeUUID names the volume's sub-directory of CacheDir.
	VolumeUUID string
	// MemCacheSize is the memory cache's capacity (default 64 MiB): blocks
	// just downloaded or prefetched, for sequential readers.
	MemCacheSize int64
	// Prefetch is the number of background block downloads for readahead
	// and after partial reads (default 1).
	Prefetch int

	// Logger receives warnings (a cache disk stepping aside, failed
	// deletions); nil discards them.
	Logger *slog.Logger
	// Metrics, when set, receives the store's metrics (block cache,
	// staging), named as JuiceFS names them.
	Metrics prometheus.Registerer

	uploadFrom, uploadTo int                              // UploadHours, parsed
	stagingRescan        time.Duration                    // tests: how often staged blocks are retried
	maxIODuration        time.Duration                    // tests: when a cache operation counts as stuck
	diskUsage            func(path string) (usage, error) // tests: what statfs tells of a cache disk
}

func (c *Config) setDefaults() {
	if c.BufferSize <= 0 {
		c.BufferSize = 300 << 20
	}
	if c.MaxUploads <= 0 {
		c.MaxUploads = 20
	}
	if c.MaxDeletes <= 0 {
		c.MaxDeletes = 10
	}
	if c.MaxDownloads <= 0 {
		c.MaxDownloads = 200
	}
	if c.UploadRetries < 0 {
		c.UploadRetries = 0
	} else if c.UploadRetries == 0 {
		c.UploadRetries = 10
	}
	if c.RetryDelay == nil {
		c.RetryDelay = func(attempt int) time.Duration {
			return min(time.Duration(attempt*attempt)*time.Second, 30*time.Second)
		}
	}
	if c.FreeSpaceRatio <= 0 {
		c.FreeSpaceRatio = 0.1
	}
	if c.CacheMode == 0 {
		c.CacheMode = 0o600
	}
	if c.CacheEviction == "" {
		c.CacheEviction = Eviction2Random
	}
	if c.CacheChecksum == "" {
		c.CacheChecksum = ChecksumExtend
	}
	if c.CacheExpire > 0 && c.CacheExpire < time.Second {
		c.CacheExpire = time.Second
	}
	if c.WritebackThreshold <= 0 {
		c.WritebackThreshold = c.BlockSize + 1
	}
	if c.MaxStageWrite <= 0 {
		c.MaxStageWrite = 1000
	}
	if c.StageTimeout <= 0 {
		c.StageTimeout = time.Minute
	}
	if c.diskUsage == nil {
		c.diskUsage = diskUsage
	}
	if c.maxIODuration <= 0 {
		c.maxIODuration = maxIODuration
	}
	if c.MemCacheSize <= 0 {
		c.MemCacheSize = 64 << 20
	}
	if c.Prefetch <= 0 {
		c.Prefetch = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is the chunk store of one volume. It is safe for concurrent use.
type Store struct {
	conf    Config
	storage Storage
	codec   compress.Codec
	log     *slog.Logger

	buffers   *budget       // write buffer memory
	uploads   chan struct{} // upload slots
	downloads chan struct{} // download slots
	deletes   chan struct{} // deletion slots
	fetches   singleflight.Group
	mem       *memCache
	disk      *cacheDirs // nil without a disk cache
	wb        *writeback // nil without a disk cache
	prefetch  *prefetcher

	metrics   *storeMetrics
	bodies    *bodyBuffers // for compressed bodies
	blocks    *blockPool   // for downloaded blocks and writers' full blocks
	closeOnce sync.Once
}

// New returns the chunk store of a volume on storage. With a disk cache,
// the blocks it already holds are indexed in the background.
func New(storage Storage, conf Config) (*Store, error) {
	conf.setDefaults()
	if conf.BlockSize <= 0 || conf.BlockSize > 16<<20 || conf.BlockSize&(conf.BlockSize-1) != 0 {
		return nil, fmt.Errorf("block size %d is not a power of two of at most 16 MiB", conf.BlockSize)
	}
	c, err := compress.New(conf.Compression)
	if err != nil {
		return nil, err
	}
	if err := conf.check(); err != nil {
		return nil, err
	}
	s := &Store{
		conf:      conf,
		storage:   storage,
		codec:     c,
		log:       conf.Logger,
		buffers:   newBudget(conf.BufferSize),
		uploads:   make(chan struct{}, conf.MaxUploads),
		downloads: make(chan struct{}, conf.MaxDownloads),
		deletes:   make(chan struct{}, conf.MaxDeletes),
		metrics:   newStoreMetrics(),
		// One more than a block's bound, to tell a body too long.
		bodies: newBodyBuffers(c.Bound(conf.BlockSize)+1, 8),
	}
	memSize := conf.MemCacheSize
	if conf.CacheDir == "memory" {
		memSize = max(memSize, conf.CacheSize)
	}
	s.blocks = newBlockPool(conf.BlockSize, 8)
	s.mem = newMemCache(memSize, s.blocks)
	if conf.CacheDir != "" && conf.CacheDir != "memory" && conf.CacheSize > 0 {
		if s.disk, err = openCacheDirs(&s.conf, s.log, s.metrics); err != nil {
			// A cache is an optimisation: say why it is off and go on.
			s.log.Warn(fmt.Sprintf("disk cache %s disabled: %v", conf.CacheDir, err))
			s.disk = nil
		}
	}
	if s.disk != nil {
		// Also without --writeback: blocks an earlier run staged are
		// uploaded.
		s.wb = newWriteback(s)
		s.disk.start()
	} else if conf.Writeback {
		s.log.Warn("--writeback needs a disk cache: blocks are uploaded before their slice is committed")
	}
	s.prefetch = newPrefetcher(s, conf.Prefetch)
	if conf.Metrics != nil {
		s.metrics.register(conf.Metrics, s)
	}
	return s, nil
}

// check validates the options a user gives.
func (c *Config) check() error {
	if err := CheckEviction(c.CacheEviction); err != nil {
		return err
	}
	switch c.CacheChecksum {
	case ChecksumNone, ChecksumFull, ChecksumShrink, ChecksumExtend:
	default:
		return fmt.Errorf("unknown cache checksum level %q: use %s, %s, %s or %s", c.CacheChecksum, ChecksumNone, ChecksumFull, ChecksumShrink, ChecksumExtend)
	}
	var err error
	c.uploadFrom, c.uploadTo, err = ParseUploadHours(c.UploadHours)
	return err
}

// Close stops the background work (prefetching, cache writes). Writers
// still open must be finished or aborted first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.prefetch.close()
		if s.wb != nil {
			s.wb.close()
		}
		if s.disk != nil {
			s.disk.close()
		}
	})
	return nil
}

// BlockSize is the volume's block size in bytes.
func (s *Store) BlockSize() int { return s.conf.BlockSize }

// blockKey names block indx (of size bytes) of slice id.
func (s *Store) blockKey(id uint64, indx, size int) string {
	return objstore.BlockKey(s.conf.HashPrefix, id, indx, size)
}

// blockLen is the length of block indx of a slice of size bytes.
func (s *Store) blockLen(size uint32, indx int) int {
	return min(s.conf.BlockSize, int(size)-indx*s.conf.BlockSize)
}

// Remove deletes every block of slice id (size bytes) from the caches, the
// staging area and the object storage, as the engine asks when the slice's
// last reference is gone. Missing objects are no error; on other errors
// every block is still tried and one of the errors is returned. The
// objects are deleted MaxDeletes at a time (over all calls).
func (s *Store) Remove(ctx context.Context, id uint64, size uint32) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last error
	)
	for i, n := range objstore.BlockSizes(s.conf.BlockSize, size) {
		key := s.blockKey(id, i, n)
		s.forgetBlock(key)
		select {
		case s.deletes <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("delete object %s: %w", key, ctx.Err())
		}
		wg.Go(func() {
			defer func() { <-s.deletes }()
			if err := s.storage.Delete(ctx, key); err != nil {
				mu.Lock()
				last = fmt.Errorf("delete object %s: %w", key, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return last
}

// forgetBlock drops block key from the caches and the staging area (its
// slice is gone); the object, if any, is the caller's to delete.
func (s *Store) forgetBlock(key string) {
	s.mem.remove(key)
	if s.wb != nil {
		s.wb.drop(key)
	}
	if s.disk != nil {
		s.disk.remove(key)
	}
}

// ErrIO wraps every failure to read or store data, so that callers can
// answer EIO; the message names the object and the reason.
var ErrIO = syscall.EIO

// objectError is the error of a failed object read or upload.
func objectError(op, key string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s object %s: %w", op, key, err)
	}
	return fmt.Errorf("%s object %s: %w (%w)", op, key, err, ErrIO)
}
