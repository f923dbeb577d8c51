package cli

import (
	"bufio"
	"fmt"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
)

func (a *app) catCommand() *cli.Command {
	return &cli.Command{
		Name:      "cat",
		Usage:     "Print the content of files of a volume",
		ArgsUsage: "META-URL PATH...",
		Category:  "TOOL",
		Description: `Reads each PATH (relative to the volume's root) from the object storage,
without a mount, and writes its content to standard output, one after the
other. Symbolic links are followed. Data is read exactly as a mount reads
it: a missing or corrupt object fails the command with the object's name.

Examples:
$ rueidisfs cat redis://localhost/1 /data/report.csv
$ rueidisfs cat redis://localhost/1 logs/a.log logs/b.log | wc -l`,
		Flags:  a.dataFlags(true),
		Action: a.cat,
	}
}

func (a *app) cat(c *cli.Context) error {
	if err := checkArgs(c, 2, -1); err != nil {
		return err
	}
	e, d, err := a.openDataVolume(c, true)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	defer a.closeData(d)
	out := bufio.NewWriterSize(a.stdout, 1<<20)
	for _, p := range c.Args().Slice()[1:] {
		ino, attr, err := resolvePath(c.Context, e, p, true)
		if err != nil {
			return fmt.Errorf("%s: %s", p, errnoText(err))
		}
		if attr.Typ != codec.TypeFile {
			return fmt.Errorf("%s: %s", p, catTypeError(attr.Typ))
		}
		file, _, err := d.fs.Open(c.Context, ino, 0)
		if err != nil {
			return fmt.Errorf("%s: %s", p, errnoText(err))
		}
		_, err = file.WriteTo(c.Context, out, 4<<20)
		file.Close(c.Context)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return out.Flush()
}

func catTypeError(t codec.FileType) error {
	if t == codec.TypeDirectory {
		return syscall.EISDIR
	}
	return syscall.EINVAL
}
