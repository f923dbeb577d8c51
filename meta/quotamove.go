package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A directory that moves between two quota trees moves the usage of its
// whole tree from one to the other. So that the usage moved is exact while
// other clients write inside the directory, the move counts it under the
// fence, as `quota set` does: mutations inside the directory wait, the tree
// is counted entry by entry, and the rename commits only while the fence is
// still its own, setting the key to "moved <dirs> <token>". (An exchange
// of two directories in different quota trees counts both.) Every client then
// learns the new value before its next accounting mutation commits: it
// reloads the quotas and forgets the ancestry it cached, which the move
// changed.

// errMoveNeedsCount ends a rename transaction that moves a directory
// between quotas without having counted it (see countDirMove).
var errMoveNeedsCount = errors.New("a directory moving between quotas must be counted")

// dirMoveFence is the fence of a directory move between quotas.
type dirMoveFence struct {
	dirs         []Ino // the directories counted
	value, moved string
	stopRenewal  func()
}

// movedDirs are the directories a rename moves between quotas: the node
// moved, and for an exchange the node it swaps with.
func (q *quotaMove) movedDirs() []Ino {
	var dirs []Ino
	if q.active && q.dir {
		dirs = append(dirs, q.ino)
	}
	if q.active && q.targetDir {
		dirs = append(dirs, q.target)
	}
	return dirs
}

// countDirMove takes the fence for the directories rn moves between
// quotas, learns it (the quotas as they are now), and counts the usage the
// move carries. It returns nil when, with the quotas as they are now, no
// directory moves between quotas.
func (e *Engine) countDirMove(ctx context.Context, rn *rename) (*dirMoveFence, error) {
	q, err := e.renameQuotaMove(ctx, rn)
	if err != nil {
		return nil, err
	}
	dirs := q.movedDirs()
	if len(dirs) == 0 {
		return nil, nil
	}
	value, stop, err := e.takeFence(ctx, dirs...)
	if err != nil {
		return nil, err
	}
	f := &dirMoveFence{dirs: dirs, value: value, moved: strings.Replace(value, fenceCounting, "moved ", 1), stopRenewal: stop}
	err = e.learnFence(ctx, value, true)
	if err == nil {
		err = e.countMovedUsage(ctx, rn, f)
	}
	if err != nil {
		f.end(ctx, e, false)
		return nil, err
	}
	return f, nil
}

// countMovedUsage sets rn's quota move to the counted usage of f's
// directories.
func (e *Engine) countMovedUsage(ctx context.Context, rn *rename, f *dirMoveFence) error {
	q, err := e.renameQuotaMove(ctx, rn)
	if err != nil {
		return err
	}
	if !slices.Equal(q.movedDirs(), f.dirs) {
		return errMoveNeedsCount
	}
	if q.active && q.dir {
		if q.space, q.inodes, err = e.countMoved(ctx, q.ino, q.space, q.inodes); err != nil {
			return err
		}
		if err := e.stats.checkDirQuotas(ctx, q.space, q.inodes, rn.dstParent); err != nil {
			return err
		}
	}
	if q.active && q.targetDir {
		if q.tspace, q.tinodes, err = e.countMoved(ctx, q.target, q.tspace, q.tinodes); err != nil {
			return err
		}
	}
	rn.quota = q
	return nil
}

// countMoved counts the usage of directory dir's tree, entry by entry. On a
// damaged tree (fsck moving a cycle away) it keeps the usage its statistics
// gave (space, inodes).
func (e *Engine) countMoved(ctx context.Context, dir Ino, space, inodes int64) (int64, int64, error) {
	sum, err := e.GetSummary(ctx, dir, true, true)
	switch {
	case errors.Is(err, ErrNotATree):
		e.log.Warn(fmt.Sprintf("count the usage of directory %d for its move between quotas: %v", dir, err))
		return space, inodes, nil
	case err != nil:
		return 0, 0, fmt.Errorf("count the usage of directory %d: %w", dir, err)
	}
	return int64(sum.Size), int64(sum.Dirs + sum.Files), nil
}

// end stops the fence's renewal and, unless the move committed (it replaced
// the fence), releases it; after a commit this client learns the new value.
func (f *dirMoveFence) end(ctx context.Context, e *Engine, committed bool) {
	f.stopRenewal()
	ctx = context.WithoutCancel(ctx)
	if !committed {
		e.releaseFence(ctx, f.value)
		return
	}
	if err := e.learnFence(ctx, f.moved, true); err != nil {
		e.log.Warn(err.Error())
	}
}
