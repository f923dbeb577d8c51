package meta_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/gc"
	"github.com/rueidisfs/rueidisfs/meta"
)

// graph is a random namespace, possibly damaged: directories with parent
// pointers and entries that need not agree, files, dangling entries.
type graph struct {
	dirs    []meta.Ino            // directories with an attribute (the root first)
	parent  map[meta.Ino]meta.Ino // parent field of every directory
	entries map[meta.Ino]map[string]codec.Entry
	files   []meta.Ino
}

// randomGraph builds a tree of n directories with files, then damages it:
// cross-links (entries naming the root, an ancestor or any directory),
// directories moved under their own descendants (detached cycles), parent
// pointers that lie, dangling entries.
func randomGraph(r *rand.Rand, n int) *graph {
	g := &graph{parent: map[meta.Ino]meta.Ino{meta.RootInode: meta.RootInode}, entries: map[meta.Ino]map[string]codec.Entry{}}
	g.dirs = append(g.dirs, meta.RootInode)
	add := func(dir meta.Ino, name string, ent codec.Entry) {
		if g.entries[dir] == nil {
			g.entries[dir] = map[string]codec.Entry{}
		}
		g.entries[dir][name] = ent
	}
	next := meta.Ino(1000)
	for i := 0; i < n; i++ {
		p := g.dirs[r.IntN(len(g.dirs))]
		next++
		g.dirs = append(g.dirs, next)
		g.parent[next] = p
		add(p, "d"+strconv.Itoa(i), codec.Entry{Typ: codec.TypeDirectory, Inode: next})
		for j := 0; j < r.IntN(3); j++ {
			next++
			g.files = append(g.files, next)
			add(next-meta.Ino(j)-1, "f"+strconv.Itoa(j), codec.Entry{Typ: codec.TypeFile, Inode: next})
		}
	}
	for k := 0; k < 1+r.IntN(4); k++ {
		d := g.dirs[r.IntN(len(g.dirs))]
		switch r.IntN(4) {
		case 0: // an entry naming a directory that lives elsewhere
			add(d, "x"+strconv.Itoa(k), codec.Entry{Typ: codec.TypeDirectory, Inode: g.dirs[r.IntN(len(g.dirs))]})
		case 1: // a directory moved under one of its descendants
			if d == meta.RootInode {
				continue
			}
			sub := g.dirs[r.IntN(len(g.dirs))]
			for name, ent := range g.entries[g.parent[d]] {
				if ent.Inode == d {
					delete(g.entries[g.parent[d]], name)
				}
			}
			add(sub, "m"+strconv.Itoa(k), codec.Entry{Typ: codec.TypeDirectory, Inode: d})
			g.parent[d] = sub
		case 2: // a parent pointer that lies
			if d != meta.RootInode {
				g.parent[d] = g.dirs[r.IntN(len(g.dirs))]
			}
		case 3: // a dangling entry
			add(d, "ghost"+strconv.Itoa(k), codec.Entry{Typ: codec.FileType(1 + r.IntN(2)), Inode: 900000 + meta.Ino(k)})
		}
	}
	return g
}

// store writes the graph into the (formatted) volume, replacing its root.
func (g *graph) store(v *volume) {
	k := v.e.Keys()
	now := time.Now().Unix()
	for _, d := range g.dirs {
		a := codec.Attr{Typ: codec.TypeDirectory, Mode: 0o755, Nlink: 2, Length: 4096, Parent: g.parent[d], Atime: now, Mtime: now, Ctime: now}
		v.do("SET", k.Inode(d), string(a.Marshal()))
	}
	for _, f := range g.files {
		a := codec.Attr{Typ: codec.TypeFile, Mode: 0o644, Nlink: 1, Atime: now, Mtime: now, Ctime: now}
		v.do("SET", k.Inode(f), string(a.Marshal()))
	}
	for dir, ents := range g.entries {
		for name, ent := range ents {
			v.do("HSET", k.Entries(dir), name, string(ent.Marshal()))
		}
	}
}

// owned returns what a removal of directory top may delete: top and what
// the tree of true parents holds below it (entries whose node names the
// directory holding them as its parent; files of those directories).
func (g *graph) owned(top meta.Ino) map[meta.Ino]bool {
	out := map[meta.Ino]bool{top: true}
	queue := []meta.Ino{top}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, ent := range g.entries[d] {
			switch {
			case ent.Typ != codec.TypeDirectory:
				out[ent.Inode] = true
			case g.parent[ent.Inode] == d && !out[ent.Inode]:
				out[ent.Inode] = true
				queue = append(queue, ent.Inode)
			}
		}
	}
	return out
}

// TestWalkersOnRandomGraphs feeds random damaged namespaces to every walk
// of the volume: each one ends (within a bound, on time) without
// panicking, and a recursive removal never deletes a node outside the
// tree it was asked to remove. RUEIDISFS_GRAPHS sets the number of graphs
// (default 40).
func TestWalkersOnRandomGraphs(t *testing.T) {
	n := 40
	if s := os.Getenv("RUEIDISFS_GRAPHS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for seed := range n {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 7))
			v := newVolumeWith(t, volumeOpts{noCheck: true, userGroupQuota: true})
			g := randomGraph(r, 4+r.IntN(10))
			g.store(v)
			e := v.Fresh()
			if _, err := e.Quotas().Set(bg, meta.QuotaDir, "/d0", -1, 1<<20, false, false); err != nil && !errors.Is(err, syscall.ENOENT) {
				t.Logf("quota on /d0: %v", err)
			}
			ctx, cancel := context.WithTimeout(bg, 30*time.Second)
			defer cancel()
			within(t, 60*time.Second, fmt.Sprintf("walks of graph %d", seed), func() { walkAll(t, ctx, e, g, r) })
			if ctx.Err() != nil {
				t.Fatalf("graph %d: the walks used up their context instead of ending", seed)
			}
		})
	}
}

// walkAll runs every walk over the graph.
func walkAll(t *testing.T, ctx context.Context, e *meta.Engine, g *graph, r *rand.Rand) {
	for _, strict := range []bool{false, true} {
		e.GetSummary(ctx, meta.RootInode, true, strict)
	}
	e.GetTreeSummary(ctx, meta.RootInode, 3, 5, true, nil)
	for _, d := range g.dirs {
		e.GetPaths(ctx, d)
		e.StatFS(ctx, d)
	}
	e.Quotas().Check(ctx, meta.QuotaUser, "", false, false)
	fsck.Check(ctx, e, fsck.CheckOptions{Path: "/", Recursive: true})
	fsck.Volume(ctx, e, false)
	dump.Dump(ctx, e, io.Discard, dump.DumpOptions{})
	gc.Run(ctx, e, e.Format(), gc.Options{})
	// Remove a random directory named somewhere: nothing outside what it
	// owns may go.
	var dirs []struct {
		parent meta.Ino
		name   string
		ino    meta.Ino
	}
	for p, ents := range g.entries {
		for name, ent := range ents {
			if ent.Typ == codec.TypeDirectory {
				dirs = append(dirs, struct {
					parent meta.Ino
					name   string
					ino    meta.Ino
				}{p, name, ent.Inode})
			}
		}
	}
	if len(dirs) == 0 {
		return
	}
	d := dirs[r.IntN(len(dirs))]
	may := g.owned(d.ino)
	if g.parent[d.ino] != d.parent {
		may = map[meta.Ino]bool{} // a cross-link: nothing may go
	}
	_, err := e.Remove(ctx, d.parent, d.name, true, 4, nil)
	for _, ino := range append(append([]meta.Ino{}, g.dirs...), g.files...) {
		if may[ino] {
			continue
		}
		if _, ok, _ := e.Inspect().Attr(ctx, ino); !ok {
			t.Fatalf("removing %q of %d (%v) deleted inode %d, which it does not own", d.name, d.parent, err, ino)
		}
	}
}
