package fusefs

import (
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/rueidisfs/rueidisfs/vfs"
)

// Options are the kernel-facing settings of a mount.
type Options struct {
	// FsName is the source shown by mount(8), "JuiceFS:<volume>" as JuiceFS
	// shows it; the file-system type is fuse.juicefs, so that tools which
	// look for JuiceFS mounts find ours.
	FsName string
	// MountOptions are the -o options passed to the kernel (allow_other,
	// ro, …); writeback_cache and async_dio become capabilities instead,
	// debug enables go-fuse's tracing.
	MountOptions []string
	// ACL: the volume has POSIX ACLs; the kernel then evaluates them and
	// leaves the umask to the file system.
	ACL bool
	// MaxWrite is the largest write request (and read-ahead) size.
	MaxWrite int
	// Logger receives go-fuse's messages.
	Logger *log.Logger
}

// Server is a running mount.
type Server struct {
	*fuse.Server
	fs *FS
}

// Mount mounts v on mountpoint and starts serving it; it returns once the
// kernel accepted the mount.
func Mount(mountpoint string, v *vfs.VFS, o Options) (*Server, error) {
	fs := New(v)
	mo := &fuse.MountOptions{
		FsName:               o.FsName,
		Name:                 "juicefs",
		EnableLocks:          true,
		EnableSymlinkCaching: true,
		EnableAcl:            o.ACL,
		MaxWrite:             o.MaxWrite,
		MaxReadAhead:         1 << 20,
		MaxBackground:        50,
		// Replies carry bytes, never file descriptors: go-fuse's splice
		// path only adds pipe work to each read, and a warning to the log
		// for every 1 MiB reply (larger than the pipe).
		DisableSplice: true,
		DirectMount:   os.Geteuid() == 0,
		Logger:        o.Logger,
		// ATOMIC_O_TRUNC: open(O_TRUNC) truncates through the new handle
		// (vfs.Open) instead of a later SETATTR without one, which the
		// engine refuses (EPERM) once another client has moved the file to
		// the trash; it also saves a request.
		ExtraCapabilities: fuse.CAP_READDIRPLUS_AUTO | fuse.CAP_PARALLEL_DIROPS | fuse.CAP_ATOMIC_O_TRUNC,
	}
	if mo.MaxWrite == 0 {
		mo.MaxWrite = 1 << 20
	}
	if o.ACL {
		mo.ExtraCapabilities |= fuse.CAP_DONT_MASK
	}
	opts := []string{"default_permissions"}
	for _, opt := range o.MountOptions {
		switch opt {
		case "":
		case "debug":
			mo.Debug = true
		case "writeback_cache":
			mo.ExtraCapabilities |= fuse.CAP_WRITEBACK_CACHE
		case "async_dio":
			mo.ExtraCapabilities |= fuse.CAP_ASYNC_DIO
		case "allow_other", "allow_root":
			mo.AllowOther = true
		case "nonempty":
			// Checked by the caller; the kernel does not know it.
		default:
			opts = append(opts, opt)
		}
	}
	if os.Geteuid() == 0 {
		mo.AllowOther = true
	}
	mo.Options = opts
	procsForReaders.Lock() // go-fuse sizes its readers by GOMAXPROCS now
	readers := fuseReaders(runtime.GOMAXPROCS(0))
	srv, err := fuse.NewServer(fs, mountpoint, mo)
	procsForReaders.Unlock()
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	release := reserveReaderProcs(readers)
	go func() {
		srv.Serve()
		release()
	}()
	if err := srv.WaitMount(); err != nil {
		_ = srv.Unmount()
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	v.SetNotifier(srv)
	if err := setReadahead(mountpoint, kernelReadahead); err != nil && o.Logger != nil {
		o.Logger.Printf("kernel readahead of %s left as it is: %v", mountpoint, err)
	}
	return &Server{Server: srv, fs: fs}, nil
}

// RaisePriority gives the serving process the nice value -19, as JuiceFS
// does: every program using the mount waits for it, so on a busy machine it
// should be the first to run (root only; otherwise nothing changes). Linux
// keeps a nice value per thread and a new thread inherits its creator's, so
// every thread there is now gets it.
func RaisePriority() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, -19)
		}
	}
}

// kernelReadahead is how far the kernel reads ahead of a sequential reader
// of the mount. Its default for FUSE, 128 KiB, keeps one small request in
// flight at a time, and a sequential read then waits for every round trip
// to the file system; 4 MiB (one JuiceFS block) keeps several 1 MiB requests
// in flight.
const kernelReadahead = 4 << 20

// setReadahead sets the kernel's readahead of the mount at mountpoint (its
// backing device's read_ahead_kb; root only).
func setReadahead(mountpoint string, bytes int) error {
	var st syscall.Stat_t
	if err := syscall.Stat(mountpoint, &st); err != nil {
		return err
	}
	dev := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	return os.WriteFile(dev, []byte(strconv.Itoa(bytes>>10)), 0)
}

// Unmount detaches the mount point: lazily when force is set (the mount
// disappears at once and is cleaned once nothing uses it any more).
func Unmount(mountpoint string, force bool) error {
	flags := 0
	if force {
		flags = syscall.MNT_DETACH
	}
	if err := syscall.Unmount(mountpoint, flags); err == nil {
		return nil
	} else if err != syscall.EPERM {
		return fmt.Errorf("unmount %s: %w", mountpoint, err)
	}
	args := "-u"
	if force {
		args = "-uz"
	}
	return runFusermount(args, mountpoint)
}

// ParseOptions splits a -o value ("allow_other,ro") into options.
func ParseOptions(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}
