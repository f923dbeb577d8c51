package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
)

func TestObjbench(t *testing.T) {
	small := []string{"--block-size", "64K", "--big-object-size", "1M", "--small-object-size", "4K", "--small-objects", "10", "-p", "3"}
	bucket := t.TempDir()
	r := run(t, append([]string{"objbench", bucket}, small...)...).ok(t)
	for _, want := range []string{
		"Start Functional Testing ...\n+----------+---------------------+-------------+\n| CATEGORY |         TEST        |    RESULT   |\n",
		"|    basic |     create a bucket |        pass |\n",
		"|     sync |    multipart upload | not support |\n",
		"Start Performance Testing ...\nBenchmark finished! block-size: 64 KiB, big-object-size: 1.0 MiB, small-object-size: 4.0 KiB, small-objects: 10, NumThreads: 3\n",
		"|        ITEM        |", " MiB/s |", " ms/ 26 objects |", "| change permissions |",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("objbench output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "failed") || strings.Count(r.stdout, "pass |") != 12 {
		t.Errorf("objbench on a file bucket:\n%s", r.stdout)
	}
	if entries, _ := os.ReadDir(bucket); len(entries) != 0 {
		t.Errorf("objbench left %v in the bucket", entries)
	}

	// An S3 bucket, keys from the environment as juicefs reads them; the
	// insecure TLS option is warned about.
	srv := s3test.Shared(t)
	s := session{env: map[string]string{"ACCESS_KEY": s3test.AccessKey, "SECRET_KEY": s3test.SecretKey}}
	name := srv.MakeBucket(t)
	r = s.run(t, append([]string{"objbench", "--storage", "s3", srv.Endpoint + "/" + name + "?tls-insecure-skip-verify=true", "--skip-functional-tests"}, small...)...).ok(t)
	if !strings.Contains(r.stderr, "tls-insecure-skip-verify turns TLS certificate verification OFF (insecure)") {
		t.Errorf("no warning about tls-insecure-skip-verify:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "Functional") || strings.Contains(r.stdout, "failed") || !strings.Contains(r.stdout, "|     upload objects |") {
		t.Errorf("objbench on s3:\n%s\n%s", r.stdout, r.stderr)
	}
	var left []string
	_ = filepath.WalkDir(filepath.Join(srv.Dir, name), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, ".sgwtmp") {
			left = append(left, p)
		}
		return err
	})
	if len(left) != 0 {
		t.Errorf("objbench left %q", left)
	}

	// Bad input: one line each.
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"objbench", bucket, "--small-objects", "0"}, "--small-objects and --threads must be more than 0"},
		{[]string{"objbench", bucket, "--block-size", "0"}, `invalid value "0" for --block-size`},
		{[]string{"objbench", "s3://bucket"}, "looks like a URL, not a directory: add --storage TYPE"},
		{[]string{"objbench", "--storage", "gs", "gs://b"}, `storage "gs": object storage type not supported by rueidisfs`},
		{[]string{"objbench", "--storage", "s3", "ftp://x/b"}, "the scheme must be http or https"},
		{[]string{"objbench"}, "requires"},
	} {
		run(t, c.args...).fails(t, c.says)
	}
}
