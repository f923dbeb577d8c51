package fusefs_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fusefs"
	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/vfs"
)

func xattrCases() []posixCase {
	return []posixCase{
		{"xattr", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, nil)
			must(t, unix.Setxattr(p, "user.color", []byte("blue"), 0))
			buf := make([]byte, 64)
			n, err := unix.Getxattr(p, "user.color", buf)
			if err != nil || string(buf[:n]) != "blue" {
				t.Fatalf("getxattr: %q, %v", buf[:n], err)
			}
			if n, err := unix.Getxattr(p, "user.color", nil); err != nil || n != 4 {
				t.Fatalf("getxattr size query: %d, %v", n, err)
			}
			_, err = unix.Getxattr(p, "user.color", make([]byte, 2))
			wantErrno(t, "getxattr into a small buffer", err, syscall.ERANGE)
			_, err = unix.Getxattr(p, "user.missing", buf)
			wantErrno(t, "getxattr of a missing name", err, syscall.ENODATA)
			wantErrno(t, "XATTR_CREATE of an existing name", unix.Setxattr(p, "user.color", []byte("red"), unix.XATTR_CREATE), syscall.EEXIST)
			wantErrno(t, "XATTR_REPLACE of a missing name", unix.Setxattr(p, "user.size", []byte("1"), unix.XATTR_REPLACE), syscall.ENODATA)
			must(t, unix.Setxattr(p, "user.size", []byte("1"), 0))
			n, err = unix.Listxattr(p, buf)
			must(t, err)
			names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
			if len(names) != 2 {
				t.Fatalf("listxattr: %q", names)
			}
			must(t, unix.Removexattr(p, "user.color"))
			wantErrno(t, "removexattr of a missing name", unix.Removexattr(p, "user.color"), syscall.ENODATA)
		}},
	}
}

func internalCases() []posixCase {
	return []posixCase{
		{"internal-files", func(t *testing.T, dir string) {
			root := filepath.Dir(dir)
			var conf struct {
				Pid        int
				Mountpoint string
			}
			// The test process serves the mount: its .config names it.
			if b := readFile(t, filepath.Join(root, ".config")); json.Unmarshal(b, &conf) != nil && len(b) > 0 {
				t.Fatalf(".config is not JSON: %s", b)
			}
			if st := stat(t, filepath.Join(root, ".stats")); st.Ino != 0x7FFFFFFF00000003 || st.Mode&0o777 != 0o444 {
				t.Fatalf(".stats: inode %x mode %o", st.Ino, st.Mode)
			}
			stats := string(readFile(t, filepath.Join(root, ".stats")))
			if !strings.Contains(stats, "juicefs_fuse_ops_durations_histogram_seconds_total ") {
				t.Fatalf(".stats lacks the operation counters: %.200s", stats)
			}
			_, err := os.OpenFile(filepath.Join(root, ".stats"), os.O_WRONLY, 0)
			wantErrno(t, "open .stats for writing", err, syscall.EACCES)
			_, err = os.Create(filepath.Join(root, ".config"))
			wantErrno(t, "create .config", err, syscall.EACCES)
			wantErrno(t, "unlink .config", os.Remove(filepath.Join(root, ".config")), syscall.EPERM)
			wantErrno(t, "mkdir .trash", os.Mkdir(filepath.Join(root, ".trash"), 0o755), syscall.EEXIST)
			if st := stat(t, filepath.Join(dir, ".control")); st.Ino != 0x7FFFFFFF00000002 {
				t.Fatalf(".control in a sub-directory: inode %x", st.Ino)
			}
			entries, err := os.ReadDir(root)
			must(t, err)
			listed := map[string]bool{}
			for _, e := range entries {
				listed[e.Name()] = true
			}
			if !listed[".stats"] || !listed[".accesslog"] || !listed[".config"] || !listed[".trash"] || listed[".control"] {
				t.Fatalf("root listing: %v", listed)
			}
		}},
		{"statfs", func(t *testing.T, dir string) {
			var st unix.Statfs_t
			must(t, unix.Statfs(dir, &st))
			if st.Bsize != 4096 || st.Blocks == 0 || st.Bavail > st.Blocks || st.Files == 0 || st.Namelen != 255 {
				t.Fatalf("statfs: %+v", st)
			}
		}},
	}
}

// TestACL runs getfacl/setfacl on a volume with POSIX ACLs: named users
// get access, default ACLs are inherited, the kernel enforces them.
func TestACL(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{ACL: true, BlockSize: 64})
	m := v.Mount(t, mounttest.MountOptions{})
	dir := m.Path("acl")
	must(t, os.Mkdir(dir, 0o755))
	p := filepath.Join(dir, "f")
	writeFile(t, p, []byte("for alice"))
	must(t, os.Chmod(p, 0o600))
	run := func(args ...string) string {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	err := as(t, alice, alice, nil, func() error { _, err := os.ReadFile(p); return err })
	wantErrno(t, "read before the ACL", err, syscall.EACCES)
	run("setfacl", "-m", "u:1001:r", p)
	if out := run("getfacl", "-n", p); !strings.Contains(out, "user:1001:r--") || !strings.Contains(out, "mask::r--") {
		t.Fatalf("getfacl:\n%s", out)
	}
	must(t, as(t, alice, alice, nil, func() error { _, err := os.ReadFile(p); return err }))
	err = as(t, bob, bob, nil, func() error { _, err := os.ReadFile(p); return err })
	wantErrno(t, "read by a user the ACL does not name", err, syscall.EACCES)
	run("setfacl", "-d", "-m", "u:1002:rwx", dir)
	child := filepath.Join(dir, "child")
	writeFile(t, child, nil)
	if out := run("getfacl", "-n", child); !strings.Contains(out, "user:1002:rw") {
		t.Fatalf("a new file does not inherit the default ACL:\n%s", out)
	}
	run("setfacl", "-b", p)
	if out := run("getfacl", "-n", p); strings.Contains(out, "user:1001") {
		t.Fatalf("setfacl -b left:\n%s", out)
	}
}

// TestSubdirQuota: a mount of a sub-directory sees that directory as its
// root, and df shows the directory's quota.
func TestSubdirQuota(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 64})
	e := v.Engine(t, meta.Options{})
	ctx := context.Background()
	sub, _, err := e.Mkdir(ctx, meta.RootInode, "projects", 0o755, 0)
	must(t, err)
	_, _, err = e.Mkdir(ctx, sub, "inside", 0o755, 0)
	must(t, err)
	_, err = e.Quotas().Set(ctx, codec.QuotaDir, "/projects", 1<<30, 1000, false, false)
	must(t, err)
	m := v.Mount(t, mounttest.MountOptions{Subdir: sub})
	if _, err := os.Stat(m.Path("inside")); err != nil {
		t.Fatalf("the sub-directory's content is not the mount's root: %v", err)
	}
	if _, err := os.Stat(m.Path(".trash")); err == nil {
		t.Fatal("a sub-directory mount shows the trash")
	}
	var st unix.Statfs_t
	must(t, unix.Statfs(m.Dir, &st))
	if got := st.Blocks * uint64(st.Bsize); got != 1<<30 {
		t.Fatalf("df of a sub-directory with a 1 GiB quota shows %d bytes", got)
	}
	if st.Files != 1000 {
		t.Fatalf("df -i of a sub-directory with a 1000-inode quota shows %d inodes", st.Files)
	}
}

// TestInterruptedRequests: the kernel interrupts a request whenever the
// calling thread gets a signal (Go programs get preemption signals all the
// time); ordinary requests complete anyway, a blocked lock gives up (EINTR)
// once it has waited a second.
func TestInterruptedRequests(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 64})
	m := v.Mount(t, mounttest.MountOptions{})
	fs := fusefs.New(m.VFS)
	interrupted := make(chan struct{})
	close(interrupted)
	hdr := fuse.InHeader{NodeId: 1}
	var out fuse.CreateOut
	in := &fuse.CreateIn{InHeader: hdr, Flags: syscall.O_RDWR, Mode: 0o644}
	if st := fs.Create(interrupted, in, "f", &out); st != fuse.OK {
		t.Fatalf("an interrupted create: %v", st)
	}
	var entry fuse.EntryOut
	if st := fs.Lookup(interrupted, &hdr, "f", &entry); st != fuse.OK || entry.NodeId != out.NodeId {
		t.Fatalf("an interrupted lookup: %v", st)
	}
	// A second open file holds a lock; a blocked request for it gives up
	// after the grace.
	holder, err := os.OpenFile(m.Path("f"), os.O_RDWR, 0)
	must(t, err)
	defer holder.Close()
	must(t, unix.Flock(int(holder.Fd()), unix.LOCK_EX))
	lk := &fuse.LkIn{InHeader: fuse.InHeader{NodeId: out.NodeId}, Fh: out.Fh, Owner: 99, LkFlags: fuse.LK_FLOCK,
		Lk: fuse.FileLock{Typ: syscall.F_WRLCK}}
	start := time.Now()
	if st := fs.SetLkw(interrupted, lk); st != fuse.Status(syscall.EINTR) {
		t.Fatalf("an interrupted blocked flock: %v, want EINTR", st)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("the blocked flock gave up after %v, before its grace", d)
	}
	fs.Release(nil, &fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: out.NodeId}, Fh: out.Fh})
}

// TestTrashAndReadOnly: on a volume with a trash, removed files can be
// found and copied back from .trash; a read-only mount reads and refuses
// every change; without --enable-xattr, extended attributes are not
// supported.
func TestTrashAndReadOnly(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 64, TrashDays: 1})
	m := v.Mount(t, mounttest.MountOptions{})
	writeFile(t, m.Path("precious"), []byte("keep me"))
	must(t, os.Remove(m.Path("precious")))
	hours, err := os.ReadDir(m.Path(".trash"))
	must(t, err)
	if len(hours) != 1 {
		t.Fatalf(".trash holds %d entries, want one hour directory", len(hours))
	}
	inTrash, err := os.ReadDir(m.Path(".trash", hours[0].Name()))
	must(t, err)
	if len(inTrash) != 1 || !strings.HasSuffix(inTrash[0].Name(), "precious") {
		t.Fatalf("the hour directory holds %v", inTrash)
	}
	if got := readFile(t, m.Path(".trash", hours[0].Name(), inTrash[0].Name())); string(got) != "keep me" {
		t.Fatalf("the removed file reads %q from the trash", got)
	}
	_, err = unix.Getxattr(m.Path(".trash"), "user.x", nil)
	wantErrno(t, "getxattr without --enable-xattr", err, syscall.EOPNOTSUPP)

	writeFile(t, m.Path("kept"), []byte("read me"))
	ro := v.Mount(t, mounttest.MountOptions{VFS: vfs.Config{ReadOnly: true}, Meta: meta.Options{ReadOnly: true}})
	if got := readFile(t, ro.Path("kept")); string(got) != "read me" {
		t.Fatalf("a read-only mount reads %q", got)
	}
	wantErrno(t, "write on a read-only mount", os.WriteFile(ro.Path("kept"), nil, 0o644), syscall.EROFS)
	wantErrno(t, "mkdir on a read-only mount", os.Mkdir(ro.Path("d"), 0o755), syscall.EROFS)
	wantErrno(t, "unlink on a read-only mount", os.Remove(ro.Path("kept")), syscall.EROFS)
}

// TestUmaskOption: --umask replaces the caller's umask for new nodes.
func TestUmaskOption(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 64})
	mask := uint16(0o077)
	m := v.Mount(t, mounttest.MountOptions{VFS: vfs.Config{Umask: &mask}})
	writeFile(t, m.Path("f"), nil)
	must(t, os.Mkdir(m.Path("d"), 0o777))
	if st := stat(t, m.Path("f")); st.Mode&0o777 != 0o600 {
		t.Fatalf("a file created with --umask 077: mode %o", st.Mode&0o777)
	}
	if st := stat(t, m.Path("d")); st.Mode&0o777 != 0o700 {
		t.Fatalf("a directory created with --umask 077: mode %o", st.Mode&0o777)
	}
}
