package mounttest_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
)

// Real programs at work in a mount: what they leave must be what they would
// leave on a local disk.

func TestMain(m *testing.M) {
	s3test.CleanEnv()
	redistest.Main(m, s3test.StopShared)
}

// sourceTrees are the parts of GOROOT/src unpacked by TestTarball; the
// heavier suite (RUEIDISFS_FULL_TREE=1) takes the whole of it.
var sourceTrees = []string{"net/http", "encoding", "bufio"}

// run runs a program in dir. The test process serves the mount itself, so
// the new process must not touch the mount before it runs its program (see
// mounttest.Command): a shell outside the mount changes to dir.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := mounttest.Command(dir, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newMount(t *testing.T) *mounttest.Mount {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{})
	return v.Mount(t, mounttest.MountOptions{})
}

// TestTarball unpacks a tarball of Go's source tree in the mount and
// compares every file, mode and symbolic link with the original.
func TestTarball(t *testing.T) {
	m := newMount(t)
	src := filepath.Join(goroot(t), "src")
	trees := sourceTrees
	if os.Getenv("RUEIDISFS_FULL_TREE") != "" {
		trees = []string{"."}
	}
	tarball := filepath.Join(t.TempDir(), "src.tar")
	run(t, src, nil, "tar", append([]string{"-cf", tarball}, trees...)...)
	dst := m.Path("src")
	must(t, os.Mkdir(dst, 0o755))
	run(t, dst, nil, "tar", "-xf", tarball)
	for _, tree := range trees {
		compareTrees(t, filepath.Join(src, tree), filepath.Join(dst, tree))
	}
}

// compareTrees checks that b holds exactly a's files, directories and
// links, with the same content and permissions.
func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		other := filepath.Join(b, rel)
		ia, err := os.Lstat(p)
		if err != nil {
			return err
		}
		ib, err := os.Lstat(other)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if ia.Mode() != ib.Mode() {
			return fmt.Errorf("%s: mode %v, want %v", rel, ib.Mode(), ia.Mode())
		}
		switch {
		case ia.Mode().IsRegular():
			wa, _ := os.ReadFile(p)
			wb, err := os.ReadFile(other)
			if err != nil || !bytes.Equal(wa, wb) {
				return fmt.Errorf("%s: content differs (%v)", rel, err)
			}
			n++
		case ia.Mode()&os.ModeSymlink != 0:
			la, _ := os.Readlink(p)
			lb, _ := os.Readlink(other)
			if la != lb {
				return fmt.Errorf("%s: link to %q, want %q", rel, lb, la)
			}
		case ia.IsDir():
			ea, _ := os.ReadDir(p)
			eb, _ := os.ReadDir(other)
			if len(ea) != len(eb) {
				return fmt.Errorf("%s: %d entries, want %d", rel, len(eb), len(ea))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d files identical", b, n)
}

// TestGoBuild builds and runs a Go module that lives in the mount.
func TestGoBuild(t *testing.T) {
	m := newMount(t)
	dir := m.Path("hello")
	must(t, os.MkdirAll(filepath.Join(dir, "greet"), 0o755))
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/hello\n\ngo 1.21\n")
	writeFile(t, filepath.Join(dir, "greet", "greet.go"), "package greet\n\nfunc Hello(n string) string { return \"hello, \" + n }\n")
	writeFile(t, filepath.Join(dir, "main.go"), "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/hello/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello(\"mount\")) }\n")
	env := []string{"GOFLAGS=-mod=mod", "GOPROXY=off", "GOCACHE=" + t.TempDir()}
	run(t, dir, env, "go", "vet", "./...")
	run(t, dir, env, "go", "build", "-o", "hello", ".")
	if out := run(t, dir, nil, filepath.Join(dir, "hello")); out != "hello, mount\n" {
		t.Fatalf("the binary built in the mount printed %q", out)
	}
}

// TestGit makes a repository in the mount, commits to it and checks it.
func TestGit(t *testing.T) {
	m := newMount(t)
	dir := m.Path("repo")
	must(t, os.Mkdir(dir, 0o755))
	env := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "HOME=" + t.TempDir()}
	run(t, dir, env, "git", "init", "-q")
	for i := 0; i < 20; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("file%d.txt", i)), strings.Repeat(fmt.Sprintf("line %d\n", i), 100+i))
		run(t, dir, env, "git", "add", ".")
		run(t, dir, env, "git", "commit", "-q", "-m", fmt.Sprintf("commit %d", i))
	}
	run(t, dir, env, "git", "gc", "-q")
	run(t, dir, env, "git", "fsck", "--full", "--strict")
	if out := run(t, dir, env, "git", "rev-list", "--count", "HEAD"); strings.TrimSpace(out) != "20" {
		t.Fatalf("rev-list: %s", out)
	}
	run(t, dir, env, "git", "status", "--porcelain")
}

// TestSQLite has two processes insert into one database at once: SQLite's
// POSIX locks keep them from corrupting it.
func TestSQLite(t *testing.T) {
	m := newMount(t)
	db := m.Path("test.db")
	run(t, m.Dir, nil, "sqlite3", db, "CREATE TABLE t(writer INTEGER, n INTEGER);")
	const rows = 200
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := 1; w <= 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var script strings.Builder
			script.WriteString(".timeout 30000\n")
			for i := 0; i < rows; i++ {
				fmt.Fprintf(&script, "INSERT INTO t VALUES(%d, %d);\n", w, i)
			}
			cmd := mounttest.Command("/", "sqlite3", db)
			cmd.Stdin = strings.NewReader(script.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("writer %d: %v: %s", w, err, out)
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if out := run(t, m.Dir, nil, "sqlite3", db, "SELECT count(*), count(DISTINCT writer) FROM t;"); strings.TrimSpace(out) != fmt.Sprintf("%d|2", 2*rows) {
		t.Fatalf("rows: %s", out)
	}
	if out := run(t, m.Dir, nil, "sqlite3", db, "PRAGMA integrity_check;"); strings.TrimSpace(out) != "ok" {
		t.Fatalf("integrity_check: %s", out)
	}
}

// TestRsync copies a tree into the mount and back out with rsync -a:
// content, modes, times and links survive both ways.
func TestRsync(t *testing.T) {
	m := newMount(t)
	src := filepath.Join(goroot(t), "src", "encoding")
	in := m.Path("copy")
	run(t, "/", nil, "rsync", "-a", src+"/", in+"/")
	compareTrees(t, src, in)
	out := filepath.Join(t.TempDir(), "back")
	run(t, "/", nil, "rsync", "-a", in+"/", out+"/")
	compareTrees(t, src, out)
	// Nothing is left to transfer: sizes and times agree.
	if got := run(t, "/", nil, "rsync", "-a", "--itemize-changes", src+"/", in+"/"); strings.TrimSpace(got) != "" {
		t.Fatalf("rsync finds differences after a copy:\n%s", got)
	}
}

// goroot is the Go installation the go command uses.
func goroot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	must(t, err)
	return strings.TrimSpace(string(out))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	must(t, os.WriteFile(p, []byte(s), 0o644))
}
