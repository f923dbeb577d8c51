package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fileStore is the `file` storage: objects are files below
// <bucket>/<volume name>/, keys are their relative paths.
type fileStore struct {
	root string // absolute, ends with a separator
}

func newFileStore(bucket, name string) *fileStore {
	bucket = strings.TrimPrefix(bucket, "file://")
	return &fileStore{root: filepath.Join(bucket, name) + string(filepath.Separator)}
}

func (s *fileStore) String() string { return "file://" + filepath.ToSlash(s.root) }

func (s *fileStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func (s *fileStore) Head(ctx context.Context, key string) (Object, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		return Object{}, err
	}
	if fi.IsDir() {
		return Object{}, fmt.Errorf("%s is a directory: %w", s.path(key), fs.ErrNotExist)
	}
	return Object{Key: key, Size: fi.Size(), Mtime: fi.ModTime()}, nil
}

// List walks the directory holding prefix. Only regular files (or links to
// them) are objects; a missing directory lists nothing.
func (s *fileStore) List(ctx context.Context, prefix string, fn func(Object) error) error {
	dir := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = s.path(prefix[:i])
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := os.Stat(p) // follows links, as juicefs's file store does
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted meanwhile, or a dangling link
			}
			return err
		}
		if fi.IsDir() {
			return nil
		}
		return fn(Object{Key: key, Size: fi.Size(), Mtime: fi.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("list %s%s: %w", s, prefix, err)
	}
	return nil
}

// Delete removes one object. Directories left empty are kept, as juicefs
// keeps them: a concurrent writer may be about to create a file in one.
func (s *fileStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
