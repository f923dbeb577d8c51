package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/backup"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Binary backups (dump --binary, load --binary, load --binary --stat).

// segmentCounts counts records by segment type, with a spinner for each
// on a terminal and a summary line elsewhere.
type segmentCounts struct {
	mu       sync.Mutex
	prog     *progress
	verb     string
	spinners map[backup.SegType]*spinner
	counts   map[backup.SegType]int
}

func (a *app) newSegmentCounts(verb string) *segmentCounts {
	return &segmentCounts{prog: a.newProgress(), verb: verb, spinners: map[backup.SegType]*spinner{}, counts: map[backup.SegType]int{}}
}

func (sc *segmentCounts) add(t backup.SegType, n int) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.counts[t] += n
	s, ok := sc.spinners[t]
	if !ok {
		s = sc.prog.Spin(sc.verb+" "+t.String(), false)
		sc.spinners[t] = s
	}
	s.Add(int64(n), 0)
}

// done stops the spinners and returns the summary ("node 386, edge 386").
func (sc *segmentCounts) done() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, s := range sc.spinners {
		s.Done()
	}
	sc.prog.Wait()
	var parts []string
	for _, t := range backup.SegTypes() {
		if n, ok := sc.counts[t]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", t, n))
		}
	}
	return strings.Join(parts, ", ")
}

// dumpBinary writes the binary backup of e's volume to w.
func (a *app) dumpBinary(c *cli.Context, e *meta.Engine, f *codec.Format, w io.Writer, threads int) error {
	counts := a.newSegmentCounts("Dumped")
	err := backup.Dump(c.Context, e, f, w, backup.DumpOptions{
		Threads: threads, KeepSecret: c.Bool("keep-secret-key"), Logger: a.log, Progress: counts.add,
	})
	summary := counts.done()
	if err == nil {
		a.log.Info("Dumped records: " + summary)
	}
	return err
}

// loadBinary loads the binary backup named by the command line.
func (a *app) loadBinary(c *cli.Context) error {
	src := c.Args().Get(1)
	in, err := a.openBackup(c, src)
	if err != nil {
		return err
	}
	defer in.close()
	e, err := a.openLoadTarget(c)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	checked, written := a.newSegmentCounts("Checked"), a.newSegmentCounts("Loaded")
	_, err = backup.Load(c.Context, e, in.f, in.size, backup.LoadOptions{
		Threads: c.Int("threads"), Logger: a.log,
		Progress: func(phase string, t backup.SegType, n int) {
			if phase == "check" {
				checked.add(t, n)
			} else {
				written.add(t, n)
			}
		},
	})
	checked.done()
	summary := written.done()
	if err != nil {
		return err
	}
	a.log.Info("Loaded records: " + summary)
	return a.loaded(c, e, in.name)
}

// backupFile is a binary backup opened for reading at any offset.
type backupFile struct {
	f     *os.File
	size  int64
	name  string // as given, for messages ("STDIN")
	close func()
}

// openBackup opens a binary backup. Standard input, compressed files (.gz,
// .zstd) and encrypted ones are first copied, in clear, into a temporary
// file (in --tmp-dir): a backup is read at the offsets its footer gives.
func (a *app) openBackup(c *cli.Context, src string) (*backupFile, error) {
	if src != "" && !strings.HasSuffix(src, ".gz") && !strings.HasSuffix(src, ".zstd") && !c.IsSet("encrypt-rsa-key") {
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("open the backup: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open the backup: %w", err)
		}
		return &backupFile{f: f, size: st.Size(), name: src, close: func() { f.Close() }}, nil
	}
	r, name, err := a.openDump(c, src)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(c.String("tmp-dir"), "rueidisfs-backup-*.bin")
	if err != nil {
		return nil, fmt.Errorf("create a temporary copy of the backup: %w", err)
	}
	drop := func() { tmp.Close(); os.Remove(tmp.Name()) }
	size, err := io.Copy(tmp, r)
	if err != nil {
		drop()
		return nil, fmt.Errorf("copy the backup %s to %s: %w", name, tmp.Name(), err)
	}
	return &backupFile{f: tmp, size: size, name: name, close: drop}, nil
}

// statBackup describes a binary backup as juicefs load --binary --stat
// does: its format version and its segments (--offset -1: with their
// offsets; --offset N: the segment at byte N).
func (a *app) statBackup(c *cli.Context) error {
	src := c.Args().First()
	if c.NArg() == 2 {
		src = c.Args().Get(1)
	}
	a.log.Info(fmt.Sprintf("load backup from %q", src))
	in, err := a.openBackup(c, src)
	if err != nil {
		return err
	}
	defer in.close()
	if c.IsSet("offset") && c.Int64("offset") >= 0 {
		return backup.DescribeSegment(a.stdout, in.f, in.size, c.Int64("offset"))
	}
	footer, _, err := backup.ReadFooter(in.f, in.size)
	if err != nil {
		return fmt.Errorf("read the footer: %w", err)
	}
	withOffsets := c.IsSet("offset")
	fmt.Fprintf(a.stdout, "Backup Version: %d\n", footer.Version)
	rule := strings.Repeat("-", 23)
	header := fmt.Sprintf("%-10s| %-10s", "Name", "Num")
	if withOffsets {
		rule = strings.Repeat("-", 34)
		header += fmt.Sprintf("| %-10s", "Offset")
	}
	fmt.Fprintf(a.stdout, "%s\n%s\n%s\n", rule, header, rule)
	names := footer.Names()
	sort.Strings(names)
	for _, name := range names {
		info := footer.Infos[name]
		fmt.Fprintf(a.stdout, "%-10s| %-10s|", name, fmt.Sprint(info.Num))
		if withOffsets {
			fmt.Fprintf(a.stdout, " %-10s", fmt.Sprint(info.Offsets))
		}
		fmt.Fprintln(a.stdout)
	}
	return nil
}
