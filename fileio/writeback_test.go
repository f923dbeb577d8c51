package fileio_test

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fileio"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
)

// TestWriteback, on a `file` bucket and on a real S3 server: with a long
// upload delay, files written and closed are committed in Redis while their
// blocks are only staged, so another client's reads fail with EIO (never
// wrong bytes); a file deleted meanwhile drops its staged blocks; a chunk
// store opened again on the same cache directory (a restarted client)
// uploads the rest, after which another client reads every file.
func TestWriteback(t *testing.T) {
	for _, storage := range []string{"file", "s3"} {
		t.Run(storage, func(t *testing.T) {
			t.Parallel()
			cache := t.TempDir()
			conf := chunk.Config{CacheDir: cache, CacheSize: 1 << 30, FreeSpaceRatio: 1e-5, Writeback: true, UploadDelay: time.Hour}
			o := volumeOpts{compression: "zstd", chunk: conf}
			if storage == "s3" {
				o.stack = func(f *codec.Format) {
					srv := s3test.Shared(t)
					f.Storage, f.Bucket = "s3", srv.Endpoint+"/"+srv.MakeBucket(t)
					f.AccessKey, f.SecretKey = s3test.AccessKey, s3test.SecretKey
				}
			}
			v := newVolume(t, o)
			ctx := context.Background()
			want := map[string][]byte{"small": randomBytes(1, 100), "blocks": randomBytes(2, 3*65536+5), "gone": randomBytes(3, 70000)}
			for name, data := range want {
				f := v.create(name)
				if _, err := f.WriteAt(ctx, data, 0); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(ctx); err != nil {
					t.Fatal(err)
				}
			}
			staged, _ := v.store.Staging()
			if staged != 1+4+2 {
				t.Fatalf("%d blocks staged, want 7", staged)
			}
			other := v.freshReader(t)
			for name := range want {
				if _, err := readThrough(ctx, other, v, name); !errors.Is(err, syscall.EIO) {
					t.Fatalf("%s read by another client before its upload: %v", name, err)
				}
			}
			if err := v.e.Unlink(ctx, meta.RootInode, "gone", false); err != nil {
				t.Fatal(err)
			}
			delete(want, "gone")
			waitUntil(t, "the deleted file's blocks dropped", func() bool { n, _ := v.store.Staging(); return n == 5 })

			// A restart on the same cache directory: the uploads finish.
			v.store.Close()
			o.chunk.UploadDelay = 0
			restarted := v.openStore(v.format, o)
			defer restarted.Close()
			waitUntil(t, "the staged blocks uploaded", func() bool { n, _ := restarted.Staging(); return n == 0 })
			for name, data := range want {
				got, err := readThrough(ctx, v.freshReader(t), v, name)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s after the uploads: %v", name, err)
				}
			}
			if storage == "file" {
				if objs := v.bucket.Objects("chunks/"); len(objs) != 5 {
					t.Fatalf("objects %v, want the 5 blocks of the files kept", objs)
				}
			}
		})
	}
}

// readThrough reads a file of v through another client's file API.
func readThrough(ctx context.Context, fs *fileio.FS, v *volume, name string) ([]byte, error) {
	ino, _, err := v.e.Lookup(ctx, meta.RootInode, name)
	if err != nil {
		return nil, err
	}
	f, _, err := fs.Open(ctx, ino, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close(ctx)
	var buf bytes.Buffer
	_, err = f.WriteTo(ctx, &buf, 1<<20)
	return buf.Bytes(), err
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
