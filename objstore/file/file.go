// Package file is the `file` object storage: a bucket is a local (or
// network-mounted) directory and every object a file below it, named by
// its key, laid out exactly as the official client lays it out so that
// both read and write the same bucket.
//
// An object is written to a temporary file in its final directory, named
// ".jfs.<name>.tmp.<random number>", then renamed over its final name:
// readers never see a partial object. Missing directories are created on
// demand with mode 0777 and files with 0666, both less the umask, as
// JuiceFS does. Like JuiceFS, nothing is synced to disk: a bucket on a
// local disk relies on the file system's own ordering of rename after
// write across a crash.
package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// Store is a `file` bucket.
type Store struct {
	root string // absolute, ends with a separator
}

var _ objstore.Store = (*Store)(nil)

// New opens the bucket in directory root ("file://" in front is allowed).
// The directory need not exist yet: the first Put creates it.
func New(root string) (*Store, error) {
	root = strings.TrimPrefix(root, "file://")
	if root == "" {
		return nil, errors.New("file storage: the bucket (a directory) is empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("file storage: bucket %q: %w", root, err)
	}
	return &Store{root: strings.TrimSuffix(abs, string(filepath.Separator)) + string(filepath.Separator)}, nil
}

// String names the bucket as juicefs logs it: "file:///data/bucket/".
func (s *Store) String() string { return "file://" + filepath.ToSlash(s.root) }

// path is the file holding key.
func (s *Store) path(key string) (string, error) {
	if err := objstore.CheckKey(key); err != nil {
		return "", err
	}
	return s.root + filepath.FromSlash(key), nil
}

// Get opens the file of key; a directory is no object.
func (s *Store) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = &fs.PathError{Op: "get", Path: p, Err: fs.ErrNotExist}
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	size := fi.Size()
	if off >= size || limit == 0 {
		_ = f.Close()
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	if limit < 0 || limit > size-off {
		limit = size - off
	}
	return &sectionFile{SectionReader: io.NewSectionReader(f, off, limit), f: f}, nil
}

// sectionFile is a range of an open file.
type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (r *sectionFile) Close() error { return r.f.Close() }

// Put writes data to a temporary file beside the object, then renames it
// over the object. A key ending in "/" creates a directory, as JuiceFS
// does for directory markers.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if strings.HasSuffix(key, "/") {
		return os.MkdirAll(p, 0o777)
	}
	tmp := tmpPath(p)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o666)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(p), 0o777); err == nil {
			f, err = os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o666)
		}
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// maxTmpBase bounds the part of an object's name kept in its temporary
// name, so that the temporary name still fits NAME_MAX.
const maxTmpBase = 200

func tmpPath(p string) string {
	base := filepath.Base(p)
	if len(base) > maxTmpBase {
		base = base[:maxTmpBase]
	}
	return filepath.Join(filepath.Dir(p), objstore.PartialUploadName(base, rand.Int()))
}

// Head describes the file of key, following a symbolic link; a directory
// is no object.
func (s *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	if err := ctx.Err(); err != nil {
		return objstore.Object{}, err
	}
	p, err := s.path(key)
	if err != nil {
		return objstore.Object{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return objstore.Object{}, err
	}
	if fi.IsDir() {
		return objstore.Object{}, &fs.PathError{Op: "head", Path: p, Err: fs.ErrNotExist}
	}
	return objstore.Object{Key: key, Size: fi.Size(), Mtime: fi.ModTime()}, nil
}

// Delete removes the file of key. Directories left empty stay, as JuiceFS
// leaves them: a concurrent Put may be about to create a file in one. A
// key ending in "/" removes that directory if it is empty.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) || strings.HasSuffix(key, "/") && errors.Is(err, syscall.ENOTEMPTY) {
		return nil
	}
	return err
}

// Create creates the bucket's directory.
func (s *Store) Create(ctx context.Context) error {
	return os.MkdirAll(s.root, 0o777)
}

var _ objstore.Creator = (*Store)(nil)

// List walks the directories below the bucket in key order (a directory
// "d" sorts as "d/"), skipping whole directories that hold no key after
// startAfter. Regular files, and links to them, are objects; other files
// are skipped. Links to directories are followed, except back into a
// directory being walked.
func (s *Store) List(ctx context.Context, prefix, startAfter string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		w := &walk{ctx: ctx, s: s, prefix: prefix, after: startAfter, yield: yield, open: map[dirID]bool{}}
		if err := w.start(); err != nil && !errors.Is(err, errStop) {
			yield(objstore.Object{}, fmt.Errorf("list %s%s: %w", s, prefix, err))
		}
	}
}

var _ objstore.DirRemover = (*Store)(nil)

// RemoveEmptyDirs removes the directories below the directory of prefix
// (a path ending in "/", or "" for the bucket) that hold no file, deepest
// first, then that directory itself if it is left empty; the bucket's own
// directory stays.
func (s *Store) RemoveEmptyDirs(ctx context.Context, prefix string) error {
	dir := s.root + filepath.FromSlash(prefix[:strings.LastIndexByte(prefix, '/')+1])
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if dirs[i]+string(filepath.Separator) == s.root {
			continue
		}
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.EEXIST) {
			return err
		}
	}
	return nil
}
