package dump_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
)

// writeGeneratedDump writes a valid dump of dirs directories of files files
// each (one slice per file), as a large input for tests and benchmarks.
func writeGeneratedDump(w io.Writer, dirs, files int) error {
	bw := &errWriter{w: w}
	bw.printf(`{
  "Setting": {"Name": "gen", "UUID": "g", "Storage": "file", "Bucket": "/b/", "BlockSize": 4096, "TrashDays": 0, "MetaVersion": 1, "DirStats": true, "EnableACL": false},
  "Counters": {"usedSpace": 0, "usedInodes": %d, "nextInodes": 0, "nextChunk": 0, "nextSession": 0, "nextTrash": 0},
  "Sustained": [],
  "DelFiles": [],
  "FSTree": {
    "attr": {"inode":1,"type":"directory","mode":511,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,"nlink":2,"length":0},
    "entries": {`, dirs*(files+1))
	ino, slice := 2, 1
	for d := range dirs {
		if d > 0 {
			bw.printf(",")
		}
		bw.printf(`
      "dir%06d": {
        "attr": {"inode":%d,"type":"directory","mode":493,"uid":%d,"gid":0,"atime":1,"mtime":1,"ctime":1,"nlink":2,"length":0},
        "entries": {`, d, ino, d%7)
		ino++
		for f := range files {
			if f > 0 {
				bw.printf(",")
			}
			bw.printf(`
          "file%07d.dat": {
            "attr": {"inode":%d,"type":"regular","mode":420,"uid":%d,"gid":%d,"atime":1700000000,"mtime":1700000000,"ctime":1700000000,"atimensec":1,"mtimensec":2,"ctimensec":3,"nlink":1,"length":%d},
            "chunks": [{"index":0,"slices":[{"id":%d,"size":%d,"len":%d}]}]
          }`, f, ino, f%5, f%3, 1000+f, slice, 1000+f, 1000+f)
			ino++
			slice++
		}
		bw.printf("\n        }\n      }")
	}
	bw.printf("\n    }\n  }\n}\n")
	return bw.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func TestLoadNotEmpty(t *testing.T) {
	e := openEmpty(t)
	ctx := context.Background()
	if err := e.Client().Do(ctx, e.Client().B().Set().Key("unrelated").Value("1").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	err := dump.Load(ctx, e, strings.NewReader(minimalDump), dump.LoadOptions{})
	if !errors.Is(err, dump.ErrNotEmpty) || !strings.Contains(err.Error(), "holds 1 keys") {
		t.Fatalf("got %v", err)
	}
	if n := keyCount(t, e); n != 1 {
		t.Fatalf("%d keys", n)
	}
}

// TestLoadFailureCleanup makes Redis refuse writes midway (maxmemory): the
// load must fail, say so, and leave the database empty again.
func TestLoadFailureCleanup(t *testing.T) {
	srv := redistest.Start(t)
	e := openURL(t, srv.URL("redis", 0))
	used, err := strconv.ParseInt(srv.Info(t, "memory", "used_memory"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Do(t, 0, "CONFIG", "SET", "maxmemory", strconv.FormatInt(used+4<<20, 10)).Error(); err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	if err := writeGeneratedDump(&doc, 20, 2000); err != nil {
		t.Fatal(err)
	}
	var phases []string
	err = dump.Load(context.Background(), e, &doc, dump.LoadOptions{Progress: func(phase string, done, total int64) {
		if len(phases) == 0 || phases[len(phases)-1] != phase {
			phases = append(phases, phase)
		}
	}})
	if !errors.Is(err, dump.ErrLoadFailed) || !strings.Contains(err.Error(), "OOM") ||
		!strings.Contains(err.Error(), "the database is empty again") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
	if strings.Join(phases, ",") != "parse,write" {
		t.Fatalf("phases %v", phases)
	}
	if n := keyCount(t, e); n != 0 {
		t.Fatalf("%d keys left", n)
	}
}

// TestLoadGenerated loads a larger generated document and checks it.
func TestLoadGenerated(t *testing.T) {
	var doc bytes.Buffer
	if err := writeGeneratedDump(&doc, 5, 3000); err != nil {
		t.Fatal(err)
	}
	e := openEmpty(t)
	if err := dump.Load(context.Background(), e, bytes.NewReader(doc.Bytes()), dump.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	checkVolume(t, e, fsck.Options{})
	// Every node is there and dumps in the same order.
	out := dumpOf(t, e, dump.DumpOptions{SkipTrash: true})
	if got, want := bytes.Count(out, []byte(`"attr": `)), bytes.Count(doc.Bytes(), []byte(`"attr": `)); got != want {
		t.Fatalf("%d nodes, want %d", got, want)
	}
}

// TestLoadUserGroupQuotas: user and group usage is computed the way the
// official full scan counts it (regular files once per inode, directories;
// not symlinks or special files; the trash when it is kept).
func TestLoadUserGroupQuotas(t *testing.T) {
	doc := strings.Replace(minimalDump, `"DelFiles": [],`, `"DelFiles": [],
  "UserQuotas": {"0": {"maxSpace": 1048576, "maxInodes": -5}, "77": {"maxSpace": 10, "maxInodes": 10}},
  "GroupQuotas": {"0": {"maxSpace": -1, "maxInodes": 100}},`, 1)
	doc = strings.Replace(doc, `"f": {
        "attr": {"inode":2,"type":"regular","mode":420,"uid":0,"gid":0,`, `"f": {
        "attr": {"inode":2,"type":"regular","mode":420,"uid":5,"gid":6,`, 1)
	e := openEmpty(t)
	ctx := context.Background()
	if err := dump.Load(ctx, e, strings.NewReader(doc), dump.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	checkVolume(t, e, fsck.Options{UserGroupScanRules: true})
	k, c := e.Keys(), e.Client()
	hash := func(key string) map[string]string {
		m, err := c.Do(ctx, c.B().Hgetall().Key(key).Build()).AsStrMap()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	q := func(space, inodes int64) string {
		return string(codec.QuotaLimits{MaxSpace: space, MaxInodes: inodes}.Marshal())
	}
	for key, want := range map[string]map[string]string{
		k.UserQuota():            {"0": q(1048576, -1), "5": q(-1, -1), "77": q(10, 10)},
		k.UserQuotaUsedSpace():   {"0": "4096", "5": "4096", "77": "0"},
		k.UserQuotaUsedInodes():  {"0": "1", "5": "1", "77": "0"},
		k.GroupQuota():           {"0": q(-1, 100), "6": q(-1, -1)},
		k.GroupQuotaUsedSpace():  {"0": "4096", "6": "4096"},
		k.GroupQuotaUsedInodes(): {"0": "1", "6": "1"},
	} {
		got := hash(key)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	// The quotas dump again (limits only).
	out := dumpOf(t, e, dump.DumpOptions{})
	if !bytes.Contains(out, []byte(`"UserQuotas": {
    "0": {
      "maxSpace": 1048576,
      "maxInodes": -1
    },
    "77": {`)) {
		t.Fatalf("dump:\n%s", out)
	}
}

// TestLoadSubdirQuota: a sub-directory dump becomes the root, and the
// sub-directory's quota follows it; quotas of directories outside it are
// dropped.
func TestLoadSubdirQuota(t *testing.T) {
	src := openFixture(t, "acl-quota")
	doc := dumpOf(t, src, dump.DumpOptions{Subdir: "quota/q1"})
	if !bytes.Contains(doc, []byte(`"1047": {`)) || !bytes.Contains(doc, []byte(`"3": {`)) {
		t.Fatalf("quotas of the whole volume expected:\n%s", headOf(t, doc))
	}
	e := openEmpty(t)
	var logs logBuffer
	if err := dump.Load(context.Background(), e, bytes.NewReader(doc), dump.LoadOptions{Logger: logs.logger()}); err != nil {
		t.Fatal(err)
	}
	checkVolume(t, e, fsck.Options{})
	out := dumpOf(t, e, dump.DumpOptions{})
	if !bytes.Contains(out, []byte(`"Quotas": {
    "1": {
      "maxSpace": 1073741824,
      "maxInodes": 100
    }
  },`)) {
		t.Fatalf("quota of the new root expected:\n%s", headOf(t, out))
	}
	if !strings.Contains(logs.String(), "quota dropped") {
		t.Fatalf("no warning about the dropped quota:\n%s", logs.String())
	}
}

// TestLoadLegacyAndExtras: the legacy "chunkid" slice field, a ChangeLog
// and sustained inodes (logged, not restored), DelFiles (restored, and
// their inodes never handed out again).
func TestLoadLegacyAndExtras(t *testing.T) {
	doc := strings.Replace(minimalDump, `{"id":1,"size":5,"len":5}`, `{"chunkid":9,"size":5,"len":5}`, 1)
	doc = strings.Replace(doc, `"Sustained": [],
  "DelFiles": [],`, `"Sustained": [{"sid": 3, "inodes": [40, 41]}],
  "DelFiles": [{"inode": 100, "length": 5, "expire": 1700000000}],
  "ChangeLog": [{"version": 1, "entry": "x"}],`, 1)
	e := openEmpty(t)
	ctx := context.Background()
	var logs logBuffer
	if err := dump.Load(ctx, e, strings.NewReader(doc), dump.LoadOptions{Logger: logs.logger()}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sustained inodes", "change log"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no message about %s:\n%s", want, logs.String())
		}
	}
	c, k := e.Client(), e.Keys()
	rec, _ := c.Do(ctx, c.B().Lindex().Key(k.Chunk(2, 0)).Index(0).Build()).ToString()
	if r, err := codec.UnmarshalSliceRecord(rec); err != nil || r.ID != 9 {
		t.Fatalf("record %+v %v", r, err)
	}
	next, _ := c.Do(ctx, c.B().Get().Key(k.NextInode()).Build()).ToString()
	chunk, _ := c.Do(ctx, c.B().Get().Key(k.NextChunk()).Build()).ToString()
	score, err := c.Do(ctx, c.B().Zscore().Key(k.DelFiles()).Member("100:5").Build()).AsFloat64()
	if next != "100" || chunk != "9" || err != nil || score != 1700000000 {
		t.Fatalf("nextinode %s nextchunk %s delfiles score %v %v", next, chunk, score, err)
	}
}
