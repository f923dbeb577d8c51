package fileio_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fileio"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/datatest"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
	"github.com/rueidisfs/rueidisfs/objstore/volstore"
)

// TestMain cleans the AWS environment for the S3 tests and stops the S3
// server at the end; the shared Redis server dies with the test binary.
func TestMain(m *testing.M) { s3test.Main(m) }

// volume is a fresh volume on the shared test Redis with a bucket in a
// temporary directory, an engine with a session, a chunk store and the
// file API. At the end of the test the volume's counters are recounted.
type volume struct {
	t      testing.TB
	url    string
	bucket *datatest.Dir
	e      *meta.Engine
	store  *chunk.Store
	fs     *fileio.FS
	format *codec.Format
	opts   volumeOpts
}

type volumeOpts struct {
	blockKiB    int
	compression string
	trashDays   int
	storage     func(datatest.Storage) datatest.Storage // wraps the bucket
	bucket      *datatest.Dir                           // default: a temporary directory
	// stack, when set, stores the volume as the format says through
	// volstore (s3 on the test server, encryption): format adjusts the
	// format (bucket, storage, keys) before the volume is created.
	stack func(f *codec.Format)
	chunk chunk.Config
}

func newVolume(t testing.TB, o volumeOpts) *volume {
	t.Helper()
	if o.blockKiB == 0 {
		o.blockKiB = 64
	}
	srv, db := redistest.NewDB(t)
	v := &volume{t: t, url: srv.URL("redis", db), bucket: o.bucket, opts: o}
	if v.bucket == nil {
		v.bucket = datatest.NewDir(t)
	}
	ctx := context.Background()
	v.format = &codec.Format{Name: "test", UUID: "00000000-0000-0000-0000-0000000000aa", Storage: "file", Bucket: v.bucket.Root + "/",
		BlockSize: o.blockKiB, Compression: o.compression, TrashDays: o.trashDays, MetaVersion: 1, DirStats: true,
		Tiers: map[uint8]codec.Tier{0: {}}}
	if o.stack != nil {
		o.stack(v.format)
	}
	e, err := meta.Open(ctx, v.url, meta.Options{
		SliceDeleter: func(f *codec.Format) (meta.DeleteSliceFunc, error) {
			v.store = v.openStore(f, o)
			return v.store.Remove, nil
		},
		Compact: fileio.Compactor(func() *chunk.Store { return v.store }),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Init(ctx, v.format, false); err != nil {
		t.Fatal(err)
	}
	if err := e.NewSession(ctx, true); err != nil {
		t.Fatal(err)
	}
	v.e = e
	if v.store == nil {
		t.Fatal("the engine did not ask for the data layer")
	}
	v.fs = fileio.New(e, v.store, fileio.Options{})
	t.Cleanup(func() {
		if err := v.fs.Close(ctx); err != nil {
			t.Errorf("close the file API: %v", err)
		}
		v.store.Close()
		if !t.Failed() {
			v.check()
		}
		e.Close(ctx)
	})
	return v
}

// openStore builds a chunk store for the volume f.
func (v *volume) openStore(f *codec.Format, o volumeOpts) *chunk.Store {
	var st chunk.Storage = v.bucket
	if o.stack != nil {
		var err error
		if st, err = volstore.Open(context.Background(), f, volstore.Options{}); err != nil {
			v.t.Fatal(err)
		}
	}
	if o.storage != nil {
		st = o.storage(st)
	}
	conf := o.chunk
	conf.BlockSize = f.BlockSize << 10
	conf.Compression = f.Compression
	conf.VolumeUUID = f.UUID
	if conf.RetryDelay == nil {
		conf.RetryDelay = func(int) time.Duration { return time.Millisecond }
	}
	store, err := chunk.New(st, conf)
	if err != nil {
		v.t.Fatal(err)
	}
	return store
}

// check recounts the volume.
func (v *volume) check() {
	v.t.Helper()
	ctx := context.Background()
	v.e.Sync(ctx)
	rep, err := fsck.Recount(ctx, v.e.Client(), v.e.Keys(), fsck.Options{})
	if err != nil {
		v.t.Fatalf("recount: %v", err)
	}
	if !rep.OK() {
		v.t.Fatalf("volume inconsistent after the test:\n%s", rep)
	}
}

// create makes a file in the root and opens it read-write.
func (v *volume) create(name string) *fileio.File {
	v.t.Helper()
	ino, _, err := v.e.Create(context.Background(), meta.RootInode, name, 0o644, 0o022, 0)
	if err != nil {
		v.t.Fatal(err)
	}
	return v.fs.Attach(ino, 2)
}

func (v *volume) open(name string, flags uint32) *fileio.File {
	v.t.Helper()
	ino, _, err := v.e.Lookup(context.Background(), meta.RootInode, name)
	if err != nil {
		v.t.Fatal(err)
	}
	f, _, err := v.fs.Open(context.Background(), ino, flags)
	if err != nil {
		v.t.Fatal(err)
	}
	return f
}

// readAll reads a file through a new read-only handle.
func (v *volume) readAll(name string) []byte {
	v.t.Helper()
	f := v.open(name, 0)
	defer f.Close(context.Background())
	var buf bytes.Buffer
	if _, err := f.WriteTo(context.Background(), &buf, 1<<20); err != nil {
		v.t.Fatalf("read %s: %v", name, err)
	}
	return buf.Bytes()
}

func randomBytes(seed uint64, n int) []byte { return datatest.RandomBytes(seed, n) }

// model is the expected content of a file.
type model []byte

func (m *model) writeAt(p []byte, off int) {
	if end := off + len(p); end > len(*m) {
		*m = append(*m, make([]byte, end-len(*m))...)
	}
	copy((*m)[off:], p)
}

func (m *model) truncate(n int) {
	if n <= len(*m) {
		*m = (*m)[:n]
		return
	}
	*m = append(*m, make([]byte, n-len(*m))...)
}
