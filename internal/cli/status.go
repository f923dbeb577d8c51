package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func (a *app) statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Category:  "INSPECTOR",
		Usage:     "Show the status of a volume",
		ArgsUsage: "META-URL",
		Description: `Prints, as JSON, the volume format (secrets removed), the sessions of the
clients using the volume (mounts, gateways, SDK users; read-only clients
register none) and the space and inodes used and available.

Examples:
  rueidisfs status redis://localhost:6379/1
  rueidisfs status redis://localhost:6379/1 --more
  rueidisfs status redis://localhost:6379/1 --session 3`,
		Flags: []cli.Flag{
			&cli.Uint64Flag{Name: "session", Aliases: []string{"s"}, Usage: "print only the session with this id, with its sustained inodes and locks"},
			&cli.BoolFlag{Name: "more", Aliases: []string{"m"}, Usage: "also count the files and slices waiting in the trash or for deletion (reads the whole trash)"},
		},
		Action: a.status,
	}
}

// statusStat is the "Stat" section of `status`, as juicefs prints it.
type statusStat struct {
	UsedSpace                uint64
	AvailableSpace           uint64
	UsedInodes               uint64
	AvailableInodes          uint64
	TrashFileCount           int64 `json:",omitempty"`
	TrashFileSize            int64 `json:",omitempty"`
	PendingDeletedFileCount  int64 `json:",omitempty"`
	PendingDeletedFileSize   int64 `json:",omitempty"`
	TrashSliceCount          int64 `json:",omitempty"`
	TrashSliceSize           int64 `json:",omitempty"`
	PendingDeletedSliceCount int64 `json:",omitempty"`
	PendingDeletedSliceSize  int64 `json:",omitempty"`
}

// statusOutput is the whole output of `status`.
type statusOutput struct {
	Setting  *codec.Format
	Sessions []*meta.Session
	Stat     *statusStat
}

func (a *app) status(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	e, err := a.openEngine(c, meta.Options{ReadOnly: true, NoBackgroundJobs: true})
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	ctx := c.Context
	if sid := c.Uint64("session"); sid != 0 {
		s, err := e.Inspect().Session(ctx, sid, true)
		if err != nil {
			return fmt.Errorf("get session: %w", err)
		}
		return a.printJSON(s)
	}
	f, err := e.Load(ctx, true)
	if err != nil {
		return fmt.Errorf("load setting: %w", err)
	}
	sessions, err := e.Inspect().Sessions(ctx)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	if sessions == nil {
		sessions = []*meta.Session{}
	}
	st := e.StatFS(ctx, meta.RootInode)
	stat := &statusStat{
		UsedSpace:       st.TotalSpace - st.AvailSpace,
		AvailableSpace:  st.AvailSpace,
		UsedInodes:      st.UsedInodes,
		AvailableInodes: st.AvailInodes,
	}
	if c.Bool("more") {
		d, err := e.Inspect().DeletedObjects(ctx)
		if err != nil {
			return fmt.Errorf("statistic: %w", err)
		}
		stat.TrashFileCount, stat.TrashFileSize = d.TrashFileCount, d.TrashFileSize
		stat.PendingDeletedFileCount, stat.PendingDeletedFileSize = d.PendingDeletedFileCount, d.PendingDeletedFileSize
		stat.TrashSliceCount, stat.TrashSliceSize = d.TrashSliceCount, d.TrashSliceSize
		stat.PendingDeletedSliceCount, stat.PendingDeletedSliceSize = d.PendingDeletedSliceCount, d.PendingDeletedSliceSize
	}
	return a.printJSON(statusOutput{Setting: f.WithoutSecrets(), Sessions: sessions, Stat: stat})
}
