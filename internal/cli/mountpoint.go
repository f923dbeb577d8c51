package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/fusefs"
)

// The mount point, running in the background, and unmounting.

// daemonEnv marks the serving process started by mount -d.
const daemonEnv = "RUEIDISFS_MOUNT_DAEMON"

// mountTimeoutEnv overrides how long mount -d waits for the mount (seconds),
// under juicefs's variable name.
const mountTimeoutEnv = "JFS_MOUNT_TIMEOUT"

// checkMountpoint prepares mp: created when missing, unmounted when it is a
// broken FUSE mount (its process died); refused when it is not a
// directory, already mounted, or not empty without -o nonempty.
func checkMountpoint(mp string, nonempty bool) error {
	st, err := os.Stat(mp)
	if errors.Is(err, syscall.ENOTCONN) {
		if err := fusefs.Unmount(mp, true); err != nil {
			return fmt.Errorf("%s is a broken mount: %w", mp, err)
		}
		st, err = os.Stat(mp)
	}
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(mp, 0o777); err != nil {
			return fmt.Errorf("create mount point %s: %w", mp, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("mount point %s: %w", mp, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("mount point %s is not a directory", mp)
	}
	if m, ok := mountedAt(mp); ok {
		return fmt.Errorf("mount point %s is busy: %s is already mounted there", mp, m.source)
	}
	if nonempty {
		return nil
	}
	d, err := os.Open(mp)
	if err != nil {
		return fmt.Errorf("mount point %s: %w", mp, err)
	}
	defer d.Close()
	if names, _ := d.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("mount point %s is not empty: mount on an empty directory, or add -o nonempty", mp)
	}
	return nil
}

// mountedAt returns the mount whose mount point is exactly mp.
func mountedAt(mp string) (mountedPath, bool) {
	m, err := findMount(mp)
	return m, err == nil && m.mountPoint == mp
}

// daemonize starts this command again as a background process (a new
// session, output to --log) and waits until its mount is ready.
func (a *app) daemonize(c *cli.Context, mp string) error {
	logPath := c.String("log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fmt.Errorf("log directory: %w", err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer logFile.Close()
	start, _ := logFile.Seek(0, io.SeekEnd)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the mount process: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	timeout := 10 * time.Second
	if s := a.getenv(mountTimeoutEnv); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("the mount process ended (%v): %s", err, logTail(logPath, start))
		case <-time.After(100 * time.Millisecond):
		}
		if mountReady(mp) {
			name := mp
			if m, ok := mountedAt(mp); ok {
				name = strings.TrimPrefix(m.source, "JuiceFS:")
			}
			fmt.Fprintf(a.stdout, "OK, %s is ready at %s\n", name, mp)
			return nil
		}
	}
	return fmt.Errorf("the mount point %s is not ready in %v (see %s)", mp, timeout, logPath)
}

// mountReady tells whether mp is the root of a mounted volume (inode 1).
func mountReady(mp string) bool {
	var st syscall.Stat_t
	return syscall.Stat(mp, &st) == nil && st.Ino == 1
}

// logTail says why the mount process ended, from what it wrote to the log:
// its fatal error when it logged one, else its last lines.
func logTail(path string, from int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < from {
		return "see " + path
	}
	lines := strings.Split(strings.TrimSpace(string(b[from:])), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if _, msg, ok := strings.Cut(lines[i], "<FATAL>: "); ok {
			if j := strings.LastIndex(msg, " ["); j > 0 && strings.HasSuffix(msg, "]") {
				msg = msg[:j]
			}
			return msg
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, "; ")
}

func (a *app) umountCommand() *cli.Command {
	return &cli.Command{
		Name:      "umount",
		Aliases:   []string{"unmount"},
		Category:  "SERVICE",
		Usage:     "Unmount a volume",
		ArgsUsage: "MOUNTPOINT",
		Description: `Unmounts the volume mounted on MOUNTPOINT (a rueidisfs or a juicefs mount)
and waits until its process committed what it buffered and ended its
session. A mount point still in use is refused unless --force detaches it
at once (it is then unmounted when no longer used). A mount with
--writeback may still hold blocks in its staging area that are not in the
object storage: they are uploaded by the next mount on the same cache
directory; --flush first waits until the mount uploaded them all.

Examples:
$ rueidisfs umount /mnt/jfs
$ rueidisfs umount --flush /mnt/jfs
$ rueidisfs umount --force /mnt/jfs`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "detach the mount point even while it is in use"},
			&cli.BoolFlag{Name: "flush", Usage: "with a --writeback mount, first wait until every staged block is uploaded"},
		},
		Action: a.umount,
	}
}

func (a *app) umount(c *cli.Context) error {
	if err := checkArgs(c, 1, 1); err != nil {
		return err
	}
	mp, err := filepath.Abs(c.Args().First())
	if err != nil {
		return err
	}
	if c.Bool("flush") {
		if err := a.waitStaging(mp); err != nil {
			return err
		}
	}
	pid := mountPid(mp)
	if err := fusefs.Unmount(mp, c.Bool("force")); err != nil {
		if errors.Is(err, syscall.EBUSY) || strings.Contains(err.Error(), "busy") {
			return fmt.Errorf("%s is busy (files are open in it, or a process works in it); close them or add --force", mp)
		}
		if errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("%s is not a mount point", mp)
		}
		return err
	}
	if pid > 0 {
		waitExit(pid, time.Minute)
	}
	return nil
}

// mountPid returns the pid of the process serving the mount at mp, from its
// .config (0 if it cannot be told).
func mountPid(mp string) int {
	for _, name := range []string{".jfs.config", ".config"} {
		b, err := os.ReadFile(filepath.Join(mp, name))
		if err != nil {
			continue
		}
		var conf struct{ Pid int }
		if json.Unmarshal(b, &conf) == nil && conf.Pid > 0 && conf.Pid != os.Getpid() {
			return conf.Pid
		}
	}
	return 0
}

// waitExit waits until process pid is gone (or a zombie), at most d.
func waitExit(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && processAlive(pid) {
		time.Sleep(50 * time.Millisecond)
	}
}

func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
