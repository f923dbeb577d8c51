package chunk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rueidisfs/rueidisfs/compress"
	"github.com/rueidisfs/rueidisfs/objstore/file"
)

// The block path against its physical limits, for 4 MiB blocks on a
// `file` bucket in a tmpfs (/dev/shm when there is one):
//
//	BenchmarkBlock/memcpy            copying a block in memory
//	BenchmarkBlock/<alg>/compress    the codec alone
//	BenchmarkBlock/<alg>/decompress
//	BenchmarkBlock/<alg>/file-put    the storage alone (write, rename)
//	BenchmarkBlock/<alg>/file-get
//	BenchmarkBlock/<alg>/put         our path: compress + put
//	BenchmarkBlock/<alg>/get         our path: get + decompress (no cache)
//
// Our overhead is put − (compress + file-put) and get − (decompress +
// file-get). scripts/bench-datapath.sh runs them and prints the table.

const benchBlock = 4 << 20

// benchData is half random, half repetitive: compressible about 2:1.
func benchData() []byte {
	b := randomBytes(9, benchBlock)
	for i := benchBlock / 2; i < benchBlock; i++ {
		b[i] = byte(i % 251 / 16)
	}
	return b
}

func benchDir(b *testing.B) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "chunk-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return b.TempDir()
}

func BenchmarkBlock(b *testing.B) {
	data := benchData()
	b.Run("memcpy", func(b *testing.B) {
		dst := make([]byte, len(data))
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			copy(dst, data)
		}
	})
	for _, alg := range []string{"none", "lz4", "zstd"} {
		codec, _ := compress.New(alg)
		body, _ := codec.Compress(nil, data)
		body = append([]byte(nil), body...)
		b.Run(alg+"/compress", func(b *testing.B) {
			dst := make([]byte, codec.Bound(len(data)))
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				codec.Compress(dst, data)
			}
		})
		b.Run(alg+"/decompress", func(b *testing.B) {
			dst := make([]byte, len(data))
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := codec.Decompress(dst, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		dir := benchDir(b)
		st, err := file.New(dir)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.Run(alg+"/file-put", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				if err := st.Put(ctx, fmt.Sprintf("raw/%d", i%64), body); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(alg+"/file-get", func(b *testing.B) {
			buf := make([]byte, len(body)+1)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, err := st.Get(ctx, "raw/0", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := readFull(r, buf)
				r.Close()
				if n != len(body) {
					b.Fatalf("read %d bytes", n)
				}
			}
		})
		s, err := New(st, Config{BlockSize: benchBlock, Compression: alg})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg+"/put", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				if err := s.putBlock(ctx, s.blockKey(uint64(i%64+1), 0, len(data)), data, 1); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(alg+"/get", func(b *testing.B) {
			key := s.blockKey(1, 0, len(data))
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := s.download(ctx, key, len(data), true); err != nil {
					b.Fatal(err)
				}
				s.mem.remove(key) // recycles the buffer, as eviction does
			}
		})
		s.Close()
		os.RemoveAll(filepath.Join(dir, "raw"))
	}
}

func readFull(r interface{ Read([]byte) (int, error) }, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
