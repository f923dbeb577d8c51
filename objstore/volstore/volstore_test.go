package volstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
	"github.com/rueidisfs/rueidisfs/objstore/volstore"
)

func TestMain(m *testing.M) { s3test.Main(m) }

// fixture is where the official client's encrypted volumes are kept.
const fixture = "../encrypt/testdata/official"

func readPEM(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join(fixture, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func open(t *testing.T, f *codec.Format) objstore.Store {
	t.Helper()
	st, err := volstore.Open(context.Background(), f, volstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sealed returns f with its secrets sealed, as formats are stored.
func sealed(t *testing.T, f *codec.Format) *codec.Format {
	if f.UUID == "" {
		f.UUID = "0bd2b7d2-4c4e-4a06-9a8b-2a1b1e59a3a0"
	}
	if err := f.EncryptSecrets(rand.Reader); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestStacks runs the behaviour suite through whole stacks, each as a
// volume's format describes it: the backend (or shards of it), the volume
// prefix, encryption.
func TestStacks(t *testing.T) {
	srv := s3test.Shared(t)
	t.Setenv("JFS_RSA_PASSPHRASE", "fixture-pass")
	for _, c := range []struct {
		name      string
		format    func(t *testing.T) *codec.Format
		encrypted bool
	}{
		{"file", func(t *testing.T) *codec.Format {
			return &codec.Format{Name: "vol", Storage: "file", Bucket: t.TempDir() + "/"}
		}, false},
		{"file shards encrypted", func(t *testing.T) *codec.Format {
			return sealed(t, &codec.Format{Name: "vol", Storage: "file", Bucket: t.TempDir() + "/jfs-%d/", Shards: 3,
				EncryptKey: readPEM(t, "key-pkcs8-enc.pem"), EncryptAlgo: "chacha20-rsa"})
		}, true},
		{"s3", func(t *testing.T) *codec.Format {
			return sealed(t, &codec.Format{Name: "vol", Storage: "s3", Bucket: srv.Endpoint + "/" + srv.MakeBucket(t),
				AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
		}, false},
		{"minio shards encrypted", func(t *testing.T) *codec.Format {
			prefix := srv.BucketName("shard")
			for i := range 2 {
				if err := os.Mkdir(filepath.Join(srv.Dir, prefix+"-"+string(rune('0'+i))), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			return sealed(t, &codec.Format{Name: "vol", Storage: "minio", Bucket: srv.Endpoint + "/" + prefix + "-%d", Shards: 2,
				AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, EncryptKey: readPEM(t, "key-legacy-enc.pem")})
		}, true},
	} {
		opts := storetest.Options{Listed: 15}
		if c.encrypted {
			opts.StoredSize = func(n int64) int64 { return n + 287 }
		}
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) objstore.Store { return open(t, c.format(t)) }, opts)
		})
	}
}

// TestOfficialVolumes opens the official client's encrypted volumes from
// their stored formats (secrets sealed with the UUID) and reads a file.
func TestOfficialVolumes(t *testing.T) {
	t.Setenv("JFS_RSA_PASSPHRASE", "fixture-pass")
	hello, err := os.ReadFile(filepath.Join(fixture, "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, setting := range []string{"setting-1.json", "setting-2.json"} {
		b, err := os.ReadFile(filepath.Join(fixture, setting))
		if err != nil {
			t.Fatal(err)
		}
		var f codec.Format
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatal(err)
		}
		f.Bucket = filepath.Join(fixture, "bucket") + "/"
		st := open(t, &f)
		if !strings.HasSuffix(st.String(), "/"+f.Name+"/(encrypted)") {
			t.Errorf("named %s", st)
		}
		got, err := objstore.ReadAll(context.Background(), st, objstore.BlockKey(false, 1, 0, len(hello)), 0, -1)
		if err != nil || !bytes.Equal(got, hello) {
			t.Errorf("%s: %q, %v", setting, got, err)
		}
		if !f.KeyEncrypted {
			t.Error("Open changed the caller's format")
		}
	}
}

// TestBadFormats: one line saying what is wrong, for each.
func TestBadFormats(t *testing.T) {
	dir := t.TempDir()
	pkcs1, protected := readPEM(t, "key-pkcs1.pem"), readPEM(t, "key-pkcs8-enc.pem")
	for _, c := range []struct {
		f          codec.Format
		passphrase string
		says       string
	}{
		{codec.Format{Name: "v", Storage: "gs", Bucket: "gs://b"}, "", `storage "gs": object storage type not supported by rueidisfs (rueidisfs reaches file, s3, minio)`},
		{codec.Format{Name: "v", Storage: "file"}, "", "bucket is empty"},
		{codec.Format{Name: "v", Storage: "file", Bucket: dir, Shards: 4}, "", "integer verb"},
		{codec.Format{Name: "v", Storage: "s3", Bucket: "ftp://h/b"}, "", "scheme must be http or https"},
		{codec.Format{Name: "v", Storage: "minio", Bucket: "http://h:9000"}, "", "no bucket name"},
		{codec.Format{Name: "v", Storage: "file", Bucket: dir, EncryptKey: "not a key"}, "", "not a PEM private key"},
		{codec.Format{Name: "v", Storage: "file", Bucket: dir, EncryptKey: protected}, "", "protected by a passphrase: set JFS_RSA_PASSPHRASE"},
		{codec.Format{Name: "v", Storage: "file", Bucket: dir, EncryptKey: protected}, "nope", "JFS_RSA_PASSPHRASE does not open"},
		{codec.Format{Name: "v", Storage: "file", Bucket: dir, EncryptKey: pkcs1, EncryptAlgo: "sm4gcm"}, "", "not supported by rueidisfs"},
		{codec.Format{Name: "v", Storage: "file", Bucket: dir, EncryptKey: pkcs1, EncryptAlgo: "des"}, "", `unknown encryption algorithm "des"`},
		{codec.Format{Name: "v", UUID: "0bd2b7d2-4c4e-4a06-9a8b-2a1b1e59a3a0", Storage: "file", Bucket: dir, EncryptKey: "AAAA", KeyEncrypted: true}, "", "EncryptKey"},
	} {
		t.Setenv("JFS_RSA_PASSPHRASE", c.passphrase)
		_, err := volstore.Open(context.Background(), &c.f, volstore.Options{})
		if err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want %q", c.f, err, c.says)
		}
	}
	f := codec.Format{Name: "v", Storage: "gs", Bucket: "gs://b"}
	if _, err := volstore.Open(context.Background(), &f, volstore.Options{}); !errors.Is(err, volstore.ErrUnsupported) {
		t.Errorf("unknown storage: %v", err)
	}
}
