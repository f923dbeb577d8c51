package chunk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rueidisfs/rueidisfs/compress"
	"github.com/rueidisfs/rueidisfs/internal/benchclock"
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
// each measured alone, in MB/s. BenchmarkBlockOverhead (below) compares
// our path with its limit block by block, which scripts/bench-datapath.sh
// reports.

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

// BenchmarkBlockOverhead alternates, block by block, the physical limit
// and our path over the same 4 MiB block, so that both see the same
// machine: put = compress into a buffer and store it (write, rename)
// against putBlock; get = read the object and decompress it (read it
// straight into the block when uncompressed) against download. It reports
// both in wall-clock time and in the CPU time of the benchmark's thread,
// which other work on a shared machine hardly inflates.
// scripts/bench-datapath.sh runs it and prints the table.
func BenchmarkBlockOverhead(b *testing.B) {
	data := benchData()
	ctx := context.Background()
	for _, alg := range []string{"none", "lz4", "zstd"} {
		codec, _ := compress.New(alg)
		dir := benchDir(b)
		st, err := file.New(dir)
		if err != nil {
			b.Fatal(err)
		}
		s, err := New(st, Config{BlockSize: benchBlock, Compression: alg})
		if err != nil {
			b.Fatal(err)
		}
		body := make([]byte, codec.Bound(len(data)))
		b.Run(alg+"/put", func(b *testing.B) {
			benchclock.Alternate(b, func(i int) {
				n, err := codec.Compress(body, data)
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Put(ctx, fmt.Sprintf("raw/%d", i%16), n); err != nil {
					b.Fatal(err)
				}
			}, func(i int) {
				if err := s.putBlock(ctx, s.blockKey(uint64(i%16+1), 0, len(data)), data, 1); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(alg+"/get", func(b *testing.B) {
			key := s.blockKey(1, 0, len(data))
			stored, _ := codec.Compress(body, data)
			if err := st.Put(ctx, "raw/get", stored); err != nil {
				b.Fatal(err)
			}
			buf, block := make([]byte, len(stored)+1), make([]byte, len(data))
			benchclock.Alternate(b, func(int) {
				r, err := st.Get(ctx, "raw/get", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if alg == "none" { // read straight into place
					_, err = readFull(r, block)
				} else if n, _ := readFull(r, buf); n == len(stored) {
					err = codec.Decompress(block, buf[:n])
				}
				r.Close()
				if err != nil {
					b.Fatal(err)
				}
			}, func(int) {
				if err := s.download(ctx, key, len(data), false); err != nil {
					b.Fatal(err)
				}
				s.mem.remove(key) // recycles the buffer, as eviction does
			})
		})
		s.Close()
	}
}
