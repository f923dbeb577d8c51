package cli

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/mdtest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestMdtest runs the workload command like juicefs mdtest: by default the
// create phase only, leaving the tree in place and saying where it is.
func TestMdtest(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "mdtest")
	r := run(t, "mdtest", url, "/bench", "--threads", "2", "--dirs", "2", "--depth", "2", "--files", "3").ok(t)
	for _, want := range []string{
		`Create 42 files in 7 dirs`,
		`Created 7 dirs in [^ ]+ \(\d+ dirs/s\)`,
		`Created 42 files in [^ ]+ \(\d+ files/s\)`,
		`The tree is left in place: /bench/test-dir.0-0 holds 7 dirs and 42 files; remove it with ` + "`rueidisfs rmr redis://[^ ]+ /bench/test-dir.0-0`",
	} {
		if !regexp.MustCompile(want).MatchString(r.stderr) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(r.stderr, "Stat ") || strings.Contains(r.stderr, "Removed ") {
		t.Error("mdtest ran more than the create phase by default")
	}
	e := engine(t, url)
	if _, _, err := e.Resolve(context.Background(), meta.RootInode, "bench/test-dir.0-0/mdtest_tree.0/mdtest_tree.1/file.mdtest.1.2"); err != nil {
		t.Errorf("the tree is not left in place: %v", err)
	}

	r = run(t, "mdtest", url, "bench2", "--threads", "2", "--dirs", "2", "--depth", "2", "--files", "3", "--phases", "all", "--stats").ok(t)
	for _, want := range []string{
		`Stat 42 files in `,
		`Listed 7 dirs in `,
		`Renamed 42 files in `,
		`Removed 42 files in `,
		`The tree /bench2/test-dir.0-0 was removed into the trash, where it stays 1 day`,
		`client-side cache: \d+ hits, \d+ misses`,
		`transactions: \d+ committed`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stderr) {
			t.Errorf("output lacks %q", want)
		}
	}
	r = run(t, "mdtest", url, "/bench3", "--files", "2", "--depth", "1", "--phases", "stat,readdir").ok(t)
	if !strings.Contains(r.stderr, "Stat 8 files") || strings.Contains(r.stderr, "Renamed") {
		t.Errorf("--phases stat,readdir ran other phases")
	}
	run(t, "mdtest", url, "/bench4", "--phases", "stat,bogus").fails(t, `unknown phase "bogus"`)
	run(t, "mdtest", url).fails(t, "requires at least 2 arguments")
}

// TestMdtestJuicefsFlags: juicefs mdtest's client options are accepted;
// those that mean something are honoured, the others named as having no
// effect.
func TestMdtestJuicefsFlags(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "mdtest-flags")
	r := run(t, "mdtest", url, "/b", "--files", "2", "--depth", "1", "--dirs", "2",
		"--subdir", "/team", "--no-bgjob", "--heartbeat", "5", "--atime-mode", "relatime", "--skip-dir-mtime", "1s",
		"--attr-cache", "0", "--entry-cache", "0", "--cache-size", "1G", "--backup-meta", "0", "--writeback",
		"--access-log", "/tmp/access.log", "--no-usage-report", "--max-uploads", "5").ok(t)
	if !strings.Contains(r.stderr, "--backup-meta, --attr-cache, --entry-cache, --max-uploads, --writeback, --cache-size, --no-usage-report: no effect on mdtest (mdtest writes no data)") {
		t.Errorf("the flags without effect are not named")
	}
	if !strings.Contains(r.stderr, "The tree is left in place: /team/b/test-dir.0-0 holds 3 dirs and 6 files") {
		t.Errorf("--subdir is not honoured")
	}
	if _, _, err := engine(t, url).Resolve(context.Background(), meta.RootInode, "team/b/test-dir.0-0/mdtest_tree.0/mdtest_tree.1/file.mdtest.0.1"); err != nil {
		t.Errorf("the tree is not under --subdir: %v", err)
	}
	run(t, "mdtest", url, "/c", "--read-only").fails(t, "--read-only: mdtest creates files, which a read-only client cannot do")
	run(t, "mdtest", url, "/c", "--heartbeat", "soon").fails(t, `invalid value "soon" for --heartbeat`)
	run(t, "mdtest", url, "/c", "--atime-mode", "always").fails(t, `invalid --atime-mode "always"`)
}

// TestMdtestCounts: negative counts and trees or totals too large to count
// are refused before anything is created (they were accepted and
// overflowed).
func TestMdtestCounts(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--threads", "0"}, "invalid --threads 0"},
		{[]string{"--files", "-1"}, "invalid --files -1"},
		{[]string{"--dirs", "-3"}, "invalid --dirs -3"},
		{[]string{"--depth", "-1"}, "invalid --depth -1"},
		{[]string{"--write", "-5"}, "invalid --write -5"},
		{[]string{"--dirs", "10", "--depth", "100"}, "makes a tree of more than"},
		{[]string{"--dirs", "1", "--depth", "9223372036854775807"}, "makes a tree of more than"},
		{[]string{"--threads", "4611686018427387904", "--files", "4"}, "files"},
	} {
		err := checkMdtestCountsArgs(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v (want %q)", c.args, err, c.want)
		}
	}
	if err := checkMdtestCountsArgs(t, "--dirs", "0", "--depth", "9223372036854775807"); err != nil {
		t.Errorf("a tree without sub-directories: %v", err)
	}
	// Checked before the volume is opened.
	run(t, "mdtest", "redis://127.0.0.1:1/1", "d", "--files", "-1").fails(t, "invalid --files -1")
}

func checkMdtestCountsArgs(t *testing.T, args ...string) error {
	t.Helper()
	o := mdtest.Options{Threads: 1, Dirs: 3, Depth: 2, Files: 10}
	for i := 0; i+1 < len(args); i += 2 {
		v, err := strconv.Atoi(args[i+1])
		if err != nil {
			t.Fatal(err)
		}
		*map[string]*int{"--threads": &o.Threads, "--dirs": &o.Dirs, "--depth": &o.Depth, "--files": &o.Files, "--write": &o.Write}[args[i]] = v
	}
	return checkMdtestCounts(o)
}
