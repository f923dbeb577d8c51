package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// SliceSet maps slice ids to slice sizes.
type SliceSet map[uint64]uint32

// Tally counts objects and their stored bytes.
type Tally struct{ Count, Bytes int64 }

func (t *Tally) add(size int64) { t.Count++; t.Bytes += size }

// LeakScan classifies every block object of a volume against the slices its
// metadata knows, as `juicefs gc` does: an object is valid when it is a
// block of a slice in use, pending when its slice waits for deletion
// (negative reference count), compacted when its slice is kept for the
// trash by a compaction (delSlices), and leaked otherwise, or when its name
// does not fit its slice's size. The temporary file of an upload that never
// finished (on `file` storage) is leaked too. Objects modified after SkipAfter are
// skipped: they may belong to a write still in progress.
type LeakScan struct {
	BlockSize              int // bytes
	Used, Pending, Delayed SliceSet
	SkipAfter              time.Time
	// OnLeak, when set, is called for every leaked object (gc --delete
	// deletes it).
	OnLeak func(Object)
	// OnObject, when set, is called for every object examined or skipped.
	OnObject func()
	// Warn, when set, receives the inconsistencies found (block names that
	// do not fit their slice).
	Warn func(string)
}

// LeakReport is what a LeakScan found.
type LeakReport struct {
	// Scanned counts the objects examined, skipped ones included (objects
	// whose key is not a block key are ignored).
	Scanned                                    int64
	Valid, Pending, Compacted, Leaked, Skipped Tally
}

// Run lists the chunks/ prefix of s and classifies every object.
func (o *LeakScan) Run(ctx context.Context, s Store) (LeakReport, error) {
	var r LeakReport
	for obj, err := range s.List(ctx, ChunksPrefix, "") {
		if err != nil {
			return r, err
		}
		if obj.Mtime.IsZero() || obj.Size == 0 { // not every listing tells them
			if obj, err = s.Head(ctx, obj.Key); errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return r, err
			}
		}
		o.classify(obj, &r)
	}
	return r, nil
}

// classify counts one object of the chunks/ prefix in r.
func (o *LeakScan) classify(obj Object, r *LeakReport) {
	if obj.Mtime.After(o.SkipAfter) {
		r.Scanned++
		r.Skipped.add(obj.Size)
		o.progress()
		return
	}
	parts := strings.Split(strings.TrimPrefix(obj.Key, ChunksPrefix), "/")
	if len(parts) != 3 {
		return
	}
	id, indx, bsize, ok := ParseBlockName(parts[2])
	if !ok && !IsPartialUpload(parts[2]) {
		return
	}
	r.Scanned++
	defer o.progress()
	size, tally := o.Used[id], &r.Valid
	if size == 0 {
		size, tally = o.Pending[id], &r.Pending
	}
	if size == 0 {
		size, tally = o.Delayed[id], &r.Compacted
	}
	switch {
	case !ok || size == 0:
		o.leak(obj, r)
	case bsize == o.BlockSize && (indx+1)*bsize > int(size):
		o.warn("size of slice %d is larger than expected: %d > %d", id, indx*o.BlockSize+bsize, size)
		o.leak(obj, r)
	case bsize != o.BlockSize && indx*o.BlockSize+bsize != int(size):
		o.warn("size of slice %d is %d, but expect %d", id, indx*o.BlockSize+bsize, size)
		o.leak(obj, r)
	default:
		tally.add(obj.Size)
	}
}

func (o *LeakScan) leak(obj Object, r *LeakReport) {
	r.Leaked.add(obj.Size)
	if o.OnLeak != nil {
		o.OnLeak(obj)
	}
}

func (o *LeakScan) warn(format string, args ...any) {
	if o.Warn != nil {
		o.Warn(fmt.Sprintf(format, args...))
	}
}

func (o *LeakScan) progress() {
	if o.OnObject != nil {
		o.OnObject()
	}
}
