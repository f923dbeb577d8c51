// Package objstore is the object storage of a JuiceFS volume as rueidisfs
// sees it: the Store interface every storage and wrapper implements, the
// names JuiceFS gives the objects holding file data, and the leak scan of
// `gc`.
//
// A volume's objects live in a bucket (a directory for the `file` storage,
// a bucket of an S3-compatible service for `s3` and `minio`), below the
// volume's name: every key the client uses is prefixed with "NAME/". Below
// that, file data is cut into slices (one write each, up to 64 MiB, named
// by a slice id from the metadata) and every slice into blocks of the
// volume's block size, the last one shorter. Block i of slice id, of n
// bytes, is the object
//
//	<volume name>/chunks/<id/1000000>/<id/1000>/<id>_<i>_<n>
//
// or, on volumes formatted with --hash-prefix,
//
//	<volume name>/chunks/<id%256 as %02X>/<id/1000000>/<id>_<i>_<n>
//
// JuiceFS stacks its storage in a fixed order, and so does rueidisfs
// (package volstore builds it from a volume's format): the backend, then
// shards (several buckets chosen by a hash of the full key), then the
// "NAME/" prefix, then encryption. The chunk store above compresses every
// block before handing it down, so objects are compressed, then encrypted.
// Keys given to a Store are relative to whatever the layers below add:
// above the prefix layer, "chunks/0/0/7_0_1048576".
//
// Backends live in sub-packages (file, s3), wrappers too (shard, encrypt);
// storetest is the behaviour suite every Store passes.
package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"
)

// Object is one stored object.
type Object struct {
	Key   string // relative to the store listing it
	Size  int64  // stored bytes (after compression and encryption)
	Mtime time.Time
	// StorageClass is the object's class on storages that have them, as
	// Head tells it ("" elsewhere, and in listings).
	StorageClass string
}

// Store is one object storage, or a layer over one.
//
// Keys are slash-separated paths without empty, "." or ".." elements.
// Missing objects are reported with errors wrapping fs.ErrNotExist; objects
// whose bytes fail a checksum or an authentication with errors wrapping
// ErrCorrupt. Every method may be called concurrently.
type Store interface {
	// String names the storage the way juicefs logs it
	// ("file:///data/bucket/myjfs/").
	String() string
	// Get returns limit bytes of the object named key from offset off
	// (limit < 0: up to its end). A range past the end is cut short: an
	// offset at or beyond the size gives an empty body.
	Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error)
	// Put stores data as the object named key, replacing any object of
	// that name. Readers see the old object or the new one, never a part.
	// The store keeps no reference to data once Put returns.
	Put(ctx context.Context, key string, data []byte) error
	// Head describes the object named key.
	Head(ctx context.Context, key string) (Object, error)
	// Delete removes the object named key; a missing object is no error.
	Delete(ctx context.Context, key string) error
	// List yields every object whose key starts with prefix and sorts
	// after startAfter ("" for all), in ascending byte order of keys,
	// fetching them page by page as the caller goes on. It yields a
	// non-nil error at most once, as its last item.
	List(ctx context.Context, prefix, startAfter string) iter.Seq2[Object, error]
}

// Creator is a Store that can create its bucket, as `format` does when the
// bucket does not exist yet.
type Creator interface {
	Create(ctx context.Context) error
}

// DirRemover is a Store with directories of its own (the `file`
// storage): RemoveEmptyDirs removes the directories left empty below
// prefix, the directory of prefix itself included, as `destroy` does once
// every object is gone.
type DirRemover interface {
	RemoveEmptyDirs(ctx context.Context, prefix string) error
}

// RemoveEmptyDirs removes the empty directories below prefix when s has
// directories; other stores have nothing to remove.
func RemoveEmptyDirs(ctx context.Context, s Store, prefix string) error {
	if d, ok := s.(DirRemover); ok {
		return d.RemoveEmptyDirs(ctx, prefix)
	}
	return nil
}

// ErrNoBucket marks operations on a bucket that does not exist.
var ErrNoBucket = errors.New("no such bucket")

// ErrCorrupt marks objects whose stored bytes are not what was written:
// a checksum mismatch, or an encryption envelope that does not
// authenticate with the volume's key.
var ErrCorrupt = errors.New("corrupt object")

// ReadAll reads limit bytes of the object named key from off (limit < 0:
// up to its end) into memory: without a copy when the store holds the
// bytes in memory already (see Range), into a buffer of the right size
// when the body tells its size.
func ReadAll(ctx context.Context, s Store, key string, off, limit int64) ([]byte, error) {
	r, err := s.Get(ctx, key, off, limit)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if body, ok := r.(*Body); ok {
		return body.Bytes(), nil
	}
	return readBody(r, key, nil)
}

// ReadInto reads the whole object named key into buf, reused when it is
// large enough, and returns the bytes read.
func ReadInto(ctx context.Context, s Store, key string, buf []byte) ([]byte, error) {
	r, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readBody(r, key, buf)
}

// readBody reads r to its end into buf, sized at once when r tells its
// size.
func readBody(r io.Reader, key string, buf []byte) ([]byte, error) {
	if sized, ok := r.(interface{ Size() int64 }); ok {
		if n := sized.Size(); n >= 0 && n < 1<<31 {
			buf = slices.Grow(buf[:0], int(n))[:n]
			read, err := io.ReadFull(r, buf)
			if err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("the body of %s ended after %d of %d bytes: %w", key, read, n, err)
			}
			return buf[:read], err
		}
	}
	b := bytes.NewBuffer(buf[:0])
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

// Body is the body of a Get whose bytes are in memory.
type Body struct {
	*bytes.Reader
	data []byte
}

// Bytes returns the bytes of the body not read yet, without a copy; the
// caller may keep and change them.
func (b *Body) Bytes() []byte { return b.data[len(b.data)-b.Len():] }

// Close does nothing.
func (b *Body) Close() error { return nil }

// CheckKey tells whether key is a usable object key: not empty, not
// absolute, without empty, "." or ".." elements (a final "/" names a
// directory marker and is allowed).
func CheckKey(key string) error {
	trimmed := strings.TrimSuffix(key, "/")
	if trimmed == "" || strings.HasPrefix(key, "/") {
		return fmt.Errorf("invalid object key %q", key)
	}
	for _, el := range strings.Split(trimmed, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("invalid object key %q", key)
		}
	}
	return nil
}

// Range returns the part of data a Get of [off, off+limit) gives (limit <
// 0: up to the end), for stores that hold whole objects in memory. The
// body hands data out (see Body.Bytes): data must not be used afterwards.
func Range(data []byte, off, limit int64) *Body {
	size := int64(len(data))
	off = min(max(off, 0), size)
	end := size
	if limit >= 0 && limit < size-off {
		end = off + limit
	}
	return &Body{Reader: bytes.NewReader(data[off:end]), data: data[off:end]}
}

// Create creates the bucket of s when s can, as `format` does before its
// first write.
func Create(ctx context.Context, s Store) error {
	if c, ok := s.(Creator); ok {
		return c.Create(ctx)
	}
	return nil
}
