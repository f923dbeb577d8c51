package objstore

import (
	"context"
	"io"
	"iter"
	"strings"
)

// prefixed is a Store whose keys are those of another store below a fixed
// prefix: how a volume's objects live below "NAME/" in its bucket.
type prefixed struct {
	s      Store
	prefix string
}

var _ Store = (*prefixed)(nil)

// WithPrefix returns the part of s below prefix (e.g. "myjfs/"): keys
// given to it are prefixed, keys it lists have the prefix removed.
func WithPrefix(s Store, prefix string) Store {
	if prefix == "" {
		return s
	}
	return &prefixed{s: s, prefix: prefix}
}

func (p *prefixed) String() string { return p.s.String() + p.prefix }

func (p *prefixed) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	return p.s.Get(ctx, p.prefix+key, off, limit)
}

func (p *prefixed) Put(ctx context.Context, key string, data []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	return p.s.Put(ctx, p.prefix+key, data)
}

func (p *prefixed) Head(ctx context.Context, key string) (Object, error) {
	if err := CheckKey(key); err != nil {
		return Object{}, err
	}
	o, err := p.s.Head(ctx, p.prefix+key)
	o.Key = strings.TrimPrefix(o.Key, p.prefix)
	return o, err
}

func (p *prefixed) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	return p.s.Delete(ctx, p.prefix+key)
}

func (p *prefixed) List(ctx context.Context, prefix, startAfter string) iter.Seq2[Object, error] {
	if startAfter != "" {
		startAfter = p.prefix + startAfter
	}
	return func(yield func(Object, error) bool) {
		for o, err := range p.s.List(ctx, p.prefix+prefix, startAfter) {
			o.Key = strings.TrimPrefix(o.Key, p.prefix)
			if !yield(o, err) {
				return
			}
		}
	}
}

// Create creates the bucket below when it can.
func (p *prefixed) Create(ctx context.Context) error { return Create(ctx, p.s) }

// RemoveEmptyDirs removes the empty directories below the prefix.
func (p *prefixed) RemoveEmptyDirs(ctx context.Context, prefix string) error {
	return RemoveEmptyDirs(ctx, p.s, p.prefix+prefix)
}
