package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
)

func (a *app) benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Category:  "TOOL",
		Usage:     "Run benchmarks on a path",
		ArgsUsage: "PATH",
		Description: `Measures a mounted file system the way juicefs bench does: each thread
writes and then reads one big file in --block-size requests, then writes,
reads and stats --small-file-count small files, in a temporary directory
below PATH that is removed afterwards. The kernel's caches are dropped
between the phases (as root; SKIP_DROP_CACHES=true skips it). When PATH is
in a mount with a .stats file, the mount's own counters of the run are
shown too.

Examples:
$ rueidisfs bench /mnt/jfs
$ rueidisfs bench /mnt/jfs --big-file-size 0 --small-file-count 1000 -p 4`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "block-size", Value: "1", Usage: "size of each I/O request (unit MiB when bare)"},
			&cli.StringFlag{Name: "big-file-size", Value: "1024", Usage: "size of the big file of each thread (unit MiB when bare; 0 skips it)"},
			&cli.StringFlag{Name: "small-file-size", Value: "128", Usage: "size of each small file (unit KiB when bare)"},
			&cli.UintFlag{Name: "small-file-count", Value: 100, Usage: "number of small files per thread (0 skips them)"},
			&cli.UintFlag{Name: "threads", Aliases: []string{"p"}, Value: 1, Usage: "number of concurrent threads"},
		},
		Action: a.bench,
	}
}

// benchCase is one kind of file of the benchmark: count files of size
// bytes, written and read in requests of block bytes.
type benchCase struct {
	dir   string
	name  string
	size  int
	count int
	block int
}

func (b *benchCase) path(thread, i int) string {
	return filepath.Join(b.dir, fmt.Sprintf("%s.%d.%d", b.name, thread, i))
}

func (b *benchCase) write(thread int) error {
	buf := bytes.Repeat([]byte{'x'}, b.block)
	for i := 0; i < b.count; i++ {
		f, err := os.Create(b.path(thread, i))
		if err != nil {
			return err
		}
		for done := 0; done < b.size; done += b.block {
			if _, err := f.Write(buf[:min(b.block, b.size-done)]); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (b *benchCase) read(thread int) error {
	buf := make([]byte, b.block)
	for i := 0; i < b.count; i++ {
		f, err := os.Open(b.path(thread, i))
		if err != nil {
			return err
		}
		for {
			n, err := f.Read(buf)
			if n == 0 || err != nil {
				break
			}
		}
		f.Close()
	}
	return nil
}

func (b *benchCase) stat(thread int) error {
	for i := 0; i < b.count; i++ {
		if _, err := os.Stat(b.path(thread, i)); err != nil {
			return err
		}
	}
	return nil
}

// runThreads runs fn for every thread at once and returns the time taken.
func runThreads(threads int, fn func(thread int) error) (float64, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, threads)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			if err := fn(t); err != nil {
				errs <- err
			}
		}(t)
	}
	wg.Wait()
	close(errs)
	return time.Since(start).Seconds(), <-errs
}

func (a *app) bench(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	block, err := parseBytes("block-size", c.String("block-size"), 'M')
	if err != nil {
		return err
	}
	big, err := parseBytes("big-file-size", c.String("big-file-size"), 'M')
	if err != nil {
		return err
	}
	small, err := parseBytes("small-file-size", c.String("small-file-size"), 'K')
	if err != nil {
		return err
	}
	threads, count := int(c.Uint("threads")), int(c.Uint("small-file-count"))
	if block == 0 || threads == 0 {
		return errors.New("--block-size and --threads must be above 0")
	}
	root, err := filepath.Abs(c.Args().First())
	if err != nil {
		return err
	}
	dir := filepath.Join(root, fmt.Sprintf("__juicefs_benchmark_%d__", time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	statsDir := ""
	if m, err := a.findMount(dir); err == nil && m.isVolumeMount() {
		statsDir = m.mountPoint
	}
	before := readMountStats(statsDir)
	rows := [][]string{{"ITEM", "VALUE", "COST"}}
	phase := func(item string, fn func(int) error, unit string, amount float64, costUnit string, costScale float64, prec int) error {
		secs, err := runThreads(threads, fn)
		if err != nil {
			return fmt.Errorf("%s: %w", strings.ToLower(item), err)
		}
		rows = append(rows, []string{item, strconv.FormatFloat(amount*float64(threads)/secs, 'f', prec, 64) + " " + unit,
			strconv.FormatFloat(secs*costScale, 'f', 2, 64) + " " + costUnit})
		a.dropCaches()
		return nil
	}
	a.dropCaches()
	if big > 0 {
		b := &benchCase{dir: dir, name: "bigfile", size: int(max(big, block)), count: 1, block: int(block)}
		mib := float64(b.size) / (1 << 20)
		if err := phase("Write big file", b.write, "MiB/s", mib, "s/file", 1, 2); err != nil {
			return err
		}
		if err := phase("Read big file", b.read, "MiB/s", mib, "s/file", 1, 2); err != nil {
			return err
		}
	}
	if small > 0 && count > 0 {
		s := &benchCase{dir: dir, name: "smallfile", size: int(small), count: count, block: int(min(block, small))}
		perFile := 1000 / float64(count)
		for _, p := range []struct {
			item string
			fn   func(int) error
		}{{"Write small file", s.write}, {"Read small file", s.read}, {"Stat file", s.stat}} {
			if err := phase(p.item, p.fn, "files/s", float64(count), "ms/file", perFile, 1); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(a.stdout, "Benchmark finished!")
	fmt.Fprintf(a.stdout, "BlockSize: %s, BigFileSize: %s, SmallFileSize: %s, SmallFileCount: %d, NumThreads: %d\n",
		formatIBytes(block), formatIBytes(big), formatIBytes(small), count, threads)
	if before != nil {
		after := readMountStats(statsDir)
		rows = append(rows, statsRows(before, after)...)
		used := after["juicefs_uptime"] - before["juicefs_uptime"]
		cpu := 0.0
		if used > 0 {
			cpu = (after["juicefs_cpu_usage"] - before["juicefs_cpu_usage"]) * 100 / used
		}
		fmt.Fprintf(a.stdout, "Time used: %.1f s, CPU: %.1f%%, Memory: %.1f MiB\n", used, cpu, after["juicefs_memory"]/(1<<20))
	}
	printTable(a.stdout, rows, -1)
	return nil
}

// statsRows are the rows the mount's counters give over the run.
func statsRows(before, after map[string]float64) [][]string {
	var rows [][]string
	for _, r := range []struct{ title, metric string }{
		{"FUSE operation", "fuse_ops_durations_histogram_seconds"},
		{"Update meta", "transaction_durations_histogram_seconds"},
		{"Put object", "object_request_durations_histogram_seconds_PUT"},
		{"Get object", "object_request_durations_histogram_seconds_GET"},
		{"Delete object", "object_request_durations_histogram_seconds_DELETE"},
		{"Write into cache", "blockcache_write_hist_seconds"},
		{"Read from cache", "blockcache_read_hist_seconds"},
	} {
		name := "juicefs_" + r.metric
		n := after[name+"_total"] - before[name+"_total"]
		cost := 0.0
		if n > 0 {
			cost = (after[name+"_sum"] - before[name+"_sum"]) * 1000 / n
		}
		rows = append(rows, []string{r.title, strconv.FormatFloat(n, 'f', 0, 64) + " operations",
			strconv.FormatFloat(cost, 'f', 2, 64) + " ms/op"})
	}
	return rows
}

// readMountStats reads the .stats file of the mount at mp (nil when there
// is none).
func readMountStats(mp string) map[string]float64 {
	if mp == "" {
		return nil
	}
	var b []byte
	var err error
	for _, name := range []string{".jfs.stats", ".stats"} {
		if b, err = os.ReadFile(filepath.Join(mp, name)); err == nil {
			break
		}
	}
	if err != nil {
		return nil
	}
	stats := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if v, err := strconv.ParseFloat(value, 64); ok && err == nil {
			stats[name] = v
		}
	}
	return stats
}

// dropCaches empties the kernel's page cache, so that reads reach the file
// system (root only; SKIP_DROP_CACHES=true skips it).
func (a *app) dropCaches() {
	if a.getenv("SKIP_DROP_CACHES") == "true" {
		return
	}
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		a.log.Warn(fmt.Sprintf("Failed to clean kernel caches: %v", err))
	}
}
