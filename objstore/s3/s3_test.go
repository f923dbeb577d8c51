package s3_test

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/s3"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
)

func TestMain(m *testing.M) { s3test.Main(m) }

var testKeys = s3.Credentials{AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}

// open opens a store on the shared server with quick retries.
func open(t *testing.T, storage, bucketURL string, cred s3.Credentials, opts s3.Options) *s3.Store {
	t.Helper()
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 20 * time.Millisecond
	}
	st, err := s3.New(s3test.Context(t), storage, bucketURL, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSuite runs the behaviour suite against versitygw, listing in pages
// of 7 keys so that every listing spans several requests.
func TestSuite(t *testing.T) {
	srv := s3test.Shared(t)
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return open(t, "s3", srv.Endpoint+"/"+srv.MakeBucket(t), testKeys, s3.Options{PageSize: 7})
	}, storetest.Options{})
}

// TestMinioSuite runs it again as the `minio` storage, below a volume
// prefix.
func TestMinioSuite(t *testing.T) {
	srv := s3test.Shared(t)
	storetest.Run(t, func(t *testing.T) objstore.Store {
		st := open(t, "minio", srv.Endpoint+"/"+srv.MakeBucket(t), testKeys, s3.Options{PageSize: 5})
		return objstore.WithPrefix(st, "myjfs/")
	}, storetest.Options{Listed: 12})
}

// TestBucketURLs reaches one bucket through every URL form that names an
// S3-compatible service, and checks the name each store gives itself.
func TestBucketURLs(t *testing.T) {
	srv := s3test.Shared(t)
	bucket := srv.MakeBucket(t)
	host := strings.TrimPrefix(srv.Endpoint, "http://")
	port := host[strings.IndexByte(host, ':'):]
	for _, c := range []struct{ storage, url, name string }{
		{"s3", srv.Endpoint + "/" + bucket, "s3://" + host + "/" + bucket + "/"},
		{"s3", srv.Endpoint + "/" + bucket + "/", "s3://" + host + "/" + bucket + "/"},
		{"s3", host + "/" + bucket, "s3://" + host + "/" + bucket + "/"},
		{"s3", "http://" + bucket + ".localhost" + port, "s3://localhost" + port + "/" + bucket + "/"},
		{"s3", srv.Endpoint + "/" + bucket + "?disable-100-continue=true&tls-insecure-skip-verify=true", "s3://" + host + "/" + bucket + "/"},
		{"minio", srv.Endpoint + "/" + bucket, "minio://" + host + "/" + bucket + "/"},
		{"minio", host + "/" + bucket, "minio://" + host + "/" + bucket + "/"},
		{"minio", srv.Endpoint + "/minio/" + bucket + "?region=us-east-1", "minio://" + host + "/" + bucket + "/"},
	} {
		st := open(t, c.storage, c.url, testKeys, s3.Options{})
		if st.String() != c.name {
			t.Errorf("%s %s: named %s, want %s", c.storage, c.url, st, c.name)
		}
		key := "k-" + c.storage
		if err := st.Put(s3test.Context(t), key, []byte(c.url)); err != nil {
			t.Errorf("%s %s: %v", c.storage, c.url, err)
			continue
		}
		got, err := objstore.ReadAll(s3test.Context(t), st, key, 0, -1)
		if err != nil || string(got) != c.url {
			t.Errorf("%s %s: read back %q, %v", c.storage, c.url, got, err)
		}
	}
}

// TestCredentials checks where keys come from and what wrong ones say.
func TestCredentials(t *testing.T) {
	srv := s3test.Shared(t)
	url := srv.Endpoint + "/" + srv.MakeBucket(t)
	ctx := s3test.Context(t)

	// Wrong keys: one line naming the request, the service's reason and
	// what to check; not tried again.
	for _, cred := range []s3.Credentials{
		{AccessKey: s3test.AccessKey, SecretKey: "wrong"},
		{AccessKey: "nobody", SecretKey: "wrong"},
		{AccessKey: "anonymous"},
	} {
		st := open(t, "s3", url, cred, s3.Options{})
		err := st.Put(ctx, "x", []byte("x"))
		var s3err *s3.Error
		if !errors.As(err, &s3err) || s3err.Tries != 1 || !strings.Contains(err.Error(), "check the access key and secret key") ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("keys %+v: %v", cred, err)
		}
	}

	// No keys in the format: the SDK's chain, here the environment.
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	if err := open(t, "s3", url, s3.Credentials{}, s3.Options{}).Put(ctx, "env", []byte("x")); err != nil {
		t.Errorf("keys from AWS_ACCESS_KEY_ID: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	// minio reads its own variables first.
	t.Setenv("MINIO_ACCESS_KEY", s3test.AccessKey)
	t.Setenv("MINIO_SECRET_KEY", s3test.SecretKey)
	if err := open(t, "minio", url, s3.Credentials{}, s3.Options{}).Put(ctx, "env", []byte("x")); err != nil {
		t.Errorf("keys from MINIO_ACCESS_KEY: %v", err)
	}
}

// TestChecksum checks the CRC-32C juicefs records with every object: a
// whole read of an object whose bytes changed on the server fails as
// corrupt, a range read does not check, and disable-checksum=true neither
// writes nor checks it.
func TestChecksum(t *testing.T) {
	srv := s3test.Shared(t)
	bucket := srv.MakeBucket(t)
	ctx := s3test.Context(t)
	st := open(t, "s3", srv.Endpoint+"/"+bucket, testKeys, s3.Options{})
	data := storetest.Data(1, 10000)
	if err := st.Put(ctx, "obj", data); err != nil {
		t.Fatal(err)
	}
	// Change a byte behind the server's back (its posix backend keeps
	// the object as a plain file).
	corruptFile(t, srv, bucket, "obj")
	if _, err := objstore.ReadAll(ctx, st, "obj", 0, -1); !errors.Is(err, objstore.ErrCorrupt) {
		t.Errorf("whole read of a corrupted object: %v", err)
	}
	if got, err := objstore.ReadAll(ctx, st, "obj", 10, 100); err != nil || !bytes.Equal(got, data[10:110]) {
		t.Errorf("range read of a corrupted object: %v", err)
	}
	unchecked := open(t, "s3", srv.Endpoint+"/"+bucket+"?disable-checksum=true", testKeys, s3.Options{})
	if _, err := objstore.ReadAll(ctx, unchecked, "obj", 0, -1); err != nil {
		t.Errorf("with disable-checksum: %v", err)
	}
	if err := unchecked.Put(ctx, "obj2", data); err != nil {
		t.Fatal(err)
	}
	corruptFile(t, srv, bucket, "obj2")
	if _, err := objstore.ReadAll(ctx, st, "obj2", 0, -1); err != nil {
		t.Errorf("an object written without a checksum: %v", err)
	}
}

// TestMissingBucket: a clear line, and Create makes it.
func TestMissingBucket(t *testing.T) {
	srv := s3test.Shared(t)
	ctx := s3test.Context(t)
	st := open(t, "s3", srv.Endpoint+"/"+srv.BucketName("new"), testKeys, s3.Options{})
	err := st.Put(ctx, "x", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") || !strings.Contains(err.Error(), "create the bucket") {
		t.Errorf("put into a missing bucket: %v", err)
	}
	for _, err := range st.List(ctx, "", "") {
		if !errors.Is(err, objstore.ErrNoBucket) || !strings.Contains(err.Error(), "NoSuchBucket") {
			t.Errorf("listing a missing bucket: %v", err)
		}
	}
	for range 2 { // creating an existing bucket is no error
		if err := st.Create(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Put(ctx, "x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Head(ctx, "y"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("head of a missing object: %v", err)
	}
}

// TestUnreachable: a server that is not there is tried again, then named.
func TestUnreachable(t *testing.T) {
	st := open(t, "s3", "http://127.0.0.1:1/bucket", testKeys, s3.Options{Attempts: 3})
	_, err := st.Head(s3test.Context(t), "x")
	var s3err *s3.Error
	if !errors.As(err, &s3err) || s3err.Tries != 3 || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable server: %v", err)
	}
}

// corruptFile flips a byte of an object in the server's directory.
func corruptFile(t *testing.T, srv *s3test.Server, bucket, key string) {
	t.Helper()
	p := filepath.Join(srv.Dir, bucket, key)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStorageClass: objects are put with the volume's storage class and
// tag (seen on the wire: versitygw keeps neither), and Head tells the
// class, STANDARD when S3 names none.
func TestStorageClass(t *testing.T) {
	srv := s3test.Shared(t)
	ctx := s3test.Context(t)
	proxy, endpoint := startProxy(t, srv.Endpoint)
	url := endpoint + "/" + srv.MakeBucket(t)
	var header http.Header
	record := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		header = r.Header.Clone()
		next.ServeHTTP(w, r)
	}
	plain := open(t, "s3", url, testKeys, s3.Options{})
	proxy.then(record)
	if err := plain.Put(ctx, "plain", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if header.Get("X-Amz-Storage-Class") != "" || header.Get("X-Amz-Tagging") != "" || header.Get("X-Amz-Meta-Crc32c") != "2839306131" { // the CRC-32C of "x", in decimal
		t.Errorf("plain put sent %v", header)
	}
	if o, err := plain.Head(ctx, "plain"); err != nil || o.StorageClass != "STANDARD" {
		t.Errorf("default class: %+v %v", o, err)
	}
	classed := open(t, "s3", url, testKeys, s3.Options{StorageClass: "STANDARD_IA", Tag: "team=storage/jfs 1"})
	proxy.then(record)
	if err := classed.Put(ctx, "ia", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if header.Get("X-Amz-Storage-Class") != "STANDARD_IA" || header.Get("X-Amz-Tagging") != "team=storage%2Fjfs+1" {
		t.Errorf("put sent %v", header)
	}
}
