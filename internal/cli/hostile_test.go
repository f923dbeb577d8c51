package cli

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestDamagedSettingRefused: a volume whose setting holds a block size of
// 0 (a hand-edited or corrupted format) is refused by every tool with an
// error naming the key, instead of being trusted: info divided by zero
// (a panic), fsck checked no block and gc --delete took live blocks for
// leaked ones.
func TestDamagedSettingRefused(t *testing.T) {
	url, srv, db := newDB(t)
	formatVolume(t, url, "damaged")
	f := storedFormat(t, url)
	good, err := f.MarshalSetting()
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), `"BlockSize": 4096`, `"BlockSize": 0`, 1)
	if bad == string(good) {
		t.Fatalf("no block size in %s", good)
	}
	srv.Do(t, db, "SET", "setting", bad)
	for _, args := range [][]string{
		{"info", url, "/"}, {"fsck", url}, {"gc", url, "--delete"}, {"summary", url, "/"},
		{"dump", url, t.TempDir() + "/dump.json"}, {"status", url}, {"quota", "list", url},
	} {
		r := run(t, args...)
		if r.code != 1 || !strings.Contains(r.stderr, `"setting"`) || !strings.Contains(r.stderr, "block size 0") {
			t.Errorf("%s on a block size of 0: exit %d\n%s", args[0], r.code, r.stderr)
		}
	}
	srv.Do(t, db, "SET", "setting", string(good))
}

// TestHugeLength: an attribute whose length is 2^63-1 is corruption that
// every tool names (before, info enumerated 2^37 chunk indexes and never
// returned; dump refused it); a file of a legal but huge sparse length
// (2^56) is shown at once, its chunks found with SCAN; info, summary, fsck
// and dump all finish.
func TestHugeLength(t *testing.T) {
	v := newDataVolume(t, "huge")
	ctx := context.Background()
	e := v.e
	k := e.Keys()
	sparse, _ := v.writeFile(t, meta.RootInode, "sparse", 1000)
	if _, err := e.Truncate(ctx, sparse, 0, 1<<56, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Truncate(ctx, sparse, 0, codec.MaxFileLength, false); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("truncate to the largest length: %v, want EFBIG", err)
	}
	e.Sync(ctx)
	for _, args := range [][]string{{"info", v.url, "/sparse"}, {"summary", v.url, "/"}, {"fsck", v.url}, {"dump", v.url, t.TempDir() + "/d.json"}} {
		start := time.Now()
		run(t, args...).ok(t)
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s of a 2^56-byte sparse file took %v", args[0], d)
		}
	}
	huge, _ := v.writeFile(t, meta.RootInode, "huge", 10)
	a, err := e.GetAttr(ctx, huge)
	if err != nil {
		t.Fatal(err)
	}
	good := string(a.Marshal())
	a.Length = 1<<63 - 1
	raw := e.Client()
	set := func(val string) {
		if err := raw.Do(ctx, raw.B().Set().Key(k.Inode(huge)).Value(val).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	set(string(a.Marshal()))
	key := `"` + k.Inode(huge) + `"`
	if r := run(t, "info", v.url, "/huge"); r.code != 1 || !strings.Contains(r.stderr, "corrupt value in key "+key) {
		t.Errorf("info of a length of 2^63-1: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "fsck", v.url); r.code != 1 || !strings.Contains(r.stderr, "corrupt value in key "+key) {
		t.Errorf("fsck of a length of 2^63-1: exit %d\n%s", r.code, r.stderr)
	}
	run(t, "dump", v.url, t.TempDir()+"/d.json").fails(t, key)
	set(good)
	if _, err := e.Truncate(ctx, sparse, 0, 0, false); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownEntryType: an entry of type 0 or 9 is corruption naming its
// key, for the library and every tool (before, it was accepted silently).
func TestUnknownEntryType(t *testing.T) {
	v := newDataVolume(t, "enttype")
	ctx := context.Background()
	e := v.e
	k := e.Keys()
	f, _ := v.writeFile(t, meta.RootInode, "f", 10)
	raw := e.Client()
	for _, typ := range []byte{0, 9} {
		ent := codec.Entry{Typ: codec.TypeFile, Inode: f}.Marshal()
		ent[0] = typ
		if err := raw.Do(ctx, raw.B().Hset().Key(k.Entries(meta.RootInode)).FieldValue().FieldValue("f", string(ent)).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		e.InvalidateCache()
		if _, _, err := e.Lookup(ctx, meta.RootInode, "f"); !meta.IsCorruption(err) || !strings.Contains(err.Error(), "unknown type") {
			t.Errorf("lookup of an entry of type %d: %v", typ, err)
		}
		if r := run(t, "info", v.url, "/f"); r.code != 1 || !strings.Contains(r.stderr, `corrupt value in key "d1"`) {
			t.Errorf("info through an entry of type %d: exit %d\n%s", typ, r.code, r.stderr)
		}
		if r := run(t, "fsck", v.url); r.code != 1 || !strings.Contains(r.stderr, "unknown type") {
			t.Errorf("fsck of an entry of type %d: exit %d\n%s", typ, r.code, r.stderr)
		}
	}
	ent := codec.Entry{Typ: codec.TypeFile, Inode: f}.Marshal()
	if err := raw.Do(ctx, raw.B().Hset().Key(k.Entries(meta.RootInode)).FieldValue().FieldValue("f", string(ent)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	e.InvalidateCache()
}
