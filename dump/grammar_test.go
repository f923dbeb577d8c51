package dump_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/gc"
)

// TestLoadGrammar feeds Load random dumps built from the dump grammar — a
// tree of directories, files with chunks and slices, hard links,
// symlinks, special files, xattrs and ACLs, with consistent counters —
// most of them with one hostile change made at the grammar level (a number
// made negative, zero or huge, a field dropped, a type swapped, an inode
// reused, a slice out of its bounds, a deleted file naming a live inode).
// Load either refuses a dump (a FormatError, nothing written) or accepts
// it, and then fsck finds nothing and a gc scan finds no leaked inode or
// chunk and nothing corrupt: nothing load accepts can lead gc to delete
// data. RUEIDISFS_LOAD_DUMPS=N runs N dumps (default 40, which CI runs);
// RUEIDISFS_LOAD_SEED picks the first seed.
func TestLoadGrammar(t *testing.T) {
	n, seed := 40, uint64(1)
	if v, err := strconv.Atoi(os.Getenv("RUEIDISFS_LOAD_DUMPS")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("RUEIDISFS_LOAD_SEED"), 10, 64); err == nil {
		seed = v
	}
	accepted := 0
	for i := range n {
		s := seed + uint64(i)
		t.Run(strconv.FormatUint(s, 10), func(t *testing.T) { // a database each, released at its end
			if loadGrammarDump(t, s, i%5 != 0) {
				accepted++
			}
		})
		if t.Failed() {
			break
		}
	}
	if accepted < n/5 {
		t.Fatalf("only %d of %d dumps accepted: the generator makes too few valid ones", accepted, n)
	}
	t.Logf("%d dumps, %d accepted", n, accepted)
}

// loadGrammarDump loads the dump of seed (with a hostile change if asked)
// and checks what must hold; it reports whether the dump was accepted.
func loadGrammarDump(t *testing.T, seed uint64, hostile bool) bool {
	ctx := context.Background()
	g := &dumpGen{rng: rand.New(rand.NewPCG(seed, 7))}
	doc := g.build()
	change := "none"
	if hostile {
		change = g.mutate(doc)
	}
	raw := g.encode(doc)
	e := openEmpty(t)
	err := dump.Load(ctx, e, bytes.NewReader(raw), dump.LoadOptions{TempDir: t.TempDir()})
	if err != nil {
		var fe *dump.FormatError
		if !errors.As(err, &fe) && !errors.Is(err, dump.ErrInvalidDump) {
			t.Fatalf("change %s: not a format error: %v", change, err)
		}
		if k := keyCount(t, e); k != 0 {
			t.Fatalf("change %s: refused (%v) but %d keys written", change, err, k)
		}
		if !hostile {
			t.Fatalf("a consistent dump was refused: %v\n%s", err, raw)
		}
		return false
	}
	f, err := e.Load(ctx, true)
	if err != nil {
		t.Fatalf("change %s: accepted, then its format does not load: %v", change, err)
	}
	rep, err := fsck.Volume(ctx, e, false)
	if err != nil {
		t.Fatalf("change %s: accepted, then fsck: %v\n%v\n%s", change, err, rep, raw)
	}
	grep, err := gc.Run(ctx, e, f, gc.Options{})
	if err != nil || grep.LeakedMetadata() != 0 || len(grep.Corrupt) != 0 {
		t.Fatalf("change %s: accepted, then gc finds %d leaks, corrupt %v: %v\n%s", change, grep.LeakedMetadata(), grep.Corrupt, err, raw)
	}
	return true
}

// jsonObj keeps its keys in order (the dump grammar puts "attr" first).
type jsonObj struct {
	keys []string
	vals map[string]any
}

func obj(kv ...any) *jsonObj {
	o := &jsonObj{vals: map[string]any{}}
	for i := 0; i < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *jsonObj) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *jsonObj) del(k string) {
	delete(o.vals, k)
	for i, x := range o.keys {
		if x == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			return
		}
	}
}

func (o *jsonObj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// dumpGen builds one random dump.
type dumpGen struct {
	rng     *rand.Rand
	nextIno int64
	nextID  int64
	attrs   []*jsonObj              // every node's attr (hard links share one)
	nodes   []*jsonObj              // every node
	files   []*jsonObj              // regular files (for hard links)
	slices  []*jsonObj              // every slice
	dirs    []*jsonObj              // directories' nodes (for entries)
	links   map[*jsonObj][]*jsonObj // a file's attr → its nodes
	space   int64
	inodes  int64
}

func (g *dumpGen) build() *jsonObj {
	g.nextIno, g.nextID = 2, 1
	g.links = map[*jsonObj][]*jsonObj{}
	root := g.dir(1, 0)
	setting := obj("Name", "grammar", "UUID", "0000-grammar", "Storage", "file", "Bucket", "/b/",
		"BlockSize", 4096, "Compression", "none", "TrashDays", 0, "MetaVersion", 1, "DirStats", true, "EnableACL", true)
	counters := obj("usedSpace", g.space, "usedInodes", g.inodes, "nextInodes", g.nextIno, "nextChunk", g.nextID,
		"nextSession", 0, "nextTrash", 0)
	return obj("Setting", setting, "Counters", counters, "Sustained", []any{}, "DelFiles", []any{}, "FSTree", root)
}

func (g *dumpGen) attr(ino int64, typ string, mode int, nlink int, length int64) *jsonObj {
	a := obj("inode", ino, "type", typ, "mode", mode, "uid", g.rng.IntN(3), "gid", g.rng.IntN(3),
		"atime", 1700000000, "mtime", 1700000000, "ctime", 1700000000, "nlink", nlink, "length", length)
	g.attrs = append(g.attrs, a)
	if ino != 1 {
		g.inodes++
		g.space += max((length+4095)/4096*4096, 4096)
	}
	return a
}

func (g *dumpGen) dir(ino int64, depth int) *jsonObj {
	entries := obj()
	node := obj()
	subdirs := 0
	for i := range g.rng.IntN(5) {
		name := "n" + strconv.Itoa(i)
		var child *jsonObj
		switch k := g.rng.IntN(10); {
		case k < 3 && depth < 3:
			c := g.nextIno
			g.nextIno++
			child = g.dir(c, depth+1)
			subdirs++
		case k < 7:
			child = g.file()
		case k < 8 && len(g.files) > 0:
			child = g.hardLink(g.files[g.rng.IntN(len(g.files))])
		case k < 9:
			c := g.nextIno
			g.nextIno++
			child = obj("attr", g.attr(c, "symlink", 0o777, 1, 0), "symlink", "target"+strconv.Itoa(g.rng.IntN(100)))
		default:
			c := g.nextIno
			g.nextIno++
			child = obj("attr", g.attr(c, "fifo", 0o644, 1, 0))
		}
		if g.rng.IntN(4) == 0 {
			child.set("xattrs", []any{obj("name", "user.k"+strconv.Itoa(i), "value", "v")})
		}
		entries.set(name, child)
		g.nodes = append(g.nodes, child)
	}
	node.set("attr", g.attr(ino, "directory", 0o755, 2+subdirs, 0))
	if g.rng.IntN(4) == 0 {
		node.set("posix_acl_default", obj("owner", 7, "group", 5, "other", 5, "mask", 7))
	}
	node.set("entries", entries)
	g.dirs = append(g.dirs, node)
	return node
}

func (g *dumpGen) file() *jsonObj {
	ino := g.nextIno
	g.nextIno++
	var chunks []any
	length := int64(0)
	for indx := range g.rng.IntN(3) {
		var slices []any
		pos := 0
		for range 1 + g.rng.IntN(3) {
			size := 1 + g.rng.IntN(1<<20)
			off := g.rng.IntN(size)
			n := 1 + g.rng.IntN(size-off)
			s := obj("id", g.nextID, "pos", pos, "size", size, "off", off, "len", n)
			g.nextID++
			g.slices = append(g.slices, s)
			slices = append(slices, s)
			pos += n
		}
		chunks = append(chunks, obj("index", indx, "slices", slices))
		length = int64(indx)<<26 + int64(pos)
	}
	a := g.attr(ino, "regular", 0o644, 1, length)
	node := obj("attr", a)
	if len(chunks) > 0 {
		node.set("chunks", chunks)
	}
	if g.rng.IntN(5) == 0 {
		node.set("posix_acl_access", obj("owner", 6, "group", 4, "other", 4, "mask", 6,
			"users", []any{obj("id", 1001, "perm", 6)}))
	}
	g.files = append(g.files, node)
	g.links[a] = []*jsonObj{node}
	return node
}

// hardLink adds another entry of file: the same node (attr and chunks),
// every copy's link count raised.
func (g *dumpGen) hardLink(file *jsonObj) *jsonObj {
	a := file.vals["attr"].(*jsonObj)
	n := a.vals["nlink"].(int) + 1
	a.set("nlink", n)
	g.links[a] = append(g.links[a], file)
	return file
}

// mutate makes one hostile change and says which.
func (g *dumpGen) mutate(doc *jsonObj) string {
	pick := func(s []*jsonObj) *jsonObj { return s[g.rng.IntN(len(s))] }
	hostile := []any{-1, 0, int64(1) << 62, uint64(math.MaxUint64), 1e30, "x", nil, true}
	switch k := g.rng.IntN(10); {
	case k == 0:
		a := pick(g.attrs)
		field := pick([]*jsonObj{obj("f", "inode"), obj("f", "nlink"), obj("f", "length"), obj("f", "mode"), obj("f", "uid"), obj("f", "mtime")}).vals["f"].(string)
		v := hostile[g.rng.IntN(len(hostile))]
		a.set(field, v)
		return fmt.Sprintf("attr %s = %v", field, v)
	case k == 1:
		a := pick(g.attrs)
		field := []string{"inode", "type", "nlink"}[g.rng.IntN(3)]
		a.del(field)
		return "attr without " + field
	case k == 2:
		a := pick(g.attrs)
		typ := []string{"directory", "regular", "symlink", "fifo", "socket", "bogus", ""}[g.rng.IntN(7)]
		a.set("type", typ)
		return "type " + typ
	case k == 3 && len(g.attrs) > 2:
		a, b := pick(g.attrs[:len(g.attrs)-1]), pick(g.attrs)
		a.set("inode", b.vals["inode"])
		return fmt.Sprintf("inode %v reused", b.vals["inode"])
	case k == 4 && len(g.slices) > 0:
		s := pick(g.slices)
		field := []string{"id", "pos", "size", "off", "len"}[g.rng.IntN(5)]
		v := hostile[g.rng.IntN(len(hostile))]
		s.set(field, v)
		return fmt.Sprintf("slice %s = %v", field, v)
	case k == 5:
		c := doc.vals["Counters"].(*jsonObj)
		field := []string{"usedSpace", "usedInodes", "nextInodes", "nextChunk"}[g.rng.IntN(4)]
		v := hostile[g.rng.IntN(len(hostile))]
		c.set(field, v)
		return fmt.Sprintf("counter %s = %v", field, v)
	case k == 6:
		a := pick(g.attrs)
		member := fmt.Sprintf("%v:%d", a.vals["inode"], g.rng.IntN(5000))
		doc.set("DelFiles", []any{obj("inode", a.vals["inode"], "length", g.rng.IntN(5000), "expire", 1700000000)})
		return "deleted file " + member
	case k == 7:
		s := doc.vals["Setting"].(*jsonObj)
		field := []string{"BlockSize", "TrashDays", "Compression", "UUID", "Name", "MetaVersion"}[g.rng.IntN(6)]
		v := hostile[g.rng.IntN(len(hostile))]
		s.set(field, v)
		return fmt.Sprintf("setting %s = %v", field, v)
	case k == 8 && len(g.dirs) > 0:
		d := pick(g.dirs)
		d.set("chunks", []any{obj("index", 0, "slices", []any{obj("id", g.nextID, "size", 5, "len", 5)})})
		return "chunks on a directory"
	default:
		n := pick(append(g.nodes, g.dirs...))
		n.set("xattrs", []any{obj("name", "", "value", "v")})
		return "xattr without a name"
	}
}

func (g *dumpGen) encode(doc *jsonObj) []byte {
	b, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		panic(err)
	}
	return b
}
