package encrypt_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/rueidisfs/rueidisfs/internal/benchclock"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/encrypt"
	"github.com/rueidisfs/rueidisfs/objstore/file"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
)

// benchBlock is the block size the benchmarks move: the default of a
// volume.
const benchBlock = 4 << 20

// benchDir is a directory in a tmpfs when there is one, so that the
// storage costs what the kernel's memory copy costs.
func benchDir(b *testing.B) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "encrypt-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return b.TempDir()
}

// BenchmarkEncrypted measures a 4 MiB block encrypted and stored (put),
// and fetched and decrypted (get), on a `file` bucket in a tmpfs, next to
// the physical limits measured the same way: the cipher libraries alone
// (wrapping the data key with RSA-OAEP and sealing, or unwrapping and
// opening) and the storage alone, each in a run of its own (see
// BenchmarkOverhead for the comparison scripts/bench-objstore.sh prints).
func BenchmarkEncrypted(b *testing.B) {
	ctx := context.Background()
	data := storetest.Data(1, benchBlock)
	key := readKey(b, "key-pkcs1.pem", "")
	b.Run("memcpy", func(b *testing.B) {
		dst := make([]byte, len(data))
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			copy(dst, data)
		}
	})
	st, err := file.New(benchDir(b))
	if err != nil {
		b.Fatal(err)
	}
	envelope := make([]byte, len(data)+overhead)
	copy(envelope, data)
	b.Run("file-put", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		i := 0
		for b.Loop() {
			if err := st.Put(ctx, fmt.Sprintf("raw/%d", i%64), envelope); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("file-get", func(b *testing.B) {
		buf := make([]byte, len(envelope))
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			r, err := st.Get(ctx, "raw/0", 0, -1)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
	})
	for _, algo := range []struct {
		name string
		aead func([]byte) (cipher.AEAD, error)
	}{{encrypt.AES256GCM, aesGCM}, {encrypt.ChaCha20, chacha20poly1305.New}} {
		benchLibrary(b, algo.name, algo.aead, key, data)
		enc, err := encrypt.New(st, key, algo.name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(algo.name+"/put", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				if err := enc.Put(ctx, fmt.Sprintf("%s/%d", algo.name, i%64), data); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(algo.name+"/get", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				got, err := objstore.ReadAll(ctx, enc, algo.name+"/0", 0, -1)
				if err != nil || len(got) != len(data) {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}

func aesGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// benchLibrary measures what the libraries cost for one envelope: a data
// key wrapped (or unwrapped) with RSA-OAEP, and the block sealed (or
// opened) into a buffer of its own.
func benchLibrary(b *testing.B, name string, newAEAD func([]byte) (cipher.AEAD, error), key *rsa.PrivateKey, data []byte) {
	label := []byte("keys")
	dataKey, nonce := make([]byte, 32), make([]byte, 12)
	out := make([]byte, 0, len(data)+16)
	b.Run(name+"/seal", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			_, _ = rand.Read(dataKey)
			_, _ = rand.Read(nonce)
			if _, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &key.PublicKey, dataKey, label); err != nil {
				b.Fatal(err)
			}
			aead, err := newAEAD(dataKey)
			if err != nil {
				b.Fatal(err)
			}
			out = aead.Seal(out[:0], nonce, data, nil)
		}
	})
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &key.PublicKey, dataKey, label)
	if err != nil {
		b.Fatal(err)
	}
	aead, _ := newAEAD(dataKey)
	sealed := aead.Seal(nil, nonce, data, nil)
	plain := make([]byte, 0, len(data))
	b.Run(name+"/open", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			k, err := rsa.DecryptOAEP(sha256.New(), nil, key, wrapped, label)
			if err != nil {
				b.Fatal(err)
			}
			aead, err := newAEAD(k)
			if err != nil {
				b.Fatal(err)
			}
			if plain, err = aead.Open(plain[:0], nonce, sealed, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOverhead alternates, block by block, the physical limit (the
// cipher libraries, then the storage alone) and our path over the same
// block, so that a loaded machine slows both alike, and reports both
// times and our overhead in percent: wall-clock times, and the CPU time of
// the benchmark's thread (user and system, the kernel's copies into and
// out of the tmpfs included), which other work on the machine does not
// inflate.
func BenchmarkOverhead(b *testing.B) {
	ctx := context.Background()
	data := storetest.Data(1, benchBlock)
	key := readKey(b, "key-pkcs1.pem", "")
	st, err := file.New(benchDir(b))
	if err != nil {
		b.Fatal(err)
	}
	label := []byte("keys")
	for _, algo := range []struct {
		name string
		aead func([]byte) (cipher.AEAD, error)
	}{{encrypt.AES256GCM, aesGCM}, {encrypt.ChaCha20, chacha20poly1305.New}} {
		enc, err := encrypt.New(st, key, algo.name)
		if err != nil {
			b.Fatal(err)
		}
		dataKey, nonce := make([]byte, 32), make([]byte, 12)
		sealed := make([]byte, 0, len(data)+overhead)
		b.Run(algo.name+"/put", func(b *testing.B) {
			benchclock.Alternate(b, func(i int) {
				_, _ = rand.Read(dataKey)
				_, _ = rand.Read(nonce)
				wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &key.PublicKey, dataKey, label)
				if err != nil {
					b.Fatal(err)
				}
				aead, _ := algo.aead(dataKey)
				sealed = aead.Seal(append(sealed[:0], make([]byte, 3+len(wrapped)+len(nonce))...), nonce, data, nil)
				if err := st.Put(ctx, fmt.Sprintf("limit/%d", i%16), sealed); err != nil {
					b.Fatal(err)
				}
			}, func(i int) {
				if err := enc.Put(ctx, fmt.Sprintf("ours/%d", i%16), data); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(algo.name+"/get", func(b *testing.B) {
			wrapped, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, &key.PublicKey, dataKey, label)
			aead, _ := algo.aead(dataKey)
			if err := st.Put(ctx, "limit/get", aead.Seal(make([]byte, 3+len(wrapped)+len(nonce)), nonce, data, nil)); err != nil {
				b.Fatal(err)
			}
			envelope := make([]byte, len(data)+overhead)
			plain := make([]byte, 0, len(data))
			benchclock.Alternate(b, func(int) {
				r, err := st.Get(ctx, "limit/get", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r, envelope); err != nil {
					b.Fatal(err)
				}
				r.Close()
				k, err := rsa.DecryptOAEP(sha256.New(), nil, key, wrapped, label)
				if err != nil {
					b.Fatal(err)
				}
				aead, _ := algo.aead(k)
				if plain, err = aead.Open(plain[:0], nonce, envelope[3+len(wrapped)+len(nonce):], nil); err != nil {
					b.Fatal(err)
				}
			}, func(int) {
				r, err := enc.Get(ctx, "ours/0", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r, plain[:len(data)]); err != nil {
					b.Fatal(err)
				}
				r.Close()
			})
		})
	}
}
