package dump_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
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
		if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
			t.Fatalf("%s.tmp left", name)
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
