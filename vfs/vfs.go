// Package vfs is the file system a mount serves: the operations of the FUSE
// protocol (lookup, getattr, create, read, write, locks, …) expressed on
// inode numbers and file handles, implemented on the metadata engine and the
// file data layer. It knows nothing of the kernel protocol itself (package
// fusefs translates requests and errors), and nothing of Redis or objects
// (packages meta and fileio).
//
// The VFS adds what neither the engine nor the data layer knows: open file
// handles and their locks, the internal files of a JuiceFS mount (.stats,
// .accesslog, .control, .config and the .trash directory), the kernel cache
// policy (how long the kernel may trust an entry or attribute, when it may
// keep a file's pages), a mount of a sub-directory, the caller's
// supplementary groups, and the control-file protocol the command-line tools
// use to ask a mount for work.
//
// Every operation takes a context carrying the caller (meta.WithCaller; see
// CallerContext) and returns syscall.Errno values: 0 for success.
package vfs

import (
	"context"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Ino is an inode number as the kernel sees it (see VFS.root for the
// difference with the engine's numbers in a sub-directory mount).
type Ino = meta.Ino

// Attr is an inode's attribute.
type Attr = meta.Attr

// RootInode is the inode of the mount's root directory.
const RootInode = meta.RootInode

// Config is how a mount behaves. The zero value works; durations of zero
// mean the kernel caches nothing.
type Config struct {
	// AttrTimeout is how long the kernel may trust an attribute,
	// EntryTimeout a name of a non-directory, DirEntryTimeout a directory's
	// name and NegEntryTimeout the absence of a name (juicefs's
	// --attr-cache, --entry-cache, --dir-entry-cache, --negative-entry-cache).
	AttrTimeout, EntryTimeout, DirEntryTimeout, NegEntryTimeout time.Duration
	// ReadOnly refuses every change with EROFS.
	ReadOnly bool
	// Subdir is the engine's inode of the directory mounted as the root
	// (0: the volume's root).
	Subdir Ino
	// EnableXattr serves extended attributes (always on with ACLs).
	EnableXattr bool
	// HideInternal leaves the internal files out of the root's listing;
	// PrefixInternal names them .jfs.control, .jfs.stats, and so on.
	HideInternal, PrefixInternal bool
	// Umask, when set, replaces the caller's umask for new nodes.
	Umask *uint16
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
	// ConfigJSON returns the content of .config (the running mount's
	// configuration); Stats the content of .stats (see StatsText). Nil:
	// empty files.
	ConfigJSON func() []byte
	Stats      func() []byte
	// Metrics receives the metrics of kernel requests (nil: not exported).
	Metrics prometheus.Registerer
	// Control runs the commands tools send through .control (nil: every
	// command is answered EINVAL).
	Control ControlHandler
}

// Meta is what the VFS needs from the metadata engine; *meta.Engine has it.
type Meta interface {
	Format() *codec.Format
	SID() uint64
	GetAttr(ctx context.Context, ino Ino) (Attr, error)
	Lookup(ctx context.Context, parent Ino, name string) (Ino, Attr, error)
	SetAttr(ctx context.Context, ino Ino, set codec.SetAttrMask, attr *Attr) (Attr, error)
	Mknod(ctx context.Context, parent Ino, name string, typ codec.FileType, mode, umask uint16, rdev uint32) (Ino, Attr, error)
	Mkdir(ctx context.Context, parent Ino, name string, mode, umask uint16) (Ino, Attr, error)
	Symlink(ctx context.Context, parent Ino, name, target string) (Ino, Attr, error)
	Create(ctx context.Context, parent Ino, name string, mode, umask uint16, flags uint32) (Ino, Attr, error)
	Link(ctx context.Context, ino, parent Ino, name string) (Attr, error)
	Unlink(ctx context.Context, parent Ino, name string, skipTrash bool) error
	Rmdir(ctx context.Context, parent Ino, name string, skipTrash bool) error
	Rename(ctx context.Context, srcParent Ino, srcName string, dstParent Ino, dstName string, flags uint32) (Ino, Attr, error)
	ReadLink(ctx context.Context, ino Ino) (string, error)
	Open(ctx context.Context, ino Ino, flags uint32) (Attr, error)
	Release(ctx context.Context, ino Ino) error
	Truncate(ctx context.Context, ino Ino, flags uint8, length uint64, skipPermCheck bool) (Attr, error)
	Fallocate(ctx context.Context, ino Ino, mode uint8, off, size uint64) (uint64, error)
	CopyFileRange(ctx context.Context, fin Ino, offIn uint64, fout Ino, offOut, size uint64, flags uint32) (uint64, uint64, error)
	Readdir(ctx context.Context, ino Ino, plus bool) ([]meta.Entry, error)
	StatFS(ctx context.Context, ino Ino) meta.StatFS
	Access(ctx context.Context, ino Ino, mask uint8, attr *Attr) error
	GetXattr(ctx context.Context, ino Ino, name string) ([]byte, error)
	ListXattr(ctx context.Context, ino Ino) ([]string, error)
	SetXattr(ctx context.Context, ino Ino, name string, value []byte, flags uint32) error
	RemoveXattr(ctx context.Context, ino Ino, name string) error
	SetFacl(ctx context.Context, ino Ino, aclType uint8, rule codec.ACLRule) error
	GetFacl(ctx context.Context, ino Ino, aclType uint8) (codec.ACLRule, error)
	Flock(ctx context.Context, ino Ino, owner uint64, ltype uint32, block bool) error
	Setlk(ctx context.Context, ino Ino, owner uint64, block bool, l codec.PosixLock) error
	Getlk(ctx context.Context, ino Ino, owner uint64, want codec.PosixLock) (codec.PosixLock, error)
}

var _ Meta = (*meta.Engine)(nil)

// VFS is a mounted volume's file system.
type VFS struct {
	m       Meta
	data    Data
	conf    Config
	log     *slog.Logger
	root    Ino // the engine's inode of the mount's root
	start   time.Time
	uid     uint32 // owner of the internal files
	gid     uint32
	nodes   internalNodes
	handles handleTable
	alog    accessLog
	groups  groupCache
	pages   pageCachePolicy
	stale   staleOpens
	metrics *metrics
	// notifier tells the kernel about changes it cannot see (set by the
	// FUSE layer once mounted).
	notifier Notifier
}

// Notifier tells the kernel to forget what it cached.
type Notifier interface {
	// EntryNotify drops the kernel's entry name of directory parent.
	EntryNotify(parent uint64, name string) fuse.Status
}

// SetNotifier gives the VFS the way to invalidate the kernel's caches.
func (v *VFS) SetNotifier(n Notifier) { v.notifier = n }

// invalidateEntry drops the kernel's entry name in parent (kernel numbers),
// after a change made behind the kernel's back (a tool's rmr).
func (v *VFS) invalidateEntry(parent Ino, name string) {
	if v.notifier != nil {
		v.notifier.EntryNotify(uint64(parent), name)
	}
}

// New returns the file system of the volume m, with file contents from
// data.
func New(m Meta, data Data, conf Config) *VFS {
	v := &VFS{m: m, data: data, conf: conf, log: conf.Logger, root: conf.Subdir, start: time.Now(),
		uid: uint32(os.Getuid()), gid: uint32(os.Getgid())}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.root == 0 {
		v.root = RootInode
	}
	v.nodes = newInternalNodes(conf.PrefixInternal, v.uid, v.gid, v.start, conf.Subdir == 0 || conf.Subdir == RootInode)
	v.handles.init()
	v.metrics = newMetrics(conf.Metrics)
	return v
}

// Config returns the configuration the VFS runs with.
func (v *VFS) Config() Config { return v.conf }

// toMeta maps a kernel inode number to the engine's: in a sub-directory
// mount the kernel's root is the sub-directory, and the sub-directory's
// own number stands for the volume's root (a swap, so that every engine
// inode keeps a number of its own).
func (v *VFS) toMeta(ino Ino) Ino {
	switch ino {
	case RootInode:
		return v.root
	case v.root:
		return RootInode
	}
	return ino
}

// toKernel is the inverse of toMeta (a swap is its own inverse).
func (v *VFS) toKernel(ino Ino) Ino { return v.toMeta(ino) }

// aclEnabled tells whether the volume has POSIX ACLs.
func (v *VFS) aclEnabled() bool {
	f := v.m.Format()
	return f != nil && f.EnableACL
}

// xattrEnabled tells whether extended attributes are served.
func (v *VFS) xattrEnabled() bool { return v.conf.EnableXattr || v.aclEnabled() }

// errno maps an engine or data-layer error to the errno of the reply.
func errno(err error) syscall.Errno { return meta.ToErrno(err) }
