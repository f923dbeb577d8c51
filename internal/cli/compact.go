package cli

import (
	"context"
	"fmt"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func (a *app) compactCommand() *cli.Command {
	return &cli.Command{
		Name:      "compact",
		Usage:     "Merge the slices of files into fewer, bigger ones",
		ArgsUsage: "META-URL PATH... | MOUNTED-PATH...",
		Category:  "TOOL",
		Description: `Compacts every chunk of each file PATH (relative to the volume's root;
directories are walked recursively): the slices a chunk collected (one per
write, overwrite or append) are merged into one new slice, as juicefs
compact does, so that reading needs fewer objects. The content does not
change. With the trash enabled the replaced slices are kept until the trash
would have expired; otherwise their objects are deleted at once.

Examples:
$ rueidisfs compact redis://localhost/1 /logs
$ rueidisfs compact redis://localhost/1 data/db.sqlite --threads 4` + mountedPathsHelp,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "threads", Aliases: []string{"p"}, Value: 10, Usage: "files compacted in parallel"},
		}, a.dataFlags(true)...),
		Action: a.compact,
	}
}

func (a *app) compact(c *cli.Context) error {
	target, err := a.toolTarget(c, false)
	if err != nil {
		return err
	}
	threads := max(c.Int("threads"), 1)
	e, d, err := a.openDataVolumeWith(c, target.metaURL, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	defer a.closeData(d)
	if err := e.NewSession(c.Context, false); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	prog := a.newProgress()
	spin := prog.Spin("Compacted chunks", false)
	defer prog.Wait()
	defer spin.Done()
	files := make(chan meta.Ino)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ino := range files {
				err := e.Compact(c.Context, ino, func(uint32) { spin.Add(1, 0) })
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("compact inode %d: %w", ino, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range target.paths {
		ino, attr, err := resolvePath(c.Context, e, p.inVolume, true)
		if err == nil {
			err = walkFiles(c.Context, e, ino, attr.Typ, files)
		}
		if err != nil {
			close(files)
			wg.Wait()
			return fmt.Errorf("%s: %s", p.arg, errnoText(err))
		}
	}
	close(files)
	wg.Wait()
	return firstErr
}

// walkFiles sends ino, if it is a regular file, or every regular file
// below it, if it is a directory.
func walkFiles(ctx context.Context, e *meta.Engine, ino meta.Ino, typ codec.FileType, out chan<- meta.Ino) error {
	switch typ {
	case codec.TypeFile:
		out <- ino
	case codec.TypeDirectory:
		entries, err := e.Readdir(ctx, ino, false)
		if err != nil {
			return err
		}
		for _, en := range entries {
			if en.Name == "." || en.Name == ".." {
				continue
			}
			if err := walkFiles(ctx, e, en.Inode, en.Attr.Typ, out); err != nil {
				return err
			}
		}
	}
	return nil
}
