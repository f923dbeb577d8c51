// Package datatest helps tests of the data path: a `file` bucket in a
// temporary directory, a storage wrapper
// that counts calls and injects failures, and fresh volumes on the shared
// test Redis server with a chunk store and a file API over them.
package datatest

import (
	"context"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/file"
)

// Storage is the interface of chunk.Storage, repeated to keep this package
// free of the packages it tests.
type Storage interface {
	Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error)
	Put(ctx context.Context, key string, data []byte) error
	Delete(ctx context.Context, key string) error
}

// Dir is a `file` bucket in a local directory (objstore/file): every
// object a file named by its key below Root.
type Dir struct {
	objstore.Store
	Root string
}

// NewDir returns a bucket in a fresh temporary directory.
func NewDir(t testing.TB) *Dir {
	root := t.TempDir()
	st, err := file.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return &Dir{Store: st, Root: root}
}

// Path is the file of key.
func (d *Dir) Path(key string) string { return filepath.Join(d.Root, filepath.FromSlash(key)) }

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
	ranged  map[string]int         // reads of part of an object
	PutHook func(key string) error // a non-nil error fails the Put
	GetHook func(key string) error // a non-nil error fails the Get
}

// NewFaulty wraps s.
func NewFaulty(s Storage) *Faulty {
	return &Faulty{Storage: s, gets: map[string]int{}, ranged: map[string]int{}}
}

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
	if off > 0 || limit >= 0 {
		f.ranged[key]++
	}
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

// RangedGets is how many reads of part of key there were.
func (f *Faulty) RangedGets(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ranged[key]
}

// RandomBytes returns n pseudo-random bytes, the same for the same seed.
func RandomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32() >> 24)
	}
	return b
}
