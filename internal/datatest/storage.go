// Package datatest helps tests of the data path: a bucket in a local
// directory laid out as the `file` storage lays it out, a storage wrapper
// that counts calls and injects failures, and fresh volumes on the shared
// test Redis server with a chunk store and a file API over them.
package datatest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Storage is the interface of chunk.Storage, repeated to keep this package
// free of the packages it tests.
type Storage interface {
	Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error)
	Put(ctx context.Context, key string, data []byte) error
	Delete(ctx context.Context, key string) error
}

// Dir is a bucket in a local directory: every object a file named by its
// key, written under a temporary name and renamed, as the `file` storage
// does. Keys are relative to Root.
type Dir struct {
	Root string
	seq  atomic.Int64
}

// NewDir returns a bucket in a fresh temporary directory.
func NewDir(t testing.TB) *Dir { return &Dir{Root: t.TempDir()} }

// Path is the file of key.
func (d *Dir) Path(key string) string { return filepath.Join(d.Root, filepath.FromSlash(key)) }

// Get reads limit bytes of key from off (limit < 0: to the end).
func (d *Dir) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	b, err := os.ReadFile(d.Path(key))
	if err != nil {
		return nil, err
	}
	off = min(off, int64(len(b)))
	b = b[off:]
	if limit >= 0 && limit < int64(len(b)) {
		b = b[:limit]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Put stores data as key.
func (d *Dir) Put(ctx context.Context, key string, data []byte) error {
	p := d.Path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(p), ".jfs."+filepath.Base(p)+".tmp."+strconv.FormatInt(d.seq.Add(1), 10))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Delete removes key; a missing object is no error.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := os.Remove(d.Path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Objects lists the keys stored below prefix, sorted.
func (d *Dir) Objects(prefix string) []string {
	var keys []string
	filepath.WalkDir(d.Root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(d.Root, p)
			if k := filepath.ToSlash(rel); len(k) >= len(prefix) && k[:len(prefix)] == prefix {
				keys = append(keys, k)
			}
		}
		return nil
	})
	sort.Strings(keys)
	return keys
}

// Faulty wraps a storage, counting reads and letting a test fail or delay
// calls.
type Faulty struct {
	Storage
	mu      sync.Mutex
	gets    map[string]int
	PutHook func(key string) error // a non-nil error fails the Put
	GetHook func(key string) error // a non-nil error fails the Get
}

// NewFaulty wraps s.
func NewFaulty(s Storage) *Faulty { return &Faulty{Storage: s, gets: map[string]int{}} }

func (f *Faulty) hooks() (put, get func(string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.PutHook, f.GetHook
}

// SetHooks replaces the hooks.
func (f *Faulty) SetHooks(put, get func(string) error) {
	f.mu.Lock()
	f.PutHook, f.GetHook = put, get
	f.mu.Unlock()
}

// Get counts the read, runs GetHook, then reads.
func (f *Faulty) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	f.mu.Lock()
	f.gets[key]++
	f.mu.Unlock()
	if _, get := f.hooks(); get != nil {
		if err := get(key); err != nil {
			return nil, err
		}
	}
	return f.Storage.Get(ctx, key, off, limit)
}

// Put runs PutHook, then stores.
func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	if put, _ := f.hooks(); put != nil {
		if err := put(key); err != nil {
			return err
		}
	}
	return f.Storage.Put(ctx, key, data)
}

// Gets is how many times key was read.
func (f *Faulty) Gets(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets[key]
}
