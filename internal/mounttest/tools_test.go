package mounttest_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// TestToolsOnMount runs the tools that work through a mount: info, summary,
// rmr, compact and warmup given paths inside it, bench, stats and profile.
func TestToolsOnMount(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{})
	p := v.StartMount(t, "")
	dir := filepath.Join(p.Dir, "data")
	must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	for i, name := range []string{"a", "b", "sub/c"} {
		writeFile(t, filepath.Join(dir, name), strings.Repeat("x", 1000*(i+1)))
	}
	if out := mounttest.Run(t, "info", filepath.Join(dir, "a")); !strings.Contains(out, " length: 1000 Bytes") ||
		!strings.Contains(out, "   path: /data/a") {
		t.Fatalf("info through the mount:\n%s", out)
	}
	if out := mounttest.Run(t, "summary", dir, "--csv"); !strings.Contains(out, "/,") || !strings.Contains(out, "sub/,") {
		t.Fatalf("summary through the mount:\n%s", out)
	}
	mounttest.Run(t, "compact", filepath.Join(dir, "a"))
	if out := mounttest.Run(t, "warmup", dir); !strings.Contains(out, "warmup cache: 3 files") {
		t.Fatalf("warmup:\n%s", out)
	}
	mounttest.Run(t, "rmr", filepath.Join(dir, "sub"))
	if _, err := os.Stat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Fatalf("rmr through the mount left the directory: %v", err)
	}

	// The reply shapes juicefs's tools read, straight from the control file.
	body := binary.BigEndian.AppendUint64(nil, inodeOf(t, filepath.Join(dir, "b")))
	data, err := vfs.ControlCall(context.Background(), p.Dir, vfs.CtlInfo, append(body, 1, 1, 0), nil)
	must(t, err)
	var reply struct {
		Failed  bool
		Summary struct{ Length, Files uint64 }
		Paths   []string
		Chunks  []struct{ Id, Size uint64 }
	}
	must(t, json.Unmarshal(data, &reply))
	if reply.Failed || reply.Summary.Length != 2000 || reply.Summary.Files != 1 || len(reply.Paths) != 1 ||
		reply.Paths[0] != "/data/b" || len(reply.Chunks) != 1 || reply.Chunks[0].Size != 2000 {
		t.Fatalf("info reply: %s", data)
	}

	out := mounttest.Run(t, "bench", p.Dir, "--big-file-size", "8", "--small-file-count", "10")
	for _, want := range []string{"Write big file", "Read small file", "Stat file", "FUSE operation", "Put object", "Time used:"} {
		if !strings.Contains(out, want) {
			t.Fatalf("bench output lacks %q:\n%s", want, out)
		}
	}
	if out := mounttest.Run(t, "stats", p.Dir, "--count", "1"); !strings.Contains(out, "fuse") || strings.Count(out, "\n") < 3 {
		t.Fatalf("stats:\n%s", out)
	}
	log := filepath.Join(t.TempDir(), "access.log")
	must(t, os.WriteFile(log, []byte("2026.01.02 15:04:05.000001 [uid:0,gid:0,pid:1] lookup (1,a): OK <0.000100>\n"+
		"2026.01.02 15:04:05.000002 [uid:0,gid:0,pid:1] lookup (1,b): OK <0.000300>\n#\n"), 0o644))
	if out := mounttest.Run(t, "profile", log); !strings.Contains(out, "| lookup    |     2 |         200 |") {
		t.Fatalf("profile of a saved log:\n%s", out)
	}
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	info, err := os.Stat(p)
	must(t, err)
	return info.Sys().(*syscall.Stat_t).Ino
}
