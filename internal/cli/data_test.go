package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/fixtures"
)

func randomFile(t *testing.T, seed uint64, n int) (string, []byte) {
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32() >> 24)
	}
	p := filepath.Join(t.TempDir(), "local")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// TestPutCat copies files into a volume and prints them back: new files,
// an overwrite with a shorter file, standard input; errors for
// directories, missing paths and missing parents.
func TestPutCat(t *testing.T) {
	for _, alg := range []string{"none", "lz4", "zstd"} {
		t.Run(alg, func(t *testing.T) {
			url, _, _ := newDB(t)
			f := formatVolume(t, url, "putcat", "--compress", alg, "--block-size", "64")
			big, bigData := randomFile(t, 1, 300000)
			small, smallData := randomFile(t, 2, 1000)
			run(t, "put", url, big, "/a.bin").ok(t)
			if got := run(t, "cat", url, "a.bin").ok(t).stdout; got != string(bigData) {
				t.Fatalf("cat returned %d bytes, want the %d put", len(got), len(bigData))
			}
			run(t, "put", url, small, "a.bin").ok(t)
			if got := run(t, "cat", url, "/a.bin").ok(t).stdout; got != string(smallData) {
				t.Fatalf("after an overwrite cat returned %d bytes, want %d", len(got), len(smallData))
			}
			session{stdin: "from stdin\n"}.run(t, "put", url, "-", "/s.txt").ok(t)
			if got := run(t, "cat", url, "a.bin", "s.txt").ok(t).stdout; got != string(smallData)+"from stdin\n" {
				t.Fatalf("cat of two files returned %q...", got[:min(len(got), 20)])
			}
			session{stdin: "XY"}.run(t, "put", url, "-", "/s.txt", "--offset", "2").ok(t)
			session{stdin: "tail"}.run(t, "put", url, "-", "/s.txt", "--append").ok(t)
			session{stdin: "!"}.run(t, "put", url, "-", "/s.txt", "--offset", "20").ok(t)
			if got, want := run(t, "cat", url, "s.txt").ok(t).stdout, "frXY stdin\ntail\x00\x00\x00\x00\x00!"; got != want {
				t.Fatalf("after --offset and --append: %q, want %q", got, want)
			}
			run(t, "put", url, "-", "/s.txt", "--offset", "1", "--append").fails(t, "exclude each other")
			run(t, "cat", url, "/").fails(t, "is a directory")
			run(t, "cat", url, "/missing").fails(t, "no such file")
			run(t, "put", url, small, "/no/such/dir/x").fails(t, "no such file")
			// The overwritten slices were deleted: only the small file's
			// and s.txt's objects remain.
			objs := 0
			filepath.WalkDir(filepath.Join(f.Bucket, f.Name, "chunks"), func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					objs++
				}
				return nil
			})
			if objs != 5 {
				t.Errorf("%d objects in the bucket, want 5 (a.bin's and s.txt's four slices)", objs)
			}
			run(t, "fsck", url).ok(t)
		})
	}
}

// TestCatFixture prints every regular file of an official volume and
// compares it with the hash the official mount read.
func TestCatFixture(t *testing.T) {
	fv := loadFixture(t, "basic", true)
	m, err := fixtures.ReadManifest("basic")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range m.Entries {
		if e.Type != "file" || e.Size == 0 || strings.Contains(e.Path, `\x`) || !strings.HasPrefix(e.Path, "data/") {
			continue
		}
		out := run(t, "cat", fv.url, e.Path).ok(t).stdout
		sum := sha256.Sum256([]byte(out))
		if hex.EncodeToString(sum[:]) != e.SHA256 {
			t.Errorf("%s: content differs from what the official mount read", e.Path)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d files checked", checked)
	}
}

// TestCompactFixture compacts files of an official volume (one with four
// slices in a chunk, its clone sharing them, the sparse file) and checks
// that they read the same and the volume stays consistent.
func TestCompactFixture(t *testing.T) {
	fv := loadFixture(t, "basic", true)
	m, err := fixtures.ReadManifest("basic")
	if err != nil {
		t.Fatal(err)
	}
	run(t, "compact", fv.url, "data").ok(t)
	e := engine(t, fv.url)
	ino, _, err := resolvePath(context.Background(), e, "data/overwrite.dat", true)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := e.Inspect().ChunkRecords(context.Background(), ino, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("data/overwrite.dat has %d records after compact (%v)", len(recs), err)
	}
	for _, en := range m.Entries {
		if en.Type != "file" || !strings.HasPrefix(en.Path, "data/") {
			continue
		}
		sum := sha256.Sum256([]byte(run(t, "cat", fv.url, en.Path).ok(t).stdout))
		if hex.EncodeToString(sum[:]) != en.SHA256 {
			t.Errorf("%s: content changed by compact", en.Path)
		}
	}
	run(t, "fsck", fv.url).ok(t)
}

// TestGCCompact: gc --compact compacts every chunk of more than one slice
// of an official volume; every file reads the same afterwards.
func TestGCCompact(t *testing.T) {
	fv := loadFixture(t, "basic", true)
	m, err := fixtures.ReadManifest("basic")
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, "gc", fv.url, "--compact").ok(t)
	if msgs := logMessages(r.stderr, "INFO"); !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "Compacted ") }) {
		t.Errorf("gc --compact did not say how many chunks it compacted: %q", msgs)
	}
	e := engine(t, fv.url)
	for _, p := range []string{"data/overwrite.dat", "data/overwrite-clone.dat", "logs/app.log"} {
		ino, _, err := resolvePath(context.Background(), e, p, true)
		if err != nil {
			t.Fatal(err)
		}
		if recs, err := e.Inspect().ChunkRecords(context.Background(), ino, 0); err != nil || len(recs) != 1 {
			t.Errorf("%s has %d records after gc --compact (%v)", p, len(recs), err)
		}
	}
	for _, en := range m.Entries {
		if en.Type != "file" || en.Size == 0 || strings.Contains(en.Path, `\x`) || !strings.HasPrefix(en.Path, "data/") && !strings.HasPrefix(en.Path, "logs/") {
			continue
		}
		sum := sha256.Sum256([]byte(run(t, "cat", fv.url, en.Path).ok(t).stdout))
		if hex.EncodeToString(sum[:]) != en.SHA256 {
			t.Errorf("%s: content changed by gc --compact", en.Path)
		}
	}
	run(t, "fsck", fv.url).ok(t)
}
