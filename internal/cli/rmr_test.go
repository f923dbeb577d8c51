package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
)

// dataVolume is a freshly formatted volume on a file storage bucket.
type dataVolume struct {
	url    string
	f      *codec.Format
	e      *meta.Engine
	bucket string // <bucket>/<name>: where the objects are
}

func newDataVolume(t *testing.T, name string, flags ...string) *dataVolume {
	t.Helper()
	url, _, _ := newDB(t)
	f := formatVolume(t, url, name, append([]string{"--block-size", "64"}, flags...)...)
	e := engine(t, url)
	return &dataVolume{url: url, f: f, e: e, bucket: filepath.Join(f.Bucket, f.Name)}
}

// writeBlocks stores the blocks of slice id (size bytes) in the bucket,
// modified age ago.
func (v *dataVolume) writeBlocks(t *testing.T, id uint64, size uint32, age time.Duration) []string {
	t.Helper()
	var paths []string
	for i, bs := range objstore.BlockSizes(objstore.BlockSize(v.f), size) {
		p := filepath.Join(v.bucket, filepath.FromSlash(objstore.BlockKey(v.f.HashPrefix, id, i, bs)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, bs), 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age)
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// writeFile creates a file of size bytes in one slice whose blocks are in
// the bucket, and returns its inode and block files.
func (v *dataVolume) writeFile(t *testing.T, parent meta.Ino, name string, size uint32) (meta.Ino, []string) {
	t.Helper()
	ctx := context.Background()
	ino, _, err := v.e.Create(ctx, parent, name, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.e.NewSlice(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.e.Write(ctx, ino, 0, 0, codec.Slice{ID: id, Size: size, Len: size}, time.Now()); err != nil {
		t.Fatal(err)
	}
	v.e.Sync(ctx) // the commands run next see the statistics
	return ino, v.writeBlocks(t, id, size, 2*time.Hour)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// mkTree builds below parent a directory name with files files of 100 KiB
// (two blocks each) and dirs sub-directories holding the same, depth
// levels deep; it returns the number of entries and the block files.
func (v *dataVolume) mkTree(t *testing.T, parent meta.Ino, name string, depth, dirs, files int) (int, []string) {
	t.Helper()
	d, _, err := v.e.Mkdir(context.Background(), parent, name, 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, blocks := 1, []string(nil)
	for i := range files {
		_, b := v.writeFile(t, d, fmt.Sprintf("f%d", i), 100<<10)
		blocks = append(blocks, b...)
		n++
	}
	if depth > 1 {
		for i := range dirs {
			m, b := v.mkTree(t, d, fmt.Sprintf("d%d", i), depth-1, dirs, files)
			n += m
			blocks = append(blocks, b...)
		}
	}
	return n, blocks
}

func TestRmrToTrash(t *testing.T) {
	v := newDataVolume(t, "rmrtrash")
	n, blocks := v.mkTree(t, meta.RootInode, "tree", 3, 3, 2)
	keep, keepBlocks := v.writeFile(t, meta.RootInode, "keep", 10)
	r := run(t, "rmr", v.url, "tree", "-p", "4").ok(t)
	if !hasLog(r.stderr, "INFO", fmt.Sprintf("Removed %d entries", n)) {
		t.Errorf("rmr did not count %d entries:\n%s", n, r.stderr)
	}
	ctx := context.Background()
	e := engine(t, v.url) // a fresh cache: the removal was made by another client
	if _, _, err := e.Lookup(ctx, meta.RootInode, "tree"); err == nil {
		t.Fatal("tree still there")
	}
	// Everything is in the trash, one entry per node; no data deleted.
	var inTrash int
	hours, err := e.Readdir(ctx, meta.TrashInode, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hours {
		if h.Name == "." || h.Name == ".." {
			continue
		}
		ents, err := e.Readdir(ctx, h.Inode, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name != "." && e.Name != ".." {
				inTrash++
			}
		}
	}
	if inTrash != n {
		t.Errorf("%d entries in the trash, want %d", inTrash, n)
	}
	for _, b := range blocks {
		if !exists(b) {
			t.Fatalf("block %s deleted although the file is in the trash", b)
		}
	}
	if _, err := e.GetAttr(ctx, keep); err != nil || !exists(keepBlocks[0]) {
		t.Errorf("a file outside the tree was touched: %v", err)
	}
	run(t, "fsck", v.url).ok(t)

	// rmr .trash empties the trash (its hour directories stay), as with
	// juicefs: now the data goes.
	r = run(t, "rmr", v.url, ".trash").ok(t)
	if !hasLog(r.stderr, "INFO", fmt.Sprintf("Removed %d entries", n)) {
		t.Errorf("rmr .trash did not count %d entries:\n%s", n, r.stderr)
	}
	for _, b := range blocks {
		if exists(b) {
			t.Fatalf("block %s still there after emptying the trash", b)
		}
	}
	if !exists(keepBlocks[0]) {
		t.Error("a block of a live file was deleted")
	}
	run(t, "fsck", v.url).ok(t)
}

func TestRmrSkipTrash(t *testing.T) {
	v := newDataVolume(t, "rmrskip")
	n, blocks := v.mkTree(t, meta.RootInode, "a", 2, 2, 3)
	_, more := v.writeFile(t, meta.RootInode, "file", 70<<10)
	r := run(t, "rmr", v.url, "/a", "file", "--skip-trash", "--threads", "1000").ok(t)
	if !hasLog(r.stderr, "INFO", fmt.Sprintf("Removed %d entries", n+1)) {
		t.Errorf("rmr log:\n%s", r.stderr)
	}
	ctx := context.Background()
	ents, err := engine(t, v.url).Readdir(ctx, meta.RootInode, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name == "a" || e.Name == "file" {
			t.Fatalf("%s still there", e.Name)
		}
	}
	// The data of the deleted files is gone from the bucket, and gc finds
	// nothing left over.
	for _, b := range append(blocks, more...) {
		if exists(b) {
			t.Errorf("block %s of a deleted file is still there", b)
		}
	}
	s := session{env: map[string]string{"JFS_GC_SKIPPEDTIME": "0"}}
	r = s.run(t, "gc", v.url).ok(t)
	if !hasLog(r.stderr, "INFO", "scanned 0 objects, 0 valid, 0 pending delete (0 bytes), 0 compacted (0 bytes), 0 leaked (0 bytes), 0 delslices (0 bytes), 0 delfiles (0 bytes), 0 skipped (0 bytes)") {
		t.Errorf("gc after rmr --skip-trash:\n%s", r.stderr)
	}
	run(t, "fsck", v.url).ok(t)
}

func TestRmrErrors(t *testing.T) {
	v := newDataVolume(t, "rmrerr")
	v.writeFile(t, meta.RootInode, "plain", 10)
	run(t, "rmr", v.url, "nowhere").fails(t, `RMR "nowhere": no such file or directory`)
	run(t, "rmr", v.url, "no/such/dir").fails(t, "lookup inode for /no/such: no such file or directory")
	run(t, "rmr", v.url, "plain/x").fails(t, `RMR "plain/x": not a directory`)
	run(t, "rmr", v.url, "/").fails(t, `RMR "/": the root of the volume cannot be removed`)
	run(t, "rmr", v.url).fails(t, "This command requires at least 2 arguments")
	runAs(t, "not root", func(a *app) { a.isRoot = false }, "rmr", v.url, "plain", "--skip-trash").
		fails(t, "only root can remove files directly (--skip-trash)")
}
