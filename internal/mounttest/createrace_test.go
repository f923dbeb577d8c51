package mounttest_test

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/vfs"
)

// cachingMount mounts v with the kernel caching names and attributes (a
// minute; negative entries too when negative), as a mount with juicefs's
// cache options would for the length of a test.
func cachingMount(t *testing.T, v *mounttest.Volume, negative bool) *mounttest.Mount {
	c := vfs.Config{AttrTimeout: time.Minute, EntryTimeout: time.Minute, DirEntryTimeout: time.Minute}
	if negative {
		c.NegEntryTimeout = time.Minute
	}
	return v.Mount(t, mounttest.MountOptions{VFS: c})
}

// TestOpenNameReplacedByOtherMount: a mount whose kernel still has a name
// cached opens the file another mount put there since (after unlinking or
// renaming over the one the name led to), with and without the trash: the
// open gave ENOENT, or EPERM with the trash (the old inode sits in it).
func TestOpenNameReplacedByOtherMount(t *testing.T) {
	mounttest.NeedRoot(t)
	for _, trash := range []int{0, 1} {
		t.Run(fmt.Sprintf("trash-days=%d", trash), func(t *testing.T) {
			v := mounttest.NewVolume(t, mounttest.VolumeOptions{TrashDays: trash})
			a, b := v.Mount(t, mounttest.MountOptions{}), cachingMount(t, v, false)
			must(t, os.WriteFile(a.Path("f"), []byte("old"), 0o644))
			must(t, os.WriteFile(a.Path("g"), []byte("old"), 0o644))
			for _, n := range []string{"f", "g"} {
				if _, err := os.Stat(b.Path(n)); err != nil {
					t.Fatal(err)
				}
			}
			must(t, os.Remove(a.Path("f")))
			must(t, os.WriteFile(a.Path("f"), []byte("new"), 0o644))
			must(t, os.WriteFile(a.Path("g.tmp"), []byte("new"), 0o644))
			must(t, os.Rename(a.Path("g.tmp"), a.Path("g")))
			for _, n := range []string{"f", "g"} {
				f, err := os.OpenFile(b.Path(n), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
				if err != nil {
					t.Fatalf("open(O_CREAT) of %s replaced through the other mount: %v", n, err)
				}
				_, err = f.WriteString("+b")
				must(t, errors.Join(err, f.Close()))
				if got, err := os.ReadFile(a.Path(n)); err != nil || string(got) != "new+b" {
					t.Fatalf("%s through the other mount: %q, %v; want new+b", n, got, err)
				}
			}
		})
	}
}

// TestCreateNameOtherMountCreated: a mount whose kernel remembers that a
// name does not exist sends a create for it; when another mount created the
// name since, open(O_CREAT) opens that file as open(2) of an existing file
// would: O_TRUNC truncates it (it was left as it was), O_EXCL fails with
// EEXIST, a caller without write permission gets EACCES (it was let in),
// and a directory gives EISDIR.
func TestCreateNameOtherMountCreated(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{TrashDays: 1})
	a, b := v.Mount(t, mounttest.MountOptions{}), cachingMount(t, v, true)
	must(t, os.Chmod(a.Dir, 0o777))
	names := []string{"trunc", "excl", "ro", "dir"}
	for _, n := range names {
		if _, err := os.Stat(b.Path(n)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stat %s: %v", n, err)
		}
	}
	for _, n := range names[:3] {
		must(t, os.WriteFile(a.Path(n), []byte("through a"), 0o644))
	}
	must(t, os.Mkdir(a.Path("dir"), 0o755))

	f, err := os.OpenFile(b.Path("trunc"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	must(t, err)
	_, err = f.WriteString("b")
	must(t, errors.Join(err, f.Close()))
	if got, err := os.ReadFile(a.Path("trunc")); err != nil || string(got) != "b" {
		t.Fatalf("O_TRUNC of a file the other mount created: %q, %v; want b", got, err)
	}
	if _, err := os.OpenFile(b.Path("excl"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("O_EXCL: %v, want EEXIST", err)
	}
	err = mounttest.As(1000, 1000, nil, func() error {
		f, err := os.OpenFile(b.Path("ro"), os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
		}
		return err
	})
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("O_CREAT|O_WRONLY by a user without write permission: %v, want EACCES", err)
	}
	if _, err := os.OpenFile(b.Path("dir"), os.O_CREATE|os.O_WRONLY, 0o644); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("O_CREAT of a directory: %v, want EISDIR", err)
	}
}

// TestCreateRacesOtherMount: threads of two mounts of one volume (with the
// trash, as juicefs formats) open the same few names with O_CREAT (with and
// without O_TRUNC and O_EXCL) and unlink them. open(O_CREAT) without O_EXCL
// fails with nothing but ESTALE, and only when the file the name holds is
// removed twice during one open (Linux walks the path again once), O_EXCL
// fails only with EEXIST (or ESTALE likewise), unlink only with ENOENT.
// Before, opens failed with EPERM (a name cached while the file moved to the
// trash) and ENOENT.
func TestCreateRacesOtherMount(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{TrashDays: 1})
	mounts := []*mounttest.Mount{cachingMount(t, v, false), cachingMount(t, v, false)}
	must(t, os.Mkdir(mounts[0].Path("d"), 0o777))
	const threads, rounds, names = 4, 300, 3
	var mu sync.Mutex
	failures := map[string]int{}
	fail := func(op string, err error) {
		mu.Lock()
		failures[fmt.Sprintf("%s: %v", op, err)]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for m := range mounts {
		for th := range threads {
			wg.Add(1)
			go func(dir string, seed int) {
				defer wg.Done()
				for i := range rounds {
					p := fmt.Sprintf("%s/f%d", dir, (i*7+seed)%names)
					flags := syscall.O_CREAT | syscall.O_WRONLY
					switch (i + seed) % 4 {
					case 0:
						if err := syscall.Unlink(p); err != nil && err != syscall.ENOENT {
							fail("unlink", err)
						}
						continue
					case 1:
						flags |= syscall.O_EXCL
					case 2:
						flags |= syscall.O_TRUNC
					}
					fd, err := syscall.Open(p, flags, 0o644)
					if err == nil {
						syscall.Write(fd, []byte("x"))
						err = syscall.Close(fd)
					}
					if err != nil && err != syscall.ESTALE && (err != syscall.EEXIST || flags&syscall.O_EXCL == 0) {
						fail(fmt.Sprintf("open %#o", flags), err)
					}
				}
			}(mounts[m].Path("d"), m*threads+th)
		}
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("failures: %v", failures)
	}
}
