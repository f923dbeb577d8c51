package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/objbench"
	"github.com/rueidisfs/rueidisfs/objstore/s3"
	"github.com/rueidisfs/rueidisfs/objstore/volstore"
)

func (a *app) objbenchCommand() *cli.Command {
	return &cli.Command{
		Name:      "objbench",
		Category:  "TOOL",
		Usage:     "Run benchmarks on an object storage",
		ArgsUsage: "BUCKET",
		Description: `Tests an object storage before a volume uses it, as juicefs objbench does,
under a prefix of its own (__rueidisfs_benchmark_<time>__/) that is removed
afterwards. First functional checks (ranges, missing objects, listings, a
special key, a 256 MiB object, empty objects), then the throughput and
latency of putting and getting the objects of a big file and of small
files, listing, heads and deletions, with --threads requests in flight.
The rows juicefs fills for file-system storages (multipart uploads,
owners, permissions, mtimes) say "not support": volumes use none of them.

BUCKET is what format's --bucket takes for --storage (file: a directory).
Keys come from the flags or ACCESS_KEY, SECRET_KEY and SESSION_TOKEN, else
from the storage's own environment (AWS_ACCESS_KEY_ID, ...).

Examples:
  rueidisfs objbench /var/jfs -p 4
  ACCESS_KEY=myAccessKey SECRET_KEY=mySecretKey rueidisfs objbench --storage s3 https://mybucket.s3.us-east-2.amazonaws.com -p 6`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "storage", Value: "file", Usage: "object storage type (" + strings.Join(volstore.Storages, ", ") + ")"},
			&cli.StringFlag{Name: "access-key", Usage: "access key of the object storage (env ACCESS_KEY)"},
			&cli.StringFlag{Name: "secret-key", Usage: "secret key of the object storage (env SECRET_KEY)"},
			&cli.StringFlag{Name: "session-token", Usage: "session token of the object storage (env SESSION_TOKEN)"},
			&cli.IntFlag{Name: "shards", Usage: "spread the objects over N buckets (BUCKET holds %d)"},
			&cli.StringFlag{Name: "block-size", Value: "4M", Usage: "size of each object of the big file (KiB when bare)"},
			&cli.StringFlag{Name: "big-object-size", Value: "1G", Usage: "size of the big file (MiB when bare)"},
			&cli.StringFlag{Name: "small-object-size", Value: "128K", Usage: "size of each small object (KiB when bare)"},
			&cli.UintFlag{Name: "small-objects", Value: 100, Usage: "number of small objects"},
			&cli.BoolFlag{Name: "skip-functional-tests", Usage: "run the performance tests only"},
			&cli.UintFlag{Name: "threads", Aliases: []string{"p"}, Value: 4, Usage: "requests in flight"},
			&cli.StringFlag{Name: "storage-class", Aliases: []string{"sc"}, Usage: "storage class of the objects (not supported: rueidisfs writes none)"},
		},
		Action: a.objbench,
	}
}

// objbenchConfig reads the sizes and counts of the flags.
func objbenchConfig(c *cli.Context) (objbench.Config, error) {
	var cfg objbench.Config
	for _, f := range []struct {
		name string
		unit byte
		v    *int
	}{{"block-size", 'K', &cfg.BlockSize}, {"big-object-size", 'M', &cfg.BigObjectSize}, {"small-object-size", 'K', &cfg.SmallObjectSize}} {
		n, err := parseBytes(f.name, c.String(f.name), f.unit)
		if err != nil {
			return cfg, err
		}
		if n == 0 || n > 1<<40 {
			return cfg, fmt.Errorf("invalid value %q for --%s: must be more than 0 and at most 1 TiB", c.String(f.name), f.name)
		}
		*f.v = int(n)
	}
	cfg.SmallObjects, cfg.Threads = int(c.Uint("small-objects")), int(c.Uint("threads"))
	if cfg.SmallObjects == 0 || cfg.Threads == 0 {
		return cfg, fmt.Errorf("--small-objects and --threads must be more than 0")
	}
	return cfg, nil
}

func (a *app) objbench(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	cfg, err := objbenchConfig(c)
	if err != nil {
		return err
	}
	storage, bucket := strings.ToLower(c.String("storage")), c.Args().First()
	if storage == "file" {
		if strings.Contains(bucket, "://") && !strings.HasPrefix(bucket, "file://") {
			return fmt.Errorf("bucket %q looks like a URL, not a directory: add --storage TYPE", bucket)
		}
		if bucket, err = filepath.Abs(strings.TrimPrefix(bucket, "file://")); err != nil {
			return fmt.Errorf("invalid path %q: %w", bucket, err)
		}
	}
	if c.String("storage-class") != "" {
		a.log.Warn("--storage-class is not supported: the objects get the bucket's default storage class")
	}
	cred := s3.Credentials{
		AccessKey:    a.flagOrEnv(c, "access-key", "ACCESS_KEY"),
		SecretKey:    a.flagOrEnv(c, "secret-key", "SECRET_KEY"),
		SessionToken: a.flagOrEnv(c, "session-token", "SESSION_TOKEN"),
	}
	ctx := c.Context
	a.warnInsecureBucket(bucket)
	bucketStore, err := volstore.OpenBuckets(ctx, storage, bucket, c.Int("shards"), cred, volstore.Options{})
	if err != nil {
		return fmt.Errorf("create storage failed: %w", err)
	}
	prefix := fmt.Sprintf("__rueidisfs_benchmark_%d__/", time.Now().UnixNano())
	st := objstore.WithPrefix(bucketStore, prefix)
	defer a.cleanBenchmark(st)
	if threads := objbench.Threads(cfg); threads < cfg.Threads {
		a.log.Warn(fmt.Sprintf("The number of threads was set too large and has been reduced to %d", threads))
		cfg.Threads = threads
	}
	if c.Bool("skip-functional-tests") {
		if err := objstore.Create(ctx, st); err != nil {
			return fmt.Errorf("can't create bucket: %w", err)
		}
	} else {
		fmt.Fprintln(a.stdout, "Start Functional Testing ...")
		rows := [][]string{{"CATEGORY", "TEST", "RESULT"}}
		for _, r := range objbench.Functional(ctx, st, 0) {
			rows = append(rows, []string{r.Category, r.Test, r.Result})
			if r.Err != nil {
				a.log.Debug(fmt.Sprintf("%s: %v", r.Test, r.Err))
			}
		}
		printTable(a.stdout, rows, -1)
		fmt.Fprintln(a.stdout)
	}
	fmt.Fprintln(a.stdout, "Start Performance Testing ...")
	prog := a.newProgress()
	cfg.Progress = prog
	results := objbench.Performance(ctx, st, cfg)
	prog.Wait()
	rows := [][]string{{"ITEM", "VALUE", "COST"}}
	for _, r := range results {
		if r.Err != nil {
			a.log.Error(fmt.Sprintf("%s test failed: %v", r.Item, r.Err))
		}
		rows = append(rows, []string{r.Item, r.Value, r.Cost})
	}
	fmt.Fprintf(a.stdout, "Benchmark finished! block-size: %s, big-object-size: %s, small-object-size: %s, small-objects: %d, NumThreads: %d\n",
		formatIBytes(uint64(cfg.BlockSize)), formatIBytes(uint64(cfg.BigObjectSize)), formatIBytes(uint64(cfg.SmallObjectSize)), cfg.SmallObjects, cfg.Threads)
	printTable(a.stdout, rows, -1)
	return nil
}

// cleanBenchmark removes what a run left below its prefix (after a failed
// measure, or an interruption).
func (a *app) cleanBenchmark(st objstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for o, err := range st.List(ctx, "", "") {
		if err != nil {
			a.log.Warn(fmt.Sprintf("list what the benchmark left in %s: %v", st, err))
			return
		}
		if err := st.Delete(ctx, o.Key); err != nil {
			a.log.Warn(fmt.Sprintf("delete %s: %v", o.Key, err))
		}
	}
	if err := objstore.RemoveEmptyDirs(ctx, st, ""); err != nil {
		a.log.Warn(fmt.Sprintf("remove the directories of %s: %v", st, err))
	}
}
