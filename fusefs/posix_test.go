package fusefs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// The POSIX conformance suite of rueidisfs mounts: every case runs in a
// directory of its own of one real mount, through the system calls a
// program makes. Cases that need another identity run their calls as a
// non-root user (mounttest.As); cases that need another process (POSIX
// locks) run the test binary again as a helper.

func TestMain(m *testing.M) {
	if lockHelperMain() {
		return
	}
	redistest.Main(m)
}

// posixCase is one case: run gets a fresh directory of the mount.
type posixCase struct {
	name string
	run  func(t *testing.T, dir string)
}

// Non-root identities of the permission cases.
const (
	alice  = 1001
	bob    = 1002
	staff  = 2001 // alice's supplementary group
	nobody = 65534
)

func TestPOSIX(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 64})
	m := v.Mount(t, mounttest.MountOptions{VFS: vfs.Config{AttrTimeout: time.Second, EntryTimeout: time.Second,
		DirEntryTimeout: time.Second, EnableXattr: true}})
	groups := [][]posixCase{fileCases(), dataCases(), dirCases(), linkCases(), specialCases(), attrCases(),
		permCases(), lockCases(), xattrCases(), internalCases()}
	for _, g := range groups {
		for _, c := range g {
			t.Run(c.name, func(t *testing.T) {
				dir := m.Path(c.name)
				must(t, os.Mkdir(dir, 0o777))
				must(t, os.Chmod(dir, 0o777))
				c.run(t, dir)
			})
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErrno fails unless err is the errno want.
func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v (%d)", what, err, want, want)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	must(t, os.WriteFile(path, data, 0o644))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return b
}

func stat(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Lstat(path, &st))
	return &st
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func fileCases() []posixCase {
	return []posixCase{
		{"create-write-read", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			data := pattern(300<<10, 1)
			writeFile(t, p, data)
			if got := readFile(t, p); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, differ from the %d written", len(got), len(data))
			}
			if st := stat(t, p); st.Size != int64(len(data)) || st.Blocks != (st.Size+511)/512 || st.Mode&0o777 != 0o644 {
				t.Fatalf("stat: size %d blocks %d mode %o", st.Size, st.Blocks, st.Mode)
			}
		}},
		{"o-excl", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			must(t, err)
			f.Close()
			_, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			wantErrno(t, "O_EXCL on an existing file", err, syscall.EEXIST)
			_, err = os.OpenFile(filepath.Join(dir, "missing"), os.O_RDONLY, 0)
			wantErrno(t, "open of a missing file", err, syscall.ENOENT)
		}},
		{"o-trunc", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, pattern(100000, 2))
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
			must(t, err)
			_, err = f.Write([]byte("abc"))
			must(t, err)
			must(t, f.Close())
			if got := string(readFile(t, p)); got != "abc" {
				t.Fatalf("after O_TRUNC: %q", got)
			}
		}},
		{"o-append", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, []byte("one\n"))
			for _, s := range []string{"two\n", "three\n"} {
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				must(t, err)
				_, err = f.WriteAt([]byte("x"), 0)
				if err == nil {
					t.Fatal("WriteAt on an O_APPEND file succeeded")
				}
				_, err = f.Write([]byte(s))
				must(t, err)
				must(t, f.Close())
			}
			if got := string(readFile(t, p)); got != "one\ntwo\nthree\n" {
				t.Fatalf("appended: %q", got)
			}
		}},
		{"pwrite-pread-overwrite", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
			must(t, err)
			defer f.Close()
			model := make([]byte, 1<<20)
			for i, off := range []int64{0, 500000, 70000, 999000, 123} {
				chunk := pattern(24000, byte(i))
				_, err := f.WriteAt(chunk, off)
				must(t, err)
				copy(model[off:], chunk)
			}
			end := int64(999000 + 24000)
			got := make([]byte, end)
			_, err = f.ReadAt(got, 0)
			must(t, err)
			if !bytes.Equal(got, model[:end]) {
				t.Fatal("overlapping writes read back wrong")
			}
			must(t, f.Sync())
			if again := readFile(t, p); !bytes.Equal(again, model[:end]) {
				t.Fatal("content after fsync differs")
			}
		}},
		{"sparse-and-eof", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			f, err := os.Create(p)
			must(t, err)
			_, err = f.WriteAt([]byte("end"), 70<<20) // in the second 64 MiB chunk
			must(t, err)
			must(t, f.Close())
			f, err = os.Open(p)
			must(t, err)
			defer f.Close()
			buf := make([]byte, 4096)
			n, err := f.ReadAt(buf, 1<<20)
			if err != nil || n != len(buf) || !bytes.Equal(buf, make([]byte, 4096)) {
				t.Fatalf("a hole reads %d bytes, %v; want zeros", n, err)
			}
			n, err = f.ReadAt(buf, 70<<20)
			if n != 3 || err != io.EOF || string(buf[:3]) != "end" {
				t.Fatalf("the end reads %q, %v", buf[:n], err)
			}
		}},
		{"truncate", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, pattern(200000, 3))
			must(t, os.Truncate(p, 1000))
			must(t, os.Truncate(p, 5000))
			got := readFile(t, p)
			if len(got) != 5000 || !bytes.Equal(got[:1000], pattern(1000, 3)) || !bytes.Equal(got[1000:], make([]byte, 4000)) {
				t.Fatal("a file truncated down then up does not read as its head and zeros")
			}
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			must(t, err)
			must(t, f.Truncate(10))
			must(t, f.Close())
			if st := stat(t, p); st.Size != 10 {
				t.Fatalf("ftruncate: size %d", st.Size)
			}
			wantErrno(t, "truncate to a negative size", syscall.Truncate(p, -1), syscall.EINVAL)
			wantErrno(t, "truncate of a directory", syscall.Truncate(dir, 0), syscall.EISDIR)
		}},
		{"unlink-while-open", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, []byte("still here"))
			f, err := os.Open(p)
			must(t, err)
			must(t, os.Remove(p))
			got, err := io.ReadAll(f)
			must(t, err)
			must(t, f.Close())
			if string(got) != "still here" {
				t.Fatalf("an unlinked open file reads %q", got)
			}
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the name is still there: %v", err)
			}
		}},
	}
}

func dataCases() []posixCase {
	return []posixCase{
		{"fallocate", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, pattern(8192, 4))
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			must(t, err)
			defer f.Close()
			must(t, unix.Fallocate(int(f.Fd()), 0, 0, 100000))
			if st := stat(t, p); st.Size != 100000 {
				t.Fatalf("fallocate grew the file to %d", st.Size)
			}
			must(t, unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE|unix.FALLOC_FL_PUNCH_HOLE, 1000, 2000))
			got := make([]byte, 8192)
			_, err = f.ReadAt(got, 0)
			must(t, err)
			want := pattern(8192, 4)
			copy(want[1000:3000], make([]byte, 2000))
			if !bytes.Equal(got, want) {
				t.Fatal("a punched hole does not read as zeros")
			}
			wantErrno(t, "fallocate of size 0", unix.Fallocate(int(f.Fd()), 0, 0, 0), syscall.EINVAL)
		}},
		{"copy-file-range", func(t *testing.T, dir string) {
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			data := pattern(3<<20, 5)
			writeFile(t, src, data)
			writeFile(t, dst, []byte("0123456789"))
			in, err := os.Open(src)
			must(t, err)
			defer in.Close()
			out, err := os.OpenFile(dst, os.O_RDWR, 0)
			must(t, err)
			defer out.Close()
			offIn, offOut := int64(1000), int64(5)
			n, err := unix.CopyFileRange(int(in.Fd()), &offIn, int(out.Fd()), &offOut, 2<<20, 0)
			must(t, err)
			if n != 2<<20 {
				t.Fatalf("copied %d bytes", n)
			}
			got := readFile(t, dst)
			if string(got[:5]) != "01234" || !bytes.Equal(got[5:], data[1000:1000+2<<20]) {
				t.Fatal("copy_file_range copied the wrong bytes")
			}
		}},
		{"lseek-data-hole", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, pattern(10000, 6))
			f, err := os.Open(p)
			must(t, err)
			defer f.Close()
			if off, err := unix.Seek(int(f.Fd()), 100, unix.SEEK_DATA); err != nil || off != 100 {
				t.Fatalf("SEEK_DATA from 100: %d, %v", off, err)
			}
			if off, err := unix.Seek(int(f.Fd()), 100, unix.SEEK_HOLE); err != nil || off != 10000 {
				t.Fatalf("SEEK_HOLE from 100: %d, %v (want the end of the file)", off, err)
			}
			_, err = unix.Seek(int(f.Fd()), 20000, unix.SEEK_DATA)
			wantErrno(t, "SEEK_DATA past the end", err, syscall.ENXIO)
		}},
		{"mmap", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "f")
			writeFile(t, p, make([]byte, 64<<10))
			h := startLockHelper(t, "mmap", p)
			h.expect(t, "ok", 30*time.Second)
			if got := readFile(t, p); string(got[100:122]) != "through the page cache" {
				t.Fatalf("mmap write reads back %q", got[100:122])
			}
		}},
	}
}

// mmapRoundTrip writes through a shared mapping of path, syncs it, and
// reads it back through a private mapping (run by a helper process).
func mmapRoundTrip(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), 0, 64<<10, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	copy(mem[100:], "through the page cache")
	if err := unix.Msync(mem, unix.MS_SYNC); err != nil {
		return err
	}
	if err := unix.Munmap(mem); err != nil {
		return err
	}
	ro, err := unix.Mmap(int(f.Fd()), 0, 64<<10, unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(ro)
	if string(ro[100:122]) != "through the page cache" {
		return fmt.Errorf("a private mapping reads %q", ro[100:122])
	}
	return nil
}
