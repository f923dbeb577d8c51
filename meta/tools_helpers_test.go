package meta_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Helpers of the tests of the administrative operations (rmr, trash
// cleanup, quotas, gc, summaries).

// raw returns a plain client on the volume's database, for injecting
// states by hand (it bypasses the engine and its cache).
func (v *volume) raw() rueidis.Client {
	v.t.Helper()
	return v.srv.Client(v.t, v.db)
}

// do runs a raw command and fails the test on error.
func (v *volume) do(args ...string) rueidis.RedisResult {
	v.t.Helper()
	r := v.srv.Do(v.t, v.db, args...)
	if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
		v.t.Fatalf("%v: %v", args, err)
	}
	return r
}

// tree describes what mkTree built.
type tree struct {
	root  meta.Ino
	nodes int // nodes below and including root
	dirs  int
	files int // non-directories
}

// mkTree builds, under parent, a directory name holding width files and a
// symlink per level and width sub-directories, depth levels deep.
func mkTree(t *testing.T, e *meta.Engine, parent meta.Ino, name string, depth, width int) tree {
	t.Helper()
	ctx := context.Background()
	d, _, err := e.Mkdir(ctx, parent, name, 0o755, 0)
	if err != nil {
		t.Fatalf("mkdir %s: %v", name, err)
	}
	tr := tree{root: d, nodes: 1, dirs: 1}
	for i := range width {
		if _, _, err := e.Mknod(ctx, d, fmt.Sprintf("f%03d", i), codec.TypeFile, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
		tr.nodes++
		tr.files++
	}
	if _, _, err := e.Symlink(ctx, d, "link", "f000"); err != nil {
		t.Fatal(err)
	}
	tr.nodes++
	tr.files++
	if depth > 1 {
		for i := range width {
			sub := mkTree(t, e, d, fmt.Sprintf("d%02d", i), depth-1, width)
			tr.nodes += sub.nodes
			tr.dirs += sub.dirs
			tr.files += sub.files
		}
	}
	return tr
}

// trashEntries lists every entry of every hour directory of the trash.
func trashEntries(t *testing.T, e *meta.Engine) map[string][]meta.Entry {
	t.Helper()
	ctx := context.Background()
	hours, err := e.Readdir(ctx, meta.TrashInode, false)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]meta.Entry{}
	for _, h := range hours {
		if h.Name == "." || h.Name == ".." {
			continue
		}
		ents, err := e.Inspect().Entries(ctx, h.Inode)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range ents {
			out[h.Name] = append(out[h.Name], ent.Entry)
		}
		if out[h.Name] == nil {
			out[h.Name] = []meta.Entry{}
		}
	}
	return out
}

// oldAttr is the attribute of a node created by hand long ago.
func oldAttr(typ codec.FileType, length uint64, parent meta.Ino) codec.Attr {
	old := time.Now().Add(-48 * time.Hour).Unix()
	a := codec.Attr{Typ: typ, Mode: 0o644, Nlink: 1, Length: length, Parent: parent, Atime: old, Mtime: old, Ctime: old}
	if typ == codec.TypeDirectory {
		a.Mode, a.Nlink, a.Length = 0o755, 2, 4096
	}
	return a
}

// putInode writes an attribute by hand and charges it to the counters, as
// a create would have.
func (v *volume) putInode(ino meta.Ino, a codec.Attr) {
	v.t.Helper()
	v.do("SET", v.e.Keys().Inode(ino), string(a.Marshal()))
	space := int64(4096)
	if a.Typ == codec.TypeFile {
		space = int64(codec.Align4K(a.Length))
	}
	v.do("INCRBY", v.e.Keys().UsedSpace(), strconv.FormatInt(space, 10))
	v.do("INCRBY", v.e.Keys().TotalInodes(), "1")
}

// pushSlice appends a slice record to a chunk list by hand.
func (v *volume) pushSlice(ino meta.Ino, indx uint32, id uint64, size uint32) {
	v.t.Helper()
	rec := codec.SliceRecord{ID: id, Size: size, Len: size}
	v.do("RPUSH", v.e.Keys().Chunk(ino, indx), string(rec.Marshal()))
}

// putDirStat writes a directory's statistics by hand (length 0).
func (v *volume) putDirStat(ino meta.Ino, space, inodes int64) {
	v.t.Helper()
	f := ino.String()
	v.do("HSET", v.e.Keys().DirDataLength(), f, "0")
	v.do("HSET", v.e.Keys().DirUsedSpace(), f, strconv.FormatInt(space, 10))
	v.do("HSET", v.e.Keys().DirUsedInodes(), f, strconv.FormatInt(inodes, 10))
}
