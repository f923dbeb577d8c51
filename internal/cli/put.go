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
directory must exist) or truncated and overwritten. When the command
returns, the data is in the object storage and committed: every client of
the volume, rueidisfs or juicefs, reads it.

Examples:
$ rueidisfs put redis://localhost/1 report.csv /data/report.csv
$ tar c src | rueidisfs put redis://localhost/1 - backups/src.tar`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "mode", Value: "0644", Usage: "permissions of a file created (octal; the umask does not apply)"},
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
	file, err := a.createOrTruncate(c, e, d, target, uint16(mode))
	if err != nil {
		a.closeData(d)
		return err
	}
	n, werr := copyIn(c, file, in)
	cerr := file.Close(c.Context)
	if err := errors.Join(werr, cerr, a.closeData(d)); err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	a.log.Info(fmt.Sprintf("Wrote %d bytes to %s", n, volumePath(target)))
	return nil
}

// createOrTruncate opens target for writing, creating it or truncating it
// to zero.
func (a *app) createOrTruncate(c *cli.Context, e *meta.Engine, d *dataPath, target string, mode uint16) (*fileio.File, error) {
	p := volumePath(target)
	dir, name := path.Split(p)
	if name == "" {
		return nil, fmt.Errorf("%s: %s", target, syscall.EISDIR)
	}
	parent, pattr, err := resolvePath(c.Context, e, dir, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", path.Clean(dir), errnoText(err))
	}
	if pattr.Typ != codec.TypeDirectory {
		return nil, fmt.Errorf("%s: %s", path.Clean(dir), syscall.ENOTDIR)
	}
	// Without O_EXCL an existing regular file is opened instead.
	ino, attr, err := e.Create(c.Context, parent, name, mode, 0, 2)
	if err != nil {
		return nil, fmt.Errorf("create %s: %s", p, errnoText(err))
	}
	file := d.fs.Attach(ino, 2)
	if attr.Length > 0 {
		if _, err := file.Truncate(c.Context, 0); err != nil {
			file.Close(c.Context)
			return nil, fmt.Errorf("truncate %s: %s", p, errnoText(err))
		}
	}
	return file, nil
}

// copyIn writes everything in to file from offset 0, in 4 MiB pieces.
func copyIn(c *cli.Context, file *fileio.File, in io.Reader) (int64, error) {
	buf := make([]byte, 4<<20)
	var off int64
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 {
			if _, werr := file.WriteAt(c.Context, buf[:n], off); werr != nil {
				return off, werr
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return off, nil
		}
		if err != nil {
			return off, fmt.Errorf("read input: %w", err)
		}
	}
}
