package fileio_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sync"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
)

var (
	rsaKeys [2]struct {
		once sync.Once
		pem  string
	}
)

// testKey is an RSA key (PKCS#1 PEM) for encrypted volumes, made once;
// otherKey another one.
func testKey(t *testing.T) string  { return rsaKey(t, 0) }
func otherKey(t *testing.T) string { return rsaKey(t, 1) }

func rsaKey(t *testing.T, i int) string {
	k := &rsaKeys[i]
	k.once.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.pem = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	})
	return k.pem
}

// TestStorageMatrix writes and reads files of several shapes through the
// whole stack volstore builds from the format: on a `file` bucket with
// every combination of encryption (none, AES-256-GCM, ChaCha20-Poly1305)
// and compression, and on a real S3 server with three of them (the
// storage is independent of the framing above it).
func TestStorageMatrix(t *testing.T) {
	type combo struct{ storage, algo, comp string }
	var combos []combo
	for _, algo := range []string{"", "aes256gcm-rsa", "chacha20-rsa"} {
		for _, comp := range []string{"none", "lz4", "zstd"} {
			combos = append(combos, combo{"file", algo, comp})
		}
	}
	combos = append(combos, combo{"s3", "", "none"}, combo{"s3", "aes256gcm-rsa", "zstd"}, combo{"s3", "chacha20-rsa", "lz4"})
	for _, c := range combos {
		t.Run(fmt.Sprintf("%s/%s/%s", c.storage, c.algo, c.comp), func(t *testing.T) {
			t.Parallel()
			v := newVolume(t, volumeOpts{compression: c.comp, stack: func(f *codec.Format) {
				if c.storage == "s3" {
					srv := s3test.Shared(t)
					f.Storage, f.Bucket = "s3", srv.Endpoint+"/"+srv.MakeBucket(t)
					f.AccessKey, f.SecretKey = s3test.AccessKey, s3test.SecretKey
				}
				if c.algo != "" {
					f.EncryptKey, f.EncryptAlgo = testKey(t), c.algo
				}
			}})
			checkShapes(t, v)
		})
	}
}

// checkShapes writes a few shapes of files and reads them back through a
// fresh chunk store (no cached block), so that every block comes from the
// storage.
func checkShapes(t *testing.T, v *volume) {
	shapes := map[string][][2]int{ // writes: offset, length
		"small":       {{0, 13}},
		"one block":   {{0, 65536}},
		"many blocks": {{0, 3*65536 + 7}},
		"sparse":      {{0, 100}, {200000, 5000}, {64<<20 - 10, 30}},
		"overwritten": {{0, 150000}, {1000, 20000}, {50000, 70000}, {1000, 5}},
	}
	want := map[string]model{}
	for name, writes := range shapes {
		f := v.create(name)
		var m model
		for i, w := range writes {
			p := randomBytes(uint64(i*7+len(name)), w[1])
			if _, err := f.WriteAt(ctx, p, int64(w[0])); err != nil {
				t.Fatal(err)
			}
			m.writeAt(p, w[0])
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(ctx); err != nil {
			t.Fatal(err)
		}
		want[name] = m
	}
	fs := v.freshReader(t)
	for name, m := range want {
		ino := v.open(name, 0).Ino()
		f, _, err := fs.Open(ctx, ino, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := f.WriteTo(ctx, &got, 1<<20); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f.Close(ctx)
		if !bytes.Equal(got.Bytes(), m) {
			t.Errorf("%s: read back differs at %d", name, firstDiff(got.Bytes(), m))
		}
	}
}
