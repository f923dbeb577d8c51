package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/mdtest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/metrics"
)

func (a *app) mdtestCommand() *cli.Command {
	return &cli.Command{
		Name:      "mdtest",
		Usage:     "run a metadata benchmark on a volume",
		ArgsUsage: "META-URL PATH",
		Category:  "TOOL",
		Description: `Creates, under PATH of the volume, the directory tree of juicefs mdtest
(PATH/test-dir.0-0/mdtest_tree.0/..., --dirs wide and --depth deep) and then, in
every directory, --files files per thread, each created through its path as
juicefs's path-based layer does; the summary lines are those juicefs mdtest
prints, so both can be run side by side on one Redis. Then come the phases of
the classic mdtest that juicefs's lacks: stat every file (by path), list every
directory, rename every file, remove everything.

Examples:
$ rueidisfs mdtest redis://localhost/1 /bench --threads 4 --dirs 3 --depth 3 --files 20
$ rueidisfs mdtest redis://localhost/1 /bench --phases stat,readdir --stats`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "threads", Value: 1, Usage: "goroutines creating files (each creates --files files in every directory)"},
			&cli.IntFlag{Name: "dirs", Value: 3, Usage: "number of sub-directories of each directory of the tree"},
			&cli.IntFlag{Name: "depth", Value: 2, Usage: "levels of the directory tree below its root"},
			&cli.IntFlag{Name: "files", Value: 10, Usage: "files each thread creates in each directory"},
			&cli.IntFlag{Name: "write", Value: 0, Usage: "bytes of (metadata-only) data to record for each file, as slices of up to 64 MiB"},
			&cli.StringFlag{Name: "phases", Value: "stat,readdir,rename,remove",
				Usage: `phases to run after the create phase, in order; "none" for none`},
			&cli.BoolFlag{Name: "stats", Usage: "print the client-side cache and transaction counters at the end"},
			&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics on this address (e.g. 127.0.0.1:9567) while running"},
			&cli.DurationFlag{Name: "heartbeat", Value: meta.DefaultHeartbeat, Usage: "interval of the session heartbeat"},
			&cli.StringFlag{Name: "access-log", Usage: "accepted for compatibility with juicefs mdtest; rueidisfs writes no access log"},
		},
		Action: a.mdtest,
	}
}

func (a *app) mdtest(c *cli.Context) error {
	if err := checkArgs(c, 2, 2); err != nil {
		return err
	}
	opts := mdtest.Options{
		Threads: c.Int("threads"), Dirs: c.Int("dirs"), Depth: c.Int("depth"),
		Files: c.Int("files"), Write: c.Int("write"), Umask: 0o022,
	}
	switch p := c.String("phases"); p {
	case "none", "":
		opts.Phases = []string{}
	default:
		opts.Phases = strings.Split(p, ",")
	}
	for _, p := range opts.Phases {
		switch p {
		case "stat", "readdir", "rename", "remove":
		default:
			return fmt.Errorf("--phases: unknown phase %q (use stat, readdir, rename, remove or none)", p)
		}
	}
	root := c.Args().Get(1)
	if !strings.HasPrefix(root, "/") {
		root = "/" + root
	}
	e, err := a.openEngine(c, meta.Options{Heartbeat: c.Duration("heartbeat"), MountPoint: "mdtest"})
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
	total := mdtest.TreeDirs(opts.Dirs, opts.Depth) * opts.Threads * opts.Files
	a.log.Info(fmt.Sprintf("Create %d files in %d dirs", total, mdtest.TreeDirs(opts.Dirs, opts.Depth)))
	prog := a.newProgress()
	err = mdtest.Run(c.Context, e, root, opts, prog, func(r mdtest.Result) {
		prog.Done()
		a.log.Info(r.String())
	})
	prog.Wait()
	if err != nil {
		return err
	}
	if c.Bool("stats") {
		cs, ts := e.CacheStats(), e.TxStats()
		ratio := 0.0
		if cs.Hits+cs.Misses > 0 {
			ratio = 100 * float64(cs.Hits) / float64(cs.Hits+cs.Misses)
		}
		a.log.Info(fmt.Sprintf("client-side cache: %d hits, %d misses (%.1f%% hits), %d joined, %d invalidations from Redis, %d local, %d stale replies dropped, %d evictions, %d entries",
			cs.Hits, cs.Misses, ratio, cs.Joined, cs.Invalidations, cs.LocalInvalidations, cs.StaleReplies, cs.Evictions, cs.Entries))
		a.log.Info(fmt.Sprintf("transactions: %d committed, %d conflicts retried, %d failed", ts.Commits, ts.Conflicts, ts.Errors))
	}
	return nil
}
