package cli

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestInfoOfFixtures: info prints what juicefs info printed for every path
// recorded in the fixtures' info.txt (juicefs ran in the mount point, so
// its paths are relative to the root, as ours are). The objects of the
// file storage are there, so a file's tier shows the actual storage class.
func TestInfoOfFixtures(t *testing.T) {
	replayOfficial(t, "info.txt", true, func(t *testing.T, fv *fixtureVolume, cmd, want string) {
		args := strings.Fields(cmd)
		if args[0] != "info" {
			t.Fatalf("unexpected command %q", cmd)
		}
		r := run(t, append([]string{"info", fv.url}, args[1:]...)...).ok(t)
		if r.stdout != want {
			t.Errorf("rueidisfs %s printed:\n%s\njuicefs printed:\n%s", cmd, r.stdout, want)
		}
	})
}

func TestInfoInodesLinksAndErrors(t *testing.T) {
	fv := loadFixture(t, "basic", false)
	// By inode; several arguments; a symlink is followed.
	r := run(t, "info", fv.url, "-i", "16").ok(t)
	r.stdout += run(t, "info", fv.url, "links/rel-hello", "links/to-docs").ok(t).stdout
	for _, want := range []string{"16 :\n  inode: 16\n", "links/rel-hello :\n  inode: 2\n", "links/to-docs :\n  inode: 5\n", "   path: /docs\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// Without the bucket the objects are listed, the tier is not looked up.
	if !strings.Contains(r.stdout, "   tier: 0-> \n objects:\n") {
		t.Errorf("tier of a file without its bucket:\n%s", r.stdout)
	}
	// A recursive summary of a directory counts its whole tree.
	r = run(t, "info", fv.url, "docs", "-r", "--strict").ok(t)
	if !strings.Contains(r.stdout, "  files: 6\n   dirs: 5\n") {
		t.Errorf("recursive info of docs:\n%s", r.stdout)
	}
	// Errors: a missing path is reported and the others still shown.
	r = run(t, "info", fv.url, "nowhere", "hello.txt")
	r.fails(t, "1 of 2 paths could not be found")
	if !strings.Contains(r.stderr, `lookup inode for "nowhere": no such file or directory`) || !strings.Contains(r.stdout, "hello.txt :") {
		t.Errorf("missing path:\n%s\n%s", r.stdout, r.stderr)
	}
	r = run(t, "info", fv.url, "links/abs-target").fails(t, "1 of 1 paths could not be found")
	if !strings.Contains(r.stderr, `is a symbolic link to the absolute path "/srv/juicefs/hello.txt"`) {
		t.Errorf("absolute symlink:\n%s", r.stderr)
	}
	run(t, "info", fv.url, "-i", "0").fails(t, "inode number shouldn't be less than 1")
	run(t, "info", fv.url).fails(t, "This command requires at least 2 arguments")
}

// TestInfoLocks: the locks held on a file are listed.
func TestInfoLocks(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "locks")
	e := engine(t, url)
	ctx := context.Background()
	ino, _, err := e.Create(ctx, meta.RootInode, "locked", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	k := e.Keys()
	raw := e.Client()
	for _, cmd := range [][]string{
		{"HSET", k.Flock(ino), codec.LockOwnerKey(3, 0xABC), "W"},
		{"HSET", k.Plock(ino), codec.LockOwnerKey(4, 7), string(codec.MarshalPosixLocks([]codec.PosixLock{{Type: codec.LockRead, Pid: 99, Start: 0, End: 100}}))},
	} {
		if err := raw.Do(ctx, raw.B().Arbitrary(cmd...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		raw.Do(ctx, raw.B().Del().Key(k.Flock(ino), k.Plock(ino)).Build())
	}()
	r := run(t, "info", url, "locked").ok(t)
	want := ` flocks:
+-----+-------+------+
| Sid | Owner | Type |
+-----+-------+------+
| 3   |  2748 |    W |
+-----+-------+------+
 plocks:
+-----+-------+------+-----+-------+-----+
| Sid | Owner | Type | Pid | Start | End |
+-----+-------+------+-----+-------+-----+
| 4   |     7 |    R |  99 |     0 | 100 |
+-----+-------+------+-----+-------+-----+
`
	if !strings.HasSuffix(r.stdout, want) {
		t.Errorf("locks:\n%s\nwant the tables\n%s", r.stdout, want)
	}
}

// TestSummaryOfFixtures: summary prints juicefs summary's table and CSV.
// Children of equal size are in no particular order in juicefs's output (it
// sorts by size only), so rows are compared as sets within each run of
// equal sizes.
func TestSummaryOfFixtures(t *testing.T) {
	replayOfficial(t, "summary.txt", false, func(t *testing.T, fv *fixtureVolume, cmd, want string) {
		args := strings.Fields(cmd)
		var flags []string
		for _, a := range args[1:] {
			if a != "." {
				flags = append(flags, a)
			}
		}
		r := run(t, append([]string{"summary", fv.url, "/"}, flags...)...).ok(t)
		if g, w := sizeRuns(r.stdout), sizeRuns(want); !equalRuns(g, w) {
			t.Errorf("rueidisfs %s printed:\n%s\njuicefs printed:\n%s", cmd, r.stdout, want)
		}
		if strings.Contains(cmd, "--entries 1000") && !hasLog(r.stderr, "WARNING", "entries should be less than 101") {
			t.Errorf("no warning about --entries 1000:\n%s", r.stderr)
		}
	})
}

// sizeRuns cuts a summary (table or CSV) into runs of consecutive rows of
// the same size column, each run sorted; borders stay runs of their own.
func sizeRuns(out string) [][]string {
	var runs [][]string
	lastSize := "\x00"
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		size := l
		if strings.HasPrefix(l, "|") {
			size = strings.TrimSpace(strings.Split(l, "|")[2])
		} else if strings.Count(l, ",") >= 3 {
			f := strings.Split(l, ",")
			size = f[len(f)-3]
		}
		if size != lastSize || len(runs) == 0 {
			runs = append(runs, nil)
			lastSize = size
		}
		runs[len(runs)-1] = append(runs[len(runs)-1], l)
	}
	for _, r := range runs {
		sort.Strings(r)
	}
	return runs
}

func equalRuns(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\n") != strings.Join(b[i], "\n") {
			return false
		}
	}
	return true
}

func TestSummaryOptions(t *testing.T) {
	fv := loadFixture(t, "basic", false)
	r := run(t, "summary", fv.url, "data/big.bin").ok(t)
	want := `+------+---------+------+-------+
| PATH |   SIZE  | DIRS | FILES |
+------+---------+------+-------+
| /    | 2.5 MiB |    0 |     1 |
+------+---------+------+-------+
`
	if r.stdout != want {
		t.Errorf("summary of a file:\n%s", r.stdout)
	}
	r = run(t, "summary", fv.url, "docs", "-d", "0", "--csv").ok(t)
	if r.stdout != "PATH,SIZE,DIRS,FILES\n/,45056,5,6\n" {
		t.Errorf("summary -d 0 of docs:\n%s", r.stdout)
	}
	r = run(t, "summary", fv.url, "/", "--depth", "11", "-e", "1", "--csv").ok(t)
	if !hasLog(r.stderr, "WARNING", "depth should be less than 11") || !strings.Contains(r.stdout, "\n...,") {
		t.Errorf("summary --depth 11 -e 1:\n%s\n%s", r.stdout, r.stderr)
	}
	run(t, "summary", fv.url, "nowhere").fails(t, `lookup inode for "nowhere": no such file or directory`)
	run(t, "summary", fv.url).fails(t, "This command requires at least 2 arguments")
	run(t, "summary", fv.url, "a", "b").fails(t, "accept at most 2 arguments")
}
