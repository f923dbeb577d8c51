package mounttest_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/mounttest"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
)

// stagedFiles lists the staged blocks of a cache directory of volume v.
func stagedFiles(t *testing.T, v *mounttest.Volume, cache string) []string {
	t.Helper()
	var files []string
	root := filepath.Join(cache, v.Format.UUID, "rawstaging")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// writeFiles writes n files of random sizes (up to three 256 KiB blocks)
// into dir, fsync'ed and closed, and returns their hashes.
func writeFiles(t *testing.T, dir string, n int) map[string][32]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 9))
	sums := map[string][32]byte{}
	for i := range n {
		data := make([]byte, 1+r.IntN(3<<18))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		name := fmt.Sprintf("f%d", i)
		must(t, writeDurably(filepath.Join(dir, name), data, true))
		sums[name] = sha256.Sum256(data)
	}
	return sums
}

// statValue returns the value of a metric in the .stats file of the mount
// at mp.
func statValue(t *testing.T, mp, name string) float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(mp, ".stats"))
	must(t, err)
	for line := range strings.Lines(string(raw)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			must(t, err)
			return v
		}
	}
	t.Fatalf("no %s in .stats", name)
	return 0
}

// catAll reads every file through `rueidisfs cat` (another client, without
// a cache: what it reads is in the object storage) and compares hashes.
func catAll(t *testing.T, v *mounttest.Volume, sums map[string][32]byte) {
	t.Helper()
	for name, sum := range sums {
		out, err := exec.Command(mounttest.Binary(t), "cat", v.URL, name).Output()
		if err != nil || sha256.Sum256(out) != sum {
			t.Fatalf("%s read through another client: %v", name, err)
		}
	}
}

// TestWritebackCrash, on a `file` bucket and on a real S3 server: a
// --writeback mount with a long upload delay commits
// fsync'ed files while their blocks are only staged (another client cannot
// read them yet); it is killed with SIGKILL; a mount started again on the
// same cache directory uploads every staged block, after which every file
// reads intact through another client and fsck (which checks every
// object) is clean.
func TestWritebackCrash(t *testing.T) {
	mounttest.NeedRoot(t)
	t.Run("file", func(t *testing.T) { writebackCrash(t, nil) })
	t.Run("s3", func(t *testing.T) {
		writebackCrash(t, func(f *codec.Format) {
			srv := s3test.Shared(t)
			f.Storage, f.Bucket = "s3", srv.Endpoint+"/"+srv.MakeBucket(t)
			f.AccessKey, f.SecretKey = s3test.AccessKey, s3test.SecretKey
		})
	})
}

func writebackCrash(t *testing.T, format func(*codec.Format)) {
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 256, Format: format})
	cache := t.TempDir()
	p := v.StartMount(t, "", "--writeback", "--upload-delay", "1h", "--cache-dir", cache)
	sums := writeFiles(t, p.Dir, 12)
	if len(stagedFiles(t, v, cache)) == 0 {
		t.Fatal("nothing staged by a --writeback mount")
	}
	if out, err := exec.Command(mounttest.Binary(t), "cat", v.URL, "f0").CombinedOutput(); err == nil {
		t.Fatalf("another client read a file whose blocks are only staged: %.200q", out)
	}
	p.Kill()

	p2 := v.StartMount(t, p.Dir, "--writeback", "--cache-dir", cache)
	deadline := time.Now().Add(time.Minute)
	for len(stagedFiles(t, v, cache)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d blocks still staged a minute after the restart: %s", len(stagedFiles(t, v, cache)), p2.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	catAll(t, v, sums)
	for name, sum := range sums {
		got, err := os.ReadFile(filepath.Join(p2.Dir, name))
		if err != nil || sha256.Sum256(got) != sum {
			t.Fatalf("%s through the new mount: %v", name, err)
		}
	}
	mounttest.Run(t, "fsck", v.URL)
}

// TestWritebackUmountFlush: umount --flush of a --writeback mount waits
// until its staged blocks are uploaded, then unmounts.
func TestWritebackUmountFlush(t *testing.T) {
	mounttest.NeedRoot(t)
	v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 256})
	cache := t.TempDir()
	p := v.StartMount(t, "", "--writeback", "--upload-delay", "2s", "--cache-dir", cache)
	sums := writeFiles(t, p.Dir, 6)
	// Whether blocks are still staged now depends on the machine's speed
	// (the delay may have passed): the mount's counters say they were.
	if staged := statValue(t, p.Dir, "juicefs_staging_write_bytes"); staged == 0 {
		t.Fatal("nothing staged by a --writeback mount")
	}
	// .config as juicefs's umount --flush reads it (its field types).
	var conf struct {
		Chunk struct {
			CacheDir   string
			BufferSize uint64
			Writeback  bool
		}
	}
	raw, err := os.ReadFile(filepath.Join(p.Dir, ".config"))
	must(t, err)
	must(t, json.Unmarshal(raw, &conf))
	if want := filepath.Join(cache, v.Format.UUID); !conf.Chunk.Writeback || conf.Chunk.CacheDir != want || conf.Chunk.BufferSize != 300<<20 {
		t.Fatalf(".config tells %+v, want writeback in %s with 300 MiB of buffers", conf.Chunk, want)
	}
	out := mounttest.Run(t, "umount", "--flush", p.Dir)
	if !strings.Contains(out, "All staged blocks are uploaded") {
		t.Errorf("umount --flush printed %q", out)
	}
	if left := stagedFiles(t, v, cache); len(left) > 0 {
		t.Fatalf("umount --flush returned with %d blocks staged", len(left))
	}
	catAll(t, v, sums)
	mounttest.Run(t, "fsck", v.URL)
}

// TestMaxDeletesZero: with --max-deletes 0 a mount leaves the objects of
// the data it releases for gc; without, it deletes them.
func TestMaxDeletesZero(t *testing.T) {
	mounttest.NeedRoot(t)
	var took time.Duration // how long the deletion took without the flag
	for _, keep := range []bool{false, true} {
		v := mounttest.NewVolume(t, mounttest.VolumeOptions{BlockSize: 64})
		var flags []string
		if keep {
			flags = []string{"--max-deletes", "0"}
		}
		p := v.StartMount(t, "", flags...)
		name := filepath.Join(p.Dir, "f")
		must(t, writeDurably(name, make([]byte, 1000), true))
		objects := func() int {
			n := 0
			filepath.WalkDir(filepath.Join(v.Bucket, "test", "chunks"), func(_ string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					n++
				}
				return nil
			})
			return n
		}
		if objects() != 1 {
			t.Fatalf("%d objects after writing one block", objects())
		}
		must(t, os.Remove(name))
		start, wait := time.Now(), 10*time.Second
		if keep {
			wait = max(3*took, time.Second) // what deleting took, with room
		}
		for objects() > 0 && time.Since(start) < wait {
			time.Sleep(20 * time.Millisecond)
		}
		took = time.Since(start)
		if got := objects(); keep != (got == 1) {
			t.Fatalf("--max-deletes 0: %v; %d objects left after the file was removed", keep, got)
		}
	}
}
