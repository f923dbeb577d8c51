package fusefs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func dirCases() []posixCase {
	return []posixCase{
		{"mkdir-rmdir", func(t *testing.T, dir string) {
			d := filepath.Join(dir, "d")
			must(t, os.Mkdir(d, 0o755))
			if st := stat(t, dir); st.Nlink != 3 {
				t.Fatalf("parent nlink %d after mkdir, want 3", st.Nlink)
			}
			wantErrno(t, "mkdir of an existing name", os.Mkdir(d, 0o755), syscall.EEXIST)
			writeFile(t, filepath.Join(d, "f"), nil)
			wantErrno(t, "rmdir of a non-empty directory", syscall.Rmdir(d), syscall.ENOTEMPTY)
			wantErrno(t, "rmdir of a file", syscall.Rmdir(filepath.Join(d, "f")), syscall.ENOTDIR)
			wantErrno(t, "unlink of a directory", syscall.Unlink(d), syscall.EISDIR)
			_, err := os.OpenFile(d, os.O_WRONLY, 0)
			wantErrno(t, "open of a directory for writing", err, syscall.EISDIR)
			_, err = os.Open(filepath.Join(d, "f", "x"))
			wantErrno(t, "a file used as a directory", err, syscall.ENOTDIR)
			must(t, os.Remove(filepath.Join(d, "f")))
			must(t, syscall.Rmdir(d))
			if st := stat(t, dir); st.Nlink != 2 {
				t.Fatalf("parent nlink %d after rmdir, want 2", st.Nlink)
			}
		}},
		{"readdir-many", func(t *testing.T, dir string) {
			const n = 1500
			want := make([]string, 0, n)
			for i := 0; i < n; i++ {
				name := fmt.Sprintf("entry-%04d", i)
				want = append(want, name)
				if i%2 == 0 {
					writeFile(t, filepath.Join(dir, name), []byte(name))
				} else {
					must(t, os.Mkdir(filepath.Join(dir, name), 0o700))
				}
			}
			entries, err := os.ReadDir(dir)
			must(t, err)
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
				isDir := strings.HasSuffix(e.Name(), "1") || strings.HasSuffix(e.Name(), "3") || strings.HasSuffix(e.Name(), "5") ||
					strings.HasSuffix(e.Name(), "7") || strings.HasSuffix(e.Name(), "9")
				if e.IsDir() != isDir {
					t.Fatalf("%s: type in the listing is wrong", e.Name())
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("listed %d entries, want %d", len(got), len(want))
			}
			// ls -l: attributes come with the listing (READDIRPLUS).
			for _, e := range entries[:10] {
				info, err := e.Info()
				must(t, err)
				if !e.IsDir() && info.Size() != int64(len(e.Name())) {
					t.Fatalf("%s: size %d", e.Name(), info.Size())
				}
			}
			// rm -r: read and delete in turns.
			must(t, os.RemoveAll(dir))
			must(t, os.Mkdir(dir, 0o777))
		}},
		{"rename", func(t *testing.T, dir string) {
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			writeFile(t, a, []byte("A"))
			writeFile(t, b, []byte("B"))
			ctime := stat(t, a).Ctim
			time.Sleep(10 * time.Millisecond)
			must(t, syscall.Rename(a, b))
			if got := string(readFile(t, b)); got != "A" {
				t.Fatalf("rename over a file: %q", got)
			}
			if st := stat(t, b); st.Ctim == ctime {
				t.Fatal("rename did not change the ctime of the moved file")
			}
			d1, d2 := filepath.Join(dir, "d1"), filepath.Join(dir, "d2")
			must(t, os.Mkdir(d1, 0o755))
			must(t, os.Mkdir(d2, 0o755))
			writeFile(t, filepath.Join(d2, "x"), nil)
			wantErrno(t, "rename over a non-empty directory", syscall.Rename(d1, d2), syscall.ENOTEMPTY)
			wantErrno(t, "rename of a directory over a file", syscall.Rename(d1, b), syscall.ENOTDIR)
			wantErrno(t, "rename of a file over a directory", syscall.Rename(b, d2), syscall.EISDIR)
			wantErrno(t, "rename of a directory into itself", syscall.Rename(d1, filepath.Join(d1, "in")), syscall.EINVAL)
			must(t, os.Remove(filepath.Join(d2, "x")))
			must(t, syscall.Rename(d1, d2))
			c := filepath.Join(dir, "c")
			writeFile(t, c, []byte("C"))
			wantErrno(t, "RENAME_NOREPLACE", unix.Renameat2(unix.AT_FDCWD, c, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE), syscall.EEXIST)
			must(t, unix.Renameat2(unix.AT_FDCWD, c, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE))
			if string(readFile(t, b)) != "C" || string(readFile(t, c)) != "A" {
				t.Fatal("RENAME_EXCHANGE did not swap the files")
			}
			wantErrno(t, "rename to another file system", syscall.Rename(b, filepath.Join(os.TempDir(), "rueidisfs-exdev")), syscall.EXDEV)
		}},
		{"name-too-long", func(t *testing.T, dir string) {
			long := strings.Repeat("n", 256)
			_, err := os.Create(filepath.Join(dir, long))
			wantErrno(t, "create with a 256-byte name", err, syscall.ENAMETOOLONG)
			writeFile(t, filepath.Join(dir, strings.Repeat("n", 255)), nil)
			wantErrno(t, "symlink to a 4096-byte target", os.Symlink(strings.Repeat("t/", 2048), filepath.Join(dir, "l")), syscall.ENAMETOOLONG)
		}},
	}
}

func linkCases() []posixCase {
	return []posixCase{
		{"symlink", func(t *testing.T, dir string) {
			target := filepath.Join(dir, "target")
			writeFile(t, target, []byte("pointed to"))
			l := filepath.Join(dir, "l")
			must(t, os.Symlink("target", l))
			if got, err := os.Readlink(l); err != nil || got != "target" {
				t.Fatalf("readlink: %q, %v", got, err)
			}
			if string(readFile(t, l)) != "pointed to" {
				t.Fatal("reading through the link")
			}
			if st := stat(t, l); st.Mode&syscall.S_IFMT != syscall.S_IFLNK || st.Size != 6 {
				t.Fatalf("lstat of the link: mode %o size %d", st.Mode, st.Size)
			}
			must(t, os.Symlink("loop2", filepath.Join(dir, "loop1")))
			must(t, os.Symlink("loop1", filepath.Join(dir, "loop2")))
			_, err := os.Open(filepath.Join(dir, "loop1"))
			wantErrno(t, "open of a symlink loop", err, syscall.ELOOP)
			wantErrno(t, "symlink over an existing name", os.Symlink("x", target), syscall.EEXIST)
		}},
		{"hardlink", func(t *testing.T, dir string) {
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			writeFile(t, a, []byte("shared"))
			ctime := stat(t, a).Ctim
			time.Sleep(10 * time.Millisecond)
			must(t, os.Link(a, b))
			sa, sb := stat(t, a), stat(t, b)
			if sa.Ino != sb.Ino || sa.Nlink != 2 {
				t.Fatalf("hard link: inodes %d %d, nlink %d", sa.Ino, sb.Ino, sa.Nlink)
			}
			if sa.Ctim == ctime {
				t.Fatal("link did not change the ctime")
			}
			must(t, os.Remove(a))
			if st := stat(t, b); st.Nlink != 1 || string(readFile(t, b)) != "shared" {
				t.Fatalf("after unlinking one name: nlink %d", st.Nlink)
			}
			d := filepath.Join(dir, "d")
			must(t, os.Mkdir(d, 0o755))
			wantErrno(t, "hard link to a directory", os.Link(d, filepath.Join(dir, "d2")), syscall.EPERM)
			wantErrno(t, "hard link over an existing name", os.Link(b, d), syscall.EEXIST)
		}},
	}
}

func specialCases() []posixCase {
	return []posixCase{
		{"fifo", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "fifo")
			must(t, syscall.Mkfifo(p, 0o644))
			if st := stat(t, p); st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
				t.Fatalf("mode %o", st.Mode)
			}
			done := make(chan error, 1)
			go func() {
				w, err := os.OpenFile(p, os.O_WRONLY, 0)
				if err == nil {
					_, err = w.Write([]byte("through the pipe"))
					w.Close()
				}
				done <- err
			}()
			got := readFile(t, p)
			must(t, <-done)
			if string(got) != "through the pipe" {
				t.Fatalf("fifo read %q", got)
			}
		}},
		{"device-nodes", func(t *testing.T, dir string) {
			c := filepath.Join(dir, "null")
			must(t, syscall.Mknod(c, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
			st := stat(t, c)
			if st.Mode&syscall.S_IFMT != syscall.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 || st.Size != 0 {
				t.Fatalf("char device: mode %o rdev %d:%d size %d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Size)
			}
			b := filepath.Join(dir, "blk")
			must(t, syscall.Mknod(b, syscall.S_IFBLK|0o600, int(unix.Mkdev(7, 0))))
			if st := stat(t, b); st.Mode&syscall.S_IFMT != syscall.S_IFBLK || unix.Major(st.Rdev) != 7 {
				t.Fatalf("block device: mode %o rdev %d", st.Mode, st.Rdev)
			}
			s := filepath.Join(dir, "sock")
			must(t, syscall.Mknod(s, syscall.S_IFSOCK|0o600, 0))
			if st := stat(t, s); st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
				t.Fatalf("socket: mode %o", st.Mode)
			}
		}},
	}
}
