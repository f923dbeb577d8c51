package mounttest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
)

// TestMountBackups: a mount backs the metadata up into the volume's bucket
// (meta/dump-*.json.gz), which load restores; --backup-meta below 5
// minutes is refused unless SKIP_BACKUP_META_CHECK=true, as with juicefs;
// --no-bgjob disables the backups.
func TestMountBackups(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{})
	if msg := run2(t, "mount", "--backup-meta", "1m", v.URL, t.TempDir()); !strings.Contains(msg, "--backup-meta 1m0s is too short") {
		t.Fatalf("mount --backup-meta 1m: %s", msg)
	}
	t.Setenv("SKIP_BACKUP_META_CHECK", "true")
	quiet := v.StartMount(t, "", "--backup-meta", "2s", "--no-bgjob")
	p := v.StartMount(t, "", "--backup-meta", "2s")
	must(t, os.WriteFile(filepath.Join(p.Dir, "kept"), []byte("x"), 0o644))
	var backups []string
	for deadline := time.Now().Add(time.Minute); len(backups) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no backup in the bucket after a minute; the mount's log:\n%s", p.Log())
		}
		time.Sleep(100 * time.Millisecond) // the mount works on its own clock
		backups, _ = filepath.Glob(filepath.Join(v.Bucket, "test", "meta", "dump-*.json.gz"))
	}
	if !strings.Contains(p.Log(), "backup metadata succeed") || !strings.Contains(quiet.Log(), "Metadata backup is disabled") {
		t.Errorf("the mounts' logs:\n%s\n---\n%s", p.Log(), quiet.Log())
	}
	srv, db := redistest.NewDB(t)
	url := srv.URL("redis", db)
	mounttest.Run(t, "load", url, backups[0])
	if out := mounttest.Run(t, "info", url, "kept"); !strings.Contains(out, "kept :") && !strings.Contains(out, "path: /kept") {
		t.Errorf("the loaded backup lacks /kept:\n%s", out)
	}
}
