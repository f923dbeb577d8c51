package cli

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
)

func (a *app) profileCommand() *cli.Command {
	return &cli.Command{
		Name:      "profile",
		Category:  "INSPECTOR",
		Usage:     "Show profiling of operations completed in a mount",
		ArgsUsage: "MOUNTPOINT|LOGFILE",
		Description: `Reads the access log of a mount (rueidisfs or juicefs) live from its
.accesslog file, or replays a saved one (cat /mnt/jfs/.accesslog > log),
and shows, for each kind of operation, how many completed, their average
and total time: every --interval seconds while live, once at the end of a
replay.

Examples:
$ rueidisfs profile /mnt/jfs
$ rueidisfs profile /mnt/jfs --uid 1000 --interval 5
$ rueidisfs profile saved.log`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "uid", Aliases: []string{"u"}, Usage: "only operations of these uids (comma-separated)"},
			&cli.StringFlag{Name: "gid", Aliases: []string{"g"}, Usage: "only operations of these gids (comma-separated)"},
			&cli.StringFlag{Name: "pid", Aliases: []string{"p"}, Usage: "only operations of these pids (comma-separated)"},
			&cli.UintFlag{Name: "interval", Value: 2, Usage: "seconds between two tables of a live profile"},
		},
		Action: a.profile,
	}
}

// opStat accumulates the operations of one kind.
type opStat struct {
	count int
	total time.Duration
}

// profiler aggregates access-log lines.
type profiler struct {
	mu      sync.Mutex
	ops     map[string]*opStat
	filters [3]map[string]bool // uid, gid, pid; nil: all
}

var logIDs = regexp.MustCompile(`\d+`)

// add counts one access-log line:
// "2026.01.02 15:04:05.000123 [uid:0,gid:0,pid:42] lookup (1,foo): OK <0.000101>".
func (p *profiler) add(line string) {
	fields := strings.Fields(line)
	if len(fields) < 5 {
		return // "#" keep-alive lines and others
	}
	ids := logIDs.FindAllString(fields[2], 3)
	if len(ids) != 3 {
		return
	}
	for i, f := range p.filters {
		if f != nil && !f[ids[i]] {
			return
		}
	}
	lat := strings.Trim(fields[len(fields)-1], "<>")
	secs, err := strconv.ParseFloat(lat, 64)
	if err != nil {
		return
	}
	p.mu.Lock()
	s := p.ops[fields[3]]
	if s == nil {
		s = &opStat{}
		p.ops[fields[3]] = s
	}
	s.count++
	s.total += time.Duration(secs * float64(time.Second))
	p.mu.Unlock()
}

// table renders the counts so far, the most time-consuming operations
// first, and resets them.
func (p *profiler) table() [][]string {
	p.mu.Lock()
	ops := p.ops
	p.ops = map[string]*opStat{}
	p.mu.Unlock()
	var all time.Duration
	names := make([]string, 0, len(ops))
	for name, s := range ops {
		names = append(names, name)
		all += s.total
	}
	sort.Slice(names, func(i, j int) bool { return ops[names[i]].total > ops[names[j]].total })
	rows := [][]string{{"OPERATION", "COUNT", "AVERAGE(us)", "TOTAL(s)", "PERCENT(%)"}}
	for _, name := range names {
		s := ops[name]
		pct := 0.0
		if all > 0 {
			pct = float64(s.total) * 100 / float64(all)
		}
		rows = append(rows, []string{name, strconv.Itoa(s.count), strconv.FormatInt(s.total.Microseconds()/int64(s.count), 10),
			fmt.Sprintf("%.3f", s.total.Seconds()), fmt.Sprintf("%.1f", pct)})
	}
	return rows
}

func (a *app) profile(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	src, err := filepath.Abs(c.Args().First())
	if err != nil {
		return err
	}
	p := &profiler{ops: map[string]*opStat{}}
	for i, flag := range []string{"uid", "gid", "pid"} {
		if v := c.String(flag); v != "" {
			p.filters[i] = map[string]bool{}
			for _, id := range strings.Split(v, ",") {
				p.filters[i][strings.TrimSpace(id)] = true
			}
		}
	}
	live := false
	if st, err := os.Stat(src); err == nil && st.IsDir() {
		live = true
		if _, err := os.Stat(filepath.Join(src, ".jfs.accesslog")); err == nil {
			src = filepath.Join(src, ".jfs.accesslog")
		} else {
			src = filepath.Join(src, ".accesslog")
		}
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open the access log: %w", err)
	}
	defer f.Close()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if !live {
		for line := range lines {
			p.add(line)
		}
		printTable(a.stdout, p.table(), 0)
		return nil
	}
	tick := time.NewTicker(time.Duration(max(c.Uint("interval"), 1)) * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-c.Context.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			p.add(line)
		case <-tick.C:
			fmt.Fprintf(a.stdout, "%s: operations of the last %d s\n", time.Now().Format("15:04:05"), max(c.Uint("interval"), 1))
			printTable(a.stdout, p.table(), 0)
		}
	}
}
