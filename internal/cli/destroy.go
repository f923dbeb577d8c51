package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore/volstore"
)

func (a *app) destroyCommand() *cli.Command {
	return &cli.Command{
		Name:      "destroy",
		Category:  "ADMIN",
		Usage:     "Destroy a volume",
		ArgsUsage: "META-URL UUID",
		Description: `Deletes every object of the volume from its data storage (everything below
NAME/ in the bucket), then every key of the volume from its Redis database
(FLUSHDB; in a Redis Cluster, every key with the volume's {DB} prefix). UUID
must be the volume's UUID (see "status"). Unless --force is given, the
command refuses while clients are connected and asks for confirmation; a
bucket that does not exist stops it, unless --force skips the objects.
Objects of storage types rueidisfs cannot reach (it reaches file, s3 and
minio) are left in place, with a warning.

WARNING: this cannot be undone.

Examples:
  rueidisfs destroy redis://localhost:6379/1 e94d66a8-2339-4abd-b8d8-6812df737892`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation (needed when standard input is not a terminal)"},
			&cli.BoolFlag{Name: "force", Usage: "skip the checks: destroy even while clients are connected, without confirmation"},
		},
		Action: a.destroy,
	}
}

func (a *app) destroy(c *cli.Context) error {
	if err := checkArgs(c, 2, 2); err != nil {
		return err
	}
	e, f, err := a.openVolume(c)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	ctx := c.Context
	if id := c.Args().Get(1); id != f.UUID {
		return fmt.Errorf("UUID %q != expected %q", id, f.UUID)
	}
	store, err := a.openObjects(f)
	if err != nil && !errors.Is(err, volstore.ErrUnsupported) {
		return fmt.Errorf("object storage: %w", err)
	}
	storage := dataStorage(f)
	if store != nil {
		storage = store.String()
	}
	if !c.Bool("force") {
		e.Cleanup().CleanStaleSessions(ctx)
		sessions, err := e.Inspect().Sessions(ctx)
		if err != nil {
			return fmt.Errorf("list sessions: %w", err)
		}
		if n := len(sessions); n > 0 {
			rows := make([][3]string, n)
			for i, s := range sessions {
				rows[i] = [3]string{strconv.FormatUint(s.Sid, 10), s.HostName, s.MountPoint}
			}
			verb := "are"
			if n == 1 {
				verb = "is"
			}
			return fmt.Errorf("%s %s active, please disconnect them first:\n%s", plural(n, "session"), verb, sessionTable(rows))
		}
		st := e.StatFS(ctx, meta.RootInode)
		fmt.Fprintf(a.stdout, " volume name: %s\n", f.Name)
		fmt.Fprintf(a.stdout, " volume UUID: %s\n", f.UUID)
		fmt.Fprintf(a.stdout, "data storage: %s\n", storage)
		fmt.Fprintf(a.stdout, "  used bytes: %d\n", st.TotalSpace-st.AvailSpace)
		fmt.Fprintf(a.stdout, " used inodes: %d\n", st.UsedInodes)
		a.warn("The target volume will be permanently destroyed, including:")
		if store != nil {
			a.warn("1. ALL objects in the data storage: %s", storage)
		} else {
			a.warn("1. NOT the objects in the data storage %s: %v", storage, err)
		}
		a.warn("2. ALL entries in the metadata engine: %s", e.URL().Redacted())
		if err := a.confirm(ctx, c.Bool("yes")); err != nil {
			return err
		}
	}
	if store == nil {
		a.log.Warn(fmt.Sprintf("The objects in the data storage %s are not deleted: %v", storage, err))
	} else if err := a.destroyObjects(ctx, store, c.Bool("force")); err != nil {
		return err
	}
	if err := e.Reset(ctx); err != nil {
		return fmt.Errorf("reset meta: %w", err)
	}
	a.log.Info("The volume has been destroyed!")
	return nil
}

// sessionTable draws the sessions as juicefs does:
//
//	+-----+----------+------------+
//	| SID | HostName | MountPoint |
//	+-----+----------+------------+
//	|   3 |    host1 |  /mnt/jfs  |
func sessionTable(rows [][3]string) string {
	header := [3]string{"SID", "HostName", "MountPoint"}
	var width [3]int
	for i, h := range header {
		width[i] = len(h)
	}
	for _, r := range rows {
		for i, s := range r {
			width[i] = max(width[i], len(s))
		}
	}
	var b strings.Builder
	rule := func() {
		for _, w := range width {
			b.WriteString("+" + strings.Repeat("-", w+2))
		}
		b.WriteString("+\n")
	}
	line := func(cells [3]string, right bool) {
		for i, s := range cells {
			pad := strings.Repeat(" ", width[i]-len(s))
			if right {
				b.WriteString("| " + pad + s + " ")
			} else {
				b.WriteString("| " + s + pad + " ")
			}
		}
		b.WriteString("|\n")
	}
	rule()
	line(header, false)
	rule()
	for _, r := range rows {
		line(r, true)
	}
	rule()
	return b.String()
}
