package mounttest_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/internal/mounttest"
)

// TestOpenTruncate: with FUSE's atomic O_TRUNC the truncation comes with
// the OPEN, and it must act as the SETATTR the kernel sent before:
// open(O_RDONLY|O_TRUNC) by a caller who may write empties the file (it
// failed with EACCES, the new handle being read-only), and O_TRUNC of an
// empty file sets its mtime to now (it was left alone).
func TestOpenTruncate(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{})
	m := v.Mount(t, mounttest.MountOptions{})

	must(t, os.WriteFile(m.Path("f"), []byte("hello"), 0o644))
	fd, err := syscall.Open(m.Path("f"), syscall.O_RDONLY|syscall.O_TRUNC, 0)
	if err != nil {
		t.Fatalf("open(O_RDONLY|O_TRUNC): %v", err)
	}
	must(t, syscall.Close(fd))
	if fi, err := os.Stat(m.Path("f")); err != nil || fi.Size() != 0 {
		t.Fatalf("after open(O_RDONLY|O_TRUNC): %v, %v; want an empty file", fi, err)
	}

	must(t, os.WriteFile(m.Path("e"), nil, 0o644))
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	must(t, os.Chtimes(m.Path("e"), old, old))
	start := time.Now().Add(-time.Second)
	fd, err = syscall.Open(m.Path("e"), syscall.O_WRONLY|syscall.O_TRUNC, 0)
	if err != nil {
		t.Fatalf("open(O_WRONLY|O_TRUNC) of an empty file: %v", err)
	}
	must(t, syscall.Close(fd))
	var after syscall.Stat_t
	must(t, syscall.Stat(m.Path("e"), &after))
	if mtime := time.Unix(after.Mtim.Unix()); mtime.Before(start) {
		t.Fatalf("O_TRUNC of an empty file left its mtime at %v", mtime)
	}
}
