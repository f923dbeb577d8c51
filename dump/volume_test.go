package dump_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/meta"
)

// rawVolume writes a volume key by key, for shapes the engine cannot make.
type rawVolume struct {
	t    *testing.T
	e    *meta.Engine
	c    rueidis.Client
	next codec.Ino
}

func newRawVolume(t *testing.T) *rawVolume {
	e := openEmpty(t)
	ctx := context.Background()
	if err := e.Init(ctx, testFormat("raw", 0), false); err != nil {
		t.Fatal(err)
	}
	return &rawVolume{t: t, e: e, c: e.Client(), next: 2}
}

func (v *rawVolume) do(args ...string) {
	v.t.Helper()
	if err := v.c.Do(context.Background(), v.c.B().Arbitrary(args[0]).Keys(args[1]).Args(args[2:]...).Build()).Error(); err != nil {
		v.t.Fatal(err)
	}
}

// add creates a node named name in dir and returns its inode.
func (v *rawVolume) add(dir codec.Ino, name string, typ codec.FileType, length uint64) codec.Ino {
	ino := v.next
	v.next++
	a := codec.Attr{Typ: typ, Mode: 0o644, Nlink: 1, Length: length, Parent: dir, Atime: 1, Mtime: 2, Ctime: 3}
	if typ == codec.TypeDirectory {
		a.Nlink, a.Length, a.Mode = 2, 4096, 0o755
	}
	k := v.e.Keys()
	v.do("SET", k.Inode(ino), string(a.Marshal()))
	v.do("INCRBY", k.UsedSpace(), strconv.FormatUint(codec.Align4K(a.Length), 10))
	v.do("INCR", k.TotalInodes())
	v.entry(dir, name, typ, ino)
	return ino
}

func (v *rawVolume) entry(dir codec.Ino, name string, typ codec.FileType, ino codec.Ino) {
	v.do("HSET", v.e.Keys().Entries(dir), name, string(codec.Entry{Typ: typ, Inode: ino}.Marshal()))
}

func TestDumpEscaping(t *testing.T) {
	v := newRawVolume(t)
	k := v.e.Keys()
	names := map[string]string{ // raw name -> as in the dump
		"a b":            "a%20b",
		"100%":           "100%25",
		`q"\`:            "q%22%5C",
		"tab\tnl\n":      "tab%09nl%0A",
		"\xff\xfe":       "%FF%FE",
		"café":           "café",
		"<&>":            "<&>",
		"line\u2028sep":  "line\u2028sep",
		"repl\ufffdchar": "repl\ufffdchar",
		"del\x7f":        "del\x7f",
		"%41":            "%2541",
	}
	for raw := range names {
		v.add(codec.RootInode, raw, codec.TypeFile, 0)
	}
	ln := v.add(codec.RootInode, "link", codec.TypeSymlink, 0)
	v.do("SET", k.Symlink(ln), "../a b/\"x\"")
	x := v.add(codec.RootInode, "x", codec.TypeFile, 0)
	v.do("HSET", k.Xattrs(x), "user.<tag>", "\x00\x01<>\"é", "user.b\b", "plain", "user.\xff", "v")
	doc := string(dumpOf(t, v.e, dump.DumpOptions{}))
	for raw, esc := range names {
		if !strings.Contains(doc, "\n      \""+esc+"\": {") {
			t.Errorf("name %q not dumped as %q", raw, esc)
		}
	}
	for _, want := range []string{
		`"symlink": "../a%20b/%22x%22"`,
		`"xattrs": [{"name":"user.\u003ctag\u003e","value":"%00%01\u003c\u003e%22é"},{"name":"user.b\u0008","value":"plain"},{"name":"user.\ufffd","value":"v"}]`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("dump lacks %s:\n%s", want, doc)
		}
	}
	// Loading restores the raw bytes.
	e2 := openEmpty(t)
	if err := dump.Load(context.Background(), e2, strings.NewReader(doc), dump.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entries, err := e2.Client().Do(ctx, e2.Client().B().Hgetall().Key(k.Entries(1)).Build()).AsStrMap()
	if err != nil {
		t.Fatal(err)
	}
	for raw := range names {
		if _, ok := entries[raw]; !ok {
			t.Errorf("name %q not restored", raw)
		}
	}
	target, _ := e2.Client().Do(ctx, e2.Client().B().Get().Key(k.Symlink(ln)).Build()).ToString()
	if target != "../a b/\"x\"" {
		t.Errorf("target %q", target)
	}
	xs, _ := e2.Client().Do(ctx, e2.Client().B().Hgetall().Key(k.Xattrs(x)).Build()).AsStrMap()
	if xs["user.<tag>"] != "\x00\x01<>\"é" || xs["user.b\b"] != "plain" {
		t.Errorf("xattrs %q", xs)
	}
	checkVolume(t, e2, fsck.Options{})
	// JSON cannot carry the invalid UTF-8 of an xattr name: it was dumped as
	// U+FFFD and comes back as that character, as with juicefs.
	doc = strings.Replace(doc, `"user.\ufffd"`, "\"user.\ufffd\"", 1)
	checkSame(t, "reloaded", normalizeCounters([]byte(doc)), normalizeCounters(dumpOf(t, e2, dump.DumpOptions{})))
}

// logBuffer collects log lines.
type logBuffer struct{ bytes.Buffer }

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(&l.Buffer, nil)) }

// TestDumpCorrupt dumps damaged volumes: what juicefs dumps with a warning
// is dumped the same way, what makes it fail fails with a clear error.
func TestDumpCorrupt(t *testing.T) {
	ctx := context.Background()
	t.Run("dumped with warnings", func(t *testing.T) {
		v := newRawVolume(t)
		k := v.e.Keys()
		v.entry(codec.RootInode, "no-attr", codec.TypeFile, 50)
		v.entry(codec.RootInode, "no-attr-dir", codec.TypeDirectory, 51)
		sl := v.add(codec.RootInode, "no-target", codec.TypeSymlink, 0)
		f := v.add(codec.RootInode, "bad-chunk", codec.TypeFile, 100)
		v.do("RPUSH", k.Chunk(f, 0), "short")
		g := v.add(codec.RootInode, "type-mismatch", codec.TypeFile, 0)
		v.do("SET", k.Inode(g), string((&codec.Attr{Typ: codec.TypeSymlink, Mode: 0o777, Nlink: 1, Length: 3, Parent: 1}).Marshal()))
		v.do("SET", k.Symlink(g), "abc")
		var logs logBuffer
		doc := string(dumpOf(t, v.e, dump.DumpOptions{Logger: logs.logger()}))
		for _, want := range []string{
			`
      "no-attr": {
        "attr": {"inode":50,"type":"regular","mode":0,"uid":0,"gid":0,"atime":0,"mtime":0,"ctime":0,"nlink":1,"length":0}
      },`,
			`
      "no-attr-dir": {
        "attr": {"inode":51,"type":"directory","mode":0,"uid":0,"gid":0,"atime":0,"mtime":0,"ctime":0,"nlink":2,"length":0},
        "entries": {
        }
      },`,
			`
      "no-target": {
        "attr": {"inode":` + sl.String() + `,"type":"symlink","mode":420,"uid":0,"gid":0,"atime":1,"mtime":2,"ctime":3,"nlink":1,"length":0}
      },`,
			`"chunks": [{"index":0,"slices":[]}]`,
			`
      "type-mismatch": {
        "attr": {"inode":` + g.String() + `,"type":"symlink","mode":511,"uid":0,"gid":0,"atime":0,"mtime":0,"ctime":0,"nlink":1,"length":0},
        "symlink": "abc"
      }`,
		} {
			if !strings.Contains(doc, want) {
				t.Errorf("dump lacks\n%s\nin\n%s", want, doc)
			}
		}
		for _, want := range []string{"missing attribute", "symlink target is not found", "corrupt chunk list"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("no warning %q in %s", want, logs.String())
			}
		}
	})
	for _, c := range []struct {
		name  string
		setup func(v *rawVolume)
		want  string
	}{
		{"directory cycle", func(v *rawVolume) {
			d := v.add(codec.RootInode, "d", codec.TypeDirectory, 0)
			sub := v.add(d, "sub", codec.TypeDirectory, 0)
			v.entry(sub, "up", codec.TypeDirectory, d)
		}, `directory cycle: "FSTree/d/sub/up"`},
		{"malformed entry", func(v *rawVolume) { v.do("HSET", v.e.Keys().Entries(1), "bad", "xyz") }, `field "bad": directory entry has 3 bytes`},
		{"malformed attribute", func(v *rawVolume) {
			ino := v.add(codec.RootInode, "f", codec.TypeFile, 0)
			v.do("SET", v.e.Keys().Inode(ino), "short")
		}, "attribute record has 5 bytes"},
		{"missing ACL rule", func(v *rawVolume) {
			ino := v.add(codec.RootInode, "f", codec.TypeFile, 0)
			a := codec.Attr{Typ: codec.TypeFile, Mode: 0o644, Nlink: 1, Parent: 1, AccessACL: 7}
			v.do("SET", v.e.Keys().Inode(ino), string(a.Marshal()))
		}, "refers to ACL rule 7, which is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newRawVolume(t)
			c.setup(v)
			err := dump.Dump(ctx, v.e, &bytes.Buffer{}, dump.DumpOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// buildVolume makes a volume with the engine's operations: directories,
// files, hard links, a symlink, special files, renames, and deletions into
// the trash.
func buildVolume(t *testing.T, e *meta.Engine) {
	ctx := context.Background()
	if err := e.Init(ctx, testFormat("built", 1), false); err != nil {
		t.Fatal(err)
	}
	if err := e.NewSession(ctx, true); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mkdir := func(parent codec.Ino, name string) codec.Ino {
		ino, _, err := e.Mkdir(ctx, parent, name, 0o755, 0o022)
		must(err)
		return ino
	}
	create := func(parent codec.Ino, name string) codec.Ino {
		ino, _, err := e.Create(ctx, parent, name, 0o644, 0o022, 0)
		must(err)
		must(e.Release(ctx, ino))
		return ino
	}
	a := mkdir(meta.RootInode, "a")
	b := mkdir(a, "b")
	mkdir(b, "c")
	f := create(a, "f")
	_, err := e.Link(ctx, f, meta.RootInode, "hard")
	must(err)
	_, err = e.Link(ctx, f, b, "hard2")
	must(err)
	_, _, err = e.Symlink(ctx, meta.RootInode, "sym", "a/f")
	must(err)
	_, _, err = e.Mknod(ctx, b, "fifo", codec.TypeFIFO, 0o600, 0, 0)
	must(err)
	_, _, err = e.Mknod(ctx, b, "dev", codec.TypeCharDev, 0o600, 0, 0x0103)
	must(err)
	_, _, err = e.Rename(ctx, a, "f", b, "moved", 0)
	must(err)
	create(meta.RootInode, "gone")
	must(e.Unlink(ctx, meta.RootInode, "gone", false))
	mkdir(a, "empty")
	must(e.Rmdir(ctx, a, "empty", false))
	create(a, "with space & <html>")
	must(e.Unlink(ctx, meta.RootInode, "hard", false)) // one of three links into the trash
	e.Sync(ctx)
}

// TestDumpLoadFixedPoint: a volume made with the engine dumps, loads into a
// new database and dumps again identically (but for the counters a load
// recomputes); the second dump loads and dumps to itself exactly.
func TestDumpLoadFixedPoint(t *testing.T) {
	ctx := context.Background()
	e := openEmpty(t)
	buildVolume(t, e)
	// A directory removed into the trash has no statistics (as with juicefs).
	checkVolume(t, e, fsck.Options{SkipDirStats: true})
	first := dumpOf(t, e, dump.DumpOptions{})
	if !bytes.Contains(first, []byte(`"nlink":3`)) || !bytes.Contains(first, []byte(`"Trash": {`)) {
		t.Fatalf("the volume lacks hard links or trash:\n%s", first)
	}
	e2 := openEmpty(t)
	if err := dump.Load(ctx, e2, bytes.NewReader(first), dump.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	checkVolume(t, e2, fsck.Options{})
	second := dumpOf(t, e2, dump.DumpOptions{})
	checkSame(t, "reloaded", normalizeCounters(first), normalizeCounters(second))
	e3 := openEmpty(t)
	if err := dump.Load(ctx, e3, bytes.NewReader(second), dump.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	checkSame(t, "second reload", second, dumpOf(t, e3, dump.DumpOptions{}))

	// The loaded volume works: the engine can use it.
	if err := e2.NewSession(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.Load(ctx, true); err != nil {
		t.Fatal(err)
	}
	ino, _, err := e2.Lookup(ctx, meta.RootInode, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e2.Mkdir(ctx, ino, "new", 0o755, 0); err != nil {
		t.Fatal(err)
	}
	if err := e2.Rmdir(ctx, ino, "b", false); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a non-empty loaded directory: %v", err)
	}
	e2.Sync(ctx)
	checkVolume(t, e2, fsck.Options{})
}

func TestDumpProgress(t *testing.T) {
	e := openFixture(t, "basic")
	var calls, last, total int64
	doc := dumpOf(t, e, dump.DumpOptions{Progress: func(done, tot int64) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		calls++
		last, total = done, tot
	}})
	nodes := int64(bytes.Count(doc, []byte(`"attr": `)))
	if calls == 0 || last != nodes || total < last {
		t.Fatalf("%d calls, last %d/%d, %d nodes", calls, last, total, nodes)
	}
}
