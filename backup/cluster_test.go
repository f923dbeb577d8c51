package backup_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/backup"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestCluster: on a Redis Cluster (keys of a volume in one hash slot, the
// keyspace read node by node), a binary dump holds the records of the
// official backup, loads into another volume of the cluster, and the
// volume loaded dumps as JSON as the original did.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	cl := redistest.StartCluster(t, 3, 0)
	ctx := context.Background()
	src := voltest.Dial(t, cl.URL("redis", 4), meta.Options{NoBackgroundJobs: true})
	if src.Keys().Prefix() == "" {
		t.Fatal("no cluster prefix")
	}
	if _, err := fixtures.LoadVolume(ctx, src.Client(), "basic", src.Keys().Prefix()); err != nil {
		t.Fatal(err)
	}
	b := binaryDump(t, src, backup.DumpOptions{Threads: 3})
	if ours, theirs := records(t, b), records(t, officialBackup(t, "basic")); !slices.Equal(ours, theirs) {
		t.Errorf("records differ:\n%s", diffLines(theirs, ours))
	}
	if _, err := backup.Load(ctx, src, bytes.NewReader(b), int64(len(b)), backup.LoadOptions{}); err == nil {
		t.Fatal("loaded into a prefix holding a volume")
	}
	dst := voltest.Dial(t, cl.URL("redis", 5), meta.Options{NoBackgroundJobs: true})
	if _, err := backup.Load(ctx, dst, bytes.NewReader(b), int64(len(b)), backup.LoadOptions{Threads: 3}); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(fixtures.Path("basic", "dump.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonDump(t, dst); got != string(want) {
		t.Errorf("JSON dump after loading on the cluster differs:\n%s",
			diffLines(strings.Split(string(want), "\n"), strings.Split(got, "\n")))
	}
	recountLike(t, dst, src)
}
