package cli

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/vfs"
)

// warmupBatch is how many paths one request carries, as juicefs sends them.
const warmupBatch = 10240

func (a *app) warmupCommand() *cli.Command {
	return &cli.Command{
		Name:      "warmup",
		Category:  "TOOL",
		Usage:     "Build, drop or check the cache of a mount",
		ArgsUsage: "[PATH ...]",
		Description: `Asks the mount holding the PATHs (files or directories inside a mounted
volume, rueidisfs or juicefs) to download their blocks into its local cache
before they are needed; with --evict to drop them from it; with --check to
tell how much of them it holds, and in which cache directory. Symbolic
links inside directories are not followed.

Examples:
$ rueidisfs warmup /mnt/jfs/datadir
$ rueidisfs warmup -f list.txt --threads 20
$ rueidisfs warmup --check /mnt/jfs/datadir`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "file listing the paths, one per line"},
			&cli.UintFlag{Name: "threads", Aliases: []string{"p"}, Value: 50, Usage: "number of files the mount reads at once"},
			&cli.BoolFlag{Name: "background", Aliases: []string{"b"}, Usage: "return at once; the mount goes on in the background"},
			&cli.BoolFlag{Name: "evict", Usage: "drop the blocks from the cache instead (blocks waiting for their upload stay)"},
			&cli.BoolFlag{Name: "check", Usage: "tell how much of the data the cache holds instead"},
		},
		Action: a.warmup,
	}
}

func (a *app) warmup(c *cli.Context) error {
	if c.Bool("evict") && c.Bool("check") {
		return errors.New("--evict and --check exclude each other")
	}
	action, verb := byte(warmupFill), "warmup cache"
	switch {
	case c.Bool("evict"):
		action, verb = warmupEvict, "evict cache"
	case c.Bool("check"):
		action, verb = warmupCheck, "check cache"
	}
	paths, err := warmupPaths(c)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return errors.New("no path to warm up: give paths, or a list with --file")
	}
	m, err := a.findMount(paths[0])
	if err != nil || !m.isVolumeMount() {
		return fmt.Errorf("%s is not inside a mounted volume", paths[0])
	}
	var rel []string
	for _, p := range paths {
		r, ok := below(p, m.mountPoint)
		if !ok {
			return fmt.Errorf("%s is not under the mount point %s of %s", p, m.mountPoint, paths[0])
		}
		rel = append(rel, r)
	}
	bar := a.newProgress()
	bar.Start(verb, 0)
	var files, bytes, missing uint64
	locations := map[string]uint64{}
	for start := 0; start < len(rel); start += warmupBatch {
		batch := rel[start:min(start+warmupBatch, len(rel))]
		var doneFiles, doneBytes uint64
		data, err := vfs.ControlCall(c.Context, m.mountPoint, vfs.CtlWarmup, warmupRequest(batch, c.Uint("threads"), c.Bool("background"), action),
			func(f, b uint64) {
				doneFiles, doneBytes = f, b
				bar.Set(int64(files+f), 0)
			})
		if err != nil {
			bar.Done()
			var errno syscall.Errno
			if errors.As(err, &errno) {
				return fmt.Errorf("%s failed: %s", verb, errno)
			}
			return err
		}
		var resp struct {
			FileCount, TotalBytes, MissBytes uint64
			Locations                        map[string]uint64
		}
		if json.Unmarshal(data, &resp) == nil && resp.FileCount > 0 {
			doneFiles, doneBytes = resp.FileCount, resp.TotalBytes
		}
		files, bytes, missing = files+doneFiles, bytes+doneBytes, missing+resp.MissBytes
		for dir, n := range resp.Locations {
			locations[dir] += n
		}
	}
	bar.Done()
	if c.Bool("background") {
		a.log.Info(fmt.Sprintf("%s for %d paths in background", verb, len(rel)))
		return nil
	}
	if action != warmupCheck {
		a.log.Info(fmt.Sprintf("%s: %d files (%s bytes)", verb, files, formatIBytes(bytes)))
		return nil
	}
	a.printCacheCheck(files, bytes, missing, locations)
	return nil
}

// printCacheCheck prints what warmup --check found, as juicefs does: a
// table of the cache directories, then a summary line.
func (a *app) printCacheCheck(files, bytes, missing uint64, locations map[string]uint64) {
	if len(locations) > 0 {
		rows := [][]string{{"Location", "Size", "Percentage"}}
		for _, dir := range slices.Sorted(maps.Keys(locations)) {
			n := locations[dir]
			rows = append(rows, []string{dir, formatIBytes(n), fmt.Sprintf("%.1f%%", float64(n)*100/float64(max(bytes, 1)))})
		}
		printTable(a.stdout, rows, 0)
	}
	cached := bytes - min(missing, bytes)
	pct := 0.0
	if bytes > 0 {
		pct = float64(cached) * 100 / float64(bytes)
	}
	a.log.Info(fmt.Sprintf("check cache: %d files checked, %s of %s (%2.1f%%) cached", files, formatIBytes(cached), formatIBytes(bytes), pct))
}

// warmupRequest is the body of a warmup command: the paths (relative to
// the mount point, newline-separated), threads, background and the action.
func warmupRequest(paths []string, threads uint, background bool, action byte) []byte {
	joined := strings.Join(paths, "\n")
	b := binary.BigEndian.AppendUint32(nil, uint32(len(joined)))
	b = append(b, joined...)
	b = binary.BigEndian.AppendUint16(b, uint16(min(max(threads, 1), 65535)))
	bg := byte(0)
	if background {
		bg = 1
	}
	return append(b, bg, action)
}

// warmupPaths collects the absolute paths of the arguments and of --file.
func warmupPaths(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	if name := c.String("file"); name != "" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				args = append(args, line)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	var out []string
	for _, p := range args {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		out = append(out, abs)
	}
	return out, nil
}
