package mounttest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
)

// TestWarmupCheckEvict: warmup --check tells how much of the files the
// mount's cache holds and where; warmup fills it (also with
// --cache-partial-only, which keeps reads from caching whole blocks);
// --evict empties it.
func TestWarmupCheckEvict(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 64})
	cache := t.TempDir()
	p := v.StartMount(t, "", "--cache-dir", cache, "--cache-partial-only")
	dir := filepath.Join(p.Dir, "data")
	must(t, os.MkdirAll(dir, 0o755))
	for _, name := range []string{"a", "b"} {
		writeFile(t, filepath.Join(dir, name), strings.Repeat(name, 3*65536+100)) // 3 full blocks, 1 short
	}
	check := func(want string) string {
		t.Helper()
		out := mounttest.Run(t, "warmup", "--check", dir)
		if !strings.Contains(out, want) {
			t.Fatalf("warmup --check: want %q in\n%s", want, out)
		}
		return out
	}
	check("2 files checked, 200 B of 384 KiB (0.1%) cached") // the short blocks, cached on write
	if out := mounttest.Run(t, "warmup", dir); !strings.Contains(out, "warmup cache: 2 files (384 KiB bytes)") {
		t.Fatalf("warmup:\n%s", out)
	}
	out := check("2 files checked, 384 KiB of 384 KiB (100.0%) cached")
	if loc := filepath.Join(cache, v.Format.UUID); !strings.Contains(out, loc) {
		t.Fatalf("warmup --check does not name the cache directory %s:\n%s", loc, out)
	}
	if out := mounttest.Run(t, "warmup", "--evict", dir); !strings.Contains(out, "evict cache: 2 files") {
		t.Fatalf("warmup --evict:\n%s", out)
	}
	check("2 files checked, 0 B of 384 KiB (0.0%) cached")
}
