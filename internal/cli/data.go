package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fileio"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
)

// The data path as commands open it: the volume's object storage, a chunk
// store with the cache and buffer options of juicefs, and the file API.

// dataFlags are the options of the chunk store, as `juicefs mount` spells
// them. With forTool the disk cache is off by default (a one-shot command
// has no use for one); a mount caches 100 GiB in the default directory.
func (a *app) dataFlags(forTool bool) []cli.Flag {
	cacheSize := "100G"
	if forTool {
		cacheSize = "0"
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "buffer-size", Value: "300M", Category: "DATA CACHE",
			Usage: "total size of the write buffers (unit MiB when bare); writes wait while it is exceeded"},
		&cli.IntFlag{Name: "max-uploads", Value: 20, Category: "DATA STORAGE", Usage: "number of block uploads in flight"},
		&cli.IntFlag{Name: "max-downloads", Value: 200, Category: "DATA STORAGE", Usage: "number of object downloads in flight"},
		&cli.IntFlag{Name: "io-retries", Value: 10, Category: "DATA STORAGE", Usage: "number of retries of a failed upload"},
		&cli.IntFlag{Name: "prefetch", Value: 1, Category: "DATA CACHE", Usage: "number of background downloads of whole blocks for readahead"},
		&cli.StringFlag{Name: "cache-dir", Value: a.defaultCacheDir(), Category: "DATA CACHE",
			Usage: `directory of the local block cache ("memory" keeps it in memory)`},
		&cli.StringFlag{Name: "cache-size", Value: cacheSize, Category: "DATA CACHE",
			Usage: "capacity of the local block cache (unit MiB when bare; 0 disables it)"},
		&cli.Float64Flag{Name: "free-space-ratio", Value: 0.1, Category: "DATA CACHE",
			Usage: "share of the cache disk kept free; below it the cache evicts and stops storing"},
		&cli.StringFlag{Name: "cache-mode", Value: "0600", Category: "DATA CACHE", Usage: "permissions of cached blocks (octal)"},
		&cli.BoolFlag{Name: "cache-large-write", Category: "DATA CACHE", Usage: "also cache full blocks when writing them"},
	}
}

// defaultCacheDir is juicefs's: /var/jfsCache for root, ~/.juicefs/cache
// otherwise.
func (a *app) defaultCacheDir() string {
	if a.isRoot || a.home == "" {
		return "/var/jfsCache"
	}
	return filepath.Join(a.home, ".juicefs", "cache")
}

// chunkConfig reads the data flags into a chunk store configuration for
// the volume f.
func (a *app) chunkConfig(c *cli.Context, f *codec.Format) (chunk.Config, error) {
	return a.readChunkConfig(c, f, true)
}

// checkDataFlags validates the data flags before anything is opened, so
// that a bad value is refused in one line, without a word about the
// volume.
func (a *app) checkDataFlags(c *cli.Context) error {
	if _, err := a.fileOptions(c); err != nil {
		return err
	}
	_, err := a.readChunkConfig(c, &codec.Format{BlockSize: 4096, Compression: "none"}, false)
	return err
}

// readaheadDownloads is how many blocks are downloaded at once ahead of
// sequential readers, on top of --prefetch: the chunk store's prefetcher
// serves both, where juicefs runs its readahead apart from --prefetch (a
// sequential read of a big file waited for one download at a time).
const readaheadDownloads = 3

// readChunkConfig is chunkConfig; without warn it only checks the flags.
func (a *app) readChunkConfig(c *cli.Context, f *codec.Format, warn bool) (chunk.Config, error) {
	conf := chunk.Config{
		BlockSize:       objstore.BlockSize(f),
		Compression:     f.Compression,
		HashPrefix:      f.HashPrefix,
		WholeObjects:    f.EncryptKey != "",
		MaxUploads:      c.Int("max-uploads"),
		MaxDownloads:    c.Int("max-downloads"),
		MaxDeletes:      c.Int("max-deletes"), // 0 for the tools: the default
		UploadRetries:   c.Int("io-retries"),
		Prefetch:        c.Int("prefetch") + readaheadDownloads,
		CacheDir:        c.String("cache-dir"),
		FreeSpaceRatio:  c.Float64("free-space-ratio"),
		CacheLargeWrite: c.Bool("cache-large-write"),
		VolumeUUID:      f.UUID,
		Logger:          a.log,
		Metrics:         a.objectMetrics, // set by mount
	}
	if conf.UploadRetries == 0 {
		conf.UploadRetries = -1 // no retries, as asked
	}
	buf, err := parseBytes("buffer-size", c.String("buffer-size"), 'M')
	if err != nil {
		return conf, err
	}
	conf.BufferSize = int64(max(buf, 32<<20)) // 0 for commands without data flags: the minimum
	size, err := parseBytes("cache-size", c.String("cache-size"), 'M')
	if err != nil {
		return conf, err
	}
	conf.CacheSize = int64(size)
	if m := c.String("cache-mode"); m != "" { // commands without data flags keep the default
		mode, err := strconv.ParseUint(m, 8, 32)
		if err != nil || mode > 0o777 {
			return conf, fmt.Errorf("invalid value %q for --cache-mode: not an octal permission", m)
		}
		conf.CacheMode = os.FileMode(mode)
	}
	if r := conf.FreeSpaceRatio; r < 0 || r >= 1 {
		return conf, fmt.Errorf("invalid value %v for --free-space-ratio: must be in [0, 1)", r)
	}
	if err := a.cachePolicy(c, &conf); err != nil {
		return conf, err
	}
	return conf, a.writebackOptions(c, &conf, warn)
}

// cachePolicy reads the options of the disk cache that mount has beyond
// those of the tools (for a command without them, the defaults).
func (a *app) cachePolicy(c *cli.Context, conf *chunk.Config) error {
	conf.CacheItems = c.Int64("cache-items")
	if conf.CacheItems < 0 {
		return fmt.Errorf("invalid value %d for --cache-items: a count of blocks (0: from --free-space-ratio)", conf.CacheItems)
	}
	conf.CachePartialOnly = c.Bool("cache-partial-only")
	conf.CacheEviction = c.String("cache-eviction")
	if err := chunk.CheckEviction(conf.CacheEviction); err != nil {
		return fmt.Errorf("invalid value for --cache-eviction: %w", err)
	}
	switch v := c.String("verify-cache-checksum"); v {
	case "", chunk.ChecksumNone, chunk.ChecksumFull, chunk.ChecksumShrink, chunk.ChecksumExtend:
		conf.CacheChecksum = v
	default:
		return fmt.Errorf("invalid value %q for --verify-cache-checksum: use none, full, shrink or extend", v)
	}
	var err error
	if conf.CacheExpire, err = parseSeconds("cache-expire", c.String("cache-expire")); err != nil {
		return err
	}
	if conf.CacheScanInterval, err = parseSeconds("cache-scan-interval", c.String("cache-scan-interval")); err != nil {
		return err
	}
	if conf.CacheDir != "memory" && conf.CacheDir != "" {
		if _, err := chunk.SplitCacheDirs(conf.CacheDir); err != nil {
			return fmt.Errorf("invalid value %q for --cache-dir: %w", conf.CacheDir, err)
		}
	}
	return nil
}

// writebackOptions reads --writeback and the options of staged uploads.
func (a *app) writebackOptions(c *cli.Context, conf *chunk.Config, warn bool) error {
	conf.Writeback = c.Bool("writeback")
	conf.MaxStageWrite = c.Int("max-stage-write")
	threshold, err := parseBytes("writeback-threshold-size", c.String("writeback-threshold-size"), 'B')
	if err != nil {
		return err
	}
	conf.WritebackThreshold = int(min(threshold, 1<<30))
	if conf.UploadDelay, err = parseSeconds("upload-delay", c.String("upload-delay")); err != nil {
		return err
	}
	if conf.StageTimeout, err = parseSeconds("put-timeout", c.String("put-timeout")); err != nil {
		return err
	}
	conf.UploadHours = c.String("upload-hours")
	if _, _, err := chunk.ParseUploadHours(conf.UploadHours); err != nil {
		return fmt.Errorf("invalid value for --upload-hours: %w", err)
	}
	noDisk := conf.CacheSize == 0 || conf.CacheDir == "memory"
	switch {
	case conf.Writeback && noDisk:
		a.warnIf(warn, "--writeback needs a disk cache (--cache-dir of a directory, --cache-size above 0): blocks are uploaded before their slice is committed")
		conf.Writeback = false
	case !conf.Writeback && (conf.UploadDelay > 0 || conf.UploadHours != ""):
		a.warnIf(warn, "--upload-delay and --upload-hours apply to --writeback only: ignored")
		conf.UploadDelay, conf.UploadHours = 0, ""
	}
	return nil
}

// dataPath is an open data path: the chunk store and the file API over an
// engine.
type dataPath struct {
	store *chunk.Store
	fs    *fileio.FS
}

// openDataVolume opens the volume for a command that reads or writes file
// data: an engine without background jobs (read-only with readOnly), the
// volume's format, and a data path on its object storage configured from
// the data flags. The engine deletes the objects of the slices it releases
// through the chunk store. Close with closeData, then closeEngine.
func (a *app) openDataVolume(c *cli.Context, readOnly bool) (*meta.Engine, *dataPath, error) {
	return a.openDataVolumeWith(c, c.Args().First(), meta.Options{NoBackgroundJobs: true, ReadOnly: readOnly})
}

// openDataVolumeWith is openDataVolume for the volume of the META-URL raw,
// with other engine options (the mount's).
func (a *app) openDataVolumeWith(c *cli.Context, raw string, opts meta.Options) (*meta.Engine, *dataPath, error) {
	d := &dataPath{}
	var openErr error
	opts.SliceDeleter = func(f *codec.Format) (meta.DeleteSliceFunc, error) {
		if d.store, openErr = a.openChunkStore(c, f); openErr != nil {
			return nil, openErr
		}
		if c.IsSet("max-deletes") && c.Int("max-deletes") <= 0 {
			// As juicefs: released slices keep their objects (and a
			// negative reference) for gc.
			return nil, nil
		}
		return d.store.Remove, nil
	}
	opts.Compact = fileio.Compactor(func() *chunk.Store { return d.store })
	e, _, err := a.openVolumeAt(c, raw, opts)
	if err != nil {
		return nil, nil, err
	}
	if d.store == nil {
		a.closeEngine(e)
		if openErr == nil {
			openErr = errors.New("the volume's format was not loaded")
		}
		return nil, nil, openErr
	}
	fopts, err := a.fileOptions(c)
	if err != nil {
		a.closeEngine(e)
		return nil, nil, err
	}
	d.fs = fileio.New(e, d.store, fopts)
	return e, d, nil
}

// fileOptions reads the options of the file API (--max-readahead: MiB
// when bare; by default 8 blocks, as juicefs).
func (a *app) fileOptions(c *cli.Context) (fileio.Options, error) {
	ra, err := parseBytes("max-readahead", c.String("max-readahead"), 'M')
	return fileio.Options{Logger: a.log, MaxReadahead: int(min(ra, 1<<30))}, err
}

// openChunkStore opens the object storage of the volume f and a chunk
// store on it.
func (a *app) openChunkStore(c *cli.Context, f *codec.Format) (*chunk.Store, error) {
	conf, err := a.chunkConfig(c, f)
	if err != nil {
		return nil, err
	}
	st, err := a.openClientObjects(c, f)
	if err != nil {
		return nil, fmt.Errorf("object storage: %w", err)
	}
	a.log.Info("Data use " + st.String())
	if c.Bool("check-storage") {
		if err := a.testStorage(c.Context, st); err != nil {
			return nil, fmt.Errorf("storage %s is not configured correctly: %w", st, err)
		}
	}
	if a.objectMetrics != nil {
		st = newMeteredStore(st, a.objectMetrics)
	}
	return chunk.New(st, conf)
}

// closeData commits what is still buffered and stops the data path.
func (a *app) closeData(d *dataPath) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err := d.fs.Close(ctx)
	d.store.Close()
	return err
}

func (a *app) warnIf(warn bool, msg string) {
	if warn {
		a.log.Warn(msg)
	}
}
