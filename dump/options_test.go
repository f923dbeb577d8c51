package dump_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// headOf returns the part of a dump before the FSTree node.
func headOf(t *testing.T, doc []byte) string {
	t.Helper()
	i := bytes.Index(doc, []byte("\n  \"FSTree\": {"))
	if i < 0 {
		t.Fatal("no FSTree")
	}
	return string(doc[:i])
}

// subtreeText cuts the node at path out of a whole-volume dump and turns it
// into the FSTree node of a sub-directory dump: the same lines, dedented to
// depth 1 and renamed.
func subtreeText(t *testing.T, doc []byte, path ...string) string {
	t.Helper()
	lines := strings.Split(string(doc), "\n")
	at, depth := 0, 1
	for _, comp := range path {
		depth += 2
		open := strings.Repeat("  ", depth) + `"` + comp + `": {`
		for at < len(lines) && lines[at] != open {
			at++
		}
		if at == len(lines) {
			t.Fatalf("%q not found", open)
		}
	}
	end := at + 1
	closing := strings.Repeat("  ", depth) + "}"
	for end < len(lines) && strings.TrimSuffix(lines[end], ",") != closing {
		end++
	}
	node := lines[at : end+1]
	out := make([]string, len(node))
	for i, l := range node {
		out[i] = strings.TrimPrefix(l, strings.Repeat("  ", depth-1))
	}
	out[0] = `  "FSTree": {`
	out[len(out)-1] = "  }"
	return strings.Join(out, "\n")
}

func TestDumpSubdir(t *testing.T) {
	for _, c := range []struct {
		vol  string
		path []string
	}{{"basic", []string{"docs"}}, {"basic", []string{"docs", "guides", "2024"}}, {"acl-quota", []string{"quota"}}, {"acl-quota", []string{"acl", "team"}}} {
		t.Run(c.vol+"/"+strings.Join(c.path, "/"), func(t *testing.T) {
			e := openFixture(t, c.vol)
			full := fixtureDump(t, c.vol)
			want := headOf(t, full) + "\n" + subtreeText(t, full, c.path...) + "\n}\n"
			for _, sub := range []string{strings.Join(c.path, "/"), "/" + strings.Join(c.path, "/") + "/"} {
				got := dumpOf(t, e, dump.DumpOptions{Subdir: sub})
				checkSame(t, "sub-directory dump", []byte(want), got)
			}
			// The sub-directory dump loads as a volume of its own.
			e2 := openEmpty(t)
			if err := dump.Load(context.Background(), e2, strings.NewReader(want), dump.LoadOptions{}); err != nil {
				t.Fatal(err)
			}
			checkVolume(t, e2, fsck.Options{})
		})
	}
	e := openFixture(t, "basic")
	for _, bad := range []string{"missing", "config.ini"} {
		if err := dump.Dump(context.Background(), e, &bytes.Buffer{}, dump.DumpOptions{Subdir: bad}); err == nil {
			t.Errorf("sub-directory %q accepted", bad)
		}
	}
}

func TestDumpSkipTrash(t *testing.T) {
	for _, vol := range fixtures.Volumes() {
		e := openFixture(t, vol)
		full := fixtureDump(t, vol)
		i := bytes.Index(full, []byte(",\n  \"Trash\": {"))
		want := string(full[:i]) + "\n}\n"
		checkSame(t, "dump without trash", []byte(want), dumpOf(t, e, dump.DumpOptions{SkipTrash: true, Fast: true}))
	}
}

// withFormat rewrites the setting of the volume of e.
func withFormat(t *testing.T, ctx context.Context, e *meta.Engine, change func(*codec.Format)) {
	t.Helper()
	f, err := e.Load(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	change(f)
	b, err := f.MarshalSetting()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Client().Do(ctx, e.Client().B().Set().Key(e.Keys().Setting()).Value(string(b)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	e.InvalidateCache(e.Keys().Setting()) // written behind the engine's back
}

func TestDumpSecrets(t *testing.T) {
	ctx := context.Background()
	e := openFixture(t, "empty")
	withFormat(t, ctx, e, func(f *codec.Format) {
		f.AccessKey, f.SecretKey, f.SessionToken, f.EncryptKey = "ak", "sk", "st", "ek"
	})
	full := string(fixtureDump(t, "empty"))
	insert := func(secret, token string) string {
		s := strings.Replace(full, `    "Bucket": "/var/jfs/public/empty/bucket/",`, `    "Bucket": "/var/jfs/public/empty/bucket/",
    "AccessKey": "ak",
    "SecretKey": "`+secret+`",
    "SessionToken": "`+token+`",`, 1)
		return strings.Replace(s, `    "Compression": "none",`, `    "Compression": "none",
    "EncryptKey": "ek",`, 1)
	}
	checkSame(t, "dump without secrets", []byte(insert("removed", "removed")), dumpOf(t, e, dump.DumpOptions{}))
	checkSame(t, "dump with secrets", []byte(insert("sk", "st")), dumpOf(t, e, dump.DumpOptions{KeepSecretKey: true}))
}

// TestDumpHead covers the parts of the head the fixtures leave empty:
// sustained inodes, deleted files, directory, user and group quotas, and the
// change-log counter.
func TestDumpHead(t *testing.T) {
	ctx := context.Background()
	e := openFixture(t, "empty")
	c, k := e.Client(), e.Keys()
	withFormat(t, ctx, e, func(f *codec.Format) { f.ChangeLog, f.Name = true, "a<b>&c" })
	q := func(space, inodes int64) string {
		return string(codec.QuotaLimits{MaxSpace: space, MaxInodes: inodes}.Marshal())
	}
	sub := codec.Attr{Typ: codec.TypeDirectory, Mode: 0o755, Nlink: 2, Length: 4096, Parent: 1}
	for _, cmd := range [][]string{
		{"ZADD", k.AllSessions(), "100", "3", "50", "5", "200", "7"},
		{"SADD", k.Sustained(3), "10", "11"},
		{"SADD", k.Sustained(5), "12"},
		{"ZADD", k.DelFiles(), "1700000000", "7:100", "1", "bad", "5", "8:0"},
		{"HSET", k.DirQuota(), "2", q(1000, 10), "10", q(-1, -1), "x", q(1, 1), "3", "short"},
		{"HSET", k.UserQuota(), "0", q(2000, -1)},
		{"HSET", k.GroupQuota(), "100", q(-1, 5)},
		{"SET", k.TxnLastLog(), "42"},
		{"SET", k.Inode(2), string(sub.Marshal())},
		{"HSET", k.Entries(1), "sub", string(codec.Entry{Typ: codec.TypeDirectory, Inode: 2}.Marshal())},
	} {
		if err := c.Do(ctx, c.B().Arbitrary(cmd[0]).Keys(cmd[1]).Args(cmd[2:]...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	doc := dumpOf(t, e, dump.DumpOptions{})
	want := `
  "Counters": {
    "usedSpace": 0,
    "usedInodes": 0,
    "nextInodes": 1,
    "nextChunk": 1,
    "nextSession": 1,
    "nextTrash": 0,
    "lastChangelog": 42
  },
  "Sustained": [
    {
      "sid": 5,
      "inodes": [
        12
      ]
    },
    {
      "sid": 3,
      "inodes": [
        10,
        11
      ]
    }
  ],
  "DelFiles": [
    {
      "inode": 8,
      "length": 0,
      "expire": 5
    },
    {
      "inode": 7,
      "length": 100,
      "expire": 1700000000
    }
  ],
  "Quotas": {
    "2": {
      "maxSpace": 1000,
      "maxInodes": 10
    }
  },
  "UserQuotas": {
    "0": {
      "maxSpace": 2000,
      "maxInodes": -1
    }
  },
  "GroupQuotas": {
    "100": {
      "maxSpace": -1,
      "maxInodes": 5
    }
  },`
	if !strings.Contains(string(doc), want) {
		t.Fatalf("head:\n%s\nwant:\n%s", headOf(t, doc), want)
	}
	if !strings.Contains(string(doc), `"Name": "a\u003cb\u003e\u0026c",`) || !strings.Contains(string(doc), `"ChangeLog": true`) {
		t.Fatalf("setting not as juicefs writes it:\n%s", headOf(t, doc))
	}
	// A sub-directory dump keeps the directory quotas only.
	doc = dumpOf(t, e, dump.DumpOptions{Subdir: "sub"})
	if !strings.Contains(string(doc), `"Quotas"`) || strings.Contains(string(doc), "UserQuotas") ||
		strings.Contains(string(doc), "GroupQuotas") || strings.Contains(string(doc), `"Trash"`) {
		t.Fatalf("sub-directory head:\n%s", doc)
	}
	// The document is valid JSON.
	var v map[string]any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
}

func TestDumpCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	cl := redistest.StartCluster(t, 3, 0)
	ctx := context.Background()
	src := openURL(t, cl.URL("redis", 4))
	if src.Keys().Prefix() == "" {
		t.Fatal("no cluster prefix")
	}
	if _, err := fixtures.LoadVolume(ctx, src.Client(), "basic", src.Keys().Prefix()); err != nil {
		t.Fatal(err)
	}
	orig := fixtureDump(t, "basic")
	checkSame(t, "cluster dump", orig, dumpOf(t, src, dump.DumpOptions{}))
	dst := openURL(t, cl.URL("redis", 5))
	if err := dump.Load(ctx, src, bytes.NewReader(orig), dump.LoadOptions{}); err == nil {
		t.Fatal("loaded into a prefix holding a volume")
	}
	if err := dump.Load(ctx, dst, bytes.NewReader(orig), dump.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	checkVolume(t, dst, fsck.Options{})
	checkSame(t, "cluster reload", normalizeCounters(orig), normalizeCounters(dumpOf(t, dst, dump.DumpOptions{})))
}
