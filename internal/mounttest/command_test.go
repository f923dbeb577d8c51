package mounttest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestMountCommand runs `rueidisfs mount -d` and `rueidisfs umount` as a
// user would: the background mount is ready when the command returns, logs
// to --log, and is gone with its session once umount returns.
func TestMountCommand(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{})
	dir := filepath.Join(t.TempDir(), "mnt") // created by mount
	logFile := filepath.Join(t.TempDir(), "mount.log")
	out := mounttest.Run(t, "mount", "-d", "--log", logFile, "--no-usage-report", "--metrics", "127.0.0.1:0",
		"--cache-dir", t.TempDir(), "--free-space-ratio", mounttest.TestFreeSpaceRatio, v.URL, dir)
	if want := "OK, test is ready at " + dir; !strings.Contains(out, want) {
		t.Fatalf("mount -d printed %q, want %q", out, want)
	}
	t.Cleanup(func() { exec.Command(mounttest.Binary(t), "umount", "--force", dir).Run() })
	must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("in the background"), 0o644))
	e := v.Engine(t, meta.Options{NoBackgroundJobs: true, ReadOnly: true})
	sessions, err := e.Inspect().Sessions(context.Background())
	must(t, err)
	if len(sessions) != 1 || sessions[0].MountPoint != dir {
		t.Fatalf("sessions while mounted: %+v", sessions)
	}

	// A busy or non-empty mount point gets one clear line.
	busy := run2(t, "mount", v.URL, dir)
	if !strings.Contains(busy, "is busy") {
		t.Fatalf("mounting on a mounted directory: %s", busy)
	}
	full := t.TempDir()
	must(t, os.WriteFile(filepath.Join(full, "x"), nil, 0o644))
	if msg := run2(t, "mount", v.URL, full); !strings.Contains(msg, "is not empty") {
		t.Fatalf("mounting on a non-empty directory: %s", msg)
	}

	// umount refuses while a file is open, unless forced, and waits for
	// the mount process to end its session.
	f, err := os.Open(filepath.Join(dir, "f"))
	must(t, err)
	if msg := run2(t, "umount", dir); !strings.Contains(msg, "is busy") {
		t.Fatalf("umount with an open file: %s", msg)
	}
	f.Close()
	mounttest.Run(t, "umount", dir)
	if sessions, err := e.Inspect().Sessions(context.Background()); err != nil || len(sessions) != 0 {
		t.Fatalf("sessions after umount returned: %+v, %v", sessions, err)
	}
	if b, err := os.ReadFile(logFile); err != nil || !strings.Contains(string(b), "is mounted at "+dir) {
		t.Fatalf("the log file of the background mount: %s, %v", b, err)
	}
	// Remounting works at once, and the data is there.
	p := v.StartMount(t, dir)
	if b, err := os.ReadFile(filepath.Join(p.Dir, "f")); err != nil || string(b) != "in the background" {
		t.Fatalf("after a remount: %q, %v", b, err)
	}
}

// run2 runs the binary expecting it to fail, and returns its output.
func run2(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(mounttest.Binary(t), args...).CombinedOutput()
	if err == nil {
		t.Fatalf("rueidisfs %s succeeded: %s", strings.Join(args, " "), out)
	}
	return string(out)
}

// TestStopSignal: SIGTERM detaches the mount; a file still open in it can
// be written and closed, and what was written is there after a remount.
func TestStopSignal(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{})
	p := v.StartMount(t, "")
	f, err := os.Create(filepath.Join(p.Dir, "open"))
	must(t, err)
	_, err = f.Write([]byte("before the signal, "))
	must(t, err)
	must(t, p.Cmd.Process.Signal(syscall.SIGTERM))
	deadline := time.Now().Add(10 * time.Second)
	for mounted(p.Dir) {
		if time.Now().After(deadline) {
			t.Fatal("SIGTERM did not detach the mount")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err = f.Write([]byte("after it"))
	must(t, err)
	must(t, f.Close())
	if !p.Wait(time.Minute) {
		t.Fatal("the mount process did not end after SIGTERM and the last close")
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the mount process ended with status %d", code)
	}
	q := v.StartMount(t, "")
	if b, err := os.ReadFile(filepath.Join(q.Dir, "open")); err != nil || string(b) != "before the signal, after it" {
		t.Fatalf("after a remount: %q, %v", b, err)
	}
}

// mounted tells whether dir is a mount point of this machine.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	return err == nil && strings.Contains(string(b), " "+dir+" ")
}
