package cli

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Helpers of the tests of the tools (fsck, gc, info, summary, rmr, quota).

// fixtureVolume is an official client's volume loaded into a fresh
// database.
type fixtureVolume struct {
	url    string
	srv    *redistest.Server
	db     int
	bucket string // where the objects were unpacked ("" without objects)
}

// loadFixture loads the keyspace of fixture vol. With objects, its bucket is
// unpacked into a temporary directory and the volume pointed at it with
// `config --bucket`. The volume is recounted at the end of the test, which
// must find nothing the fixture did not have: the official client left the
// statistics of one directory of acl-quota stale (quota/ counts one entry
// of two), which juicefs fsck does not check.
func loadFixture(t *testing.T, vol string, objects bool) *fixtureVolume {
	t.Helper()
	url, srv, db := newDB(t)
	if _, err := fixtures.LoadVolume(context.Background(), srv.Client(t, db), vol, ""); err != nil {
		t.Fatal(err)
	}
	fv := &fixtureVolume{url: url, srv: srv, db: db}
	if objects {
		fv.bucket = t.TempDir()
		untar(t, fixtures.Path(vol, "objects.tar.gz"), fv.bucket)
		run(t, "config", url, "--bucket", fv.bucket, "--yes").ok(t)
	}
	baseline := map[string]bool{}
	for _, p := range recountProblems(t, url) {
		baseline[p] = true
	}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		var added []string
		for _, p := range recountProblems(t, url) {
			if !baseline[p] {
				added = append(added, p)
			}
		}
		if len(added) > 0 {
			t.Errorf("volume inconsistent after the test:\n%s", strings.Join(added, "\n"))
		}
	})
	return fv
}

// recountProblems recounts every counter of the volume at url.
func recountProblems(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	e, f, err := openFresh(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	rep, err := fsck.Recount(ctx, e.Client(), e.Keys(), fsck.Options{SkipDirStats: !f.DirStats})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range rep.Problems {
		out = append(out, p.String())
	}
	return out
}

// untar unpacks a .tar.gz file into dir.
func untar(t *testing.T, file, dir string) {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	gz, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
			t.Fatalf("tar entry %q escapes the directory", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// replayOfficial calls check, in a subtest per fixture volume (loaded with
// its objects or not), for every command of the fixture's record file with
// what juicefs printed for it.
func replayOfficial(t *testing.T, file string, objects bool, check func(t *testing.T, fv *fixtureVolume, cmd, want string)) {
	t.Helper()
	for _, vol := range fixtures.Volumes() {
		t.Run(vol, func(t *testing.T) {
			fv := loadFixture(t, vol, objects)
			cmds := officialOutputs(t, vol, file)
			if len(cmds) == 0 {
				t.Fatalf("no command in %s", file)
			}
			for cmd, want := range cmds {
				check(t, fv, cmd, want)
			}
		})
	}
}

// officialOutputs splits a fixture's record of commands (info.txt,
// summary.txt, quota.txt, fsck.txt) into what each "$ juicefs ..." command
// printed, keyed by the command line without "$ juicefs ". Log lines are
// dropped.
func officialOutputs(t *testing.T, vol, file string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fixtures.Path(vol, file))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var cmd string
	var lines []string
	flush := func() {
		if cmd != "" {
			out[cmd] = strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
		}
	}
	for _, l := range strings.Split(string(b), "\n") {
		if c, ok := strings.CutPrefix(l, "$ juicefs "); ok {
			flush()
			cmd, lines = c, nil
			continue
		}
		if logLine.MatchString(l) {
			continue
		}
		lines = append(lines, l)
	}
	flush()
	return out
}

// logLine matches juicefs's (and rueidisfs's) log lines.
var logLine = regexp.MustCompile(`^(\[[^]]*\] )?\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \S+\[\d+\] <[A-Z]+>: `)

// logMessages returns the messages of the log lines of stderr at level
// (e.g. "INFO"), without their prefix and caller.
func logMessages(stderr, level string) []string {
	var out []string
	re := regexp.MustCompile(`<` + level + `>: (.*?)( \[[^]]*@[^]]*\])?$`)
	for _, l := range strings.Split(stderr, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// hasLog reports whether stderr holds a log line at level whose message is
// msg.
func hasLog(stderr, level, msg string) bool {
	for _, m := range logMessages(stderr, level) {
		if m == msg {
			return true
		}
	}
	return false
}

// engine opens an engine on url for the rest of the test, with a session
// that flushes statistics.
func engine(t *testing.T, url string) *meta.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := meta.Open(ctx, url, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	if err := e.NewSession(ctx, false); err != nil {
		t.Fatal(err)
	}
	return e
}

// runOnTerminal runs a command line as if stderr were a terminal, so that
// progress bars are drawn.
func runOnTerminal(t *testing.T, args ...string) result {
	t.Helper()
	return runAs(t, "on a terminal", func(a *app) { a.progressTerm = true }, args...)
}

// runAs runs a command line in an app adjusted by setup (how is what the
// log says about it).
func runAs(t *testing.T, how string, setup func(*app), args ...string) result {
	t.Helper()
	return session{setup: setup, how: how}.run(t, args...)
}
