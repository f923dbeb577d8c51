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
// and exactly one log line naming the object and the reason.
func TestBadObjectRead(t *testing.T) {
	v := newVolume(t, volumeOpts{compression: "zstd", chunk: chunk.Config{MemCacheSize: 1}})
	f := v.create("f")
	f.WriteAt(ctx, bytes.Repeat([]byte("data "), 30000), 0)
	f.Close(ctx)
	var log lineLog
	fs := fileio.New(v.e, v.store, fileio.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	defer fs.Close(ctx)
	ino := v.open("f", 0).Ino()
	key := v.bucket.Objects("chunks/")[0]
	for name, damage := range map[string]func() error{
		"garbled": func() error { return os.WriteFile(v.bucket.Path(key), []byte("not zstd at all"), 0o644) },
		"missing": func() error { return os.Remove(v.bucket.Path(key)) },
	} {
		if err := damage(); err != nil {
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
