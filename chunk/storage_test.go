package chunk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// dirStorage is a bucket in a local directory laid out as the `file`
// storage lays it out (an object per file, written under a temporary name
// and renamed): real files, so the tests exercise real I/O.
type dirStorage struct {
	root string
	seq  atomic.Int64
}

func newDirStorage(t testing.TB) *dirStorage { return &dirStorage{root: t.TempDir()} }

func (d *dirStorage) path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

func (d *dirStorage) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	b, err := os.ReadFile(d.path(key))
	if err != nil {
		return nil, err
	}
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	b = b[off:]
	if limit >= 0 && limit < int64(len(b)) {
		b = b[:limit]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (d *dirStorage) Put(ctx context.Context, key string, data []byte) error {
	p := d.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp." + strconv.FormatInt(d.seq.Add(1), 10)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func (d *dirStorage) Delete(ctx context.Context, key string) error {
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// objects lists the keys stored, sorted.
func (d *dirStorage) objects(t testing.TB) []string {
	var keys []string
	filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(d.root, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	return keys
}

// faulty wraps a storage with counted calls and injected failures.
type faulty struct {
	Storage
	mu       sync.Mutex
	gets     map[string]int
	putFails func(key string) error // non-nil error fails a Put
	getHook  func(key string)
}

func newFaulty(s Storage) *faulty { return &faulty{Storage: s, gets: map[string]int{}} }

func (f *faulty) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	f.mu.Lock()
	f.gets[key]++
	hook := f.getHook
	f.mu.Unlock()
	if hook != nil {
		hook(key)
	}
	return f.Storage.Get(ctx, key, off, limit)
}

func (f *faulty) Put(ctx context.Context, key string, data []byte) error {
	f.mu.Lock()
	fail := f.putFails
	f.mu.Unlock()
	if fail != nil {
		if err := fail(key); err != nil {
			return err
		}
	}
	return f.Storage.Put(ctx, key, data)
}

func (f *faulty) getCount(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets[key]
}
