// Package fileio is the file data API of rueidisfs: open a file of a volume,
// read and write it at any offset, flush, truncate and close it, with the
// metadata engine (package meta) keeping the layout and the chunk store
// (package chunk) keeping the bytes.
//
// A file's data is cut into 64 MiB chunks; each chunk is a list of slice
// records in the metadata, later records hiding earlier ones where they
// overlap. Writing appends new slices: the bytes are buffered and uploaded
// by a chunk.Writer, and once every block of a slice is stored the slice is
// committed with meta.Engine.Write, strictly in the order the slices were
// started. All handles of one inode in a process share one writer, so
// their writes are ordered and a failure is seen by all of them (it sticks
// until the last handle is closed). Reading replays the chunk's records
// (newest wins), reading each visible piece from the chunk store.
//
// Consistency is close-to-open, as in JuiceFS: when Flush or Close returns,
// the data is in the object storage and committed in Redis, where every
// other client (rueidisfs or juicefs) sees it. A read first flushes the
// reading process's own pending writes of the file.
package fileio

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Meta is what file data needs of the metadata engine; *meta.Engine
// satisfies it.
type Meta interface {
	Open(ctx context.Context, ino meta.Ino, flags uint32) (meta.Attr, error)
	Release(ctx context.Context, ino meta.Ino) error
	GetAttr(ctx context.Context, ino meta.Ino) (meta.Attr, error)
	Read(ctx context.Context, ino meta.Ino, indx uint32) ([]codec.Slice, error)
	Write(ctx context.Context, ino meta.Ino, indx uint32, off uint32, s codec.Slice, mtime time.Time) error
	NewSlice(ctx context.Context) (uint64, error)
	Truncate(ctx context.Context, ino meta.Ino, flags uint8, length uint64, skipPermCheck bool) (meta.Attr, error)
	Fallocate(ctx context.Context, ino meta.Ino, mode uint8, off, size uint64) (uint64, error)
	CopyFileRange(ctx context.Context, fin meta.Ino, offIn uint64, fout meta.Ino, offOut, size uint64, flags uint32) (uint64, uint64, error)
	InvalidateChunkCache(ctx context.Context, ino meta.Ino, indx uint32) error
}

var _ Meta = (*meta.Engine)(nil)

// MaxFileSize is the first offset no file may reach: 2^31 chunks.
const MaxFileSize = uint64(codec.ChunkSize) << 31

// Options tune an FS; the zero value gives JuiceFS's behaviour.
type Options struct {
	// Logger receives one line per failed read or commit, naming the
	// object or the slice and the reason; nil discards them.
	Logger *slog.Logger
	// MaxReadahead bounds how far ahead of a sequential reader blocks are
	// fetched (default 8 blocks).
	MaxReadahead int
	// FreezeAfter and FreezeIdle: a slice being written is finished and
	// committed once it is that old, or idle that long (defaults 5s and
	// 1s, as juicefs), so that other clients see data written without a
	// flush within seconds.
	FreezeAfter, FreezeIdle time.Duration
}

func (o *Options) setDefaults(blockSize int) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxReadahead <= 0 {
		o.MaxReadahead = 8 * blockSize
	}
	if o.FreezeAfter <= 0 {
		o.FreezeAfter = 5 * time.Second
	}
	if o.FreezeIdle <= 0 {
		o.FreezeIdle = time.Second
	}
}

// FS gives access to the file data of one volume. It is safe for concurrent
// use.
type FS struct {
	meta  Meta
	store *chunk.Store
	opts  Options
	log   *slog.Logger

	mu      sync.Mutex
	writers map[meta.Ino]*fileWriter

	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns the file data API over an engine and a chunk store of the same
// volume.
func New(m Meta, store *chunk.Store, opts Options) *FS {
	opts.setDefaults(store.BlockSize())
	fs := &FS{meta: m, store: store, opts: opts, log: opts.Logger, writers: map[meta.Ino]*fileWriter{}, stop: make(chan struct{})}
	fs.wg.Add(1)
	go fs.freezeLoop()
	return fs
}

// Close commits everything still buffered and stops the background work.
// Files still open are flushed, not closed.
func (fs *FS) Close(ctx context.Context) error {
	var first error
	for _, w := range fs.activeWriters() {
		if err := w.flush(ctx); err != nil && first == nil {
			first = err
		}
	}
	select {
	case <-fs.stop:
	default:
		close(fs.stop)
	}
	fs.wg.Wait()
	return first
}

// Store is the chunk store the FS reads and writes through.
func (fs *FS) Store() *chunk.Store { return fs.store }

func (fs *FS) activeWriters() []*fileWriter {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]*fileWriter, 0, len(fs.writers))
	for _, w := range fs.writers {
		out = append(out, w)
	}
	return out
}

// writerRef returns the shared writer of ino, creating it, and counts one
// more handle using it.
func (fs *FS) writerRef(ino meta.Ino) *fileWriter {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	w := fs.writers[ino]
	if w == nil {
		w = newFileWriter(fs, ino)
		fs.writers[ino] = w
	}
	w.refs++
	return w
}

// writerUnref drops one handle's use of w; the last one forgets it (and
// with it a sticky error).
func (fs *FS) writerUnref(w *fileWriter) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if w.refs--; w.refs == 0 && fs.writers[w.ino] == w {
		delete(fs.writers, w.ino)
	}
}

// writer returns the shared writer of ino if a handle has one.
func (fs *FS) writer(ino meta.Ino) *fileWriter {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.writers[ino]
}

// Flush commits the buffered writes of ino (of every handle of this FS).
func (fs *FS) Flush(ctx context.Context, ino meta.Ino) error {
	if w := fs.writer(ino); w != nil {
		return w.flush(ctx)
	}
	return nil
}

// BufferedLength is the end of the data buffered for ino and not yet
// committed (0 if none): a file's length as this process sees it is the
// larger of it and the committed length.
func (fs *FS) BufferedLength(ino meta.Ino) uint64 {
	if w := fs.writer(ino); w != nil {
		return w.bufferedEnd()
	}
	return 0
}

// freezeLoop finishes slices that are old or idle enough, every 100 ms.
func (fs *FS) freezeLoop() {
	defer fs.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-fs.stop:
			return
		case now := <-t.C:
			for _, w := range fs.activeWriters() {
				w.freezeStale(now)
			}
		}
	}
}
