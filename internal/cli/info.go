package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
)

func (a *app) infoCommand() *cli.Command {
	return &cli.Command{
		Name:      "info",
		Usage:     "Show internal information of a path or inode",
		ArgsUsage: "META-URL PATH|INODE... | MOUNTED-PATH...",
		Category:  "INSPECTOR",
		Description: `Prints what juicefs info prints for each path (relative to the volume's
root; symbolic links are followed) or, with --inode, each inode number: the
inode, the number of files and directories, the length and the charged size
(of the direct children of a directory; of the whole tree with --recursive),
the paths (several for hard links), the storage tier, and for a file the
objects holding its data (with --raw the slices of every chunk), plus the BSD
and POSIX locks held on it.

Examples:
$ rueidisfs info redis://localhost/1 data/big.bin
$ rueidisfs info redis://localhost/1 --raw data/big.bin
$ rueidisfs info redis://localhost/1 --recursive --strict /
$ rueidisfs info redis://localhost/1 -i 100` + mountedPathsHelp,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "inode", Aliases: []string{"i"}, Usage: "the arguments are inode numbers instead of paths"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"},
				Usage: "summarise directories recursively (from directory statistics; add --strict for an exact count)"},
			&cli.BoolFlag{Name: "strict", Usage: "count entries one by one instead of trusting directory statistics (slow for huge trees)"},
			&cli.BoolFlag{Name: "raw", Usage: "show the slices of every chunk instead of the objects"},
		},
		Action: a.info,
	}
}

// infoOf is what info prints about one node.
type infoOf struct {
	ino     meta.Ino
	summary meta.Summary
	paths   []string
	tier    string
	chunks  [][]string // raw: chunkIndex, sliceId, size, offset, length
	objects [][]string // chunkIndex, objectName, size, offset, length, pos
	// hasObjects: objects were listed, even if none lies within the length
	hasObjects bool
	flocks     []meta.FlockItem
	plocks     []meta.PlockItem
}

func (a *app) info(c *cli.Context) error {
	target, err := a.toolTarget(c, c.Bool("inode"))
	if err != nil {
		return err
	}
	e, f, err := a.openVolumeAt(c, target.metaURL, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	var store objstore.Store
	if !c.Bool("raw") {
		store, _ = a.openObjects(f) // only to show the actual storage class
	}
	failed := 0
	for _, p := range target.paths {
		arg := p.arg
		var ino meta.Ino
		if c.Bool("inode") {
			n, err := strconv.ParseUint(p.inVolume, 10, 64)
			if err != nil {
				a.log.Error(fmt.Sprintf("lookup inode for %q: not an inode number", arg))
				failed++
				continue
			}
			if n < uint64(meta.RootInode) {
				return fmt.Errorf("inode number shouldn't be less than %d", meta.RootInode)
			}
			ino = meta.Ino(n)
		} else {
			if ino, _, err = resolvePath(c.Context, e, p.inVolume, true); err != nil {
				a.log.Error(fmt.Sprintf("lookup inode for %q: %s", arg, errnoText(err)))
				failed++
				continue
			}
		}
		in, err := a.inspect(c, e, f, store, ino)
		if err != nil {
			if c.Bool("inode") {
				return fmt.Errorf("info of inode %d: %s", ino, errnoText(err))
			}
			return fmt.Errorf("info of %q (inode %d): %s", arg, ino, errnoText(err))
		}
		in.print(a.stdout, arg)
	}
	if failed > 0 {
		noun := "paths"
		if c.Bool("inode") {
			noun = "inodes"
		}
		return fmt.Errorf("%d of %d %s could not be found (see the errors above)", failed, len(target.paths), noun)
	}
	return nil
}

// inspect gathers the information about ino, the way the official client
// answers an info request.
func (a *app) inspect(c *cli.Context, e *meta.Engine, f *codec.Format, store objstore.Store, ino meta.Ino) (*infoOf, error) {
	ctx := c.Context
	recursive := c.Bool("recursive")
	prog := &progress{}
	if recursive {
		prog = a.newProgress() // only a recursive summary takes long
	}
	spin := prog.Spin("Summarizing", false)
	sum, err := e.GetSummary(ctx, ino, recursive, c.Bool("strict"))
	spin.Done()
	prog.Wait()
	if err != nil {
		return nil, err
	}
	in := &infoOf{ino: ino, summary: sum}
	tier := codec.Tier{}
	if attr, err := e.GetAttr(ctx, ino); err != nil {
		a.log.Warn(fmt.Sprintf("GetAttr of %d: %s", ino, errnoText(err)))
		tier.StorageClass = "unknown"
	} else if t, ok := f.EffectiveTiers()[attr.Tier]; ok {
		tier = t
	} else {
		a.log.Warn(fmt.Sprintf("unknown tier id %d of inode %d", attr.Tier, ino))
		tier = codec.Tier{ID: attr.Tier, StorageClass: "unknown"}
	}
	if in.paths, err = e.GetPaths(ctx, ino); err != nil {
		a.log.Warn(fmt.Sprintf("paths of inode %d: %s", ino, errnoText(err)))
	}
	for i, p := range in.paths {
		in.paths[i] = asJSONText(p)
	}
	sort.Strings(in.paths)
	if sum.Files == 1 && sum.Dirs == 0 {
		if err := in.layout(ctx, e, f, c.Bool("raw")); err != nil {
			return nil, err
		}
	}
	if len(in.objects) > 0 && store != nil {
		tier.StorageClass = a.actualClass(ctx, store, f, in.objects, tier)
	}
	in.tier = fmt.Sprintf("%d->%s", tier.ID, tier.StorageClass)
	if tier.Tag != "" {
		in.tier += " tag: " + tier.Tag
	} else {
		in.tier += " "
	}
	if in.flocks, in.plocks, err = e.Inspect().Locks(ctx, ino); err != nil {
		return nil, err
	}
	return in, nil
}

// layout lists the chunks of a file: its slices (raw) or the objects
// holding them, up to the file's length.
func (in *infoOf) layout(ctx context.Context, e *meta.Engine, f *codec.Format, raw bool) error {
	var lastChunk, chunkOff uint64
	indexes, err := e.Inspect().ChunkIndexes(ctx, in.ino, in.summary.Length)
	if err != nil {
		return fmt.Errorf("list the chunks of inode %d: %w", in.ino, err)
	}
	for _, i := range indexes {
		indx := uint64(i)
		recs, err := e.Inspect().ChunkRecords(ctx, in.ino, i)
		if err != nil {
			return fmt.Errorf("read chunk %d of inode %d: %w", indx, in.ino, err)
		}
		for _, s := range codec.JuiceFSLayout(recs) {
			if raw {
				in.chunks = append(in.chunks, []string{u64(indx), u64(s.ID), u64(uint64(s.Size)), u64(uint64(s.Off)), u64(uint64(s.Len))})
				continue
			}
			for _, o := range objstore.SliceObjects(f, s) {
				in.hasObjects = true
				if indx != lastChunk {
					chunkOff = 0
				}
				pos := chunkOff + indx*codec.ChunkSize
				if pos+uint64(o.Len) > in.summary.Length {
					return nil // what lies beyond the length is not shown
				}
				lastChunk = indx
				in.objects = append(in.objects, []string{u64(indx), o.Key, u64(uint64(o.Size)), u64(uint64(o.Off)), u64(uint64(o.Len)), u64(pos)})
				chunkOff += uint64(o.Len)
			}
		}
	}
	return nil
}

// actualClass looks up the last object of a file to show its storage class
// next to the tier's, as juicefs does ("actual(...)"); objects of the file
// storage have none.
func (a *app) actualClass(ctx context.Context, store objstore.Store, f *codec.Format, objects [][]string, tier codec.Tier) string {
	last := ""
	for i := len(objects) - 1; i >= 0 && last == ""; i-- {
		last = strings.TrimPrefix(objects[i][1], f.Name+"/")
	}
	if last == "" {
		return tier.StorageClass
	}
	o, err := store.Head(ctx, last)
	if err != nil {
		a.log.Warn(fmt.Sprintf("Failed to get object info by Head for key %q (get restore status): %v", last, err))
		return tier.StorageClass
	}
	actual := o.StorageClass
	switch {
	case tier.ID != 0 && actual != tier.StorageClass, tier.ID == 0 && tier.StorageClass != "" && actual != tier.StorageClass:
		return fmt.Sprintf("expected(%s),actual(%s)", tier.StorageClass, actual)
	case tier.ID == 0 && tier.StorageClass == "":
		return fmt.Sprintf("actual(%s)", actual)
	}
	return tier.StorageClass
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }

func (in *infoOf) print(w io.Writer, arg string) {
	fmt.Fprintln(w, arg, ":")
	fmt.Fprintf(w, "  inode: %d\n", in.ino)
	fmt.Fprintf(w, "  files: %d\n", in.summary.Files)
	fmt.Fprintf(w, "   dirs: %d\n", in.summary.Dirs)
	fmt.Fprintf(w, " length: %s\n", formatBytesLong(in.summary.Length))
	fmt.Fprintf(w, "   size: %s\n", formatBytesLong(in.summary.Size))
	switch len(in.paths) {
	case 0:
		fmt.Fprintf(w, "   path: %s\n", "unknown")
	case 1:
		fmt.Fprintf(w, "   path: %s\n", in.paths[0])
	default:
		fmt.Fprintf(w, "  paths:\n")
		for _, p := range in.paths {
			fmt.Fprintf(w, "\t%s\n", p)
		}
	}
	fmt.Fprintf(w, "   tier: %s\n", in.tier)
	if len(in.chunks) > 0 {
		fmt.Fprintln(w, " chunks:")
		printTable(w, append([][]string{{"chunkIndex", "sliceId", "size", "offset", "length"}}, in.chunks...), -1)
	}
	if in.hasObjects {
		fmt.Fprintln(w, " objects:")
		if len(in.objects) > 0 {
			printTable(w, append([][]string{{"chunkIndex", "objectName", "size", "offset", "length", "pos"}}, in.objects...), 1)
		}
	}
	if len(in.flocks) > 0 {
		fmt.Fprintln(w, " flocks:")
		rows := [][]string{{"Sid", "Owner", "Type"}}
		for _, l := range in.flocks {
			rows = append(rows, []string{u64(l.Sid), u64(l.Owner), l.Type})
		}
		printTable(w, rows, 0)
	}
	if len(in.plocks) > 0 {
		fmt.Fprintln(w, " plocks:")
		rows := [][]string{{"Sid", "Owner", "Type", "Pid", "Start", "End"}}
		for _, l := range in.plocks {
			typ := "UNKNOWN"
			switch l.Lock.Type {
			case codec.LockRead:
				typ = "R"
			case codec.LockWrite:
				typ = "W"
			}
			rows = append(rows, []string{u64(l.Sid), u64(l.Owner), typ, u64(uint64(l.Lock.Pid)), u64(l.Lock.Start), u64(l.Lock.End)})
		}
		printTable(w, rows, 0)
	}
}
