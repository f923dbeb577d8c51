package fusefs_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
)

// as runs fn as uid:gid with supplementary groups.
func as(t *testing.T, uid, gid uint32, groups []uint32, fn func() error) error {
	t.Helper()
	return mounttest.As(uid, gid, groups, fn)
}

func attrCases() []posixCase {
	return []posixCase{
		{"chmod-chown-ctime", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, []byte("x"))
			before := stat(t, p)
			time.Sleep(10 * time.Millisecond)
			must(t, os.Chmod(p, 0o640))
			after := stat(t, p)
			if after.Mode&0o7777 != 0o640 || after.Ctim == before.Ctim || after.Mtim != before.Mtim {
				t.Fatalf("chmod: mode %o, ctime changed %v, mtime changed %v", after.Mode, after.Ctim != before.Ctim, after.Mtim != before.Mtim)
			}
			must(t, os.Chown(p, alice, staff))
			if st := stat(t, p); st.Uid != alice || st.Gid != staff {
				t.Fatalf("chown: %d:%d", st.Uid, st.Gid)
			}
		}},
		{"utimes", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, []byte("x"))
			at, mt := time.Unix(1000000000, 123456789), time.Unix(1100000000, 987654321)
			must(t, os.Chtimes(p, at, mt))
			st := stat(t, p)
			if st.Atim.Sec != at.Unix() || st.Atim.Nsec != 123456789 || st.Mtim.Sec != mt.Unix() || st.Mtim.Nsec != 987654321 {
				t.Fatalf("times: atime %v mtime %v", st.Atim, st.Mtim)
			}
			must(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_OMIT}}, 0))
			if st2 := stat(t, p); time.Since(time.Unix(st2.Atim.Sec, 0)) > time.Minute || st2.Mtim != st.Mtim {
				t.Fatalf("UTIME_NOW/UTIME_OMIT: atime %v mtime %v", st2.Atim, st2.Mtim)
			}
		}},
		{"mtime-on-write", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, []byte("x"))
			must(t, os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0)))
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.Write([]byte("y"))
			must(t, err)
			must(t, f.Close())
			if st := stat(t, p); st.Mtim.Sec < time.Now().Add(-time.Minute).Unix() {
				t.Fatalf("mtime after a write: %v", st.Mtim)
			}
			// atime is not updated by reads (noatime, the default).
			readFile(t, p)
			if st := stat(t, p); st.Atim.Sec != 1 {
				t.Fatalf("atime after a read with noatime: %v", st.Atim)
			}
		}},
	}
}

func permCases() []posixCase {
	return []posixCase{
		{"access-as-other-user", func(t *testing.T, dir string) {
			private := filepath.Join(dir, "private")
			writeFile(t, private, []byte("secret"))
			must(t, os.Chmod(private, 0o600))
			err := as(t, alice, alice, nil, func() error { _, err := os.ReadFile(private); return err })
			wantErrno(t, "read of a 0600 file of root", err, syscall.EACCES)
			closed := filepath.Join(dir, "closed")
			must(t, os.Mkdir(closed, 0o755))
			err = as(t, alice, alice, nil, func() error { return os.WriteFile(filepath.Join(closed, "x"), nil, 0o644) })
			wantErrno(t, "create in a 0755 directory of root", err, syscall.EACCES)
			err = as(t, alice, alice, nil, func() error { return os.Chmod(private, 0o666) })
			wantErrno(t, "chmod of another user's file", err, syscall.EPERM)
			err = as(t, alice, alice, nil, func() error { return os.Chown(private, alice, alice) })
			wantErrno(t, "chown by a user", err, syscall.EPERM)
			noexec := filepath.Join(dir, "noexec")
			must(t, os.Mkdir(noexec, 0o766))
			writeFile(t, filepath.Join(noexec, "f"), nil)
			err = as(t, alice, alice, nil, func() error { _, err := os.Stat(filepath.Join(noexec, "f")); return err })
			wantErrno(t, "lookup in a directory without search permission", err, syscall.EACCES)
		}},
		{"supplementary-groups", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "team")
			writeFile(t, p, nil)
			must(t, os.Chown(p, bob, staff))
			must(t, os.Chmod(p, 0o660))
			must(t, as(t, alice, alice, []uint32{staff}, func() error { return os.WriteFile(p, []byte("by a member"), 0) }))
			err := as(t, alice, alice, nil, func() error { return os.WriteFile(p, []byte("by an outsider"), 0) })
			wantErrno(t, "write without the group", err, syscall.EACCES)
			d := filepath.Join(dir, "teamdir")
			must(t, os.Mkdir(d, 0o770))
			must(t, os.Chown(d, bob, staff))
			must(t, os.Chmod(d, 0o770))
			must(t, as(t, alice, alice, []uint32{staff}, func() error { return os.WriteFile(filepath.Join(d, "new"), nil, 0o644) }))
			// A member may give a file it owns to its supplementary group.
			own := filepath.Join(dir, "own")
			writeFile(t, own, nil)
			must(t, os.Chown(own, alice, alice))
			must(t, as(t, alice, alice, []uint32{staff}, func() error { return os.Chown(own, -1, staff) }))
			err = as(t, alice, alice, []uint32{staff}, func() error { return os.Chown(own, -1, nobody) })
			wantErrno(t, "chgrp to a group the user is not in", err, syscall.EPERM)
		}},
		{"sticky-directory", func(t *testing.T, dir string) {
			tmp := filepath.Join(dir, "tmp")
			must(t, os.Mkdir(tmp, 0o777))
			must(t, syscall.Chmod(tmp, 0o1777))
			p := filepath.Join(tmp, "alices")
			must(t, as(t, alice, alice, nil, func() error { return os.WriteFile(p, nil, 0o666) }))
			err := as(t, bob, bob, nil, func() error { return syscall.Unlink(p) })
			wantErrno(t, "removing another user's file from a sticky directory", err, syscall.EPERM)
			err = as(t, bob, bob, nil, func() error { return os.Rename(p, filepath.Join(tmp, "stolen")) })
			wantErrno(t, "renaming another user's file in a sticky directory", err, syscall.EPERM)
			must(t, as(t, alice, alice, nil, func() error { return os.Remove(p) }))
		}},
		{"setgid-directory", func(t *testing.T, dir string) {
			d := filepath.Join(dir, "shared")
			must(t, os.Mkdir(d, 0o777))
			must(t, os.Chown(d, 0, staff))
			must(t, syscall.Chmod(d, 0o2777))
			f := filepath.Join(d, "f")
			sub := filepath.Join(d, "sub")
			must(t, as(t, alice, alice, nil, func() error {
				if err := os.WriteFile(f, nil, 0o644); err != nil {
					return err
				}
				return os.Mkdir(sub, 0o755)
			}))
			if st := stat(t, f); st.Gid != staff || st.Uid != alice {
				t.Fatalf("a file in a set-group-ID directory: %d:%d, want %d:%d", st.Uid, st.Gid, alice, staff)
			}
			if st := stat(t, sub); st.Gid != staff || st.Mode&syscall.S_ISGID == 0 {
				t.Fatalf("a directory in a set-group-ID directory: gid %d mode %o", st.Gid, st.Mode)
			}
			// A non-member owner setting the set-group-ID bit loses it.
			must(t, as(t, alice, alice, nil, func() error { return syscall.Chmod(f, 0o2755) }))
			if st := stat(t, f); st.Mode&syscall.S_ISGID != 0 {
				t.Fatalf("set-group-ID kept by an owner outside the group: mode %o", st.Mode)
			}
		}},
		{"setuid-cleared-on-write", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "prog")
			writeFile(t, p, []byte("#!"))
			must(t, syscall.Chmod(p, 0o4777))
			must(t, as(t, alice, alice, nil, func() error {
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					return err
				}
				_, err = f.Write([]byte("more"))
				f.Close()
				return err
			}))
			if st := stat(t, p); st.Mode&syscall.S_ISUID != 0 {
				t.Fatalf("set-user-ID kept after a write by another user: mode %o", st.Mode)
			}
		}},
	}
}
