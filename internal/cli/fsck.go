package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
)

func (a *app) fsckCommand() *cli.Command {
	return &cli.Command{
		Name:      "fsck",
		Usage:     "Check consistency of a volume",
		ArgsUsage: "META-URL",
		Category:  "ADMIN",
		Description: `Without --path, recounts every counter of the metadata (usage, inodes, link
counts, directory statistics, quotas, slice references) and reports what
differs, then checks that every block of every slice in use exists in the
object storage, as juicefs fsck does, and names the files whose data is
lost. Objects can be checked on a file storage only; on other storages the
metadata is checked alone.

With --repair (and no --path), repairs what the whole-volume check found
and knows how to repair: usage counters, link counts, parent records of hard
links, directory statistics, quota usage, slice references that are not
integers, id counters behind the ids in use, stray entries and wrong parent
fields, directory cycles (reattached as /lost+found-INODE), and junk fields
and members that name nothing. The rest is reported: leaked inodes and chunk
lists are gc's, corrupt attributes, entries and chunk lists need a person.

With --path, walks that path (the whole tree below it with --recursive)
the way juicefs fsck --path does: directories whose attribute is missing,
whose link count or statistics are wrong are reported and, with --repair,
repaired; then the blocks of the files walked are checked. --path /
--recursive --repair --sync-dir-stat also rebuilds the volume's usage
counters.

The exit status is 1 when problems remain.

Examples:
$ rueidisfs fsck redis://localhost/1
$ rueidisfs fsck redis://localhost/1 --repair
$ rueidisfs fsck redis://localhost/1 --path /d1/d2 --recursive
$ rueidisfs fsck redis://localhost/1 --path / --recursive --repair --sync-dir-stat`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "path", Usage: "absolute path within the volume to check"},
			&cli.BoolFlag{Name: "repair", Usage: "repair what is broken below --path (without --path: in the whole volume)"},
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "check (or repair) the whole tree below --path"},
			&cli.BoolFlag{Name: "sync-dir-stat", Usage: "recompute the statistics of every directory checked, even those that look fine (slow for huge trees)"},
			&cli.StringFlag{Name: "repair-dir-mode", Value: "0755", Usage: "permission mode of directory attributes rebuilt by --repair (octal)"},
		},
		Action: a.fsck,
	}
}

func (a *app) fsck(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	ctx := c.Context
	p := c.String("path")
	if p != "" && !strings.HasPrefix(p, "/") {
		return fmt.Errorf("file path %q should be the absolute path within the volume", p)
	}
	mode, err := strconv.ParseUint(c.String("repair-dir-mode"), 8, 16)
	if err != nil || mode > 0o7777 {
		return fmt.Errorf("invalid --repair-dir-mode %q: use an octal permission mode such as 0755", c.String("repair-dir-mode"))
	}
	e, f, err := a.openVolume(c)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	prog := a.newProgress()
	defer prog.Wait()
	var (
		slices   map[meta.Ino][]meta.SliceID
		problems int
	)
	if p != "" {
		if slices, err = a.fsckPath(ctx, e, f, prog, fsck.CheckOptions{Path: p, Recursive: c.Bool("recursive"),
			Repair: c.Bool("repair"), SyncDirStat: c.Bool("sync-dir-stat"), RepairDirMode: uint16(mode)}); err != nil {
			return err
		}
	} else {
		if problems, slices, err = a.fsckVolume(ctx, e, prog, c.Bool("repair")); err != nil {
			return err
		}
	}
	var msgs []string
	if store := a.openStore(f, "objects are not verified, only the metadata"); store != nil {
		lost, err := a.fsckObjects(ctx, e, f, store, prog, slices, p == "")
		if err != nil {
			return err
		}
		if lost != "" {
			msgs = append(msgs, lost)
		}
	}
	if problems > 0 {
		msgs = append(msgs, fmt.Sprintf("%d problems found in the metadata (listed above); "+
			"`fsck --repair` repairs those marked [fsck --repair], `gc --delete` removes leaked inodes and chunk lists, the others need a decision", problems))
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "\n"))
	}
	return nil
}

// fsckPath is fsck --path: the official client's walk, with repairs.
func (a *app) fsckPath(ctx context.Context, e *meta.Engine, f *codec.Format, prog *progress, opts fsck.CheckOptions) (map[meta.Ino][]meta.SliceID, error) {
	if opts.SyncDirStat && !f.DirStats {
		a.log.Warn("dir stats is disabled, flag '--sync-dir-stat' will be ignored")
	}
	if opts.Repair && opts.Recursive && opts.Path == "/" {
		// Directories cut off from the tree in a cycle are reattached
		// first, so that the walk below counts them.
		cycles, err := fsck.ReattachCycles(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("reattach detached directories: %w", err)
		}
		for _, pr := range cycles {
			if pr.Repaired {
				a.log.Info(pr.String())
			} else {
				a.log.Warn(pr.String())
			}
		}
	}
	spin := prog.Spin("Checked nodes", false)
	opts.Progress = func() { spin.Add(1, 0) }
	res, err := fsck.Check(ctx, e, opts)
	spin.Done()
	if res != nil {
		for _, pr := range res.Problems {
			if pr.Repaired {
				a.log.Info(pr.String())
			} else {
				a.log.Warn(pr.String())
			}
		}
		if res.UsedSpace >= 0 {
			a.log.Info(fmt.Sprintf("Volume usage rebuilt: %d bytes, %d inodes", res.UsedSpace, res.UsedInodes))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if prog.p == nil {
		a.log.Info(fmt.Sprintf("Checked %d nodes", res.Counted))
	}
	return res.Slices, nil
}

// fsckVolume is the metadata part of fsck without --path: the recount of
// every counter (with repair, the repair of what it can), then the list of
// every slice in use. It returns how many problems count as failures:
// directory statistics that merely differ from the recount are reported but
// tolerated, as juicefs fsck does not look at their values (clients keep
// them approximately: the official client leaves stale ones behind, as the
// acl-quota fixture shows); missing or negative ones are broken, as for
// juicefs fsck --path.
func (a *app) fsckVolume(ctx context.Context, e *meta.Engine, prog *progress, repair bool) (int, map[meta.Ino][]meta.SliceID, error) {
	rep, err := fsck.Volume(ctx, e, repair)
	if err != nil && !errors.Is(err, fsck.ErrProblems) {
		return 0, nil, fmt.Errorf("check metadata: %w", err)
	}
	failures := 0
	for _, pr := range rep.Problems {
		if pr.Repaired {
			a.log.Info(pr.String())
			continue
		}
		if pr.Kind == "dirstat-orphan" {
			a.log.Warn(fmt.Sprintf("%s (left by a deleted directory; harmless)", pr))
			continue
		}
		if pr.Kind == "dirstat" && pr.Fix != nil && statsPresent(ctx, e, pr.Fix.Ino) {
			hint := "`fsck --path <dir> --repair --sync-dir-stat` refreshes them"
			if ps, err := e.GetPaths(ctx, pr.Fix.Ino); err == nil && len(ps) > 0 {
				hint = fmt.Sprintf("`fsck --path %s --repair --sync-dir-stat` refreshes them", ps[0])
			}
			a.log.Warn(fmt.Sprintf("%s (directory statistics are approximate; %s)", pr, hint))
			continue
		}
		if pr.Fix != nil {
			a.log.Warn(pr.String() + " [fsck --repair]")
		} else {
			a.log.Warn(pr.String())
		}
		failures++
	}
	if prog.p == nil {
		a.log.Info(fmt.Sprintf("Checked %d inodes and %d entries: %d problems", rep.Inodes, rep.Entries, failures))
	}
	// Legacy slice references are moved into sliceRef whenever slices are
	// listed, as the official client does.
	if _, err := e.Cleanup().MigrateLegacyRefs(ctx, false); err != nil {
		return 0, nil, fmt.Errorf("list all slices: %w", err)
	}
	spin := prog.Spin("Listed slices", false)
	sr, err := e.Inspect().Slices(ctx, meta.SliceScan{Progress: func() { spin.Add(1, 0) }})
	spin.Done()
	if err != nil {
		return 0, nil, fmt.Errorf("list all slices: %w", err)
	}
	for _, err := range sr.Corrupt {
		a.log.Error(err.Error())
		failures++
	}
	slices := sr.Used
	if len(sr.Delayed) > 0 {
		slices[fsck.DelayedSlicesIno] = append(slices[fsck.DelayedSlicesIno], sr.Delayed...)
	}
	return failures, slices, nil
}

// statsPresent reports whether the statistics of dir are stored and not
// negative.
func statsPresent(ctx context.Context, e *meta.Engine, dir meta.Ino) bool {
	st, ok, err := e.Inspect().StoredDirStat(ctx, dir)
	return err == nil && ok && st.Length >= 0 && st.Space >= 0 && st.Inodes >= 0
}

// fsckObjects checks the blocks of slices in store and returns the report
// of lost objects ("" when none is lost).
func (a *app) fsckObjects(ctx context.Context, e *meta.Engine, f *codec.Format, store objstore.Store, prog *progress,
	slices map[meta.Ino][]meta.SliceID, listAll bool) (string, error) {
	deleted, err := e.Inspect().DeletedFiles(ctx)
	if err != nil {
		a.log.Warn(fmt.Sprintf("scan deleted objects: %v", err))
	}
	skip := map[meta.Ino]bool{}
	for _, d := range deleted {
		skip[d.Ino] = true
	}
	var found *spinner
	if listAll {
		found = prog.Spin("Found blocks", true)
	}
	scanned := prog.Spin("Scanned slices", true)
	rep, err := fsck.CheckObjects(ctx, e, store, f, slices, fsck.ObjectOptions{
		ListAll:   listAll,
		Skip:      skip,
		CheckSize: (f.Compression == "" || f.Compression == "none") && f.EncryptKey == "",
		OnListed:  func(size int64) { found.Add(1, size) },
		OnSlice:   func(size uint32) { scanned.Add(1, int64(size)) },
	})
	found.Done()
	scanned.Done()
	if err != nil {
		return "", err
	}
	for _, l := range rep.LostBlocks {
		a.log.Error(fmt.Sprintf("can't find block %s for file %s: %v", strings.TrimPrefix(l.Key, objstore.ChunksPrefix), l.Path, l.Err))
	}
	if prog.p == nil {
		a.log.Info(fmt.Sprintf("Found %d blocks (%d bytes)", rep.Found.Count, rep.Found.Bytes))
		a.log.Info(fmt.Sprintf("Used by %d slices (%d bytes)", rep.Slices.Count, rep.Slices.Bytes))
		if rep.SkippedFiles > 0 {
			a.log.Info(fmt.Sprintf("Skipped %d deleted files (%d slices)", rep.SkippedFiles, rep.SkippedSlices))
		}
	}
	if rep.Lost.Count == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d objects are lost (%d bytes), %d broken files:\n%13s: PATH\n%s",
		rep.Lost.Count, rep.Lost.Bytes, len(rep.Broken), "INODE", rep.BrokenList()), nil
}
