package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/meta"
)

// The options of juicefs's clients (mount, mdtest, ...), in juicefs's
// groups, so that a juicefs command line works unchanged. A command says in
// its help which of them it honours; the others are accepted, and named in
// a log line when set (noteIgnoredFlags).

func clientFlags() []cli.Flag {
	return concatFlags(clientMetaFlags(), clientMetaCacheFlags(), clientStorageFlags(), clientDataCacheFlags(), clientMetricsFlags())
}

func concatFlags(groups ...[]cli.Flag) []cli.Flag {
	var all []cli.Flag
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

func clientMetaFlags() []cli.Flag {
	const cat = "META"
	return []cli.Flag{
		&cli.StringFlag{Name: "subdir", Category: cat, Usage: "work in this directory of the volume as if it were the root"},
		&cli.StringFlag{Name: "backup-meta", Category: cat, Value: "1h", Usage: "interval of the automatic metadata backups to the object storage (0: none)"},
		&cli.BoolFlag{Name: "backup-skip-trash", Category: cat, Usage: "leave the trash out of the metadata backups"},
		&cli.StringFlag{Name: "heartbeat", Category: cat, Value: "12s", Usage: "interval of the session heartbeat (seconds when bare); every client of a volume should use the same"},
		&cli.BoolFlag{Name: "read-only", Category: cat, Usage: "allow lookups and reads only"},
		&cli.BoolFlag{Name: "no-bgjob", Category: cat, Usage: "run no background jobs (cleanup of stale sessions, deleted files, trash; backups)"},
		&cli.StringFlag{Name: "atime-mode", Category: cat, Value: "noatime", Usage: "when to update the access time: noatime, relatime or strictatime"},
		&cli.IntFlag{Name: "skip-dir-nlink", Category: cat, Value: 20, Usage: "retries before the link count of a directory is left alone (unused with Redis, as in juicefs)"},
		&cli.StringFlag{Name: "skip-dir-mtime", Category: cat, Value: "100ms", Usage: "leave the mtime of a directory alone when it changed less than this long ago"},
		&cli.BoolFlag{Name: "sort-dir", Category: cat, Usage: "list directory entries sorted by name"},
		&cli.BoolFlag{Name: "fast-statfs", Category: cat, Usage: "answer statfs from local counters instead of asking Redis"},
		&cli.StringFlag{Name: "network-interfaces", Category: cat, Usage: "comma-separated network interfaces whose addresses the session records (default: all)"},
	}
}

func clientMetaCacheFlags() []cli.Flag {
	const cat = "META CACHE"
	return []cli.Flag{
		&cli.StringFlag{Name: "attr-cache", Category: cat, Value: "1.0s", Usage: "how long the kernel caches attributes"},
		&cli.StringFlag{Name: "entry-cache", Category: cat, Value: "1.0s", Usage: "how long the kernel caches file entries"},
		&cli.StringFlag{Name: "dir-entry-cache", Category: cat, Value: "1.0s", Usage: "how long the kernel caches directory entries"},
		&cli.StringFlag{Name: "negative-entry-cache", Category: cat, Usage: "how long the kernel caches failed lookups"},
		&cli.BoolFlag{Name: "readdir-cache", Category: cat, Usage: "let the kernel cache directory listings (for --attr-cache; Linux 4.20+)"},
		&cli.StringFlag{Name: "open-cache", Category: cat, Value: "0s", Usage: "how long an open file is reused without checking for changes (0: never)"},
		&cli.Uint64Flag{Name: "open-cache-limit", Category: cat, Value: 10000, Usage: "most open files cached (soft limit; 0: unlimited)"},
	}
}

func clientStorageFlags() []cli.Flag {
	const cat = "DATA STORAGE"
	return []cli.Flag{
		&cli.StringFlag{Name: "storage", Category: cat, Usage: "object storage type for this client (overrides the volume's)"},
		&cli.StringFlag{Name: "bucket", Category: cat, Usage: "bucket or endpoint for this client (overrides the volume's)"},
		&cli.StringFlag{Name: "storage-class", Category: cat, Usage: "storage class of the objects this client writes"},
		&cli.StringFlag{Name: "tag", Category: cat, Usage: "tag key=value of the objects this client writes"},
		&cli.StringFlag{Name: "get-timeout", Category: cat, Value: "60s", Usage: "timeout of one object download"},
		&cli.StringFlag{Name: "put-timeout", Category: cat, Value: "60s", Usage: "timeout of one object upload"},
		&cli.IntFlag{Name: "io-retries", Category: cat, Value: 10, Usage: "retries after a network failure"},
		&cli.IntFlag{Name: "max-uploads", Category: cat, Value: 20, Usage: "concurrent uploads"},
		&cli.IntFlag{Name: "max-downloads", Category: cat, Value: 200, Usage: "concurrent downloads"},
		&cli.IntFlag{Name: "max-stage-write", Category: cat, Value: 1000, Usage: "with --writeback, most blocks being written to the staging area at once; beyond it blocks are uploaded directly"},
		&cli.IntFlag{Name: "max-deletes", Category: cat, Value: 10, Usage: "number of objects of released slices deleted at once (0: none, they are left for gc)"},
		&cli.StringFlag{Name: "upload-limit", Category: cat, Usage: "upload bandwidth limit in Mbps"},
		&cli.StringFlag{Name: "download-limit", Category: cat, Usage: "download bandwidth limit in Mbps"},
		&cli.BoolFlag{Name: "check-storage", Category: cat, Usage: "test the object storage at start"},
	}
}

func clientDataCacheFlags() []cli.Flag {
	const cat = "DATA CACHE"
	return []cli.Flag{
		&cli.StringFlag{Name: "buffer-size", Category: cat, Value: "300M", Usage: "memory for read and write buffers (MiB when bare)"},
		&cli.StringFlag{Name: "max-readahead", Category: cat, Usage: "how far ahead of a sequential reader blocks are fetched (MiB when bare; default 8 blocks)"},
		&cli.IntFlag{Name: "prefetch", Category: cat, Value: 1, Usage: "blocks prefetched in parallel"},
		&cli.BoolFlag{Name: "writeback", Category: cat, Usage: "stage written blocks in the cache directory and upload them in the background: close and fsync return before the data is in the object storage (other clients cannot read it until then; losing the cache disk loses it)"},
		&cli.StringFlag{Name: "writeback-threshold-size", Category: cat, Value: "0", Usage: "with --writeback, only blocks smaller than this are staged (bytes when bare; 0: all)"},
		&cli.StringFlag{Name: "upload-delay", Category: cat, Value: "0s", Usage: "with --writeback, how long staged blocks wait before their upload (seconds when bare)"},
		&cli.StringFlag{Name: "upload-hours", Category: cat, Usage: "with --writeback, hours of the day when staged blocks may be uploaded: start-end, e.g. 22-6"},
		&cli.StringFlag{Name: "cache-dir", Category: cat, Usage: `directories of the local block cache, separated by colons, glob patterns allowed ("memory": in memory)`},
		&cli.StringFlag{Name: "cache-mode", Category: cat, Value: "0600", Usage: "permissions of cached blocks"},
		&cli.StringFlag{Name: "cache-size", Category: cat, Value: "100G", Usage: "size of the local block cache (MiB when bare)"},
		&cli.Int64Flag{Name: "cache-items", Category: cat, Usage: "most cached blocks (0: as many as leave --free-space-ratio of the disk's inodes free)"},
		&cli.Float64Flag{Name: "free-space-ratio", Category: cat, Value: 0.1, Usage: "free space the cache leaves on its disk (ratio)"},
		&cli.BoolFlag{Name: "cache-partial-only", Category: cat, Usage: "do not cache whole blocks read from the object storage (short blocks, prefetched blocks and written blocks still are)"},
		&cli.BoolFlag{Name: "cache-large-write", Category: cat, Usage: "cache full blocks after uploading them"},
		&cli.StringFlag{Name: "verify-cache-checksum", Category: cat, Value: "extend", Usage: "checksums of cached blocks: none (not written), full (checked on whole-block reads), shrink (pieces inside a read), extend (every piece a read touches)"},
		&cli.StringFlag{Name: "cache-eviction", Category: cat, Value: "2-random", Usage: "cache eviction: 2-random (older of two random blocks), lru (least recently used), none (full cache stores no more)"},
		&cli.StringFlag{Name: "cache-scan-interval", Category: cat, Value: "1h", Usage: "interval of the scans indexing the cache directories (0: at start only; negative: never)"},
		&cli.StringFlag{Name: "cache-expire", Category: cat, Value: "0s", Usage: "remove cached blocks not read for this long (0: never)"},
	}
}

func clientMetricsFlags() []cli.Flag {
	const cat = "METRICS"
	return []cli.Flag{
		&cli.StringFlag{Name: "metrics", Category: cat, Usage: "serve Prometheus metrics on this address (e.g. 127.0.0.1:9567)"},
		&cli.StringFlag{Name: "custom-labels", Category: cat, Usage: "labels key:value;key:value added to the metrics"},
		&cli.StringFlag{Name: "consul", Category: cat, Value: "127.0.0.1:8500", Usage: "Consul address to register the metrics with"},
		&cli.BoolFlag{Name: "no-usage-report", Category: cat, Usage: "send no usage report (rueidisfs never sends one)"},
	}
}

// parseSeconds reads a duration as juicefs does: a bare number is seconds
// ("1.5"), otherwise Go's syntax ("100ms", "1h"), with days allowed in
// front ("2d12h").
func parseSeconds(flag, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(v * float64(time.Second)), nil
	}
	var d time.Duration
	rest := s
	if days, after, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid value %q for --%s: use e.g. 30s, 1.5, 100ms, 2h or 1d", s, flag)
		}
		d, rest = time.Duration(n*24*float64(time.Hour)), after
	}
	if rest != "" {
		v, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid value %q for --%s: use e.g. 30s, 1.5, 100ms, 2h or 1d", s, flag)
		}
		d += v
	}
	return d, nil
}

// engineOptions reads the client options the metadata engine honours.
func engineOptions(c *cli.Context) (meta.Options, error) {
	var o meta.Options
	var err error
	if o.Heartbeat, err = parseSeconds("heartbeat", c.String("heartbeat")); err != nil {
		return o, err
	}
	if o.SkipDirMtime, err = parseSeconds("skip-dir-mtime", c.String("skip-dir-mtime")); err != nil {
		return o, err
	}
	switch m := c.String("atime-mode"); m {
	case "noatime", "relatime", "strictatime":
		o.AtimeMode = m
	default:
		return o, fmt.Errorf("invalid --atime-mode %q: use noatime, relatime or strictatime", m)
	}
	o.ReadOnly = c.Bool("read-only")
	o.NoBackgroundJobs = c.Bool("no-bgjob")
	return o, nil
}

// noteIgnoredFlags logs, for each flag of c set on the command line that
// is not in honoured, that it has no effect on this command, and why.
func (a *app) noteIgnoredFlags(c *cli.Context, honoured []string, why string) {
	keep := map[string]bool{}
	for _, h := range honoured {
		keep[h] = true
	}
	var ignored []string
	for _, f := range clientFlags() {
		name := f.Names()[0]
		if !keep[name] && c.IsSet(name) {
			ignored = append(ignored, "--"+name)
		}
	}
	if len(ignored) > 0 {
		a.log.Info(fmt.Sprintf("%s: no effect on %s (%s)", strings.Join(ignored, ", "), c.Command.Name, why))
	}
}
