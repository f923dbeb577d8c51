package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

func (a *app) statsCommand() *cli.Command {
	return &cli.Command{
		Name:      "stats",
		Category:  "INSPECTOR",
		Usage:     "Show real time performance statistics of a mount",
		ArgsUsage: "MOUNTPOINT",
		Description: `Reads the .stats file of a mount (rueidisfs or juicefs) every --interval
seconds and prints one line of rates per interval, as juicefs stats does:
CPU and memory of the mount process, FUSE operations and their latency in
milliseconds, bytes read and written, metadata transactions, and object
requests.

Examples:
$ rueidisfs stats /mnt/jfs
$ rueidisfs stats /mnt/jfs --schema uf --interval 5 --count 12`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "schema", Value: "ufmco", Usage: "sections to show: u usage, f fuse, m meta, c blockcache, o object, g go"},
			&cli.UintFlag{Name: "interval", Value: 1, Usage: "seconds between lines"},
			&cli.UintFlag{Name: "verbosity", Aliases: []string{"l"}, Usage: "accepted for compatibility with juicefs"},
			&cli.UintFlag{Name: "count", Aliases: []string{"c"}, Usage: "stop after this many lines (0: never)"},
		},
		Action: a.stats,
	}
}

// statItem is one column of stats: a metric and how to show it.
type statItem struct {
	name   string
	metric string
	kind   statKind
}

type statKind int

const (
	statGauge   statKind = iota // the value as it is
	statRate                    // per second since the last line
	statPercent                 // a counter of seconds, as a share of the time
	statOps                     // a histogram: operations per second
	statLatency                 // a histogram: milliseconds per operation
)

type statSection struct {
	name  string
	items []statItem
}

func statSchema(schema string) ([]statSection, error) {
	var out []statSection
	for _, c := range schema {
		switch c {
		case 'u':
			out = append(out, statSection{"usage", []statItem{{"cpu", "juicefs_cpu_usage", statPercent},
				{"mem", "juicefs_memory", statGauge}, {"buf", "juicefs_used_buffer_size_bytes", statGauge}}})
		case 'f':
			out = append(out, statSection{"fuse", []statItem{{"ops", "juicefs_fuse_ops_durations_histogram_seconds", statOps},
				{"lat", "juicefs_fuse_ops_durations_histogram_seconds", statLatency},
				{"read", "juicefs_fuse_read_size_bytes_sum", statRate}, {"write", "juicefs_fuse_written_size_bytes_sum", statRate}}})
		case 'm':
			out = append(out, statSection{"meta", []statItem{{"txn", "juicefs_transaction_durations_histogram_seconds", statOps},
				{"lat", "juicefs_transaction_durations_histogram_seconds", statLatency}, {"retry", "juicefs_transaction_restart", statRate}}})
		case 'c':
			out = append(out, statSection{"blockcache", []statItem{{"read", "juicefs_blockcache_hit_bytes", statRate},
				{"write", "juicefs_blockcache_write_bytes", statRate}}})
		case 'o':
			out = append(out, statSection{"object", []statItem{{"get", "juicefs_object_request_data_bytes_GET", statRate},
				{"put", "juicefs_object_request_data_bytes_PUT", statRate}}})
		case 'g':
			out = append(out, statSection{"go", []statItem{{"alloc", "juicefs_go_memstats_alloc_bytes", statGauge},
				{"sys", "juicefs_go_memstats_sys_bytes", statGauge}}})
		default:
			return nil, fmt.Errorf("invalid --schema %q: use the letters u, f, m, c, o and g", schema)
		}
	}
	return out, nil
}

func (a *app) stats(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	mp, err := filepath.Abs(c.Args().First())
	if err != nil {
		return err
	}
	sections, err := statSchema(c.String("schema"))
	if err != nil {
		return err
	}
	prev := readMountStats(mp)
	if prev == nil {
		return fmt.Errorf("%s is not the mount point of a volume: it has no .stats file", mp)
	}
	interval := time.Duration(max(c.Uint("interval"), 1)) * time.Second
	fmt.Fprintln(a.stdout, statHeader(sections))
	for n := uint(0); c.Uint("count") == 0 || n < c.Uint("count"); n++ {
		select {
		case <-c.Context.Done():
			return nil
		case <-time.After(interval):
		}
		cur := readMountStats(mp)
		if cur == nil {
			return errors.New("the mount went away")
		}
		fmt.Fprintln(a.stdout, statLine(sections, prev, cur, interval.Seconds()))
		prev = cur
	}
	return nil
}

const statWidth = 6

func statHeader(sections []statSection) string {
	var top, cols []string
	for _, s := range sections {
		w := len(s.items)*(statWidth+1) - 1
		pad := w - len(s.name)
		top = append(top, strings.Repeat("-", pad/2)+s.name+strings.Repeat("-", pad-pad/2))
		var names []string
		for _, it := range s.items {
			names = append(names, fmt.Sprintf("%*s", statWidth, it.name))
		}
		cols = append(cols, strings.Join(names, " "))
	}
	return strings.Join(top, " ") + "\n" + strings.Join(cols, "|")
}

func statLine(sections []statSection, prev, cur map[string]float64, secs float64) string {
	var parts []string
	for _, s := range sections {
		var cells []string
		for _, it := range s.items {
			cells = append(cells, fmt.Sprintf("%*s", statWidth, statValue(it, prev, cur, secs)))
		}
		parts = append(parts, strings.Join(cells, " "))
	}
	return strings.Join(parts, "|")
}

func statValue(it statItem, prev, cur map[string]float64, secs float64) string {
	switch it.kind {
	case statGauge:
		return humanCount(cur[it.metric])
	case statRate:
		return humanCount((cur[it.metric] - prev[it.metric]) / secs)
	case statPercent:
		return fmt.Sprintf("%.1f%%", (cur[it.metric]-prev[it.metric])*100/secs)
	case statOps:
		return humanCount((cur[it.metric+"_total"] - prev[it.metric+"_total"]) / secs)
	}
	n := cur[it.metric+"_total"] - prev[it.metric+"_total"]
	if n <= 0 {
		return "0"
	}
	return fmt.Sprintf("%.2f", (cur[it.metric+"_sum"]-prev[it.metric+"_sum"])*1000/n)
}

// humanCount shows a number in at most statWidth characters: 1234 → 1.2K.
func humanCount(v float64) string {
	units := []string{"", "K", "M", "G", "T", "P"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f%s", v, units[i])
}
