package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fileio"
	"github.com/rueidisfs/rueidisfs/meta"
)

func (a *app) putCommand() *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "Copy a local file into a volume",
		ArgsUsage: "META-URL LOCAL-FILE PATH",
		Category:  "TOOL",
		Description: `Writes the content of LOCAL-FILE ("-" for standard input) to PATH (relative
to the volume's root), without a mount: the file is created if needed (its
directory must exist) or truncated and overwritten. With --offset the data
is written at that offset instead and the rest of the file kept (a gap past
the end reads as zeros); --append writes at the end. When the command
returns, the data is in the object storage and committed: every client of
the volume, rueidisfs or juicefs, reads it.

Examples:
$ rueidisfs put redis://localhost/1 report.csv /data/report.csv
$ tar c src | rueidisfs put redis://localhost/1 - backups/src.tar
$ date | rueidisfs put redis://localhost/1 - logs/runs.log --append`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "mode", Value: "0644", Usage: "permissions of a file created (octal; the umask does not apply)"},
			&cli.Int64Flag{Name: "offset", Value: -1, Usage: "write at this byte offset, keeping the rest of the file"},
			&cli.BoolFlag{Name: "append", Usage: "write at the end of the file, keeping its content"},
		}, a.dataFlags(true)...),
		Action: a.put,
	}
}

func (a *app) put(c *cli.Context) error {
	if err := checkArgs(c, 3, 3); err != nil {
		return err
	}
	local, target := c.Args().Get(1), c.Args().Get(2)
	var mode uint64
	if _, err := fmt.Sscanf(c.String("mode"), "%o", &mode); err != nil || mode > 0o7777 {
		return fmt.Errorf("invalid value %q for --mode: not an octal permission", c.String("mode"))
	}
	in := io.Reader(a.stdin)
	if local != "-" {
		lf, err := os.Open(local)
		if err != nil {
			return err
		}
		defer lf.Close()
		in = lf
	}
	e, d, err := a.openDataVolume(c, false)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	if err := e.NewSession(c.Context, true); err != nil {
		a.closeData(d)
		return fmt.Errorf("create session: %w", err)
	}
	off, keep := c.Int64("offset"), c.Bool("append") || c.Int64("offset") >= 0
	if c.Bool("append") && off >= 0 {
		a.closeData(d)
		return errors.New("--offset and --append exclude each other")
	}
	file, length, err := a.openTarget(c, e, d, target, uint16(mode), keep)
	if err != nil {
		a.closeData(d)
		return err
	}
	if c.Bool("append") {
		off = int64(length)
	}
	n, werr := copyIn(c, file, in, max(off, 0))
	cerr := file.Close(c.Context)
	if err := errors.Join(werr, cerr, a.closeData(d)); err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	a.log.Info(fmt.Sprintf("Wrote %d bytes to %s", n, volumePath(target)))
	return nil
}

// openTarget opens target for writing, creating it, and truncating it to
// zero unless keep. It returns the file's length (after truncation).
func (a *app) openTarget(c *cli.Context, e *meta.Engine, d *dataPath, target string, mode uint16, keep bool) (*fileio.File, uint64, error) {
	p := volumePath(target)
	dir, name := path.Split(p)
	if name == "" {
		return nil, 0, fmt.Errorf("%s: %s", target, syscall.EISDIR)
	}
	parent, pattr, err := resolvePath(c.Context, e, dir, true)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %s", path.Clean(dir), errnoText(err))
	}
	if pattr.Typ != codec.TypeDirectory {
		return nil, 0, fmt.Errorf("%s: %s", path.Clean(dir), syscall.ENOTDIR)
	}
	// Without O_EXCL an existing regular file is opened instead.
	ino, attr, err := e.Create(c.Context, parent, name, mode, 0, 2)
	if err != nil {
		return nil, 0, fmt.Errorf("create %s: %s", p, errnoText(err))
	}
	file := d.fs.Attach(ino, 2)
	if attr.Length > 0 && !keep {
		if _, err := file.Truncate(c.Context, 0); err != nil {
			file.Close(c.Context)
			return nil, 0, fmt.Errorf("truncate %s: %s", p, errnoText(err))
		}
		attr.Length = 0
	}
	return file, attr.Length, nil
}

// copyIn writes everything in to file from offset start, in 4 MiB pieces,
// and returns how many bytes it wrote.
func copyIn(c *cli.Context, file *fileio.File, in io.Reader, start int64) (int64, error) {
	buf := make([]byte, 4<<20)
	off := start
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 {
			if _, werr := file.WriteAt(c.Context, buf[:n], off); werr != nil {
				return off - start, werr
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return off - start, nil
		}
		if err != nil {
			return off - start, fmt.Errorf("read input: %w", err)
		}
	}
}
