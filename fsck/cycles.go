package fsck

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// checkCycles finds directories that no path from the root reaches because
// their parents lead back to themselves: each is named inside another of
// them (a rename by a client that checks only the destination's parent,
// racing with another, can leave that). Every such cycle is reported once,
// with the repair that reattaches it: its lowest inode is moved out of the
// cycle to the root, as lost+found-<inode>, with all that is below.
func (s *snapshot) checkCycles(rep *Report, nodes map[codec.Ino]*node) {
	reached := map[codec.Ino]bool{}
	stack := []codec.Ino{codec.RootInode, codec.TrashInode}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if reached[d] {
			continue
		}
		reached[d] = true
		if n := nodes[d]; n != nil {
			stack = append(stack, n.children...)
		}
	}
	inCycle := map[codec.Ino]bool{}
	for ino, n := range nodes {
		if reached[ino] || inCycle[ino] || !n.hasAttr || n.attr.Typ != codec.TypeDirectory || n.names == 0 {
			continue
		}
		if cycle := s.cycleAbove(ino, nodes); cycle != nil {
			for _, c := range cycle {
				inCycle[c] = true
			}
			s.reportCycle(rep, cycle, nodes, reached)
		}
	}
}

// cycleAbove follows the parents of ino and returns the directories of the
// cycle it runs into, if any (nil when the walk ends elsewhere).
func (s *snapshot) cycleAbove(ino codec.Ino, nodes map[codec.Ino]*node) []codec.Ino {
	var path []codec.Ino
	at := map[codec.Ino]int{}
	for cur := ino; ; {
		if i, ok := at[cur]; ok {
			return path[i:]
		}
		n := nodes[cur]
		if n == nil || !n.hasAttr || cur == codec.RootInode || cur == codec.TrashInode {
			return nil
		}
		at[cur] = len(path)
		path = append(path, cur)
		cur = n.attr.Parent
	}
}

// reportCycle reports one cycle, with the nodes below it, and the repair.
func (s *snapshot) reportCycle(rep *Report, cycle []codec.Ino, nodes map[codec.Ino]*node, reached map[codec.Ino]bool) {
	slices.Sort(cycle)
	below := 0
	seen := map[codec.Ino]bool{}
	stack := append([]codec.Ino(nil), cycle...)
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[d] || reached[d] {
			continue
		}
		seen[d] = true
		below++
		if n := nodes[d]; n != nil {
			stack = append(stack, n.children...)
		}
	}
	names := make([]string, len(cycle))
	for i, c := range cycle {
		names[i] = c.String()
	}
	top := cycle[0]
	parent := nodes[top].attr.Parent
	name := ""
	for n, ent := range s.dirs[parent] {
		if ent.Inode == top {
			name = n
			break
		}
	}
	detail := fmt.Sprintf("directories %s are inside each other; no path from the root reaches them or the %d nodes below them (repair: move inode %d to /lost+found-%d)",
		strings.Join(names, ", "), below-len(cycle), top, top)
	if name == "" {
		rep.add(KindCycle, s.keys.Inode(top), "%s", detail)
		return
	}
	rep.addFix(Fix{Action: FixReattach, Ino: top, Parent: parent, Name: name}, KindCycle, s.keys.Inode(top), "%s", detail)
}

// ReattachCycles finds the cycles of directories no path from the root
// reaches (see KindCycle) and moves one directory of each to the root, as
// lost+found-<inode>, with everything below it. It returns the problems
// found, repaired or not; counts the moves change are left to the other
// repairs (`fsck --path / --recursive --repair --sync-dir-stat`).
func ReattachCycles(ctx context.Context, e *meta.Engine) ([]Problem, error) {
	rep, err := Recount(ctx, e.Client(), e.Keys(), Options{SkipDirStats: true})
	if err != nil {
		return nil, err
	}
	var out []Problem
	for _, p := range rep.Problems {
		if p.Kind != KindCycle {
			continue
		}
		if p.Fix != nil {
			if err := applyFix(ctx, e, p.Fix); err != nil {
				p.Detail += fmt.Sprintf("; repair failed: %v", err)
			} else {
				p.Repaired = true
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// checkCrossLinks finds entries naming a directory that lives elsewhere:
// the root or the trash root, or a directory whose parent (which names it
// too) is another directory. Such an entry makes the tree a graph: a walk
// through it reaches the directory twice, or loops (an entry naming the
// root or an ancestor). The repair deletes the stray entry; the directory
// stays where its parent has it.
func (s *snapshot) checkCrossLinks(rep *Report, nodes map[codec.Ino]*node) {
	for dir, entries := range s.dirs {
		for name, ent := range entries {
			cn := nodes[ent.Inode]
			if !s.stray(dir, ent.Inode, cn) {
				continue
			}
			rep.addFix(Fix{Action: FixDropEntry, Ino: ent.Inode, Parent: dir, Name: name}, KindCrossLink,
				s.keys.Entries(dir)+" "+strconv.Quote(name), "names directory %d, which lives in %d (repair: delete this entry)", ent.Inode, cn.attr.Parent)
		}
	}
}

// stray reports whether an entry of dir naming ino (node cn) is a stray
// name: the rule of meta.Inspector.StrayEntry on the snapshot.
func (s *snapshot) stray(dir, ino codec.Ino, cn *node) bool {
	if ino == codec.RootInode || ino == codec.TrashInode {
		return true
	}
	if cn == nil || !cn.hasAttr || cn.attr.Typ != codec.TypeDirectory || cn.attr.Parent == dir {
		return false
	}
	return s.names(cn.attr.Parent, ino)
}

// names reports whether directory dir has an entry naming ino.
func (s *snapshot) names(dir, ino codec.Ino) bool {
	for _, ent := range s.dirs[dir] {
		if ent.Inode == ino {
			return true
		}
	}
	return false
}
