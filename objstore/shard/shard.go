// Package shard spreads a volume's objects over several buckets, as
// `format --shards N` asks: the bucket of a key is the FNV-1a (32-bit) hash
// of the whole key, volume prefix included, modulo N. A listing merges the
// buckets' listings in key order.
package shard

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"strings"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// Store is a set of buckets seen as one.
type Store struct {
	stores []objstore.Store
}

var (
	_ objstore.Store   = (*Store)(nil)
	_ objstore.Creator = (*Store)(nil)
)

// New spreads keys over stores, in shard order.
func New(stores []objstore.Store) *Store { return &Store{stores: stores} }

// Buckets expands a bucket pattern into the buckets of n shards: the
// pattern holds one integer verb ("https://mybucket-%d.s3.us-east-2.amazonaws.com",
// "/data/jfs-%02d/"), replaced by the shard number 0 … n-1.
func Buckets(pattern string, n int) ([]string, error) {
	if n < 2 || n > 256 {
		return nil, fmt.Errorf("%d shards: the number of shards must be between 2 and 256", n)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(pattern, i)
		if strings.Contains(out[i], "%!") || i > 0 && out[i] == out[0] {
			return nil, fmt.Errorf("bucket %q of a volume with %d shards must hold one integer verb such as %%d, replaced by the shard number", pattern, n)
		}
	}
	return out, nil
}

// pick is the bucket of key.
func (s *Store) pick(key string) objstore.Store {
	h := fnv.New32a()
	_, _ = io.WriteString(h, key)
	return s.stores[h.Sum32()%uint32(len(s.stores))]
}

// String names the set as juicefs does: "shard4://" and the first bucket.
func (s *Store) String() string { return fmt.Sprintf("shard%d://%s", len(s.stores), s.stores[0]) }

func (s *Store) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	return s.pick(key).Get(ctx, key, off, limit)
}

func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	return s.pick(key).Put(ctx, key, data)
}

func (s *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	return s.pick(key).Head(ctx, key)
}

func (s *Store) Delete(ctx context.Context, key string) error {
	return s.pick(key).Delete(ctx, key)
}

// Create creates every bucket that can be.
func (s *Store) Create(ctx context.Context) error {
	for _, st := range s.stores {
		if c, ok := st.(objstore.Creator); ok {
			if err := c.Create(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// List merges the listings of the buckets: each is read as far as its
// next key, and the smallest key goes first.
func (s *Store) List(ctx context.Context, prefix, startAfter string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		type head struct {
			next func() (objstore.Object, error, bool)
			obj  objstore.Object
		}
		var heads []*head
		for _, st := range s.stores {
			next, stop := iter.Pull2(st.List(ctx, prefix, startAfter))
			defer stop()
			o, err, ok := next()
			if err != nil {
				yield(objstore.Object{}, err)
				return
			}
			if ok {
				heads = append(heads, &head{next: next, obj: o})
			}
		}
		for len(heads) > 0 {
			min := 0
			for i, h := range heads {
				if h.obj.Key < heads[min].obj.Key {
					min = i
				}
			}
			h := heads[min]
			if !yield(h.obj, nil) {
				return
			}
			o, err, ok := h.next()
			switch {
			case err != nil:
				yield(objstore.Object{}, err)
				return
			case ok:
				h.obj = o
			default:
				heads = append(heads[:min], heads[min+1:]...)
			}
		}
	}
}

// RemoveEmptyDirs removes the empty directories of every bucket.
func (s *Store) RemoveEmptyDirs(ctx context.Context, prefix string) error {
	for _, st := range s.stores {
		if err := objstore.RemoveEmptyDirs(ctx, st, prefix); err != nil {
			return err
		}
	}
	return nil
}
