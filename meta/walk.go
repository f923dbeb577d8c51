package meta

import (
	"context"
	"fmt"
	"sync"
)

// Every walk of the namespace (recursive removal, trash expiry, summaries,
// quota scans, path building) must end, and must not leave the tree it was
// asked to walk, on a damaged volume too: an entry may name the root or an
// ancestor, two directories may name one sub-directory, parent pointers may
// loop. A directory's attribute names its one true parent; a downward walk
// enters a directory only through an entry of that parent, and each
// directory only once (treeGuard); an upward walk stops at a directory it
// saw before or after maxTreeDepth steps (upwardGuard). Both check their
// context at every step.

// maxTreeDepth bounds an upward walk (no path of a real volume is that
// deep: the kernel's paths stop at 4096 bytes).
const maxTreeDepth = 4096

// treeGuard keeps one downward walk a tree. It is safe for concurrent use
// by the walk's goroutines.
type treeGuard struct {
	mu sync.Mutex
	// via maps every directory entered to the entry it was entered
	// through (a walk that lists a directory again enters its
	// sub-directories again, through the same entries).
	via map[Ino]dirEntryName
}

// dirEntryName names a directory entry: name in directory parent.
type dirEntryName struct {
	parent Ino
	name   string
}

func newTreeGuard() *treeGuard { return &treeGuard{via: map[Ino]dirEntryName{}} }

// enter reports whether the walk may go through entry name of directory
// parent into directory child, whose attribute is attr (nil when it is
// missing): only when child's parent is parent, child was not entered
// through another entry, and child is not parent or one of its ancestors
// in the walk. The error wraps ErrNotATree and says what is wrong.
func (g *treeGuard) enter(ctx context.Context, parent Ino, name string, child Ino, attr *Attr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case attr == nil:
		return fmt.Errorf("%w: entry %q of directory %d names directory %d, which has no attribute", ErrNotATree, name, parent, child)
	case attr.Parent != parent:
		return fmt.Errorf("%w: entry %q of directory %d names directory %d, whose parent is %d", ErrNotATree, name, parent, child, attr.Parent)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	ref := dirEntryName{parent, name}
	if prev, ok := g.via[child]; ok && prev != ref {
		return fmt.Errorf("%w: directory %d is named both %q in directory %d and %q in directory %d",
			ErrNotATree, child, prev.name, prev.parent, name, parent)
	}
	for p := parent; ; {
		if p == child {
			return fmt.Errorf("%w: entry %q of directory %d names directory %d, which contains it: a directory cycle", ErrNotATree, name, parent, child)
		}
		up, ok := g.via[p]
		if !ok {
			break
		}
		p = up.parent
	}
	g.via[child] = ref
	return nil
}

// upwardGuard keeps one upward walk (from a node to the root) finite.
type upwardGuard struct {
	seen  map[Ino]bool
	steps int
}

// step reports whether the walk may go on to directory dir.
func (g *upwardGuard) step(ctx context.Context, dir Ino) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if g.seen == nil {
		g.seen = map[Ino]bool{}
	}
	if g.seen[dir] || g.steps >= maxTreeDepth {
		return fmt.Errorf("%w: the parents of directory %d loop or lead nowhere", ErrNotATree, dir)
	}
	g.seen[dir] = true
	g.steps++
	return nil
}
