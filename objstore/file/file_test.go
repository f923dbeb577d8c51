package file_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/file"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
)

func newStore(t *testing.T, dir string) *file.Store {
	t.Helper()
	s, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return newStore(t, filepath.Join(t.TempDir(), "bucket"))
	}, storetest.Options{})
}

// TestLayout checks the bucket as the official client lays it out: one file
// per object at bucket/NAME/key, directories created on demand with the
// permissions JuiceFS gives them, nothing else left behind.
func TestLayout(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	bucket := t.TempDir()
	s := objstore.WithPrefix(newStore(t, "file://"+bucket+"/"), "myjfs/")
	if got, want := s.String(), "file://"+bucket+"/myjfs/"; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	data := storetest.Data(1, 5000)
	key := objstore.BlockKey(false, 1234567, 2, 5000)
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(bucket, "myjfs/chunks/1/1234/1234567_2_5000")
	if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("object file %s: %v", p, err)
	}
	for _, c := range []struct {
		path string
		mode fs.FileMode
	}{{"myjfs", fs.ModeDir | 0o755}, {"myjfs/chunks/1/1234", fs.ModeDir | 0o755}, {"myjfs/chunks/1/1234/1234567_2_5000", 0o644}} {
		fi, err := os.Stat(filepath.Join(bucket, c.path))
		if err != nil || fi.Mode() != c.mode {
			t.Errorf("%s: mode %v (%v), want %v", c.path, fi.Mode(), err, c.mode)
		}
	}
	var files []string
	_ = filepath.WalkDir(bucket, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, bucket))
		}
		return err
	})
	if !slices.Equal(files, []string{"/myjfs/chunks/1/1234/1234567_2_5000"}) {
		t.Errorf("files in the bucket: %q", files)
	}
	// A key ending in "/" is a directory, as for JuiceFS's format test.
	if err := s.Put(context.Background(), "testing/", nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(bucket, "myjfs/testing")); err != nil || !fi.IsDir() {
		t.Errorf("testing/: %v", err)
	}
	if err := s.Delete(context.Background(), "testing/"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bucket, "myjfs/testing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("testing/ left after delete: %v", err)
	}
}

// TestPartialUploads checks what an interrupted upload leaves: a
// temporary file beside the object, named as JuiceFS names it, listed (so
// that gc can remove it) but never read as the object.
func TestPartialUploads(t *testing.T) {
	bucket := t.TempDir()
	s := newStore(t, bucket)
	dir := filepath.Join(bucket, "chunks/0/0")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// An unwritable directory fails the upload and leaves nothing.
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(context.Background(), "chunks/0/0/1_0_3", []byte("abc")); err == nil {
			t.Error("put into a read-only directory succeeded")
		}
		_ = os.Chmod(dir, 0o755)
	}
	tmp := filepath.Join(dir, ".jfs.1_0_3.tmp.12345")
	if err := os.WriteFile(tmp, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !objstore.IsPartialUpload(filepath.Base(tmp)) || objstore.IsPartialUpload("1_0_3") {
		t.Error("IsPartialUpload")
	}
	if _, err := s.Head(context.Background(), "chunks/0/0/1_0_3"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("head of an object whose upload did not finish: %v", err)
	}
	if err := s.Put(context.Background(), "chunks/0/0/1_0_3", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	got := storetest.Listing(t, s, "chunks/", "")
	if !slices.Equal(got, []string{"chunks/0/0/.jfs.1_0_3.tmp.12345", "chunks/0/0/1_0_3"}) {
		t.Errorf("listing %q", got)
	}
	// A long name is cut in the temporary name, which must still fit.
	long := strings.Repeat("x", 250)
	if err := s.Put(context.Background(), long, []byte("y")); err != nil {
		t.Errorf("put of a 250-byte name: %v", err)
	}
}

// TestLinks checks that links in the bucket are followed, as JuiceFS
// follows them (e.g. a chunks directory moved to another disk), without
// looping on a link back up.
func TestLinks(t *testing.T) {
	bucket, other := t.TempDir(), t.TempDir()
	s := newStore(t, bucket)
	if err := os.MkdirAll(filepath.Join(other, "0/0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "0/0/1_0_1"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"chunks": other, "loop": bucket, "file": filepath.Join(other, "0/0/1_0_1"), "dangling": "/nonexistent"} {
		if err := os.Symlink(target, filepath.Join(bucket, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(bucket, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := storetest.Listing(t, s, "", "")
	if !slices.Equal(got, []string{"chunks/0/0/1_0_1", "file"}) {
		t.Errorf("listing %q", got)
	}
	if o, err := s.Head(context.Background(), "file"); err != nil || o.Size != 1 {
		t.Errorf("head through a link: %+v %v", o, err)
	}
}

func TestBadBucket(t *testing.T) {
	if _, err := file.New(""); err == nil {
		t.Error("an empty bucket accepted")
	}
	// A bucket that is a file: every operation fails, with the path.
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, f)
	if err := s.Put(context.Background(), "a/b", []byte("x")); err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("put below a file: %v", err)
	}
}

// TestRemoveEmptyDirs: what destroy leaves of a volume's directories once
// its objects are deleted: nothing, as juicefs leaves; other volumes and
// the bucket stay.
func TestRemoveEmptyDirs(t *testing.T) {
	ctx := context.Background()
	bucket := t.TempDir()
	b := newStore(t, bucket)
	vol, other := objstore.WithPrefix(b, "vol/"), objstore.WithPrefix(b, "other/")
	for _, s := range []objstore.Store{vol, other} {
		for _, k := range []string{"chunks/0/0/1_0_1", "chunks/0/1/1001_0_1", "juicefs_uuid"} {
			if err := s.Put(ctx, k, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := vol.Delete(ctx, "chunks/0/0/1_0_1"); err != nil {
		t.Fatal(err)
	}
	if err := objstore.RemoveEmptyDirs(ctx, vol, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bucket, "vol/chunks/0/0")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an empty directory stays: %v", err)
	}
	for _, k := range []string{"chunks/0/1/1001_0_1", "juicefs_uuid"} {
		if err := vol.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := objstore.RemoveEmptyDirs(ctx, vol, ""); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(bucket)
	if len(entries) != 1 || entries[0].Name() != "other" {
		t.Errorf("the bucket holds %v", entries)
	}
	if got := storetest.Listing(t, other, "", ""); len(got) != 3 {
		t.Errorf("the other volume lost objects: %q", got)
	}
}
