package cli

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// maxRmrThreads is the most directories rmr empties in parallel.
const maxRmrThreads = 255

func (a *app) rmrCommand() *cli.Command {
	return &cli.Command{
		Name:      "rmr",
		Usage:     "Remove directories recursively",
		ArgsUsage: "META-URL PATH... | MOUNTED-PATH...",
		Category:  "TOOL",
		Description: `Removes each PATH (relative to the volume's root) and, for a directory,
everything below it, much faster than rm -r through a mount: directories are
emptied in parallel, files removed in batches. With the trash enabled every
file and directory goes to the trash on its own, unless --skip-trash. The
data of files deleted for good is removed from a file storage bucket;
other storages keep it for gc.

Examples:
$ rueidisfs rmr redis://localhost/1 /tmp/build
$ rueidisfs rmr redis://localhost/1 old-logs --skip-trash --threads 100` + mountedPathsHelp,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "skip-trash", Usage: "delete for good instead of moving to the trash (requires root)"},
			&cli.IntFlag{Name: "threads", Aliases: []string{"p"}, Value: meta.RmrDefaultThreads,
				Usage: "number of directories emptied in parallel (at most 255)"},
		},
		Action: a.rmr,
	}
}

func (a *app) rmr(c *cli.Context) error {
	target, err := a.toolTarget(c, false)
	if err != nil {
		return err
	}
	threads := c.Int("threads")
	switch {
	case threads <= 0:
		threads = meta.RmrDefaultThreads
	case threads > maxRmrThreads:
		threads = maxRmrThreads
	}
	skipTrash := c.Bool("skip-trash")
	if skipTrash && !a.isRoot {
		return errors.New("only root can remove files directly (--skip-trash)")
	}
	if target.mounted && hasControlFile(target.paths[0].arg) {
		return a.rmrThroughMount(c, target, skipTrash, threads)
	}
	e, _, err := a.openVolumeAt(c, target.metaURL, meta.Options{NoBackgroundJobs: true, SliceDeleter: a.quietSliceDeleter})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	// A session without registration: pending directory statistics and
	// quota usage are flushed as the removal goes.
	if err := e.NewSession(c.Context, false); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	prog := a.newProgress()
	spin := prog.Spin("Removing entries", false)
	defer prog.Wait()
	defer spin.Done()
	total := 0
	for _, tp := range target.paths {
		arg, p := tp.arg, volumePath(tp.inVolume)
		dir, name := path.Split(p)
		if name == "" {
			return fmt.Errorf("RMR %q: the root of the volume cannot be removed", arg)
		}
		parent, pattr, err := resolvePath(c.Context, e, dir, true)
		if err != nil {
			return fmt.Errorf("lookup inode for %s: %s", path.Clean(dir), errnoText(err))
		}
		if pattr.Typ != codec.TypeDirectory {
			return fmt.Errorf("RMR %q: %s", arg, syscall.ENOTDIR)
		}
		n, err := e.Remove(c.Context, parent, name, skipTrash, threads, func(n int) { spin.Add(int64(n), 0) })
		total += n
		if err != nil {
			return fmt.Errorf("RMR %q: %s", arg, errnoText(err))
		}
	}
	if prog.p == nil {
		a.log.Info(fmt.Sprintf("Removed %d entries", total))
	}
	return nil
}

// rmrThroughMount asks the mount holding each path to remove it, as
// juicefs rmr does: the mount also makes the kernel forget the removed
// entry, so that it is gone from the mount at once.
func (a *app) rmrThroughMount(c *cli.Context, target *toolTarget, skipTrash bool, threads int) error {
	prog := a.newProgress()
	spin := prog.Spin("Removing entries", false)
	defer prog.Wait()
	defer spin.Done()
	for _, tp := range target.paths {
		abs, err := filepath.Abs(tp.arg)
		if err != nil {
			return err
		}
		parent, name := filepath.Dir(abs), filepath.Base(abs)
		var st syscall.Stat_t
		if err := syscall.Stat(parent, &st); err != nil {
			return fmt.Errorf("lookup inode for %s: %s", parent, errnoText(err))
		}
		body := binary.BigEndian.AppendUint64(nil, st.Ino)
		body = append(append(append(body, byte(len(name))), name...), boolByte(skipTrash), byte(threads))
		done := int64(0)
		_, err = vfs.ControlCall(c.Context, parent, vfs.CtlRmr, body, func(n, _ uint64) {
			spin.Add(int64(n)-done, 0)
			done = int64(n)
		})
		if err != nil {
			return fmt.Errorf("RMR %q: %s", tp.arg, errnoText(err))
		}
	}
	return nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// hasControlFile tells whether the directory of path p belongs to a mount
// that takes commands (a .control file resolves there).
func hasControlFile(p string) bool {
	dir := filepath.Dir(p)
	for _, name := range []string{".jfs.control", ".control"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}
