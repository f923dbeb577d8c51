package mounttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/lockedbuf"
)

// The rueidisfs binary, built once per test process, for mounts that run in
// a process of their own.

var binary struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of a rueidisfs binary built from this module.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			binary.err = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		// One directory for every test process, each binary named by the
		// process that built it; binaries of processes gone are removed.
		dir := filepath.Join(os.TempDir(), "rueidisfs-mounttest")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			binary.err = err
			return
		}
		removeStaleBinaries(dir)
		binary.path = filepath.Join(dir, fmt.Sprintf("rueidisfs-%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", binary.path, "./cmd/rueidisfs")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// removeStaleBinaries removes the binaries of test processes that ended.
func removeStaleBinaries(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "rueidisfs-"))
		if err == nil && syscall.Kill(pid, 0) != nil {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Process is a mount served by a rueidisfs process.
type Process struct {
	Dir    string
	Cmd    *exec.Cmd
	log    *lockedbuf.Buffer
	t      testing.TB
	exited chan struct{}
}

// Log returns what the process printed so far.
func (p *Process) Log() string { return p.log.String() }

// TestFreeSpaceRatio is the --free-space-ratio of the test mounts: the
// default 10 % would leave a test machine whose disk is over 90 % full (a
// shared CI disk often is) caching nothing.
const TestFreeSpaceRatio = "0.00001"

// StartMount runs `rueidisfs mount` of the volume on dir (a fresh directory
// when empty) in the foreground of a child process, with extra flags, and
// waits until the mount is ready. At the end of the test the mount is
// unmounted and the process waited for.
func (v *Volume) StartMount(t testing.TB, dir string, flags ...string) *Process {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
		if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"mount", "--no-usage-report", "--metrics", "127.0.0.1:0", "--cache-dir", t.TempDir(), "--free-space-ratio", TestFreeSpaceRatio}, flags...)
	args = append(args, v.URL, dir)
	cmd := exec.Command(Binary(t), args...)
	log := &lockedbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	p := &Process{Dir: dir, Cmd: cmd, log: log, t: t, exited: exited}
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !ready(dir) {
		select {
		case <-exited:
			t.Fatalf("rueidisfs mount exited: %s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mount of %s is not ready after 30s: %s", dir, log.String())
		}
	}
	t.Cleanup(func() {
		if !processGone(exited) {
			if err := exec.Command(Binary(t), "umount", dir).Run(); err != nil {
				_ = syscall.Unmount(dir, syscall.MNT_DETACH)
			}
		}
		select {
		case <-exited:
		case <-time.After(time.Minute):
			t.Errorf("the mount process of %s did not end after the unmount", dir)
			_ = cmd.Process.Kill()
		}
	})
	return p
}

func processGone(exited chan struct{}) bool {
	select {
	case <-exited:
		return true
	default:
		return false
	}
}

// ready tells whether dir is the root of a mounted volume (inode 1).
func ready(dir string) bool {
	var st syscall.Stat_t
	return syscall.Stat(dir, &st) == nil && st.Ino == 1
}

// Wait waits at most d for the mount process to end and tells whether it
// did.
func (p *Process) Wait(d time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// Kill kills the mount process with SIGKILL, as a crash would, and detaches
// the broken mount point.
func (p *Process) Kill() {
	p.t.Helper()
	_ = p.Cmd.Process.Kill()
	<-p.exited
	if err := syscall.Unmount(p.Dir, syscall.MNT_DETACH); err != nil {
		p.t.Logf("detach %s: %v", p.Dir, err)
	}
}

// Run runs the rueidisfs binary with args and returns its combined output;
// a failure fails the test.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(Binary(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rueidisfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
