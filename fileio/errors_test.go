package fileio_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fileio"
	"github.com/rueidisfs/rueidisfs/internal/datatest"
)

// TestFailedUploadNotCommitted: a write whose upload fails is never
// recorded: Close returns EIO, the file keeps its old content and length,
// no object is left, and the error sticks for the file's other handles
// until all are closed.
func TestFailedUploadNotCommitted(t *testing.T) {
	var faulty *datatest.Faulty
	v := newVolume(t, volumeOpts{
		storage: func(s datatest.Storage) datatest.Storage { faulty = datatest.NewFaulty(s); return faulty },
		chunk:   chunk.Config{UploadRetries: 1},
	})
	f := v.create("f")
	old := randomBytes(1, 1000)
	f.WriteAt(ctx, old, 0)
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	other := v.open("f", 2)
	faulty.SetHooks(func(string) error { return syscall.EIO }, nil)
	f.WriteAt(ctx, randomBytes(2, 200000), 0)
	if err := f.Flush(ctx); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Flush after a failed upload = %v, want EIO", err)
	}
	faulty.SetHooks(nil, nil)
	if _, err := other.WriteAt(ctx, []byte("x"), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("the other handle's write = %v, want the sticky EIO", err)
	}
	f.Close(ctx)
	other.Close(ctx)
	if got := v.readAll("f"); !bytes.Equal(got, old) {
		t.Fatalf("file holds %d bytes after a failed write, want the old %d", len(got), len(old))
	}
	v.waitObjects(1)    // the old content's block only
	g := v.open("f", 2) // a new handle starts without the error
	if _, err := g.WriteAt(ctx, []byte("new"), 0); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// lineLog collects log lines.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestBadObjectRead: a missing or damaged object fails the read with EIO
// and exactly one log line naming the object and the reason: on a plain
// zstd volume a garbled, cut or missing object; on an encrypted one a
// tampered or cut envelope, or one sealed with another key.
func TestBadObjectRead(t *testing.T) {
	v := newVolume(t, volumeOpts{compression: "zstd", chunk: chunk.Config{MemCacheSize: 1}})
	checkBadObjects(t, v, "chunks/", map[string]func(path string) error{
		"garbled": func(p string) error { return os.WriteFile(p, []byte("not zstd at all"), 0o644) },
		"cut":     func(p string) error { return cutObject(p) },
		"missing": os.Remove,
	})

	var other string // an object of the same name sealed with another key
	ov := newVolume(t, volumeOpts{compression: "zstd", stack: func(f *codec.Format) {
		f.EncryptKey, f.EncryptAlgo = otherKey(t), "aes256gcm-rsa"
	}})
	writeBadObjectFile(t, ov)
	other = ov.bucket.Path(ov.bucket.Objects("test/chunks/")[0])
	ev := newVolume(t, volumeOpts{compression: "zstd", chunk: chunk.Config{MemCacheSize: 1}, stack: func(f *codec.Format) {
		f.EncryptKey, f.EncryptAlgo = testKey(t), "aes256gcm-rsa"
	}})
	checkBadObjects(t, ev, "test/chunks/", map[string]func(path string) error{
		"tampered": func(p string) error {
			b, err := os.ReadFile(p)
			if err == nil {
				b[len(b)-1] ^= 1 // the authentication tag
				err = os.WriteFile(p, b, 0o644)
			}
			return err
		},
		"cut": func(p string) error { return cutObject(p) },
		"sealed with another key": func(p string) error {
			b, err := os.ReadFile(other)
			if err == nil {
				err = os.WriteFile(p, b, 0o644)
			}
			return err
		},
	})
}

// writeBadObjectFile writes the file f of TestBadObjectRead: three blocks.
func writeBadObjectFile(t *testing.T, v *volume) {
	f := v.create("f")
	if _, err := f.WriteAt(ctx, bytes.Repeat([]byte("data "), 30000), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// cutObject drops the last quarter of an object file.
func cutObject(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	return os.Truncate(p, fi.Size()*3/4)
}

// checkBadObjects writes a file, then damages its first object (found
// below prefix in the bucket) each way in turn and reads the file through
// a file API of its own that logs.
func checkBadObjects(t *testing.T, v *volume, prefix string, damages map[string]func(path string) error) {
	t.Helper()
	writeBadObjectFile(t, v)
	var log lineLog
	fs := fileio.New(v.e, v.store, fileio.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	defer fs.Close(ctx)
	ino := v.open("f", 0).Ino()
	objects := v.bucket.Objects(prefix) // the first holds the bytes read
	if len(objects) == 0 {
		t.Fatalf("no object below %s", prefix)
	}
	key := strings.TrimPrefix(objects[0], "test/")
	good, err := os.ReadFile(v.bucket.Path(objects[0]))
	if err != nil {
		t.Fatal(err)
	}
	for name, damage := range damages {
		if err := os.WriteFile(v.bucket.Path(objects[0]), good, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := damage(v.bucket.Path(objects[0])); err != nil {
			t.Fatal(err)
		}
		log.lines = nil
		r, _, err := fs.Open(ctx, ino, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.ReadAt(ctx, make([]byte, 1000), 0)
		r.Close(ctx)
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("%s object: read = %v, want EIO", name, err)
		}
		if len(log.lines) != 1 || !strings.Contains(log.lines[0], key) {
			t.Errorf("%s object: log %q, want one line naming %s", name, log.lines, key)
		}
	}
}
