package objbench_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/file"
	"github.com/rueidisfs/rueidisfs/objstore/mem"
	"github.com/rueidisfs/rueidisfs/objstore/objbench"
	"github.com/rueidisfs/rueidisfs/objstore/s3"
	"github.com/rueidisfs/rueidisfs/objstore/s3/s3test"
	"github.com/rueidisfs/rueidisfs/objstore/storetest"
)

func TestMain(m *testing.M) { s3test.Main(m) }

var notSupported = map[string]bool{"multipart upload": true, "change owner/group": true, "change permission": true, "change mtime": true}

// versitygwFails are the checks versitygw v1.8.0 fails, for juicefs
// objbench too: it lists a key holding the control character U+001F with
// U+FFFD in its place, and refuses a key ending in "/" with a body.
var versitygwFails = map[string]string{
	"special key":         "list encode file failed",
	"put an empty object": "DirectoryObjectContainsData",
}

// stores are the storages the checks must pass on, each below a prefix
// as the command runs them.
func stores(t *testing.T) map[string]objstore.Store {
	srv := s3test.Shared(t)
	f, err := file.New(filepath.Join(t.TempDir(), "bucket"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := s3.New(context.Background(), "s3", srv.Endpoint+"/"+srv.MakeBucket(t),
		s3.Credentials{AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}, s3.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]objstore.Store{"mem": mem.New(), "file": f, "s3": s}
}

func TestFunctional(t *testing.T) {
	for name, st := range stores(t) {
		st = objstore.WithPrefix(st, "__bench__/")
		checks := objbench.Functional(context.Background(), st, 8<<20)
		if len(checks) != 16 {
			t.Fatalf("%s: %d checks", name, len(checks))
		}
		for _, c := range checks {
			want := objbench.Pass
			if notSupported[c.Test] {
				want = objbench.NotSupported
			}
			if fails, ok := versitygwFails[c.Test]; ok && name == "s3" {
				if c.Err == nil || !strings.Contains(c.Err.Error(), fails) {
					t.Errorf("%s: %s: %v, want the server's known failure %q", name, c.Test, c.Err, fails)
				}
				continue
			}
			if c.Result != want {
				t.Errorf("%s: %s %s: %s (%v)", name, c.Category, c.Test, c.Result, c.Err)
			}
		}
		if left := storetest.Listing(t, st, "", ""); len(left) != 0 {
			t.Errorf("%s: the checks left %q", name, left)
		}
	}
}

// TestFunctionalFailures: a store that breaks a rule is reported, with
// what failed, in a cell of juicefs's width.
func TestFunctionalFailures(t *testing.T) {
	st := mem.New()
	st.Fail = func(op, key string) error {
		if op == "get" && strings.HasPrefix(key, "put_test") {
			return errors.New("get refused by the test store for every key of this check")
		}
		return nil
	}
	for _, c := range objbench.Functional(context.Background(), st, 8<<20) {
		switch c.Test {
		case "get an object", "get partial object":
			if c.Err == nil || len(c.Result) != 48 || !strings.HasSuffix(c.Result, "...") {
				t.Errorf("%s: %q %v", c.Test, c.Result, c.Err)
			}
		case "put an object", "list objects":
			if c.Result != objbench.Pass {
				t.Errorf("%s: %q", c.Test, c.Result)
			}
		}
	}
}

func TestPerformance(t *testing.T) {
	cfg := objbench.Config{BlockSize: 64 << 10, BigObjectSize: 1 << 20, SmallObjectSize: 4 << 10, SmallObjects: 10, Threads: 4}
	want := []string{"upload objects", "download objects", "put small objects", "get small objects", "list objects",
		"head objects", "delete objects", "change permissions", "change owner/group", "update mtime"}
	for name, st := range stores(t) {
		st = objstore.WithPrefix(st, "__bench__/")
		rows := objbench.Performance(context.Background(), st, cfg)
		if len(rows) != len(want) {
			t.Fatalf("%s: %d rows", name, len(rows))
		}
		for i, r := range rows {
			if r.Item != want[i] || r.Err != nil || strings.Contains(r.Value, "failed") {
				t.Errorf("%s: row %d: %+v", name, i, r)
			}
		}
		if !strings.HasSuffix(rows[0].Value, " MiB/s") || !strings.HasSuffix(rows[4].Cost, " ms/ 26 objects") || rows[9].Value != objbench.NotSupported {
			t.Errorf("%s: units: %+v", name, rows)
		}
		if left := storetest.Listing(t, st, "", ""); len(left) != 0 {
			t.Errorf("%s: the run left %q", name, left)
		}
	}
	// Wrong bytes read back fail the measure.
	st := &flipping{Store: mem.New()}
	rows := objbench.Performance(context.Background(), st, cfg)
	if rows[1].Value != "failed" || rows[3].Value != "failed" || rows[0].Value == "failed" {
		t.Errorf("a store returning wrong bytes: %+v", rows)
	}
	if cfg.Threads = 100; objbench.Threads(cfg) != 10 {
		t.Errorf("threads are not limited to the number of objects: %d", objbench.Threads(cfg))
	}
}

// flipping changes the first byte of every object it stores.
type flipping struct{ objstore.Store }

func (f *flipping) Put(ctx context.Context, key string, data []byte) error {
	b := append([]byte(nil), data...)
	if len(b) > 0 {
		b[0] ^= 1
	}
	return f.Store.Put(ctx, key, b)
}
