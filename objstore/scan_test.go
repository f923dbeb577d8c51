package objstore_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/file"
)

func writeObject(t *testing.T, root, key string, size int, age time.Duration) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-age)
	if err := os.Chtimes(p, when, when); err != nil {
		t.Fatal(err)
	}
}

func TestLeakScan(t *testing.T) {
	bucket := t.TempDir()
	b, err := file.New(bucket)
	if err != nil {
		t.Fatal(err)
	}
	s := objstore.WithPrefix(b, "vol/")
	root := filepath.Join(bucket, "vol")
	old := 2 * time.Hour
	for _, o := range []struct {
		key  string
		size int
		age  time.Duration
	}{
		{"chunks/0/0/1_0_4096", 4096, old}, // used slice 1 (5000 bytes)
		{"chunks/0/0/1_1_904", 904, old},
		{"chunks/0/0/2_0_100", 100, old},         // pending slice 2
		{"chunks/0/0/3_0_50", 50, old},           // delayed slice 3
		{"chunks/0/0/4_0_10", 10, old},           // unknown slice
		{"chunks/0/0/1_2_4096", 4096, old},       // beyond slice 1
		{"chunks/0/0/3_0_40", 40, old},           // wrong size for slice 3
		{"chunks/0/0/5_0_10", 10, 0},             // young: skipped
		{"chunks/0/0/not-a-block", 1, old},       // ignored
		{"chunks/0/0/.jfs.6_0_7.tmp.42", 7, old}, // unfinished upload: leaked
		{"chunks/0/0/.jfs.8_0_7.tmp.43", 7, 0},   // unfinished upload, young
		{"chunks/stray", 1, old},                 // ignored
	} {
		writeObject(t, root, o.key, o.size, o.age)
	}
	var leaked, warnings []string
	objects := 0
	scan := &objstore.LeakScan{
		BlockSize: 4096,
		Used:      objstore.SliceSet{1: 5000},
		Pending:   objstore.SliceSet{2: 100},
		Delayed:   objstore.SliceSet{3: 50},
		SkipAfter: time.Now().Add(-time.Hour),
		OnLeak:    func(o objstore.Object) { leaked = append(leaked, o.Key) },
		OnObject:  func() { objects++ },
		Warn:      func(m string) { warnings = append(warnings, m) },
	}
	r, err := scan.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := objstore.LeakReport{Scanned: 10, Valid: objstore.Tally{2, 5000}, Pending: objstore.Tally{1, 100}, Compacted: objstore.Tally{1, 50}, Leaked: objstore.Tally{4, 4153}, Skipped: objstore.Tally{2, 17}}
	if r != want {
		t.Errorf("report %+v\nwant   %+v", r, want)
	}
	sort.Strings(leaked)
	if !reflect.DeepEqual(leaked, []string{"chunks/0/0/.jfs.6_0_7.tmp.42", "chunks/0/0/1_2_4096", "chunks/0/0/3_0_40", "chunks/0/0/4_0_10"}) {
		t.Errorf("leaked %v", leaked)
	}
	if objects != 10 || len(warnings) != 2 {
		t.Errorf("%d objects seen, warnings %q", objects, warnings)
	}
}
