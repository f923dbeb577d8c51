package fsck

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// repairAll applies the repairs of rep's problems (only the structural
// ones with structural) in repairOrder and reports whether one was
// applied.
func repairAll(ctx context.Context, e *meta.Engine, rep *Report, structural bool) (applied bool) {
	idx := make([]int, 0, len(rep.Problems))
	for i, p := range rep.Problems {
		if p.Fix != nil && (!structural || p.Fix.structural()) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return repairOrder[rep.Problems[idx[a]].Fix.Action] < repairOrder[rep.Problems[idx[b]].Fix.Action]
	})
	for _, i := range idx {
		p := &rep.Problems[i]
		if err := applyFix(ctx, e, p.Fix); err != nil {
			p.Detail += fmt.Sprintf("; repair failed: %v", err)
			continue
		}
		p.Repaired = true
		applied = true
	}
	return applied
}

// maxStructuralRounds bounds the rounds of structural repairs (one can
// reveal another: a stray entry dropped leaves a cycle no path reaches).
const maxStructuralRounds = 5

// repairOrder: links first (they do not depend on anything else), then the
// per-directory and per-quota values, the volume counters last.
var repairOrder = map[FixAction]int{
	FixNlink: 0, FixParentCount: 0,
	FixDirStat: 1, FixDropDirStat: 1,
	FixDirQuota: 2, FixUserQuota: 2, FixGroupQuota: 2,
	FixUsedSpace: 3, FixTotalInodes: 3,
	// Junk first (it names nothing), the id counters any time.
	FixDropField: -4, FixDropMember: -4, FixDropLiveDeletion: -4, FixNextInode: 0, FixNextSlice: 0, FixSliceRef: 0,
	// The tree first, in rounds of their own (see Volume): stray entries,
	// then parent fields, then cycles no path reaches.
	FixDropEntry: -3, FixParent: -2, FixReattach: -1,
}

// Volume checks the whole volume (`fsck` without --path): everything the
// recount compares (counters, link counts, parent tracking of hard links,
// directory statistics, quota usage, slice references) plus dangling
// entries and leaked keys. With repair, the problems that can be repaired
// safely get the recounted value stored: volume counters, directory
// statistics, link counts, p{ino} counts and quota usage. Dangling entries,
// leaked inodes and chunks, orphan keys and wrong slice references are only
// reported (`gc` deals with leaks). The volume should be quiet: values
// changed by clients between the recount and a repair are left alone.
//
// User and group usage is recounted the way the engine maintains it (every
// node type charged); `quota check` uses the official client's scan rules
// instead (symlinks and special files not counted).
//
// The error is ErrProblems when problems remain.
func Volume(ctx context.Context, e *meta.Engine, repair bool) (*Report, error) {
	e.Sync(ctx)
	f, err := e.Load(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("load meta format: %w", err)
	}
	opts := Options{SkipDirStats: !f.DirStats}
	rep, err := Recount(ctx, e.Client(), e.Keys(), opts)
	if err != nil {
		return nil, err
	}
	if repair {
		// Repairs of the tree change the counts the other repairs are
		// computed from: count again after each round of them.
		var structural []Problem
		for round := 0; round < maxStructuralRounds && repairAll(ctx, e, rep, true); round++ {
			for _, p := range rep.Problems {
				if p.Fix != nil && p.Fix.structural() {
					structural = append(structural, p)
				}
			}
			e.Sync(ctx)
			if rep, err = Recount(ctx, e.Client(), e.Keys(), opts); err != nil {
				return nil, err
			}
		}
		repairAll(ctx, e, rep, false)
		rep.Problems = append(structural, rep.Problems...)
	}
	for _, p := range rep.Problems {
		if !p.Repaired {
			return rep, ErrProblems
		}
	}
	return rep, nil
}

func applyFix(ctx context.Context, e *meta.Engine, f *Fix) error {
	v := f.Values
	r := e.Repair()
	switch f.Action {
	case FixUsedSpace:
		return r.VolumeCounters(ctx, v[0], -1)
	case FixTotalInodes:
		return r.VolumeCounters(ctx, -1, v[0])
	case FixNlink:
		return r.Nlink(ctx, f.Ino, uint32(f.Old), uint32(v[0]))
	case FixParentCount:
		return r.ParentCount(ctx, f.Ino, f.Parent, v[0])
	case FixDirStat:
		return r.DirStat(ctx, f.Ino, meta.DirStat{Length: v[0], Space: v[1], Inodes: v[2]})
	case FixDropDirStat:
		return r.DropDirStat(ctx, f.Ino)
	case FixDirQuota:
		err := r.QuotaUsage(ctx, meta.QuotaDir, uint64(f.Ino), v[0], v[1])
		if errors.Is(err, syscall.ENOENT) {
			return nil // the quota was deleted meanwhile
		}
		return err
	case FixUserQuota:
		return r.QuotaUsage(ctx, meta.QuotaUser, f.ID, v[0], v[1])
	case FixGroupQuota:
		return r.QuotaUsage(ctx, meta.QuotaGroup, f.ID, v[0], v[1])
	case FixDropEntry:
		return r.DropStrayEntry(ctx, f.Parent, f.Name, f.Ino)
	case FixParent:
		return r.Parent(ctx, f.Ino, meta.Ino(f.Old), meta.Ino(v[0]))
	case FixDropField:
		return r.DropCorruptField(ctx, f.Key, f.Name, f.Value)
	case FixDropMember:
		return r.DropCorruptMember(ctx, f.Key, f.Name)
	case FixDropLiveDeletion:
		return r.DropLiveDeletion(ctx, f.Name)
	case FixNextInode:
		return r.RaiseNextInode(ctx, uint64(v[0]))
	case FixNextSlice:
		return r.RaiseNextSlice(ctx, uint64(v[0]))
	case FixSliceRef:
		return r.SliceRef(ctx, f.ID, uint32(v[1]), f.Value, v[0])
	case FixReattach:
		_, _, err := e.Rename(ctx, f.Parent, f.Name, meta.RootInode, fmt.Sprintf("lost+found-%d", f.Ino), codec.RenameNoReplace)
		return err
	}
	return fmt.Errorf("unknown repair %d", f.Action)
}
