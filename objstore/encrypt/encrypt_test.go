package encrypt_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rueidisfs/rueidisfs/compress"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/encrypt"
	"github.com/rueidisfs/rueidisfs/objstore/file"
	"github.com/rueidisfs/rueidisfs/objstore/mem"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
)

const official = "testdata/official"

func readKey(t testing.TB, name, passphrase string) *rsa.PrivateKey {
	t.Helper()
	pemText, err := os.ReadFile(filepath.Join(official, name))
	if err != nil {
		t.Fatal(err)
	}
	key, err := encrypt.ParseKey(string(pemText), passphrase)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return key
}

// overhead is the envelope of a 2048-bit key: 3 + 256 + 12 + 16.
const overhead = 287

func TestSuite(t *testing.T) {
	key := readKey(t, "key-pkcs1.pem", "")
	for _, algo := range []string{encrypt.AES256GCM, encrypt.ChaCha20} {
		t.Run(algo, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) objstore.Store {
				st, err := encrypt.New(mem.New(), key, algo)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}, storetest.Options{StoredSize: func(n int64) int64 { return n + overhead }})
		})
	}
}

func TestParseKey(t *testing.T) {
	for _, c := range []struct {
		file, passphrase string
		err              error
	}{
		{"key-pkcs1.pem", "", nil},
		{"key-pkcs1.pem", "unused", nil},
		{"key-pkcs8.pem", "", nil},
		{"key-pkcs8.pem", "unused", nil},
		{"key-pkcs8-enc.pem", "fixture-pass", nil},
		{"key-pkcs8-enc.pem", "", encrypt.ErrNeedPassphrase},
		{"key-pkcs8-enc.pem", "wrong", encrypt.ErrWrongPassphrase},
		{"key-legacy-enc.pem", "fixture-pass", nil},
		{"key-legacy-enc.pem", "", encrypt.ErrNeedPassphrase},
		{"key-legacy-enc.pem", "wrong", encrypt.ErrWrongPassphrase},
	} {
		pemText, err := os.ReadFile(filepath.Join(official, c.file))
		if err != nil {
			t.Fatal(err)
		}
		key, err := encrypt.ParseKey(string(pemText), c.passphrase)
		if !errors.Is(err, c.err) || (err == nil) != (key != nil) {
			t.Errorf("%s with %q: %v, want %v", c.file, c.passphrase, err, c.err)
		}
		if err != nil && (!strings.Contains(err.Error(), "JFS_RSA_PASSPHRASE") || strings.Contains(err.Error(), "\n")) {
			t.Errorf("%s: the error does not say what to do: %v", c.file, err)
		}
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	for pemText, says := range map[string]string{
		"":                  "not a PEM private key",
		"-----BEGIN X-----": "not a PEM private key",
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})):            "ECDSA key: rueidisfs encrypts data with RSA keys only",
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")})): "neither a PKCS #1 nor a PKCS #8 key",
	} {
		if _, err := encrypt.ParseKey(pemText, ""); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("ParseKey(%.30q): %v, want %q", pemText, err, says)
		}
	}
}

func TestAlgorithms(t *testing.T) {
	key := readKey(t, "key-pkcs1.pem", "")
	for algo, ok := range map[string]bool{"": true, encrypt.AES256GCM: true, encrypt.ChaCha20: true, encrypt.SM4GCM: false, "rot13": false} {
		_, err := encrypt.New(mem.New(), key, algo)
		if (err == nil) != ok {
			t.Errorf("algorithm %q: %v", algo, err)
		}
	}
}

// TestEnvelope checks the bytes written: one envelope per object with a
// fresh key and nonce, and that any change to them is caught.
func TestEnvelope(t *testing.T) {
	ctx := context.Background()
	key := readKey(t, "key-pkcs1.pem", "")
	below := mem.New()
	st, err := encrypt.New(below, key, encrypt.AES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	data := storetest.Data(1, 5000)
	if err := st.Put(ctx, "a", data); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "b", data); err != nil {
		t.Fatal(err)
	}
	a, _ := objstore.ReadAll(ctx, below, "a", 0, -1)
	b, _ := objstore.ReadAll(ctx, below, "b", 0, -1)
	if len(a) != len(data)+overhead || !bytes.Equal(a[:3], []byte{1, 0, 12}) {
		t.Fatalf("envelope of %d bytes starting % x", len(a), a[:3])
	}
	if bytes.Equal(a[3:3+256+12], b[3:3+256+12]) || bytes.Equal(a[3+256:3+256+12], b[3+256:3+256+12]) {
		t.Error("two objects share their wrapped key or nonce")
	}
	if bytes.Contains(a, data[:64]) {
		t.Error("the plaintext shows in the envelope")
	}
	// Ranges are cut from the opened object.
	for _, r := range [][2]int64{{0, -1}, {100, 200}, {4990, 100}, {5000, 1}, {9999, -1}} {
		got, err := objstore.ReadAll(ctx, st, "a", r[0], r[1])
		end := len(data)
		if r[1] >= 0 {
			end = min(end, int(r[0]+r[1]))
		}
		start := min(int(r[0]), len(data))
		if err != nil || !bytes.Equal(got, data[start:max(start, end)]) {
			t.Errorf("range %v: %d bytes, %v", r, len(got), err)
		}
	}
	// Bodies read in any way give the same bytes, and nothing once closed.
	for _, r := range [][2]int64{{0, -1}, {0, 5000}, {10, 4000}, {4999, -1}} {
		body, err := st.Get(ctx, "a", r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		end := len(data)
		if r[1] >= 0 {
			end = int(r[0] + r[1])
		}
		if err := iotest.TestReader(body, data[r[0]:end]); err != nil {
			t.Errorf("range %v: %v", r, err)
		}
		body.Close()
		if n, err := body.Read(make([]byte, 10)); n != 0 || err == nil {
			t.Errorf("read after close: %d, %v", n, err)
		}
	}
	// Damaged envelopes are corrupt objects, never wrong bytes.
	other := readKey(t, "key-pkcs8.pem", "")
	wrongKey, _ := encrypt.New(below, other, encrypt.AES256GCM)
	wrongAlgo, _ := encrypt.New(below, key, encrypt.ChaCha20)
	damage := map[string]func([]byte) []byte{
		"empty":        func(b []byte) []byte { return nil },
		"two bytes":    func(b []byte) []byte { return b[:2] },
		"header only":  func(b []byte) []byte { return b[:3+256+12] },
		"long key":     func(b []byte) []byte { b[0] = 0xff; return b },
		"wrapped key":  func(b []byte) []byte { b[10] ^= 1; return b },
		"nonce":        func(b []byte) []byte { b[3+256] ^= 1; return b },
		"nonce length": func(b []byte) []byte { b[2] = 8; return b },
		"ciphertext":   func(b []byte) []byte { b[1000] ^= 1; return b },
		"tag":          func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		"truncated":    func(b []byte) []byte { return b[:len(b)-1] },
		"extended":     func(b []byte) []byte { return append(b, 0) },
	}
	for name, f := range damage {
		if err := below.Put(ctx, "d", f(bytes.Clone(a))); err != nil {
			t.Fatal(err)
		}
		if _, err := objstore.ReadAll(ctx, st, "d", 0, -1); !errors.Is(err, objstore.ErrCorrupt) || !strings.Contains(err.Error(), "decrypt d: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, s := range map[string]*encrypt.Store{"another key": wrongKey, "another algorithm": wrongAlgo} {
		if _, err := objstore.ReadAll(ctx, s, "a", 0, -1); !errors.Is(err, objstore.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := objstore.ReadAll(ctx, st, "missing", 0, -1); errors.Is(err, objstore.ErrCorrupt) || err == nil {
		t.Errorf("missing object: %v", err)
	}
}

// volume is one of the official fixture's volumes.
type volume struct {
	name, setting, key, passphrase, algo, compression string
}

var volumes = []volume{
	{"enc-aes", "setting-1.json", "key-pkcs1.pem", "", encrypt.AES256GCM, "none"},
	{"enc-chacha", "setting-2.json", "key-pkcs8-enc.pem", "fixture-pass", encrypt.ChaCha20, "none"},
	{"enc-lz4", "setting-3.json", "key-legacy-enc.pem", "fixture-pass", encrypt.AES256GCM, "lz4"},
}

// fileHashes are the files each volume holds, by size.
var fileHashes = map[int]string{
	23:     "219397aff37b18df32d99a52d18fbe0e01c4a661016fb892df674c6e53f52c1a",
	150000: "4502cf6990999c4e246af8ecf9dcd626773e9b780b48bd4aacded573dfce69ee",
	156000: "e10acc494a70cd76c08b566cf25907657bbf31b3c3004a2bbdc627d07e15b3e2",
}

// TestOfficialObjects opens every object the official client wrote on
// the fixture's encrypted volumes and compares the files they make up.
func TestOfficialObjects(t *testing.T) {
	ctx := context.Background()
	bucket, err := file.New(filepath.Join(official, "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range volumes {
		st, err := encrypt.New(objstore.WithPrefix(bucket, v.name+"/"), readKey(t, v.key, v.passphrase), v.algo)
		if err != nil {
			t.Fatal(err)
		}
		slices := map[uint64][]string{}
		for o, err := range st.List(ctx, objstore.ChunksPrefix, "") {
			if err != nil {
				t.Fatal(err)
			}
			id, _, _, ok := objstore.ParseBlockName(o.Key[strings.LastIndexByte(o.Key, '/')+1:])
			if !ok {
				t.Fatalf("%s: %s", v.name, o.Key)
			}
			slices[id] = append(slices[id], o.Key)
		}
		found := map[string]bool{}
		for id, keys := range slices {
			sort.Slice(keys, func(i, j int) bool { return blockIndex(keys[i]) < blockIndex(keys[j]) })
			var content []byte
			for _, k := range keys {
				block, err := objstore.ReadAll(ctx, st, k, 0, -1)
				if err != nil {
					t.Fatalf("%s: %v", v.name, err)
				}
				_, _, size, _ := objstore.ParseBlockName(k[strings.LastIndexByte(k, '/')+1:])
				if block, err = decompress(v.compression, block, size); err != nil {
					t.Fatalf("%s %s: %v", v.name, k, err)
				}
				content = append(content, block...)
			}
			sum := sha256.Sum256(content)
			if want := fileHashes[len(content)]; hex.EncodeToString(sum[:]) != want {
				t.Errorf("%s: slice %d (%d bytes) differs from the file written", v.name, id, len(content))
			}
			found[hex.EncodeToString(sum[:])] = true
		}
		if len(found) != len(fileHashes) {
			t.Errorf("%s: %d of %d files found", v.name, len(found), len(fileHashes))
		}
		// juicefs_uuid holds the volume's UUID, encrypted too.
		uuid, err := objstore.ReadAll(ctx, st, "juicefs_uuid", 0, -1)
		if err != nil || string(uuid) != settingUUID(t, v.setting) {
			t.Errorf("%s: juicefs_uuid %q, %v", v.name, uuid, err)
		}
	}
}

func blockIndex(key string) int {
	_, i, _, _ := objstore.ParseBlockName(key[strings.LastIndexByte(key, '/')+1:])
	return i
}

func decompress(algo string, body []byte, size int) ([]byte, error) {
	c, err := compress.New(algo)
	if err != nil {
		return nil, err
	}
	out := make([]byte, size)
	return out, c.Decompress(out, body)
}

func settingUUID(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join(official, name))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ UUID string }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.UUID
}

// FuzzOpen: whatever bytes an object holds, opening it fails as corrupt
// or gives back what was sealed; it never panics.
func FuzzOpen(f *testing.F) {
	key := readKey(f, "key-pkcs1.pem", "")
	st, err := encrypt.New(mem.New(), key, encrypt.AES256GCM)
	if err != nil {
		f.Fatal(err)
	}
	good, err := st.Seal([]byte("sealed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{1, 0, 12})
	f.Add([]byte{0, 0, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, envelope []byte) {
		plain, err := st.Open(bytes.Clone(envelope))
		if err != nil && !errors.Is(err, objstore.ErrCorrupt) {
			t.Errorf("not a corrupt object: %v", err)
		}
		if err == nil && string(plain) != "sealed" {
			t.Errorf("opened as %q", plain)
		}
	})
}

// FuzzParseKey: any text is a key or one error, never a panic.
func FuzzParseKey(f *testing.F) {
	for _, name := range []string{"key-pkcs1.pem", "key-pkcs8.pem", "key-pkcs8-enc.pem", "key-legacy-enc.pem"} {
		b, err := os.ReadFile(filepath.Join(official, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "fixture-pass")
	}
	f.Fuzz(func(t *testing.T, pemText, passphrase string) {
		key, err := encrypt.ParseKey(pemText, passphrase)
		if (key == nil) == (err == nil) {
			t.Errorf("key %v, error %v", key != nil, err)
		}
	})
}
