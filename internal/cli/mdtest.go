package cli

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/mdtest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/metrics"
)

// mdtestHonours are the client flags mdtest acts on; it writes no data, so
// the storage and cache flags have no effect.
func mdtestHonours() []string {
	return []string{"subdir", "heartbeat", "read-only", "no-bgjob", "atime-mode", "skip-dir-mtime", "metrics"}
}

func (a *app) mdtestCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.IntFlag{Name: "threads", Value: 1, Usage: "goroutines creating files (each creates --files files in every directory)"},
		&cli.IntFlag{Name: "dirs", Value: 3, Usage: "number of sub-directories of each directory of the tree"},
		&cli.IntFlag{Name: "depth", Value: 2, Usage: "levels of the directory tree below its root"},
		&cli.IntFlag{Name: "files", Value: 10, Usage: "files each thread creates in each directory"},
		&cli.IntFlag{Name: "write", Value: 0, Usage: "bytes of (metadata-only) data to record for each file, as slices of up to 64 MiB"},
		&cli.StringFlag{Name: "phases", Usage: `phases to run after the create phase, in order, from stat, readdir, rename and remove ("all" for the four); none by default, as juicefs mdtest`},
		&cli.BoolFlag{Name: "stats", Usage: "print the client-side cache and transaction counters at the end"},
		&cli.StringFlag{Name: "access-log", Usage: "accepted for compatibility with juicefs mdtest; rueidisfs writes no access log"},
	}
	return &cli.Command{
		Name:      "mdtest",
		Usage:     "Run a metadata benchmark on a volume",
		ArgsUsage: "META-URL PATH",
		Category:  "TOOL",
		Description: `Does what juicefs mdtest does: creates, under PATH of the volume, the tree
PATH/test-dir.0-0/mdtest_tree.0/... (--dirs wide and --depth deep) and then,
in every directory, --files files per thread, each created through its path
as juicefs's path-based layer does, and prints juicefs mdtest's summary
lines, so both can be run side by side on one Redis. Like juicefs mdtest it
leaves the tree in place; the last line says where it is.

--phases adds the phases of the classic mdtest that juicefs's lacks: stat
every file (by path), list every directory, rename every file, remove the
tree (into the trash when the volume has one).

Of the client options mdtest honours --subdir (PATH is inside it),
--heartbeat, --read-only (refused: mdtest creates files), --no-bgjob,
--atime-mode, --skip-dir-mtime and --metrics (served only when given). It
writes no data, so the storage, cache and backup options are accepted and
have no effect (a log line names those given).

Examples:
$ rueidisfs mdtest redis://localhost/1 /bench --threads 4 --dirs 3 --depth 3 --files 20
$ rueidisfs mdtest redis://localhost/1 /bench --phases all --stats`,
		Flags:  concatFlags(flags, clientFlags()),
		Action: a.mdtest,
	}
}

// mdtestPhases reads --phases.
func mdtestPhases(s string) ([]string, error) {
	switch s {
	case "", "none":
		return nil, nil
	case "all":
		return mdtest.KnownPhases(), nil
	}
	phases := strings.Split(s, ",")
	for _, p := range phases {
		if !slices.Contains(mdtest.KnownPhases(), p) {
			return nil, fmt.Errorf("--phases: unknown phase %q (use stat, readdir, rename, remove, all or none)", p)
		}
	}
	return phases, nil
}

func (a *app) mdtest(c *cli.Context) error {
	if err := checkArgs(c, 2, 2); err != nil {
		return err
	}
	opts := mdtest.Options{
		Threads: c.Int("threads"), Dirs: c.Int("dirs"), Depth: c.Int("depth"),
		Files: c.Int("files"), Write: c.Int("write"), Umask: 0o022,
	}
	if err := checkMdtestCounts(opts); err != nil {
		return err
	}
	var err error
	if opts.Phases, err = mdtestPhases(c.String("phases")); err != nil {
		return err
	}
	if c.Bool("read-only") {
		return fmt.Errorf("--read-only: mdtest creates files, which a read-only client cannot do")
	}
	eopts, err := engineOptions(c)
	if err != nil {
		return err
	}
	a.noteIgnoredFlags(c, mdtestHonours(), "mdtest writes no data")
	root := path.Join("/", c.String("subdir"), c.Args().Get(1))
	eopts.MountPoint = "mdtest"
	e, err := a.openEngine(c, eopts)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	f, err := e.Load(c.Context, true)
	if err != nil {
		return err
	}
	if err := e.NewSession(c.Context, true); err != nil {
		return err
	}
	if addr := c.String("metrics"); addr != "" {
		srv, err := metrics.Serve(addr, e, f.Name)
		if err != nil {
			return err
		}
		defer srv.Close()
		a.log.Info("Prometheus metrics at http://" + srv.Addr() + "/metrics")
	}
	dirs, _ := mdtest.TreeDirs(opts.Dirs, opts.Depth, maxMdtestFiles) // checked by checkMdtestCounts
	total := dirs * opts.Threads * opts.Files
	a.log.Info(fmt.Sprintf("Create %d files in %d dirs", total, dirs))
	prog := a.newProgress()
	err = mdtest.Run(c.Context, e, root, opts, prog, func(r mdtest.Result) {
		prog.Done()
		a.log.Info(r.String())
	})
	prog.Wait()
	if err != nil {
		return err
	}
	a.log.Info(mdtestWhere(e.URL().Redacted(), root, opts, f, dirs, total))
	if c.Bool("stats") {
		a.printMdtestStats(e)
	}
	return nil
}

// printMdtestStats logs the engine's cache and transaction counters.
func (a *app) printMdtestStats(e *meta.Engine) {
	cs, ts := e.CacheStats(), e.TxStats()
	ratio := 0.0
	if cs.Hits+cs.Misses > 0 {
		ratio = 100 * float64(cs.Hits) / float64(cs.Hits+cs.Misses)
	}
	a.log.Info(fmt.Sprintf("client-side cache: %d hits, %d misses (%.1f%% hits), %d joined, %d invalidations from Redis, %d local, %d stale replies dropped, %d abandoned, %d evictions, %d entries",
		cs.Hits, cs.Misses, ratio, cs.Joined, cs.Invalidations, cs.LocalInvalidations, cs.StaleReplies, cs.Abandoned, cs.Evictions, cs.Entries))
	a.log.Info(fmt.Sprintf("transactions: %d committed, %d conflicts retried, %d failed", ts.Commits, ts.Conflicts, ts.Errors))
}

// mdtestWhere says where the files of a run went.
func mdtestWhere(metaURL, root string, opts mdtest.Options, f *codec.Format, dirs, files int) string {
	tree := mdtest.TreeRoot(root)
	if !slices.Contains(opts.Phases, "remove") {
		return fmt.Sprintf("The tree is left in place: %s holds %s and %s; remove it with `rueidisfs rmr %s %s`",
			tree, plural(dirs, "dir"), plural(files, "file"), metaURL, tree)
	}
	if f.TrashDays > 0 {
		return fmt.Sprintf("The tree %s was removed into the trash, where it stays %s (`rueidisfs rmr %s /.trash` empties the trash)",
			tree, plural(f.TrashDays, "day"), metaURL)
	}
	return fmt.Sprintf("The tree %s was removed (the volume has no trash)", tree)
}

// maxMdtestFiles bounds the files one mdtest run may create (a trillion:
// far beyond any volume, well within int64 arithmetic).
const maxMdtestFiles = 1 << 40

// checkMdtestCounts refuses negative counts and trees or totals too large
// to count (they overflowed before).
func checkMdtestCounts(o mdtest.Options) error {
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{{"threads", o.Threads, 1}, {"dirs", o.Dirs, 0}, {"depth", o.Depth, 0}, {"files", o.Files, 0}, {"write", o.Write, 0}} {
		if f.v < f.min {
			return fmt.Errorf("invalid --%s %d: must be at least %d", f.name, f.v, f.min)
		}
	}
	total, ok := mdtest.TreeDirs(o.Dirs, o.Depth, maxMdtestFiles)
	if !ok {
		return fmt.Errorf("--dirs %d with --depth %d makes a tree of more than %d directories", o.Dirs, o.Depth, maxMdtestFiles)
	}
	if total > maxMdtestFiles/o.Threads || (o.Files > 0 && total*o.Threads > maxMdtestFiles/o.Files) {
		return fmt.Errorf("--threads %d × --files %d in each of %d directories is more than %d files", o.Threads, o.Files, total, maxMdtestFiles)
	}
	if o.Write > 1<<40 {
		return fmt.Errorf("invalid --write %d: at most 1 TiB a file", o.Write)
	}
	return nil
}
