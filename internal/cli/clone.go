package cli

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/meta"
)

func (a *app) cloneCommand() *cli.Command {
	return &cli.Command{
		Name:      "clone",
		Usage:     "Clone a file or directory without copying its data",
		ArgsUsage: "META-URL SRC DST | MOUNTED-SRC MOUNTED-DST",
		Category:  "TOOL",
		Description: `Copies the file or directory SRC of the volume to DST (paths inside the
volume) as juicefs clone does, without copying data: the copies share the
data of the originals, whose slices gain a reference each, so a clone is
fast and takes no space until one side is changed. A directory is built
aside and linked at DST only when complete: an interrupted clone leaves
nothing at DST (gc removes what it had copied). A DST ending in "/" means
SRC's name inside that directory; DST must not exist nor lie inside SRC.

The copies belong to the user running the command, with its umask applied
and new times, unless --preserve keeps the owner, mode and times. Hard
links become separate files.

Examples:
$ rueidisfs clone redis://localhost/1 /data/file1 /data/file2
$ rueidisfs clone redis://localhost/1 /projects/a /projects/a-snapshot
$ rueidisfs clone redis://localhost/1 -p /projects/a /backups/` + mountedPathsHelp,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "preserve", Aliases: []string{"p"}, Usage: "keep the owner, group, mode and times of the originals"},
			&cli.IntFlag{Name: "threads", Value: 4, Usage: "directories copied in parallel (1 to 255)"},
		},
		Action: a.clone,
	}
}

func (a *app) clone(c *cli.Context) error {
	target, err := a.cloneTarget(c)
	if err != nil {
		return err
	}
	src, dst := target.paths[0], target.paths[1]
	if strings.HasSuffix(dst.inVolume, "/") {
		dst.inVolume = path.Join(dst.inVolume, path.Base(volumePath(src.inVolume)))
		dst.arg = path.Join(dst.arg, path.Base(src.arg))
	}
	srcPath, dstPath := volumePath(src.inVolume), volumePath(dst.inVolume)
	if dstPath == srcPath || strings.HasPrefix(dstPath, strings.TrimSuffix(srcPath, "/")+"/") {
		return fmt.Errorf("the clone DST path should not be under the SRC path")
	}
	threads := min(max(c.Int("threads"), 1), 255)
	e, _, err := a.openVolumeAt(c, target.metaURL, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	ctx := c.Context
	srcIno, _, err := resolvePath(ctx, e, srcPath, true)
	if err != nil {
		return fmt.Errorf("lookup inode for %s: %s", src.arg, errnoText(err))
	}
	srcParent, _, err := resolvePath(ctx, e, path.Dir(srcPath), true)
	if err != nil {
		return fmt.Errorf("lookup inode for %s: %s", path.Dir(src.arg), errnoText(err))
	}
	dstDir, dstName := path.Split(dstPath)
	dstParent, _, err := resolvePath(ctx, e, dstDir, true)
	if err != nil {
		return fmt.Errorf("lookup inode for %s: %s", path.Dir(dst.arg), errnoText(err))
	}
	if _, _, err := e.Lookup(ctx, dstParent, dstName); err == nil {
		return fmt.Errorf("%s already exists", dst.arg)
	} else if !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("lookup %s: %s", dst.arg, errnoText(err))
	}
	// A session without registration: the directory statistics and quota
	// usage of the copies are flushed as the clone goes.
	if err := e.NewSession(ctx, false); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	prog := a.newProgress()
	prog.Start("Cloning entries", 0)
	caller := meta.WithCaller(ctx, a.caller())
	// The total comes from directory statistics, which may lag behind.
	copied, _, err := e.Clone(caller, srcParent, srcIno, dstParent, dstName, c.Bool("preserve"), a.umask(), threads,
		func(done, total uint64) { prog.Set(int64(done), int64(max(done, total))) })
	prog.Wait()
	if err != nil {
		return fmt.Errorf("clone failed: %s", errnoText(err))
	}
	a.log.Info(fmt.Sprintf("Cloned %s from %s to %s", plural(copied, "entry"), src.arg, dst.arg))
	return nil
}

// cloneTarget reads clone's arguments: META-URL SRC DST, or SRC and DST
// inside a mount (DST need not exist: its directory is resolved).
func (a *app) cloneTarget(c *cli.Context) (*toolTarget, error) {
	args := c.Args().Slice()
	if len(args) != 2 {
		if err := checkArgs(c, 3, 3); err != nil {
			return nil, err
		}
		return &toolTarget{metaURL: args[0], paths: []toolPath{{arg: args[1], inVolume: args[1]}, {arg: args[2], inVolume: args[2]}}}, nil
	}
	srcURL, src, err := a.reachThroughMount(c, args[0])
	if err != nil {
		return nil, err
	}
	dir, name := path.Split(args[1])
	if dir == "" {
		dir = "."
	}
	dstURL, dstDir, err := a.reachThroughMount(c, dir)
	if err != nil {
		return nil, err
	}
	if dstURL != srcURL {
		return nil, errors.New("the clone DST path should be at the same mount point as the SRC path")
	}
	dst := path.Join(dstDir, name)
	if name == "" {
		dst += "/"
	}
	return &toolTarget{metaURL: srcURL, mounted: true, paths: []toolPath{{arg: args[0], inVolume: src}, {arg: args[1], inVolume: dst}}}, nil
}

// caller is the identity of the user running the command, for the tools
// that act for them.
func (a *app) caller() meta.Caller {
	c := meta.Caller{Uid: uint32(os.Getuid()), Gids: []uint32{uint32(os.Getgid())}, Pid: uint32(os.Getpid())}
	if groups, err := os.Getgroups(); err == nil {
		for _, g := range groups {
			if uint32(g) != c.Gids[0] {
				c.Gids = append(c.Gids, uint32(g))
			}
		}
	}
	return c
}
