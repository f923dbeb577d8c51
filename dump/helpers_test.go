package dump_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// openEmpty opens an engine on a fresh empty database of the shared server.
func openEmpty(t testing.TB) *meta.Engine {
	t.Helper()
	srv, db := redistest.NewDB(t)
	return openURL(t, srv.URL("redis", db))
}

func openURL(t testing.TB, url string) *meta.Engine {
	t.Helper()
	return voltest.Dial(t, url, meta.Options{NoBackgroundJobs: true})
}

// openFixture loads a captured volume into a fresh database.
func openFixture(t testing.TB, volume string) *meta.Engine {
	t.Helper()
	e := openEmpty(t)
	if _, err := fixtures.LoadVolume(context.Background(), e.Client(), volume, e.Keys().Prefix()); err != nil {
		t.Fatal(err)
	}
	return e
}

func fixtureDump(t testing.TB, volume string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixtures.Path(volume, "dump.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dumpOf(t testing.TB, e *meta.Engine, opts dump.DumpOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := dump.Dump(context.Background(), e, &buf, opts); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return buf.Bytes()
}

// firstDiff describes where two documents start to differ, with context.
func firstDiff(want, got []byte) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	line := bytes.Count(want[:i], []byte("\n")) + 1
	from := max(0, i-200)
	cut := func(b []byte) string { return string(b[from:min(len(b), i+200)]) }
	return fmt.Sprintf("lengths want %d got %d; first difference at byte %d (line %d)\n--- want ---\n%s\n--- got ---\n%s",
		len(want), len(got), i, line, cut(want), cut(got))
}

func checkSame(t testing.TB, what string, want, got []byte) {
	t.Helper()
	if !bytes.Equal(want, got) {
		t.Fatalf("%s differs: %s", what, firstDiff(want, got))
	}
}

// checkVolume recounts the volume and fails on any inconsistency, as every
// engine test does at its end.
func checkVolume(t testing.TB, e *meta.Engine, opts fsck.Options) {
	t.Helper()
	voltest.RecountWith(t, opts, e)
}

// keyCount is the number of keys of the engine's database.
func keyCount(t testing.TB, e *meta.Engine) int64 {
	t.Helper()
	n, err := e.Inspect().KeyCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testFormat returns a minimal format for volumes built by the tests.
func testFormat(name string, trashDays int) *codec.Format {
	f := voltest.Format(name)
	f.Bucket, f.TrashDays = "/tmp/b/", trashDays
	return f
}
