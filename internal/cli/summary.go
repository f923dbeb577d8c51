package cli

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Limits of summary's --depth and --entries, as juicefs's.
const (
	maxSummaryDepth   = 10
	maxSummaryEntries = 100
)

func (a *app) summaryCommand() *cli.Command {
	return &cli.Command{
		Name:      "summary",
		Usage:     "Show tree summary of a directory",
		ArgsUsage: "META-URL PATH | MOUNTED-PATH",
		Category:  "INSPECTOR",
		Description: `Prints the tree below PATH (relative to the volume's root) as juicefs summary
does: one row per node, directories with a trailing "/", with the charged
size and the numbers of directories and files below it. Each level shows its
largest --entries children; the others are merged into one "..." row.

Examples:
$ rueidisfs summary redis://localhost/1 /
$ rueidisfs summary redis://localhost/1 data --depth 5 --entries 20
$ rueidisfs summary redis://localhost/1 / --strict --csv` + mountedPathsHelp,
		Flags: []cli.Flag{
			&cli.UintFlag{Name: "depth", Aliases: []string{"d"}, Value: 2, Usage: "depth of the tree to show (0: only PATH itself; at most 10)"},
			&cli.UintFlag{Name: "entries", Aliases: []string{"e"}, Value: 10, Usage: "show the N largest entries of each directory (at most 100)"},
			&cli.BoolFlag{Name: "strict", Usage: "count entries one by one instead of trusting directory statistics (slow for huge trees)"},
			&cli.BoolFlag{Name: "csv", Usage: "print the summary as CSV, sizes in bytes"},
		},
		Action: a.summary,
	}
}

func (a *app) summary(c *cli.Context) error {
	target, err := a.toolTarget(c, false)
	if err != nil {
		return err
	}
	if err := target.checkPaths(c, 1, 1); err != nil {
		return err
	}
	depth, topN := c.Uint("depth"), c.Uint("entries")
	if depth > maxSummaryDepth {
		a.log.Warn(fmt.Sprintf("depth should be less than %d", maxSummaryDepth+1))
		depth = maxSummaryDepth
	}
	if topN > maxSummaryEntries {
		a.log.Warn(fmt.Sprintf("entries should be less than %d", maxSummaryEntries+1))
		topN = maxSummaryEntries
	}
	e, _, err := a.openVolumeAt(c, target.metaURL, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	p := target.paths[0].arg
	ino, _, err := resolvePath(c.Context, e, target.paths[0].inVolume, true)
	if err != nil {
		return fmt.Errorf("lookup inode for %q: %s", p, errnoText(err))
	}
	asCSV := c.Bool("csv")
	prog := &progress{}
	if !asCSV {
		prog = a.newProgress()
	}
	spin := prog.Spin(p, true)
	tree, err := e.GetTreeSummary(c.Context, ino, uint8(depth), uint8(topN), c.Bool("strict"), func(count, bytes uint64) {
		spin.Add(int64(count), int64(bytes))
	})
	spin.Done()
	prog.Wait()
	if err != nil {
		return fmt.Errorf("summary: %s", errnoText(err))
	}
	// The official client answers for a directory whatever PATH is: its
	// root row is always "/".
	tree.Type = codec.TypeDirectory
	rows := [][]string{{"PATH", "SIZE", "DIRS", "FILES"}}
	rows = summaryRows(rows, tree, asCSV)
	if !asCSV {
		printTable(a.stdout, rows, 0)
		return nil
	}
	w := csv.NewWriter(a.stdout)
	if err := w.WriteAll(rows); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// summaryRows appends the rows of a tree, depth first.
func summaryRows(rows [][]string, t *meta.TreeSummary, raw bool) [][]string {
	size := formatIBytes(t.Size)
	if raw {
		size = strconv.FormatUint(t.Size, 10)
	}
	p := asJSONText(t.Path)
	if t.Type == codec.TypeDirectory && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	rows = append(rows, []string{p, size, strconv.FormatUint(t.Dirs, 10), strconv.FormatUint(t.Files, 10)})
	for _, child := range t.Children {
		rows = summaryRows(rows, child, raw)
	}
	return rows
}
