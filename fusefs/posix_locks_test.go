package fusefs_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// POSIX record locks belong to a process: to see one conflict with
// another, the test runs itself again as a helper process holding or
// waiting for a lock (lockHelperEnv names the action and the file). The
// helper also runs the mmap case: a page fault on a file of the mount
// cannot be served by the process that faults (the Go runtime may be
// stopping the world for a collection, waiting for the faulting thread).

const lockHelperEnv = "RUEIDISFS_LOCK_HELPER"

// lockHelperMain runs the helper's action when the process is a helper and
// reports whether it was.
func lockHelperMain() bool {
	spec := os.Getenv(lockHelperEnv)
	if spec == "" {
		return false
	}
	action, path, _ := strings.Cut(spec, ":")
	if action == "mmap" {
		if err := mmapRoundTrip(path); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("ok")
		return true
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	cmd := unix.F_SETLK
	if action == "wait" {
		cmd = unix.F_SETLKW
	}
	if action == "read" {
		lk.Type = unix.F_RDLCK
	}
	if err := unix.FcntlFlock(f.Fd(), cmd, &lk); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n') // hold until told (or stdin closes)
	f.Close()
	fmt.Println("closed")
	return true
}

// lockHelper is a running helper process.
type lockHelper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startLockHelper(t *testing.T, action, path string) *lockHelper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+action+":"+path)
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	h := &lockHelper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		h.stdin.Close()
		h.cmd.Wait()
	})
	return h
}

// expect waits for the helper's next line, at most d.
func (h *lockHelper) expect(t *testing.T, want string, d time.Duration) {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		s, _ := h.out.ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case got := <-line:
		if got != want {
			t.Fatalf("the helper said %q, want %q", got, want)
		}
	case <-time.After(d):
		t.Fatalf("the helper did not say %q within %v", want, d)
	}
}

func (h *lockHelper) release() { io.WriteString(h.stdin, "release\n") }

func posixLock(t *testing.T, f *os.File, cmd int, typ int16, start, length int64) error {
	t.Helper()
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: start, Len: length}
	return unix.FcntlFlock(f.Fd(), cmd, &lk)
}

func lockCases() []posixCase {
	return []posixCase{
		{"flock", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, nil)
			f1, err := os.Open(p)
			must(t, err)
			f2, err := os.Open(p)
			must(t, err)
			defer f2.Close()
			must(t, unix.Flock(int(f1.Fd()), unix.LOCK_EX|unix.LOCK_NB))
			wantErrno(t, "LOCK_EX against LOCK_EX", unix.Flock(int(f2.Fd()), unix.LOCK_EX|unix.LOCK_NB), syscall.EWOULDBLOCK)
			wantErrno(t, "LOCK_SH against LOCK_EX", unix.Flock(int(f2.Fd()), unix.LOCK_SH|unix.LOCK_NB), syscall.EWOULDBLOCK)
			must(t, unix.Flock(int(f1.Fd()), unix.LOCK_SH|unix.LOCK_NB)) // downgrade
			must(t, unix.Flock(int(f2.Fd()), unix.LOCK_SH|unix.LOCK_NB))
			wantErrno(t, "upgrade while another shares", unix.Flock(int(f1.Fd()), unix.LOCK_EX|unix.LOCK_NB), syscall.EWOULDBLOCK)
			must(t, unix.Flock(int(f2.Fd()), unix.LOCK_UN))
			must(t, unix.Flock(int(f1.Fd()), unix.LOCK_EX|unix.LOCK_NB)) // upgrade
			// A blocked LOCK_EX is granted when the holder closes its file.
			got := make(chan error, 1)
			go func() { got <- unix.Flock(int(f2.Fd()), unix.LOCK_EX) }()
			select {
			case err := <-got:
				t.Fatalf("LOCK_EX granted while held: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
			must(t, f1.Close())
			select {
			case err := <-got:
				must(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("the waiting LOCK_EX was not granted after the holder closed its file")
			}
		}},
		{"fcntl-between-processes", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, []byte("0123456789"))
			h := startLockHelper(t, "hold", p)
			h.expect(t, "locked", 10*time.Second)
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			must(t, err)
			defer f.Close()
			wantErrno(t, "F_SETLK against the helper's write lock", posixLock(t, f, unix.F_SETLK, unix.F_RDLCK, 2, 3), syscall.EAGAIN)
			lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: 5, Len: 1}
			must(t, unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk))
			if lk.Type != unix.F_WRLCK || int(lk.Pid) != h.cmd.Process.Pid || lk.Start != 0 || lk.Len != 0 {
				t.Fatalf("F_GETLK reports %+v, want the helper's (pid %d) write lock of the whole file", lk, h.cmd.Process.Pid)
			}
			h.release() // the helper closes its descriptor: its locks go
			h.expect(t, "closed", 10*time.Second)
			must(t, posixLock(t, f, unix.F_SETLK, unix.F_WRLCK, 0, 0))
			// A helper blocked in F_SETLKW is woken when we unlock.
			w := startLockHelper(t, "wait", p)
			time.Sleep(100 * time.Millisecond)
			must(t, posixLock(t, f, unix.F_SETLK, unix.F_UNLCK, 0, 0))
			w.expect(t, "locked", 5*time.Second)
			w.release()
			w.expect(t, "closed", 10*time.Second)
		}},
		{"fcntl-ranges-and-upgrade", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, nil)
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			must(t, err)
			defer f.Close()
			must(t, posixLock(t, f, unix.F_SETLK, unix.F_RDLCK, 0, 100))
			must(t, posixLock(t, f, unix.F_SETLK, unix.F_WRLCK, 10, 10)) // upgrade part of it
			h := startLockHelper(t, "read", p)
			h.expect(t, "error resource temporarily unavailable", 10*time.Second)
			must(t, posixLock(t, f, unix.F_SETLK, unix.F_UNLCK, 10, 10))
			r := startLockHelper(t, "read", p)
			r.expect(t, "locked", 10*time.Second) // read locks share
			r.release()
			r.expect(t, "closed", 10*time.Second)
		}},
		{"ofd-locks", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, nil)
			f1, err := os.OpenFile(p, os.O_RDWR, 0)
			must(t, err)
			f2, err := os.OpenFile(p, os.O_RDWR, 0)
			must(t, err)
			defer f2.Close()
			must(t, posixLock(t, f1, unix.F_OFD_SETLK, unix.F_WRLCK, 0, 10))
			wantErrno(t, "OFD lock of another open file", posixLock(t, f2, unix.F_OFD_SETLK, unix.F_WRLCK, 5, 10), syscall.EAGAIN)
			lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: 0, Len: 1}
			must(t, unix.FcntlFlock(f2.Fd(), unix.F_OFD_GETLK, &lk))
			if lk.Type != unix.F_WRLCK || lk.Start != 0 || lk.Len != 10 {
				t.Fatalf("F_OFD_GETLK reports %+v", lk)
			}
			// The last close of the open file releases it. The kernel tells
			// a FUSE file system of that last close asynchronously (after
			// close(2) returned), so a blocking request waits for it.
			must(t, f1.Close())
			must(t, posixLock(t, f2, unix.F_OFD_SETLKW, unix.F_WRLCK, 5, 10))
		}},
	}
}
