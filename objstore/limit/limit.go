// Package limit bounds the bandwidth a client uses on its object storage,
// as `mount --upload-limit/--download-limit` ask: the bytes of puts and of
// get bodies are taken from token buckets refilled at the limits.
package limit

import (
	"context"
	"io"
	"iter"

	"golang.org/x/time/rate"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// Store limits the puts and gets of the store below it.
type Store struct {
	s        objstore.Store
	up, down *rate.Limiter // nil: no limit
}

var (
	_ objstore.Store      = (*Store)(nil)
	_ objstore.Creator    = (*Store)(nil)
	_ objstore.DirRemover = (*Store)(nil)
)

// New limits s to upload and download bytes per second (0: no limit).
func New(s objstore.Store, upload, download int64) objstore.Store {
	if upload <= 0 && download <= 0 {
		return s
	}
	return &Store{s: s, up: limiter(upload), down: limiter(download)}
}

// limiter is a bucket of a second's worth of bytes (so that a block of
// any size passes a low limit, in several waits).
func limiter(perSecond int64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), int(min(perSecond, 1<<30)))
}

// wait takes n bytes from l, in turns no larger than its bucket.
func wait(ctx context.Context, l *rate.Limiter, n int) error {
	for l != nil && n > 0 {
		take := min(n, l.Burst())
		if err := l.WaitN(ctx, take); err != nil {
			return err
		}
		n -= take
	}
	return nil
}

func (s *Store) String() string { return s.s.String() }

// Put waits for the bytes of data, then stores them.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := wait(ctx, s.up, len(data)); err != nil {
		return err
	}
	return s.s.Put(ctx, key, data)
}

// Get returns a body whose reads wait for the bytes they return.
func (s *Store) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	r, err := s.s.Get(ctx, key, off, limit)
	if err != nil || s.down == nil {
		return r, err
	}
	return &body{ReadCloser: r, ctx: ctx, l: s.down}, nil
}

type body struct {
	io.ReadCloser
	ctx context.Context
	l   *rate.Limiter
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if werr := wait(b.ctx, b.l, n); werr != nil && err == nil {
		err = werr
	}
	return n, err
}

func (s *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	return s.s.Head(ctx, key)
}

func (s *Store) Delete(ctx context.Context, key string) error { return s.s.Delete(ctx, key) }

func (s *Store) List(ctx context.Context, prefix, startAfter string) iter.Seq2[objstore.Object, error] {
	return s.s.List(ctx, prefix, startAfter)
}

func (s *Store) Create(ctx context.Context) error { return objstore.Create(ctx, s.s) }

func (s *Store) RemoveEmptyDirs(ctx context.Context, prefix string) error {
	return objstore.RemoveEmptyDirs(ctx, s.s, prefix)
}
