package meta

import (
	"context"
	"path"
	"sort"
	"sync"

	"github.com/rueidisfs/rueidisfs/codec"
)

// TreeSummary is one node of the tree `summary` prints: a file, or a
// directory with its recursive totals and, down to the requested depth, its
// largest children. The JSON shape is the official client's.
type TreeSummary struct {
	Inode    Ino
	Path     string // relative to the summarised directory ("" for itself)
	Type     codec.FileType
	Size     uint64 // charged space: align4K per node, 4096 per directory
	Files    uint64
	Dirs     uint64
	Children []*TreeSummary `json:",omitempty"`
}

// GetTreeSummary summarises the tree below ino. Directories are listed (with
// attributes) down to depth levels below ino; a directory at the last level
// gets its totals from a recursive summary (strict: entry by entry; else
// from directory statistics). Every directory's totals are the sums of its
// children plus itself. Children are sorted by size, largest first; beyond
// topN they are merged into one node "<dir>/..." of type file. Ties are
// broken by name (the official client leaves their order unspecified).
// progress, when set, receives counts of nodes and bytes as they are seen
// (never concurrently).
func (e *Engine) GetTreeSummary(ctx context.Context, ino Ino, depth, topN uint8, strict bool, progress func(count, bytes uint64)) (*TreeSummary, error) {
	if ino == 0 {
		ino = RootInode
	}
	attr, err := e.GetAttr(ctx, ino)
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(1, 4096)
	}
	root := &TreeSummary{Inode: ino, Type: attr.Typ}
	if attr.Typ != codec.TypeDirectory {
		root.Files = 1
		root.Size = codec.Align4K(attr.Length)
		return root, nil
	}
	root.Dirs, root.Size = 1, 4096
	w := &treeWalk{e: e, topN: int(topN), strict: strict, progress: progress, slots: make(chan struct{}, 50), guard: newTreeGuard()}
	if err := w.fill(ctx, root, int(depth)); err != nil {
		return nil, err
	}
	return root, nil
}

type treeWalk struct {
	e          *Engine
	topN       int
	strict     bool
	progressMu sync.Mutex
	progress   func(count, bytes uint64)
	slots      chan struct{}
	guard      *treeGuard
}

func (w *treeWalk) report(count, bytes uint64) {
	if w.progress != nil {
		w.progressMu.Lock()
		w.progress(count, bytes)
		w.progressMu.Unlock()
	}
}

func (w *treeWalk) fill(ctx context.Context, tree *TreeSummary, depth int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if depth <= 0 {
		a, err := w.e.GetAttr(ctx, tree.Inode)
		if err != nil {
			return err
		}
		sw := w.e.newSummaryWalk(true, w.strict, w.slots, w.guard)
		if err := sw.dir(ctx, tree.Inode, &a); err != nil {
			return err
		}
		s := sw.sum
		w.report(s.Files+s.Dirs, s.Size)
		tree.Dirs += s.Dirs
		tree.Files += s.Files
		tree.Size += s.Size
		return nil
	}
	entries, err := w.e.listEntries(ctx, tree.Inode)
	if err != nil {
		return err
	}
	found := make([]bool, len(entries))
	if err := w.e.readAttrs(ctx, entries, found); err != nil {
		return err
	}
	tree.Children = make([]*TreeSummary, len(entries))
	subdirs := newFanOut(w.slots)
	for i, ent := range entries {
		size := codec.Align4K(ent.Attr.Length) // directories have length 4096
		child := &TreeSummary{Inode: ent.Inode, Path: path.Join(tree.Path, ent.Name), Type: ent.Attr.Typ, Size: size}
		tree.Children[i] = child
		w.report(1, size)
		if ent.Attr.Typ != codec.TypeDirectory {
			child.Files = 1
			continue
		}
		child.Dirs = 1
		if subdirs.failed() || !found[i] {
			continue // a directory without attribute counts as empty
		}
		if err := w.guard.enter(ctx, tree.Inode, ent.Name, ent.Inode, &entries[i].Attr); err != nil {
			subdirs.fail(err)
			break
		}
		subdirs.tryGo(func() error { return ignoreENOENT(w.fill(ctx, child, depth-1)) })
	}
	if err := subdirs.wait(); err != nil {
		return err
	}
	for _, c := range tree.Children {
		tree.Dirs += c.Dirs
		tree.Files += c.Files
		tree.Size += c.Size
	}
	sort.Slice(tree.Children, func(i, j int) bool {
		a, b := tree.Children[i], tree.Children[j]
		if a.Size != b.Size {
			return a.Size > b.Size
		}
		return a.Path < b.Path
	})
	if len(tree.Children) > w.topN {
		rest := &TreeSummary{Path: path.Join(tree.Path, "..."), Type: codec.TypeFile}
		for _, c := range tree.Children[w.topN:] {
			rest.Size += c.Size
			rest.Files += c.Files
			rest.Dirs += c.Dirs
		}
		tree.Children = append(tree.Children[:w.topN:w.topN], rest)
	}
	return nil
}
