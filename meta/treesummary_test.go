package meta_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/meta"
)

// summaryRow is one CSV row of `juicefs summary --csv`.
type summaryRow struct {
	path              string
	size, dirs, files string
}

// renderSummary lays a tree out the way `summary --csv` prints it: depth
// first, directories with a trailing slash, the root as "/".
func renderSummary(tree *meta.TreeSummary, out *[]summaryRow) {
	p := tree.Path
	if tree.Type == codec.TypeDirectory && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	// The captured output replaced invalid UTF-8 (a Latin-1 name) with
	// U+FFFD.
	p = strings.ToValidUTF8(p, "\uFFFD")
	*out = append(*out, summaryRow{p, strconv.FormatUint(tree.Size, 10),
		strconv.FormatUint(tree.Dirs, 10), strconv.FormatUint(tree.Files, 10)})
	for _, c := range tree.Children {
		renderSummary(c, out)
	}
}

// expectedSummary reads the CSV part of summary.txt.
func expectedSummary(t *testing.T, volume string) []summaryRow {
	t.Helper()
	data, err := os.ReadFile(fixtures.Path(volume, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(data, []byte("--csv"))
	if !ok {
		t.Fatal("no CSV summary in summary.txt")
	}
	_, rest, _ = bytes.Cut(rest, []byte("\n"))
	r := csv.NewReader(bytes.NewReader(rest))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []summaryRow
	for _, rec := range recs[1:] {
		out = append(out, summaryRow{rec[0], rec[1], rec[2], rec[3]})
	}
	return out
}

// siblingSizes maps every directory row to the sizes of its children in
// printed order (the parent of a row is found from its path).
func siblingSizes(rows []summaryRow) map[string][]string {
	out := map[string][]string{}
	for _, r := range rows[1:] {
		parent := path.Dir(strings.TrimSuffix(r.path, "/")) + "/"
		if parent == "./" {
			parent = "/"
		}
		out[parent] = append(out[parent], r.size)
	}
	return out
}

func TestTreeSummaryFixture(t *testing.T) {
	e, _, _ := loadFixtureWith(t, "basic", meta.Options{ReadOnly: true})
	ctx := context.Background()
	var count, bytes uint64
	// `--entries 1000` is capped at 100 by the command.
	tree, err := e.GetTreeSummary(ctx, meta.RootInode, 3, 100, true, func(c, b uint64) { count += c; bytes += b })
	if err != nil {
		t.Fatal(err)
	}
	if count == 0 || bytes == 0 {
		t.Fatal("no progress reported")
	}
	var got []summaryRow
	renderSummary(tree, &got)
	want := expectedSummary(t, "basic")
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	// Rows are equal as a set (paths are unique); the official client
	// leaves the order of equal-sized siblings unspecified, so order is
	// compared through the sizes of each directory's children.
	index := map[string]summaryRow{}
	for _, r := range want {
		index[r.path] = r
	}
	for _, r := range got {
		if w, ok := index[r.path]; !ok || w != r {
			t.Errorf("row %+v, want %+v", r, w)
		}
	}
	if got[0] != want[0] {
		t.Fatalf("root row %+v, want %+v", got[0], want[0])
	}
	gs, ws := siblingSizes(got), siblingSizes(want)
	for dir, sizes := range ws {
		if strings.Join(gs[dir], ",") != strings.Join(sizes, ",") {
			t.Errorf("children sizes of %s:\n got %v\nwant %v", dir, gs[dir], sizes)
		}
	}
}

func TestTreeSummaryTopN(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	ctx := context.Background()
	tr := mkTree(t, e, meta.RootInode, "top", 3, 3)
	if _, _, err := e.Mknod(ctx, meta.RootInode, "file", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	e.Sync(ctx)
	for _, strict := range []bool{false, true} {
		tree, err := e.GetTreeSummary(ctx, meta.RootInode, 1, 1, strict, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tree.Dirs != uint64(tr.dirs)+1 || tree.Files != uint64(tr.files)+1 || tree.Size != 4096*(uint64(tr.nodes)+2) {
			t.Fatalf("strict=%v: root %+v, tree %+v", strict, tree, tr)
		}
		if len(tree.Children) != 2 || tree.Children[0].Path != "top" || tree.Children[1].Path != "..." ||
			tree.Children[1].Files != 1 || tree.Children[0].Children != nil {
			t.Fatalf("strict=%v: children %+v", strict, tree.Children)
		}
	}
	f, err := e.GetTreeSummary(ctx, tr.root+1, 2, 10, false, nil)
	if err != nil || f.Files != 1 || f.Size != 4096 {
		t.Fatalf("summary of a file: %+v %v", f, err)
	}
}
