package dump_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/dump"
)

func TestFiles(t *testing.T) {
	e := openFixture(t, "basic")
	want := fixtureDump(t, "basic")
	for _, name := range []string{"meta.json", "meta.json.gz", "meta.json.zstd"} {
		path := filepath.Join(t.TempDir(), name)
		out, err := dump.CreateOutput(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := dump.Dump(context.Background(), e, out, dump.DumpOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s exists before Commit", name)
		}
		if err := out.Commit(); err != nil {
			t.Fatal(err)
		}
		in, err := dump.OpenInput(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(in)
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, name, want, got)
		if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*tmp*")); len(m) != 0 {
			t.Fatalf("left %v", m)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v (want 0600: a dump holds secrets)", name, err, fi.Mode())
		}
	}
	path := filepath.Join(t.TempDir(), "aborted.json")
	out, err := dump.CreateOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	out.Abort()
	if m, _ := filepath.Glob(path + "*"); len(m) != 0 {
		t.Fatalf("left %v", m)
	}
}

// TestOutputRefusesNonRegular: a dump never replaces a device, a directory,
// a named pipe or a symbolic link, and never writes through a planted
// FILE.tmp link. Before, `dump URL /dev/full` replaced the device with a
// regular file and a FILE.tmp link had its target overwritten.
func TestOutputRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, link, sub} {
		if out, err := dump.CreateOutput(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			if out != nil {
				out.Abort()
			}
			t.Errorf("%s: %v (want a refusal)", path, err)
		}
	}
	// A planted FILE.tmp link is not written through.
	path := filepath.Join(dir, "meta.json")
	if err := os.Symlink(victim, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	out, err := dump.CreateOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := out.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
	}
	if b, _ := os.ReadFile(path); string(b) != "{}" {
		t.Errorf("the dump holds %q", b)
	}
	// Replaced by a link while being written: refused at Commit.
	out, err = dump.CreateOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := out.Commit(); err == nil {
		t.Error("a dump replaced a symbolic link made while it was written")
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s: %v, %v (want the link left)", path, fi, err)
	}
}
