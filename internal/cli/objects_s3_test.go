package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
)

// encryptedKey is a passphrase-protected key of the official fixtures.
const encryptedKey = "../../objstore/encrypt/testdata/official/key-pkcs8-enc.pem"

// TestS3Volume takes an encrypted volume on a real S3 server through the
// commands that touch its objects: format (bucket created, test object,
// juicefs_uuid, emptiness check), put and cat, gc finding and deleting a
// leaked object, fsck finding a lost block, destroy.
func TestS3Volume(t *testing.T) {
	srv := s3test.Shared(t)
	url, srv2, db := newDB(t)
	bucket := srv.BucketName("cli")
	dir := filepath.Join(srv.Dir, bucket)
	s := session{env: map[string]string{"JFS_RSA_PASSPHRASE": "fixture-pass", "JFS_GC_SKIPPEDTIME": "0"}}
	storage := []string{"--storage", "s3", "--bucket", srv.Endpoint + "/" + bucket,
		"--access-key", s3test.AccessKey, "--secret-key", s3test.SecretKey}
	r := s.run(t, append([]string{"format", url, "vol", "--encrypt-rsa-key", encryptedKey, "--trash-days", "0"}, storage...)...).ok(t)
	if !hasLog(r.stderr, "INFO", "Data use s3://"+strings.TrimPrefix(srv.Endpoint, "http://")+"/"+bucket+"/vol/(encrypted)") {
		t.Errorf("format log:\n%s", r.stderr)
	}
	if fi, err := os.Stat(filepath.Join(dir, "vol", "juicefs_uuid")); err != nil || fi.Size() != 36+287 {
		t.Errorf("juicefs_uuid: %v %v", fi, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "vol")); len(entries) != 1 {
		t.Errorf("the volume holds %v after format", entries)
	}

	// A second volume whose name already holds objects is refused.
	if err := os.MkdirAll(filepath.Join(dir, "vol2", "chunks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vol2", "chunks", "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	other, _, _ := newDB(t)
	s.run(t, append([]string{"format", other, "vol2"}, storage...)...).fails(t, "is not empty (it holds chunks/x); please clean it up or pick another volume name")

	// Files go through the chunk store, encrypted, and come back.
	data := bytes.Repeat([]byte("s3 and encryption "), 30000)
	local := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s.run(t, "put", url, local, "/f").ok(t)
	if got := s.run(t, "cat", url, "/f").ok(t).stdout; got != string(data) {
		t.Errorf("cat: %d bytes, want %d", len(got), len(data))
	}

	// gc: an object no slice knows is leaked, and --delete removes it.
	leaked := filepath.Join(dir, "vol", "chunks", "0", "0", "999_0_10")
	if err := os.WriteFile(leaked, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = s.run(t, "gc", url).ok(t)
	if !strings.Contains(r.stderr, "1 valid") || !strings.Contains(r.stderr, "1 leaked (10 bytes)") {
		t.Errorf("gc:\n%s", r.stderr)
	}
	s.run(t, "gc", url, "--delete").ok(t)
	if _, err := os.Stat(leaked); !os.IsNotExist(err) {
		t.Errorf("the leaked object is still there: %v", err)
	}
	s.run(t, "fsck", url).ok(t)

	// fsck: a lost block is named.
	blocks, _ := filepath.Glob(filepath.Join(dir, "vol", "chunks", "0", "0", "*"))
	if len(blocks) != 1 {
		t.Fatalf("blocks %q", blocks)
	}
	if err := os.Remove(blocks[0]); err != nil {
		t.Fatal(err)
	}
	r = s.run(t, "fsck", url).fails(t, "")
	if !strings.Contains(r.stderr, "can't find block 0/0/"+filepath.Base(blocks[0])+" for file /f") {
		t.Errorf("fsck:\n%s", r.stderr)
	}

	// config tests new storage settings before it records them.
	s.run(t, "config", url, "--secret-key", "wrong").fails(t, "check the access key and secret key")
	s.run(t, "config", url, "--secret-key", s3test.SecretKey).ok(t)

	// destroy deletes the objects, then the keys.
	uuid := storedFormat(t, url).UUID
	s.run(t, "destroy", url, uuid, "--force").ok(t)
	var left []string // the server keeps empty directories of its own
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "/.sgwtmp/") {
			left = append(left, strings.TrimPrefix(p, dir))
		}
		return err
	})
	if len(left) != 1 || left[0] != "/vol2/chunks/x" {
		t.Errorf("the bucket holds %q after destroy", left)
	}
	if n, _ := srv2.Do(t, db, "DBSIZE").AsInt64(); n != 0 {
		t.Errorf("%d keys left", n)
	}
}

// TestS3BadStorage: wrong keys, a missing passphrase and a bad bucket URL
// each stop format with one line, and leave no volume.
func TestS3BadStorage(t *testing.T) {
	srv := s3test.Shared(t)
	url, _, _ := newDB(t)
	bucket := srv.Endpoint + "/" + srv.MakeBucket(t)
	for _, c := range []struct {
		args []string
		env  map[string]string
		says string
	}{
		{[]string{"--storage", "s3", "--bucket", bucket, "--access-key", s3test.AccessKey, "--secret-key", "wrong"},
			nil, "check the access key and secret key"},
		{[]string{"--storage", "s3", "--bucket", bucket, "--access-key", s3test.AccessKey, "--secret-key", s3test.SecretKey, "--encrypt-rsa-key", encryptedKey},
			nil, "protected by a passphrase: set JFS_RSA_PASSPHRASE"},
		{[]string{"--storage", "s3", "--bucket", "ftp://nowhere/b"}, nil, "the scheme must be http or https"},
		{[]string{"--storage", "minio", "--bucket", "http://127.0.0.1:1"}, nil, "no bucket name"},
	} {
		r := session{env: c.env}.run(t, append([]string{"format", url, "bad"}, c.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.says) {
			t.Errorf("format %v: exit %d, want %q in:\n%s", c.args, r.code, c.says, r.stderr)
		}
		if fatal := logMessages(r.stderr, "FATAL"); len(fatal) != 1 || strings.Contains(fatal[0], "\n") {
			t.Errorf("format %v: not one line: %q", c.args, fatal)
		}
	}
	run(t, "status", url).fails(t, "database is not formatted")
}
