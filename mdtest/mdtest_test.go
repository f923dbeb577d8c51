package mdtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/mdtest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func TestTreeDirs(t *testing.T) {
	for _, c := range []struct{ w, d, want int }{{3, 3, 40}, {3, 2, 13}, {2, 0, 1}, {10, 1, 11}, {0, 5, 1}, {1, 5, 6}} {
		if got, ok := mdtest.TreeDirs(c.w, c.d, 1<<40); got != c.want || !ok {
			t.Errorf("TreeDirs(%d, %d) = %d, %v, want %d", c.w, c.d, got, ok, c.want)
		}
	}
	for _, c := range []struct{ w, d, limit int }{{3, 3, 39}, {1, 1 << 62, 1 << 40}, {2, 1 << 62, 1 << 40}, {1 << 40, 2, 1 << 40}} {
		if got, ok := mdtest.TreeDirs(c.w, c.d, c.limit); ok {
			t.Errorf("TreeDirs(%d, %d, %d) = %d, ok: want more than the limit", c.w, c.d, c.limit, got)
		}
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	e := voltest.New(t, voltest.Options{}).E
	var lines []string
	opts := mdtest.Options{Threads: 3, Dirs: 2, Depth: 2, Files: 4, Write: 100 << 20, Phases: []string{"stat", "readdir", "rename"}}
	if err := mdtest.Run(ctx, e, "/bench", opts, nil, func(r mdtest.Result) { lines = append(lines, r.String()) }); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "Created 7 dirs in ") || !strings.HasPrefix(lines[1], "Created 84 files in ") {
		t.Fatalf("summary lines %q", lines)
	}
	// The tree is where juicefs mdtest puts it, with renamed files.
	ino, _, err := e.Resolve(ctx, meta.RootInode, "bench/test-dir.0-0/mdtest_tree.0/mdtest_tree.1/mdtest_tree.0/renamed.mdtest.2.3")
	if err != nil || ino == 0 {
		t.Fatalf("renamed file: %v", err)
	}
	// --write left metadata-only slices: 100 MiB over two chunks.
	if a, _ := e.GetAttr(ctx, ino); a.Length != 100<<20 {
		t.Fatalf("written file length %d", a.Length)
	}
	if s, err := e.Read(ctx, ino, 1); err != nil || len(s) != 1 || s[0].Len != 36<<20 {
		t.Fatalf("chunk 1 %+v %v", s, err)
	}
	voltest.Recount(t, e)
	// With every phase a run removes everything it made.
	opts = mdtest.Options{Threads: 2, Dirs: 2, Depth: 1, Files: 3, Phases: mdtest.KnownPhases()}
	if err := mdtest.Run(ctx, e, "/bench2", opts, nil, func(mdtest.Result) {}); err != nil {
		t.Fatal(err)
	}
	ents, err := e.Readdir(ctx, ino2(t, e, "bench2/test-dir.0-0"), false)
	if err != nil || len(ents) != 2 {
		t.Fatalf("after remove: %v %d entries", err, len(ents))
	}
	// By default, as juicefs mdtest, only the tree and its files are made,
	// and left in place.
	if err := mdtest.Run(ctx, e, "/bench3", mdtest.Options{Dirs: 2, Depth: 1, Files: 3}, nil, func(mdtest.Result) {}); err != nil {
		t.Fatal(err)
	}
	ents, err = e.Readdir(ctx, ino2(t, e, "bench3/test-dir.0-0/mdtest_tree.0"), false)
	if err != nil || len(ents) != 2+2+3 {
		t.Fatalf("after a default run: %v %d entries, want . .. 2 directories and 3 files", err, len(ents))
	}
}

// TestRunWithoutSubdirectories: --dirs 0 makes no sub-directories at any
// depth, as juicefs mdtest: every thread's files go into the top directory.
func TestRunWithoutSubdirectories(t *testing.T) {
	ctx := context.Background()
	e := voltest.New(t, voltest.Options{}).E
	if err := mdtest.Run(ctx, e, "/flat", mdtest.Options{Threads: 2, Dirs: 0, Depth: 3, Files: 4}, nil, func(mdtest.Result) {}); err != nil {
		t.Fatal(err)
	}
	ents, err := e.Readdir(ctx, ino2(t, e, "flat/test-dir.0-0/mdtest_tree.0"), false)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, ent := range ents {
		if ent.Attr.Typ == codec.TypeDirectory && ent.Name != "." && ent.Name != ".." {
			t.Fatalf("sub-directory %s made with --dirs 0", ent.Name)
		}
		if ent.Attr.Typ == codec.TypeFile {
			files++
		}
	}
	if files != 2*4 {
		t.Fatalf("%d files in the top directory, want 8", files)
	}
}

func ino2(t *testing.T, e *meta.Engine, p string) meta.Ino {
	ino, _, err := e.Resolve(context.Background(), meta.RootInode, p)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}
