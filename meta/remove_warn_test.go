package meta_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/lockedbuf"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestMissingAttrWarning: an unlink whose name points to an inode without
// an attribute (a damaged volume) goes on and says so once it committed.
func TestMissingAttrWarning(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	var logs lockedbuf.Buffer
	e := v.open(meta.Options{NoBackgroundJobs: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	ino, _, err := e.Mknod(ctx, meta.RootInode, "damaged", codec.TypeFile, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	v.srv.Do(t, v.db, "DEL", e.Keys().Inode(ino))
	e.InvalidateCache()
	if err := e.Unlink(ctx, meta.RootInode, "damaged", true); err != nil {
		t.Fatalf("unlink of a name without attribute: %v", err)
	}
	if !strings.Contains(logs.String(), "no attribute for inode") {
		t.Fatalf("no warning for the missing attribute; log:\n%s", logs.String())
	}
}
