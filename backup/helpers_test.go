package backup_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/backup"
	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// volumes are the official client's volumes the tests use.
var volumes = []string{"basic", "acl-quota", "empty"}

// openEmpty opens an engine on a fresh empty database.
func openEmpty(t testing.TB) (*meta.Engine, *redistest.Server, int) {
	t.Helper()
	srv, db := redistest.NewDB(t)
	e, err := meta.Open(context.Background(), srv.URL("redis", db), meta.Options{NoBackgroundJobs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e, srv, db
}

// openFixture loads an official volume into a fresh database.
func openFixture(t testing.TB, vol string) *meta.Engine {
	t.Helper()
	e, _, _ := openEmpty(t)
	if _, err := fixtures.LoadVolume(context.Background(), e.Client(), vol, e.Keys().Prefix()); err != nil {
		t.Fatal(err)
	}
	return e
}

// binaryDump dumps e's volume as a binary backup.
func binaryDump(t testing.TB, e *meta.Engine, opts backup.DumpOptions) []byte {
	t.Helper()
	ctx := context.Background()
	f, err := e.Load(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := backup.Dump(ctx, e, f, &buf, opts); err != nil {
		t.Fatalf("binary dump: %v", err)
	}
	return buf.Bytes()
}

// jsonDump dumps e's volume as JSON, the trash included.
func jsonDump(t testing.TB, e *meta.Engine) string {
	t.Helper()
	var buf bytes.Buffer
	if err := dump.Dump(context.Background(), e, &buf, dump.DumpOptions{Threads: 4, KeepSecretKey: true}); err != nil {
		t.Fatalf("json dump: %v", err)
	}
	return buf.String()
}

// officialBackup reads a backup made by juicefs dump --binary.
func officialBackup(t testing.TB, vol string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + vol + ".bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadInto loads a backup into a fresh database and returns its engine.
func loadInto(t testing.TB, b []byte) *meta.Engine {
	t.Helper()
	e, _, _ := openEmpty(t)
	if _, err := backup.Load(context.Background(), e, bytes.NewReader(b), int64(len(b)), backup.LoadOptions{Threads: 3}); err != nil {
		t.Fatalf("load: %v", err)
	}
	return e
}

// problems recounts every counter of a volume and lists what differs.
func problems(t testing.TB, e *meta.Engine) []string {
	t.Helper()
	f, err := e.Load(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := fsck.Recount(context.Background(), e.Client(), e.Keys(), fsck.Options{SkipDirStats: !f.DirStats})
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, p := range rep.Problems {
		ps = append(ps, p.String())
	}
	return ps
}

// recountLike checks that a volume has no other inconsistency than the
// volume it was made from (the official client left one stale directory
// statistic in acl-quota).
func recountLike(t testing.TB, e, original *meta.Engine) {
	t.Helper()
	base := problems(t, original)
	var extra []string
	for _, p := range problems(t, e) {
		if !slices.Contains(base, p) {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		t.Errorf("volume inconsistent:\n%s", strings.Join(extra, "\n"))
	}
}

// records lists the records of a backup, one line each, sorted: two
// backups of the same volume list the same records whatever their order.
func records(t testing.TB, b []byte) []string {
	t.Helper()
	lines, err := backup.Records(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// dbKeys counts the keys of a database.
func dbKeys(t testing.TB, srv *redistest.Server, db int) int64 {
	t.Helper()
	n, err := srv.Do(t, db, "DBSIZE").AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
