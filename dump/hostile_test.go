package dump_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/fsck"
)

// minimalDump is a small valid document the hostile cases below are made
// from: a root with a file "f" (inode 2), a directory "d" (inode 3) holding a
// symlink "s" (inode 4).
const minimalDump = `{
  "Setting": {"Name": "v", "UUID": "u", "Storage": "file", "Bucket": "/b/", "BlockSize": 4096, "TrashDays": 0, "MetaVersion": 1, "EnableACL": false},
  "Counters": {"usedSpace": 12288, "usedInodes": 3, "nextInodes": 5, "nextChunk": 2, "nextSession": 0, "nextTrash": 0},
  "Sustained": [],
  "DelFiles": [],
  "FSTree": {
    "attr": {"inode":1,"type":"directory","mode":511,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,"nlink":3,"length":0},
    "entries": {
      "d": {
        "attr": {"inode":3,"type":"directory","mode":493,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,"nlink":2,"length":0},
        "entries": {
          "s": {
            "attr": {"inode":4,"type":"symlink","mode":511,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,"nlink":1,"length":0},
            "symlink": "../f"
          }
        }
      },
      "f": {
        "attr": {"inode":2,"type":"regular","mode":420,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,"nlink":1,"length":5},
        "chunks": [{"index":0,"slices":[{"id":1,"size":5,"len":5}]}]
      }
    }
  }
}
`

// replace returns minimalDump with old replaced by new (old must occur).
func replace(t testing.TB, old, new string) string {
	t.Helper()
	if !strings.Contains(minimalDump, old) {
		t.Fatalf("%q not in the minimal dump", old)
	}
	return strings.Replace(minimalDump, old, new, 1)
}

const fileAttr = `"attr": {"inode":2,"type":"regular","mode":420,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,"nlink":1,"length":5}`

func deepDump(levels int) string {
	var b strings.Builder
	b.WriteString(minimalDump[:strings.Index(minimalDump, `"FSTree"`)])
	b.WriteString(`"FSTree": {"attr": {"inode":1,"type":"directory","mode":511,"nlink":2}, "entries": {`)
	for i := range levels {
		b.WriteString(`"x": {"attr": {"inode":` + strconv.Itoa(i+2) + `,"type":"directory","mode":493,"nlink":2}, "entries": {`)
	}
	for range levels + 1 {
		b.WriteString("}}")
	}
	b.WriteString("}\n")
	return b.String()
}

// hugeFiles returns n entries of files of the largest length (inodes from
// 100), to be placed before an entry of the root.
func hugeFiles(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `"huge%d": {"attr": {"inode":%d,"type":"regular","mode":420,"nlink":1,"length":144115188075855871}},
      `, i, 100+i)
	}
	return b.String()
}

type hostileCase struct {
	name string
	doc  string
	want string // substring of the error
	near string // the error offset must be close to this text (optional)
	opts dump.LoadOptions
}

func hostileCases(t testing.TB) []hostileCase {
	dirD := `"attr": {"inode":3,"type":"directory","mode":493,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,"nlink":2,"length":0},`
	return []hostileCase{
		{name: "empty input", doc: "", want: "unexpected end"},
		{name: "not JSON", doc: "hello", want: "malformed JSON"},
		{name: "array", doc: "[]", want: "an object expected"},
		{name: "truncated", doc: minimalDump[:len(minimalDump)/2], want: "unexpected end"},
		{name: "truncated at the end", doc: minimalDump[:len(minimalDump)-3], want: "unexpected end"},
		{name: "trailing data", doc: minimalDump + `{"more":1}`, want: "after the end of the dump"},
		{name: "missing Counters", doc: replace(t, `"Counters": {"usedSpace": 12288, "usedInodes": 3, "nextInodes": 5, "nextChunk": 2, "nextSession": 0, "nextTrash": 0},`, ""),
			want: "missing 'Counters'"},
		{name: "null Counters", doc: replace(t, `"Counters": {"usedSpace": 12288, "usedInodes": 3, "nextInodes": 5, "nextChunk": 2, "nextSession": 0, "nextTrash": 0}`, `"Counters": null`),
			want: "missing 'Counters'"},
		{name: "wrong Counters type", doc: replace(t, `"usedSpace": 12288`, `"usedSpace": "lots"`), want: "usedSpace: string is not a 64-bit integer", near: `"lots"`},
		{name: "missing Setting", doc: replace(t, `"Setting": {"Name": "v", "UUID": "u", "Storage": "file", "Bucket": "/b/", "BlockSize": 4096, "TrashDays": 0, "MetaVersion": 1, "EnableACL": false},`, ""),
			want: `no "Setting"`},
		{name: "volume without name", doc: replace(t, `"Name": "v"`, `"Name": ""`), want: "no name"},
		{name: "block size 0", doc: replace(t, `"BlockSize": 4096`, `"BlockSize": 0`), want: "block size 0"},
		{name: "negative trash days", doc: replace(t, `"TrashDays": 0`, `"TrashDays": -1`), want: "trash days -1"},
		{name: "live file queued for deletion", doc: replace(t, `"DelFiles": [],`, `"DelFiles": [{"inode":2,"length":5,"expire":1}],`),
			want: "inode 2 is queued for deletion but is in the tree"},
		{name: "root queued for deletion", doc: replace(t, `"DelFiles": [],`, `"DelFiles": [{"inode":1,"length":0,"expire":1}],`),
			want: "inode 1 is queued for deletion"},
		{name: "incompatible metadata version", doc: replace(t, `"MetaVersion": 1`, `"MetaVersion": 99`), want: "metadata version 99"},
		{name: "missing FSTree", doc: minimalDump[:strings.Index(minimalDump, `,
  "FSTree"`)] + "}", want: `no "FSTree"`},
		{name: "unknown key", doc: replace(t, `"Sustained": [],`, `"Sustained": [], "Extra": 1,`), want: `unknown key "Extra"`},
		{name: "duplicate key", doc: replace(t, `"Sustained": [],`, `"Sustained": [], "Sustained": [],`), want: `"Sustained" appears twice`},
		{name: "string mode", doc: replace(t, `"mode":420`, `"mode":"rw"`), want: "mode: string is not an integer from 0 to 65535", near: `"rw"`},
		{name: "huge number", doc: replace(t, `"length":5}`, `"length":1e30}`), want: "length: number 1e30 is not an integer from 0 to 18446744073709551615", near: "1e30"},
		{name: "length beyond the largest file", doc: replace(t, `"length":5}`, `"length":144115188075855872}`), want: "length 144115188075855872 is beyond the largest file"},
		{name: "lengths adding up past 2^63", doc: replace(t, `"f": {`, hugeFiles(64)+`"f": {`), want: "the lengths of the volume add up to more than 9223372036854775807 bytes"},
		{name: "negative length", doc: replace(t, `"length":5}`, `"length":-5}`), want: "length: number -5 is not an integer"},
		{name: "fractional time", doc: replace(t, `"inode":2,"type":"regular","mode":420,"uid":0,"gid":0,"atime":1`, `"inode":2,"type":"regular","mode":420,"uid":0,"gid":0,"atime":1.5`), want: "atime: number 1.5 is not a 64-bit integer"},
		{name: "inode too large", doc: replace(t, `"inode":2,`, `"inode":18446744073709551616,`), want: "inode: number 18446744073709551616"},
		{name: "inode zero", doc: replace(t, `"inode":2,`, `"inode":0,`), want: "inode 0 is not a valid inode number"},
		{name: "inode of the trash range", doc: replace(t, `"inode":2,`, `"inode":9223372032828243969,`), want: "is not a valid inode number"},
		{name: "inode 1 below the root", doc: replace(t, `"inode":2,`, `"inode":1,`), want: "inode 1 is not a valid inode number"},
		{name: "mode with type bits", doc: replace(t, `"mode":420`, `"mode":33188`), want: "more than 12 permission bits"},
		{name: "nanoseconds", doc: replace(t, `"inode":2,"type":"regular","mode":420,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,`,
			`"inode":2,"type":"regular","mode":420,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,"ctimensec":1000000000,`), want: "not below one second"},
		{name: "unknown type", doc: replace(t, `"type":"regular"`, `"type":"unknown"`), want: `type "unknown" is not one of`},
		{name: "attr not first", doc: replace(t, fileAttr+`,
        "chunks": [{"index":0,"slices":[{"id":1,"size":5,"len":5}]}]`, `"chunks": [{"index":0,"slices":[{"id":1,"size":5,"len":5}]}],
        `+fileAttr), want: `must begin with its "attr"`},
		{name: "unknown node field", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "color": "red"`), want: `unknown node field "color"`},
		{name: "duplicate node field", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "symlink": "../g"`), want: `field "symlink" appears twice`},
		{name: "name with slash", doc: replace(t, `"f": {`, `"a/b": {`), want: `contains '/'`, near: `"a/b"`},
		{name: "escaped slash", doc: replace(t, `"f": {`, `"a%2Fb": {`), want: `contains '/'`},
		{name: "empty name", doc: replace(t, `"f": {`, `"": {`), want: "empty entry name"},
		{name: "dot name", doc: replace(t, `"f": {`, `"..": {`), want: `entry name ".." is not allowed`},
		{name: "NUL in name", doc: replace(t, `"f": {`, `"a%00": {`), want: "NUL"},
		{name: "long name", doc: replace(t, `"f": {`, `"`+strings.Repeat("n", 256)+`": {`), want: "entry name of 256 bytes"},
		{name: "duplicate name", doc: replace(t, `"d": {`, `"f": {`), want: `entry "f" appears twice`},
		{name: "conflicting hard link", doc: replace(t, `"symlink": "../f"
          }`, `"symlink": "../f"
          },
          "g": {"attr": {"inode":2,"type":"regular","mode":384,"uid":0,"gid":0,"atime":1,"mtime":1,"ctime":1,"nlink":2,"length":5},
                "chunks": [{"index":0,"slices":[{"id":1,"size":5,"len":5}]}]}`), want: "inode 2 differs from its first occurrence", near: `"f": {`},
		{name: "hard-linked directory", doc: replace(t, `"symlink": "../f"
          }`, `"symlink": "../f"
          },
          "again": {`+dirD+` "entries": {}}`), want: "directory inode 3 appears more than once"},
		{name: "root inside the tree", doc: replace(t, `"symlink": "../f"
          }`, `"symlink": "../f"
          },
          "loop": {"attr": {"inode":1,"type":"directory","mode":493,"nlink":2}, "entries": {}}`), want: "inode 1 is not a valid inode number"},
		{name: "sub-directory root below itself", doc: strings.Replace(replace(t, `"attr": {"inode":1,"type":"directory"`, `"attr": {"inode":3,"type":"directory"`), `"inode":4,"type":"symlink"`, `"inode":3,"type":"symlink"`, 1),
			want: "inode 3 is the root of the dumped tree"},
		{name: "too deep", doc: deepDump(20), opts: dump.LoadOptions{MaxDepth: 10}, want: "deeper than 10 levels"},
		{name: "absurd nesting", doc: deepDump(6000), want: "deeper than 4096 levels"},
		{name: "entries of a file", doc: replace(t, `"chunks": [{"index":0,"slices":[{"id":1,"size":5,"len":5}]}]`, `"entries": {}`), want: "a regular has no entries"},
		{name: "chunks of a directory", doc: replace(t, dirD+`
        "entries": {`, dirD+` "chunks": [],
        "entries": {`), want: "a directory has no chunks"},
		{name: "symlink of a file", doc: replace(t, `"chunks": [{"index":0,"slices":[{"id":1,"size":5,"len":5}]}]`, `"symlink": "x"`), want: "a regular has no symlink target"},
		{name: "symlink without target", doc: replace(t, `,
            "symlink": "../f"`, ``), want: "symlink inode 4 has no target"},
		{name: "chunks out of order", doc: replace(t, `"chunks": [{"index":0,"slices":[{"id":1,"size":5,"len":5}]}]`,
			`"chunks": [{"index":1,"slices":[]},{"index":0,"slices":[]}]`), want: "ascending order"},
		{name: "slices before index", doc: replace(t, `{"index":0,"slices":[{"id":1,"size":5,"len":5}]}`, `{"slices":[{"id":1,"size":5,"len":5}],"index":0}`),
			want: `"index" must come before`},
		{name: "slice beyond the chunk", doc: replace(t, `{"id":1,"size":5,"len":5}`, `{"id":1,"pos":67108860,"size":5,"len":5}`), want: "beyond the 67108864 bytes"},
		{name: "slice beyond its size", doc: replace(t, `{"id":1,"size":5,"len":5}`, `{"id":1,"size":5,"off":3,"len":5}`), want: "beyond the slice size 5"},
		{name: "slices not an array", doc: replace(t, `"slices":[{"id":1,"size":5,"len":5}]`, `"slices":{"id":1}`), want: "an array expected"},
		{name: "xattr without name", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "xattrs": [{"name":"","value":"x"}]`), want: "has no name"},
		{name: "duplicate xattr", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "xattrs": [{"name":"a","value":"x"},{"name":"a","value":"y"}]`), want: `"a" appears twice`},
		{name: "xattr value too long", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "xattrs": [{"name":"a","value":"`+strings.Repeat("v", 65537)+`"}]`), want: "65537 bytes"},
		{name: "ACL of wrong type", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "posix_acl_access": {"owner":"rw"}`), want: "owner: string is not an integer"},
		{name: "ACL permission too large", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "posix_acl_access": {"owner":6,"group":4,"other":4,"mask":9}`), want: "ACL mask permission 9 is not 0 to 7"},
		{name: "ACL user permission too large", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "posix_acl_access": {"owner":6,"group":4,"other":4,"mask":7,"users":[{"id":5,"perm":8}]}`), want: "ACL user 5 permission 8"},
		{name: "ACL user named twice", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "posix_acl_access": {"owner":6,"group":4,"other":4,"mask":7,"groups":[{"id":5,"perm":4},{"id":5,"perm":6}]}`), want: "ACL names group 5 twice"},
		{name: "default ACL on a symlink", doc: replace(t, `"symlink": "../f"`, `"symlink": "../f", "posix_acl_default": {"owner":6,"group":4,"other":4,"mask":7}`), want: "a symlink has no default ACL"},
		{name: "trash root number", doc: replace(t, "\n}\n", `, "Trash": {"attr": {"inode":5,"type":"directory","mode":0,"nlink":2}, "entries": {}}}`), want: "the trash root must be inode"},
		{name: "trash hour number", doc: replace(t, "\n}\n", `, "Trash": {"attr": {"inode":9223372032828243968,"type":"directory","mode":0,"nlink":2}, "entries": {
			"2024-01-01-00": {"attr": {"inode":7,"type":"directory","mode":365,"nlink":2}, "entries": {}}}}}`), want: "is not a trash sub-directory inode"},
		{name: "delfile inode 0", doc: replace(t, `"DelFiles": []`, `"DelFiles": [{"inode":0,"length":5,"expire":1}]`), want: "inode 0 is not a valid inode number"},
		{name: "quota key", doc: replace(t, `"DelFiles": []`, `"DelFiles": [], "Quotas": {"abc": {"maxSpace":1,"maxInodes":1}}`), want: `quota key "abc"`},
		{name: "user quota key", doc: replace(t, `"DelFiles": []`, `"DelFiles": [], "UserQuotas": {"4294967296": {"maxSpace":1,"maxInodes":1}}`), want: `quota key "4294967296"`},
		{name: "root not a directory", doc: replace(t, `"attr": {"inode":1,"type":"directory"`, `"attr": {"inode":1,"type":"regular"`), want: "root of the tree is a regular"},
	}
}

// TestLoadHostile feeds malformed, truncated and inconsistent documents to
// Load: each must be rejected with a *FormatError naming the position and
// the reason, and the database must stay empty.
func TestLoadHostile(t *testing.T) {
	e := openEmpty(t)
	ctx := context.Background()
	for _, c := range hostileCases(t) {
		t.Run(c.name, func(t *testing.T) {
			err := dump.Load(ctx, e, strings.NewReader(c.doc), c.opts)
			if err == nil {
				t.Fatal("accepted")
			}
			var fe *dump.FormatError
			if !errors.As(err, &fe) || !errors.Is(err, dump.ErrInvalidDump) {
				t.Fatalf("not a FormatError: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(c.doc)) || !strings.HasPrefix(fe.Path, "$") {
				t.Fatalf("bad position in %q", err)
			}
			if c.near != "" {
				i := strings.Index(c.doc, c.near)
				if d := fe.Offset - int64(i); d < -64 || d > 64 {
					t.Fatalf("offset %d is far from %q at %d: %v", fe.Offset, c.near, i, err)
				}
			}
			if n := keyCount(t, e); n != 0 {
				t.Fatalf("%d keys written", n)
			}
			t.Log(err)
		})
	}
}

// TestLoadMinimal checks that the base of the hostile cases is valid.
func TestLoadMinimal(t *testing.T) {
	e := openEmpty(t)
	if err := dump.Load(context.Background(), e, strings.NewReader(minimalDump), dump.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	checkVolume(t, e, fsck.Options{})
	if err := dump.Validate(strings.NewReader(minimalDump), dump.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
}

// repeatReader yields n copies of b without holding them.
type repeatReader struct {
	b byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n)
	for i := range p[:k] {
		p[i] = r.b
	}
	r.n -= k
	return int(k), nil
}

// TestLoadHugeToken: a 64 MiB name (or number) is refused with its
// position, without the decoder holding it: refusing a 100 MB name took
// 737 MB before.
func TestLoadHugeToken(t *testing.T) {
	head := minimalDump[:strings.Index(minimalDump, `"f": {`)]
	for _, c := range []struct {
		name        string
		open, close string
		fill        byte
	}{{"name", `"`, `": {}`, 'n'}, {"number", `"x": {"attr": {"inode":`, `}}`, '7'}} {
		doc := io.MultiReader(strings.NewReader(head+c.open), &repeatReader{c.fill, 64 << 20}, strings.NewReader(c.close+"}}}\n"))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := dump.Validate(doc, dump.LoadOptions{TempDir: t.TempDir()})
		runtime.ReadMemStats(&after)
		var fe *dump.FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "longer than") {
			t.Fatalf("%s: %v (want a FormatError about the length)", c.name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
			t.Errorf("%s: refusing it allocated %d MiB", c.name, grew>>20)
		}
		t.Log(err)
	}
}
