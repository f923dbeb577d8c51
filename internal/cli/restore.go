package cli

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func (a *app) restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "Restore files from the trash",
		ArgsUsage: "META-URL HOUR...",
		Category:  "ADMIN",
		Description: `Brings back what was removed into the trash during each HOUR, the name of a
trash directory (YYYY-MM-DD-HH, in UTC; "rueidisfs summary META-URL /.trash
--depth 1" lists them), as juicefs restore does. Every entry of the trash is
named PARENT-INODE-NAME after where it was.

Without --put-back the trees removed that hour are rebuilt inside the trash:
an entry whose directory was removed the same hour goes back into that
directory (still in the trash); the others are counted as "need-put-back".
With --put-back every entry goes back to its original directory under its
original name. An entry whose name is taken there is left in the trash and
counted as a conflict. Only root may restore.

Examples:
$ rueidisfs restore redis://localhost/1 2026-05-10-01
$ rueidisfs restore redis://localhost/1 2026-05-10-01 2026-05-10-02 --put-back`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "put-back", Usage: "move the entries back into their original directories"},
			&cli.IntFlag{Name: "threads", Value: 10, Usage: "number of entries restored in parallel"},
		},
		Action: a.restore,
	}
}

func (a *app) restore(c *cli.Context) error {
	if err := checkArgs(c, 2, -1); err != nil {
		return err
	}
	if !a.isRoot {
		return errors.New("only root can restore files from trash")
	}
	hours := c.Args().Slice()[1:]
	for _, h := range hours {
		if _, ok := codec.ParseTrashHourName(h); !ok {
			return fmt.Errorf("invalid hour %q: give the name of a trash directory, YYYY-MM-DD-HH in UTC (`%s summary META-URL /.trash --depth 1` lists them)", h, a.name)
		}
	}
	e, _, err := a.openVolume(c)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	threads := max(c.Int("threads"), 1)
	var failed []string
	for _, h := range hours {
		if err := a.restoreHour(c, e, h, c.Bool("put-back"), threads); err != nil {
			if len(hours) == 1 {
				return err
			}
			a.log.Error(err.Error())
			failed = append(failed, h)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d hours could not be restored: %s (see the errors above)", len(failed), len(hours), strings.Join(failed, ", "))
	}
	return nil
}

// restoreTally counts the outcomes of one hour's entries.
type restoreTally struct {
	done, skipped, conflicts, failed atomic.Int64
}

// restoreHour restores the entries of one trash hour directory.
func (a *app) restoreHour(c *cli.Context, e *meta.Engine, hour string, putBack bool, threads int) error {
	ctx := c.Context
	// A session without registration, as juicefs restore uses: pending
	// directory statistics are flushed as it goes.
	if err := e.NewSession(ctx, false); err != nil {
		a.log.Warn(fmt.Sprintf("running without a session: %v", err))
	} else {
		defer e.CloseSession(ctx)
	}
	a.log.Info(fmt.Sprintf("restore files in %q ...", hour))
	dir, attr, err := e.Lookup(ctx, meta.TrashInode, hour)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("no directory %q in the trash%s", hour, a.trashHours(c, e))
		}
		return fmt.Errorf("lookup %q: %s", hour, errnoText(err))
	}
	if attr.Typ != codec.TypeDirectory {
		return fmt.Errorf("%q in the trash is not a directory", hour)
	}
	entries, err := e.Readdir(ctx, dir, false)
	if err != nil {
		return fmt.Errorf("list %q: %s", hour, errnoText(err))
	}
	entries = entries[2:] // "." and ".."
	// Shuffled, as juicefs does: concurrent renames into one directory
	// conflict less.
	rand.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	removedDirs := map[meta.Ino]bool{}
	if !putBack {
		for _, ent := range entries {
			if ent.Attr.Typ == codec.TypeDirectory {
				removedDirs[ent.Inode] = true
			}
		}
	}
	prog := a.newProgress()
	label := "rebuilt"
	if putBack {
		label = "restored"
	}
	prog.Start(label, len(entries))
	var tally restoreTally
	todo := make(chan meta.Entry)
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ent := range todo {
				a.restoreEntry(c, e, dir, ent, putBack, removedDirs, &tally)
				prog.Increment()
			}
		}()
	}
	for _, ent := range entries {
		todo <- ent
	}
	close(todo)
	wg.Wait()
	prog.Wait()
	summary := fmt.Sprintf("%s %d", label, tally.done.Load())
	if !putBack {
		summary += fmt.Sprintf(", need-put-back %d", tally.skipped.Load())
	}
	a.log.Info(fmt.Sprintf("%s: %s, conflicts %d, failed %d", hour, summary, tally.conflicts.Load(), tally.failed.Load()))
	return nil
}

// restoreEntry renames one trash entry back, when it should go back.
func (a *app) restoreEntry(c *cli.Context, e *meta.Engine, dir meta.Ino, ent meta.Entry, putBack bool, removedDirs map[meta.Ino]bool, t *restoreTally) {
	parent, _, name, ok := codec.ParseTrashEntryName(ent.Name)
	if !ok || name == "" {
		a.log.Warn(fmt.Sprintf("restore %s: invalid trash entry", ent.Name))
		t.failed.Add(1)
		return
	}
	if !putBack && !removedDirs[parent] {
		t.skipped.Add(1)
		return
	}
	_, _, err := e.Rename(c.Context, dir, ent.Name, parent, name, codec.RenameNoReplace|codec.RenameRestore)
	switch {
	case err == nil:
		t.done.Add(1)
	case errors.Is(err, syscall.EEXIST):
		a.log.Warn(fmt.Sprintf("restore %s: target already exists", ent.Name))
		t.conflicts.Add(1)
	default:
		a.log.Warn(fmt.Sprintf("restore %s: %s", ent.Name, errnoText(err)))
		t.failed.Add(1)
	}
}

// trashHours lists the hour directories of the trash for a message, most
// recent last ("; the trash holds 2026-05-10-01, 2026-05-10-02").
func (a *app) trashHours(c *cli.Context, e *meta.Engine) string {
	entries, err := e.Readdir(c.Context, meta.TrashInode, false)
	if err != nil || len(entries) <= 2 {
		return "; the trash is empty"
	}
	var hours []string
	for _, ent := range entries[2:] {
		hours = append(hours, ent.Name)
	}
	sort.Strings(hours)
	if len(hours) > 6 {
		hours = append(hours[:3], append([]string{"..."}, hours[len(hours)-3:]...)...)
	}
	return "; the trash holds " + strings.Join(hours, ", ")
}
