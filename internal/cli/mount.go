package cli

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fusefs"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/vfs"
)

func (a *app) mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Category:  "SERVICE",
		Usage:     "Mount a volume",
		ArgsUsage: "META-URL MOUNTPOINT",
		Description: `Serves the volume as a POSIX file system on MOUNTPOINT through FUSE, side by
side with official juicefs mounts of the same volume: files, locks, sessions
and the trash are shared. The mount runs in the foreground until it is
unmounted (rueidisfs umount MOUNTPOINT) or receives SIGTERM or SIGINT; with
-d it runs in the background and logs to --log. Data written is committed
and visible to other clients when close(2) or fsync(2) returns.

Examples:
# Mount in the background
$ rueidisfs mount -d redis://localhost/1 /mnt/jfs

# Mount in the foreground, read-only
$ rueidisfs mount --read-only redis://localhost/1 /mnt/jfs

# Mount a sub-directory, with extended attributes
$ rueidisfs mount -d --subdir /projects/a --enable-xattr redis://localhost/1 /mnt/a`,
		Flags:  concatFlags(a.mountServiceFlags(), a.fuseFlags(), clientFlags()),
		Action: a.mount,
	}
}

func (a *app) mountServiceFlags() []cli.Flag {
	const cat = "SERVICE"
	return []cli.Flag{
		&cli.BoolFlag{Name: "background", Aliases: []string{"d"}, Category: cat, Usage: "run in the background (logs go to --log)"},
		&cli.BoolFlag{Name: "foreground", Aliases: []string{"f"}, Category: cat, Usage: "run in the foreground (the default)"},
		&cli.StringFlag{Name: "log", Category: cat, Value: a.defaultLogFile(), Usage: "log file of a mount running in the background"},
		&cli.BoolFlag{Name: "no-syslog", Category: cat, Usage: "accepted for compatibility with juicefs; rueidisfs logs to --log only"},
		&cli.BoolFlag{Name: "force", Category: cat, Usage: "accepted for compatibility with juicefs; a busy mount point is always refused"},
		&cli.BoolFlag{Name: "update-fstab", Category: cat, Usage: "not supported by rueidisfs (refused)"},
	}
}

func (a *app) fuseFlags() []cli.Flag {
	const cat = "FUSE"
	return []cli.Flag{
		&cli.BoolFlag{Name: "enable-xattr", Category: cat, Usage: "serve extended attributes (always on for volumes with ACLs)"},
		&cli.BoolFlag{Name: "enable-cap", Category: cat, Usage: "not supported: security.capability is never stored"},
		&cli.BoolFlag{Name: "enable-selinux", Category: cat, Usage: "not supported: security.selinux is never stored"},
		&cli.BoolFlag{Name: "prefix-internal", Category: cat, Usage: "name the internal files .jfs.control, .jfs.stats, …"},
		&cli.BoolFlag{Name: "hide-internal", Category: cat, Usage: "leave the internal files (.stats, .accesslog, …) out of the root's listing"},
		&cli.StringFlag{Name: "max-fuse-io", Category: cat, Value: "1M", Usage: "largest read or write request of the kernel (unit KiB when bare)"},
		&cli.StringFlag{Name: "umask", Category: cat, Usage: "umask (octal) for new files and directories, instead of the caller's"},
		&cli.StringFlag{Name: "o", Category: cat, Usage: "FUSE mount options, comma-separated (allow_other, writeback_cache, nonempty, ro, debug, …)"},
	}
}

// defaultLogFile is juicefs's: /var/log/<name>.log for root, else
// ~/.<name>/<name>.log.
func (a *app) defaultLogFile() string {
	if a.isRoot || a.home == "" {
		return "/var/log/" + a.name + ".log"
	}
	return filepath.Join(a.home, "."+a.name, a.name+".log")
}

// mountSettings are the flags of mount, read and checked.
type mountSettings struct {
	mountpoint string
	readOnly   bool
	fuseOpts   []string
	vfs        vfs.Config
	maxWrite   int
	engine     meta.Options
	backup     time.Duration // --backup-meta
}

func (a *app) readMountSettings(c *cli.Context) (*mountSettings, error) {
	if c.Bool("update-fstab") {
		return nil, errors.New("--update-fstab is not supported by rueidisfs: add the mount to your service manager instead")
	}
	mp, err := filepath.Abs(c.Args().Get(1))
	if err != nil {
		return nil, err
	}
	if mp == "/" {
		return nil, errors.New("mounting on / is refused: choose an empty directory")
	}
	s := &mountSettings{mountpoint: mp, fuseOpts: fusefs.ParseOptions(c.String("o"))}
	s.readOnly = c.Bool("read-only")
	for _, o := range s.fuseOpts {
		if o == "ro" {
			s.readOnly = true
		}
	}
	durations := []struct {
		flag string
		dst  *time.Duration
	}{{"attr-cache", &s.vfs.AttrTimeout}, {"entry-cache", &s.vfs.EntryTimeout}, {"dir-entry-cache", &s.vfs.DirEntryTimeout},
		{"negative-entry-cache", &s.vfs.NegEntryTimeout}}
	for _, d := range durations {
		if *d.dst, err = parseSeconds(d.flag, c.String(d.flag)); err != nil {
			return nil, err
		}
	}
	if s.engine, err = engineOptions(c); err != nil {
		return nil, err
	}
	s.engine.ReadOnly = s.readOnly
	s.engine.MountPoint = mp
	if s.engine.Heartbeat == 0 {
		return nil, errors.New("invalid value 0 for --heartbeat: the session would look dead to every other client")
	}
	io, err := parseBytes("max-fuse-io", c.String("max-fuse-io"), 'K')
	if err != nil {
		return nil, err
	}
	if io < 4<<10 || io > 1<<20 {
		return nil, fmt.Errorf("invalid value %q for --max-fuse-io: between 4K and 1M", c.String("max-fuse-io"))
	}
	s.maxWrite = int(io)
	if um := c.String("umask"); um != "" {
		v, err := strconv.ParseUint(um, 8, 16)
		if err != nil || v > 0o777 {
			return nil, fmt.Errorf("invalid value %q for --umask: an octal mask such as 022", um)
		}
		mask := uint16(v)
		s.vfs.Umask = &mask
	}
	if s.backup, err = a.backupInterval(c); err != nil {
		return nil, err
	}
	if err := a.checkDataFlags(c); err != nil {
		return nil, err
	}
	s.vfs.ReadOnly = s.readOnly
	s.vfs.EnableXattr = c.Bool("enable-xattr")
	s.vfs.PrefixInternal = c.Bool("prefix-internal")
	s.vfs.HideInternal = c.Bool("hide-internal")
	return s, nil
}

func (a *app) mount(c *cli.Context) error {
	if err := checkArgs(c, 2, 2); err != nil {
		return err
	}
	s, err := a.readMountSettings(c)
	if err != nil {
		return err
	}
	if err := checkMountpoint(s.mountpoint, hasOption(s.fuseOpts, "nonempty")); err != nil {
		return err
	}
	if c.Bool("background") && a.getenv(daemonEnv) == "" {
		return a.daemonize(c, s.mountpoint)
	}
	return a.serve(c, s)
}

func hasOption(opts []string, name string) bool {
	for _, o := range opts {
		if o == name {
			return true
		}
	}
	return false
}

// serve mounts the volume and serves it until it is unmounted or the
// process is told to stop; everything buffered is committed before it
// returns.
func (a *app) serve(c *cli.Context, s *mountSettings) error {
	ctx := context.Background()
	fusefs.RaisePriority() // before the threads of the engine and the data path start
	a.noteIgnoredFlags(c, mountHonours, "rueidisfs does not implement it")
	if !c.IsSet("cache-dir") {
		if err := c.Set("cache-dir", a.defaultCacheDir()); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	jfs := prometheus.WrapRegistererWithPrefix("juicefs_", reg)
	a.objectMetrics = jfs
	s.engine.ObserveTxn = txnHistogram(jfs)
	e, d, err := a.openDataVolumeWith(c, c.Args().First(), s.engine)
	if err != nil {
		return err
	}
	defer a.closeEngine(e)
	if err := e.NewSession(ctx, true); err != nil {
		return fmt.Errorf("load setting: %w", err)
	}
	defer a.closeSession(e)
	defer a.closeData(d)
	f := e.Format()
	if s.vfs.Subdir, err = a.chroot(ctx, e, c.String("subdir"), s.readOnly); err != nil {
		return err
	}
	s.vfs.Logger = a.log
	s.vfs.Metrics = jfs
	s.vfs.ConfigJSON = a.mountConfig(c, s, e, f, d.store)
	s.vfs.Stats = func() []byte { return vfs.StatsText(reg) }
	s.vfs.Control = a.controlHandler(e, d)
	v := vfs.New(e, d.fs, s.vfs)
	a.registerMountMetrics(reg, e)
	stopMetrics := a.serveMetrics(c, reg)
	defer stopMetrics()
	srv, err := fusefs.Mount(s.mountpoint, v, fusefs.Options{FsName: "JuiceFS:" + f.Name, MountOptions: s.fuseOpts,
		ACL: f.EnableACL, MaxWrite: s.maxWrite, Logger: log.New(a.logWriter(), "", 0)})
	if err != nil {
		return err
	}
	a.log.Info(fmt.Sprintf("%s is mounted at %s (session %d)", f.Name, s.mountpoint, e.SID()))
	stopBackups := a.startBackups(c, e, f, s.backup, s.readOnly, jfs)
	defer stopBackups()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sig)
	served := make(chan struct{})
	go func() {
		for range sig {
			a.log.Info("received a signal: unmounting " + s.mountpoint)
			if err := fusefs.Unmount(s.mountpoint, true); err != nil {
				a.log.Warn(err.Error())
			}
			// Detached, the mount ends when its last open file is closed;
			// a process that never closes one must not keep it alive.
			go func() {
				select {
				case <-served:
				case <-time.After(stopGrace):
					a.log.Warn(fmt.Sprintf("files are still open in %s %v after the signal: committing what is buffered and exiting", s.mountpoint, stopGrace))
					_ = a.closeData(d)
					a.closeSession(e)
					os.Exit(stopExitStatus)
				}
			}()
		}
	}()
	srv.Wait()
	close(served)
	a.log.Info(s.mountpoint + " is unmounted; committing buffered data")
	return nil
}

// After a stop signal, a mount whose files stay open is ended after
// stopGrace with stopExitStatus (as juicefs: 30 s, status 11).
const (
	stopGrace      = 30 * time.Second
	stopExitStatus = 11
)

// mountHonours lists the client options mount honours; the others are
// accepted and named in a log line.
var mountHonours = []string{"subdir", "heartbeat", "read-only", "no-bgjob", "atime-mode", "skip-dir-mtime", "backup-meta", "backup-skip-trash",
	"attr-cache", "entry-cache", "dir-entry-cache", "negative-entry-cache", "buffer-size", "prefetch",
	"cache-dir", "cache-mode", "cache-size", "free-space-ratio", "cache-large-write", "io-retries",
	"cache-items", "cache-partial-only", "verify-cache-checksum", "cache-eviction", "cache-scan-interval", "cache-expire",
	"writeback", "writeback-threshold-size", "upload-delay", "upload-hours", "max-stage-write", "max-readahead", "max-deletes",
	"max-uploads", "max-downloads", "metrics", "no-usage-report", "open-cache", "skip-dir-nlink",
	"storage", "bucket", "storage-class", "tag", "get-timeout", "put-timeout", "check-storage", "upload-limit", "download-limit"}

// chroot resolves the --subdir directory (creating what is missing, unless
// read-only) and returns its inode; 0 for the whole volume.
func (a *app) chroot(ctx context.Context, e *meta.Engine, subdir string, readOnly bool) (meta.Ino, error) {
	ino := meta.RootInode
	for _, name := range strings.FieldsFunc(subdir, func(r rune) bool { return r == '/' }) {
		child, attr, err := e.Lookup(ctx, ino, name)
		if errors.Is(err, syscall.ENOENT) && !readOnly {
			child, attr, err = e.Mkdir(ctx, ino, name, 0o777, 0o022)
		}
		if err != nil {
			return 0, fmt.Errorf("--subdir %s: %s: %s", subdir, name, errnoText(err))
		}
		if attr.Typ != codec.TypeDirectory {
			return 0, fmt.Errorf("--subdir %s: %s is not a directory", subdir, name)
		}
		ino = child
	}
	if ino == meta.RootInode {
		return 0, nil
	}
	return ino, nil
}

// closeSession ends the session: this client's locks are released and the
// files it kept open after their deletion are deleted.
func (a *app) closeSession(e *meta.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.CloseSession(ctx); err != nil {
		a.log.Warn(fmt.Sprintf("close session: %v", err))
	}
}
