// Package mounttest gives tests real mounts: a volume formatted on the test
// Redis server with a `file` bucket in a temporary directory, mounted
// through FUSE either in the test process (vfs and fusefs wired as the mount
// command wires them) or by the rueidisfs binary in a process of its own
// (for tests that kill it, or run it in the background).
//
// A test needs /dev/fuse and root; without them it fails (CI installs
// fuse3 and runs as root), it never skips.
//
// A test process serving a mount must not page-fault on a mapping of a file
// of that mount, nor start a child that uses the mount before its program
// runs (see Command): the faulting thread, or the parent suspended by
// vfork, cannot be stopped by the garbage collector, which then waits for
// the mount that waits for the collection. Such work goes to a child
// process.
package mounttest

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fileio"
	"github.com/rueidisfs/rueidisfs/fusefs"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/volstore"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// Volume is a formatted volume for one test.
type Volume struct {
	URL    string // meta URL
	Bucket string // directory of the `file` bucket
	Format *codec.Format
	Redis  *redistest.Server
	DB     int
}

// VolumeOptions choose the format of a volume.
type VolumeOptions struct {
	TrashDays int
	ACL       bool
	BlockSize int // KiB, default 4096 (JuiceFS's 4 MiB)
	// Format, when set, adjusts the format before the volume is created
	// (another storage: then Bucket is not where the objects are).
	Format func(*codec.Format)
}

// NewVolume formats a volume on a database of the shared test Redis server.
func NewVolume(t testing.TB, o VolumeOptions) *Volume {
	t.Helper()
	srv, db := redistest.NewDB(t)
	v := &Volume{URL: srv.URL("redis", db), Bucket: t.TempDir() + "/", Redis: srv, DB: db}
	if o.BlockSize == 0 {
		o.BlockSize = 4096
	}
	v.Format = &codec.Format{Name: "test", UUID: fmt.Sprintf("00000000-0000-0000-0000-%012d", time.Now().UnixNano()%1e12),
		Storage: "file", Bucket: v.Bucket, BlockSize: o.BlockSize, Compression: "none", TrashDays: o.TrashDays,
		MetaVersion: 1, DirStats: true, EnableACL: o.ACL}
	if o.Format != nil {
		o.Format(v.Format)
	}
	ctx := context.Background()
	e, err := meta.Open(ctx, v.URL, meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	if err := e.Init(ctx, v.Format, false); err != nil {
		t.Fatal(err)
	}
	return v
}

// Engine opens another client of the volume (with a session), closed at the
// end of the test.
func (v *Volume) Engine(t testing.TB, opts meta.Options) *meta.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := meta.Open(ctx, v.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.NewSession(ctx, !opts.ReadOnly); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.CloseSession(context.Background())
		e.Close(context.Background())
	})
	return e
}

// Mount is a volume mounted by the test process.
type Mount struct {
	Dir    string
	Engine *meta.Engine
	VFS    *vfs.VFS
	data   *fileio.FS
	store  *chunk.Store
	srv    *fusefs.Server
	closed bool
}

// MountOptions tune an in-process mount.
type MountOptions struct {
	VFS     vfs.Config
	Meta    meta.Options
	Subdir  meta.Ino
	FuseOps []string // -o options
}

// Mount mounts the volume in the test process on a fresh directory; it is
// unmounted (and everything committed) at the end of the test.
func (v *Volume) Mount(t testing.TB, o MountOptions) *Mount {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	// Other users must reach the mount point (TempDir makes 0700 parents).
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if o.Meta.Logger == nil {
		o.Meta.Logger = testLogger(t)
	}
	o.Meta.MountPoint = dir
	var store *chunk.Store
	o.Meta.SliceDeleter = func(f *codec.Format) (meta.DeleteSliceFunc, error) {
		st, err := volstore.Open(ctx, f, volstore.Options{})
		if err != nil {
			return nil, err
		}
		store, err = chunk.New(st, chunk.Config{BlockSize: objstore.BlockSize(f), Compression: f.Compression,
			HashPrefix: f.HashPrefix, VolumeUUID: f.UUID, Logger: o.Meta.Logger})
		if err != nil {
			return nil, err
		}
		return store.Remove, nil
	}
	o.Meta.Compact = fileio.Compactor(func() *chunk.Store { return store })
	e, err := meta.Open(ctx, v.URL, o.Meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.NewSession(ctx, true); err != nil {
		t.Fatal(err)
	}
	if store == nil {
		t.Fatal("the engine did not open the data path")
	}
	f := e.Format()
	data := fileio.New(e, store, fileio.Options{Logger: o.Meta.Logger})
	conf := o.VFS
	conf.Subdir = o.Subdir
	conf.Logger = o.Meta.Logger
	reg := prometheus.NewRegistry()
	conf.Metrics = prometheus.WrapRegistererWithPrefix("juicefs_", reg)
	conf.Stats = func() []byte { return vfs.StatsText(reg) }
	fs := vfs.New(e, data, conf)
	srv, err := fusefs.Mount(dir, fs, fusefs.Options{FsName: "JuiceFS:" + f.Name, ACL: f.EnableACL,
		MountOptions: o.FuseOps, Logger: log.New(newTestWriter(t), "", 0)})
	if err != nil {
		t.Fatalf("mount (this test needs /dev/fuse and root): %v", err)
	}
	m := &Mount{Dir: dir, Engine: e, VFS: fs, data: data, store: store, srv: srv}
	t.Cleanup(func() { m.Unmount(t) })
	return m
}

// Unmount unmounts and commits everything; the session ends.
func (m *Mount) Unmount(t testing.TB) {
	t.Helper()
	if m.closed {
		return
	}
	m.closed = true
	ctx := context.Background()
	if err := fusefs.Unmount(m.Dir, false); err != nil {
		t.Errorf("unmount %s: %v", m.Dir, err)
		_ = fusefs.Unmount(m.Dir, true)
	}
	m.srv.Wait()
	if err := m.data.Close(ctx); err != nil {
		t.Errorf("commit buffered data: %v", err)
	}
	m.store.Close()
	if err := m.Engine.CloseSession(ctx); err != nil {
		t.Errorf("close session: %v", err)
	}
	m.Engine.Close(ctx)
}

// Path joins the mount point and a path inside the mount.
func (m *Mount) Path(elem ...string) string {
	return filepath.Join(append([]string{m.Dir}, elem...)...)
}

// testLogger sends warnings to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter writes lines to the test's log while the test runs, and to
// stderr after it (background work may still log then).
type testWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func newTestWriter(t testing.TB) testWriter {
	w := testWriter{t: t, mu: &sync.Mutex{}, done: new(bool)}
	t.Cleanup(func() {
		w.mu.Lock()
		*w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if *w.done {
		return os.Stderr.Write(p)
	}
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// NeedRoot fails the test when it does not run as root: mounts and the
// permission tests need it.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (it mounts a FUSE file system and switches users)")
	}
}

// Command prepares name with args to run in directory dir. When the test
// process serves a mount, a child it starts must not use the mount before
// its program runs: Go starts children with vfork, and while the child
// prepares (changes directory, loads the program) the parent's thread is
// suspended in a way the garbage collector cannot stop, so a collection
// then waits for the child, the child for the mount, and the mount for the
// collection. The child therefore starts a shell outside the mount, which
// changes to dir and runs the program.
func Command(dir, name string, args ...string) *exec.Cmd {
	return exec.Command("/bin/sh", append([]string{"-c", `cd "$1" && shift && exec "$@"`, "sh", dir, name}, args...)...)
}
