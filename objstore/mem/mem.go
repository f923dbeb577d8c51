// Package mem is an object storage in memory, for tests: it behaves as the
// real backends do (the storetest suite checks it) and can be made to fail.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// Store is a bucket in memory. The zero value is not usable: call New.
type Store struct {
	mu      sync.Mutex
	objects map[string]object
	// Fail, when set, is called before every operation ("get", "put",
	// "head", "delete", "list") with the key (the prefix for list); an
	// error it returns fails the operation.
	Fail func(op, key string) error
}

type object struct {
	data  []byte
	mtime time.Time
}

var _ objstore.Store = (*Store)(nil)

// New returns an empty bucket.
func New() *Store { return &Store{objects: map[string]object{}} }

// String names the bucket.
func (s *Store) String() string { return "mem://" }

func (s *Store) check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if op != "list" {
		if err := objstore.CheckKey(key); err != nil {
			return err
		}
	}
	if s.Fail != nil {
		return s.Fail(op, key)
	}
	return nil
}

func notFound(op, key string) error {
	return &fs.PathError{Op: op, Path: "mem://" + key, Err: fs.ErrNotExist}
}

// Get returns a range of a copy of the object.
func (s *Store) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	if err := s.check(ctx, "get", key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	o, ok := s.objects[key]
	s.mu.Unlock()
	if !ok {
		return nil, notFound("get", key)
	}
	return objstore.Range(bytes.Clone(o.data), off, limit), nil // the reader may change what it reads
}

// Put stores a copy of data.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := s.check(ctx, "put", key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = object{data: bytes.Clone(data), mtime: time.Now()}
	return nil
}

// Head describes the object.
func (s *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	if err := s.check(ctx, "head", key); err != nil {
		return objstore.Object{}, err
	}
	s.mu.Lock()
	o, ok := s.objects[key]
	s.mu.Unlock()
	if !ok {
		return objstore.Object{}, notFound("head", key)
	}
	return objstore.Object{Key: key, Size: int64(len(o.data)), Mtime: o.mtime}, nil
}

// Delete removes the object.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, "delete", key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	return nil
}

// List yields the objects from a snapshot of the keys taken when the
// listing starts.
func (s *Store) List(ctx context.Context, prefix, startAfter string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		if err := s.check(ctx, "list", prefix); err != nil {
			yield(objstore.Object{}, fmt.Errorf("list mem://%s: %w", prefix, err))
			return
		}
		s.mu.Lock()
		var found []objstore.Object
		for k, o := range s.objects {
			if strings.HasPrefix(k, prefix) && k > startAfter {
				found = append(found, objstore.Object{Key: k, Size: int64(len(o.data)), Mtime: o.mtime})
			}
		}
		s.mu.Unlock()
		slices.SortFunc(found, func(a, b objstore.Object) int { return strings.Compare(a.Key, b.Key) })
		for _, o := range found {
			if err := ctx.Err(); err != nil {
				yield(objstore.Object{}, err)
				return
			}
			if !yield(o, nil) {
				return
			}
		}
	}
}
