package fileio_test

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/fileio"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore/file"
)

// TestFixtureFiles reads every regular file of the volumes the official
// client wrote (and of their trash), with their objects, through the file
// API, and compares each with the SHA-256 the official mount read.
func TestFixtureFiles(t *testing.T) {
	for _, volume := range fixtures.Volumes() {
		t.Run(volume, func(t *testing.T) {
			srv, db := redistest.NewDB(t)
			if _, err := fixtures.LoadVolume(ctx, srv.Client(t, db), volume, ""); err != nil {
				t.Fatal(err)
			}
			e, err := meta.Open(ctx, srv.URL("redis", db), meta.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(ctx)
			f, err := e.Load(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := fixtures.ExtractObjects(volume, dir); err != nil {
				t.Fatal(err)
			}
			bucket, err := file.New(filepath.Join(dir, f.Name))
			if err != nil {
				t.Fatal(err)
			}
			store, err := chunk.New(bucket, chunk.Config{BlockSize: f.BlockSize << 10, Compression: f.Compression})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			fs := fileio.New(e, store, fileio.Options{})
			defer fs.Close(ctx)
			m, err := fixtures.ReadManifest(volume)
			if err != nil {
				t.Fatal(err)
			}
			files := 0
			for _, entry := range append(m.Entries, m.Trash...) {
				if entry.Type != "file" {
					continue
				}
				p, err := entry.RawPath()
				if err != nil {
					t.Fatal(err)
				}
				var ino meta.Ino
				if rest, ok := strings.CutPrefix(p, ".trash/"); ok {
					ino, _, err = e.Resolve(ctx, meta.TrashInode, rest)
				} else {
					ino, _, err = e.Resolve(ctx, meta.RootInode, p)
				}
				if err != nil {
					t.Fatalf("%s: %v", entry.Path, err)
				}
				h := sha256.New()
				file, _, err := fs.Open(ctx, ino, 0)
				if err != nil {
					t.Fatalf("%s: open: %v", entry.Path, err)
				}
				n, err := file.WriteTo(ctx, h, 1<<20)
				file.Close(ctx)
				if err != nil {
					t.Fatalf("%s: read: %v", entry.Path, err)
				}
				if got := hex.EncodeToString(h.Sum(nil)); got != entry.SHA256 || uint64(n) != entry.Size {
					t.Errorf("%s: %d bytes with SHA-256 %s, want %d bytes with %s", entry.Path, n, got, entry.Size, entry.SHA256)
				}
				files++
			}
			t.Logf("%d files read and compared", files)
		})
	}
}
