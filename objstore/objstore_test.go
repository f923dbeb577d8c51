package objstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

func TestBlockNames(t *testing.T) {
	if got := BlockKey(false, 7, 2, 525522); got != "chunks/0/0/7_2_525522" {
		t.Errorf("BlockKey = %s", got)
	}
	if got := BlockKey(false, 1234567890, 0, 10); got != "chunks/1234/1234567/1234567890_0_10" {
		t.Errorf("BlockKey = %s", got)
	}
	if got := BlockKey(true, 0x1FF, 1, 4096); got != "chunks/FF/0/511_1_4096" {
		t.Errorf("BlockKey with hash prefix = %s", got)
	}
	if got := BlockSizes(1<<20, 2622674); !reflect.DeepEqual(got, []int{1 << 20, 1 << 20, 525522}) {
		t.Errorf("BlockSizes = %v", got)
	}
	if got := BlockSizes(1<<20, 1<<20); !reflect.DeepEqual(got, []int{1 << 20}) {
		t.Errorf("BlockSizes of one full block = %v", got)
	}
	if got := BlockSizes(1<<20, 0); got != nil {
		t.Errorf("BlockSizes of nothing = %v", got)
	}
	if id, i, size, ok := ParseBlockName("7_2_525522"); !ok || id != 7 || i != 2 || size != 525522 {
		t.Errorf("ParseBlockName = %d %d %d %v", id, i, size, ok)
	}
	for _, bad := range []string{"7_2", "7_2_x", "a_1_2", "1_2_3_4", "juicefs_uuid"} {
		if _, _, _, ok := ParseBlockName(bad); ok {
			t.Errorf("ParseBlockName(%q) accepted", bad)
		}
	}
}

// TestSliceObjects compares with what juicefs info printed for the basic
// fixture (1 MiB blocks).
func TestSliceObjects(t *testing.T) {
	f := &codec.Format{Name: "fixture-basic", BlockSize: 1024}
	got := SliceObjects(f, codec.Slice{ID: 7, Size: 2622674, Len: 2622674})
	want := []SliceObject{
		{"fixture-basic/chunks/0/0/7_0_1048576", 1048576, 0, 1048576},
		{"fixture-basic/chunks/0/0/7_1_1048576", 1048576, 0, 1048576},
		{"fixture-basic/chunks/0/0/7_2_525522", 525522, 0, 525522},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("big.bin: %v", got)
	}
	// A piece in the middle of a slice: part of the first and last block.
	got = SliceObjects(f, codec.Slice{ID: 7, Size: 2622674, Off: 1000, Len: 1048576})
	want = []SliceObject{
		{"fixture-basic/chunks/0/0/7_0_1048576", 1048576, 1000, 1047576},
		{"fixture-basic/chunks/0/0/7_1_1048576", 1048576, 0, 1000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("middle: %v", got)
	}
	if got := SliceObjects(f, codec.Slice{Size: 0, Len: 37655}); !reflect.DeepEqual(got, []SliceObject{{"", 0, 0, 37655}}) {
		t.Errorf("hole: %v", got)
	}
	if got := SliceObjects(f, codec.Slice{ID: 3, Size: 10, Off: 5, Len: 6}); got != nil {
		t.Errorf("piece beyond its slice: %v", got)
	}
}

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

func keys(t *testing.T, s Store) []string {
	t.Helper()
	var out []string
	if err := s.List(context.Background(), ChunksPrefix, func(o Object) error {
		out = append(out, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	bucket := t.TempDir()
	f := &codec.Format{Name: "vol", Storage: "file", Bucket: bucket + "/", BlockSize: 4}
	s, err := Open(f)
	if err != nil {
		t.Fatal(err)
	}
	if s.String() != "file://"+bucket+"/vol/" {
		t.Errorf("String() = %s", s)
	}
	// Nothing stored yet: an empty listing, not an error.
	if got := keys(t, s); len(got) != 0 {
		t.Errorf("empty bucket lists %v", got)
	}
	root := filepath.Join(bucket, "vol")
	writeObject(t, root, "juicefs_uuid", 36, 0)
	writeObject(t, root, "chunks/0/0/1_0_4096", 4096, 0)
	writeObject(t, root, "chunks/0/0/1_1_10", 10, 0)
	if got := keys(t, s); !reflect.DeepEqual(got, []string{"chunks/0/0/1_0_4096", "chunks/0/0/1_1_10"}) {
		t.Errorf("List = %v", got)
	}
	o, err := s.Head(ctx, "chunks/0/0/1_1_10")
	if err != nil || o.Size != 10 || o.Key != "chunks/0/0/1_1_10" {
		t.Errorf("Head = %+v %v", o, err)
	}
	if _, err := s.Head(ctx, "chunks/0/0/2_0_1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Head of a missing object: %v", err)
	}
	if _, err := s.Head(ctx, "chunks/0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Head of a directory: %v", err)
	}
	if err := RemoveSlice(ctx, s, f, 1, 4106); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, s); len(got) != 0 {
		t.Errorf("after RemoveSlice: %v", got)
	}
	if err := s.Delete(ctx, "chunks/0/0/1_0_4096"); err != nil {
		t.Errorf("deleting a missing object: %v", err)
	}
	for _, bad := range []*codec.Format{{Storage: "s3", Bucket: "x"}, {Storage: "file", Bucket: "/b", Shards: 4}} {
		if _, err := Open(bad); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Open(%+v) = %v", bad, err)
		}
	}
	if _, err := Open(&codec.Format{Storage: "file"}); err == nil || errors.Is(err, ErrUnsupported) {
		t.Errorf("Open without a bucket: %v", err)
	}
}

func TestLeakScan(t *testing.T) {
	bucket := t.TempDir()
	f := &codec.Format{Name: "vol", Storage: "file", Bucket: bucket, BlockSize: 4}
	s, err := Open(f)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(bucket, "vol")
	old := 2 * time.Hour
	for _, o := range []struct {
		key  string
		size int
		age  time.Duration
	}{
		{"chunks/0/0/1_0_4096", 4096, old}, // used slice 1 (5000 bytes)
		{"chunks/0/0/1_1_904", 904, old},
		{"chunks/0/0/2_0_100", 100, old},   // pending slice 2
		{"chunks/0/0/3_0_50", 50, old},     // delayed slice 3
		{"chunks/0/0/4_0_10", 10, old},     // unknown slice
		{"chunks/0/0/1_2_4096", 4096, old}, // beyond slice 1
		{"chunks/0/0/3_0_40", 40, old},     // wrong size for slice 3
		{"chunks/0/0/5_0_10", 10, 0},       // young: skipped
		{"chunks/0/0/not-a-block", 1, old}, // ignored
		{"chunks/stray", 1, old},           // ignored
	} {
		writeObject(t, root, o.key, o.size, o.age)
	}
	var leaked, warnings []string
	objects := 0
	scan := &LeakScan{
		BlockSize: 4096,
		Used:      SliceSet{1: 5000},
		Pending:   SliceSet{2: 100},
		Delayed:   SliceSet{3: 50},
		SkipAfter: time.Now().Add(-time.Hour),
		OnLeak:    func(o Object) { leaked = append(leaked, o.Key) },
		OnObject:  func() { objects++ },
		Warn:      func(m string) { warnings = append(warnings, m) },
	}
	r, err := scan.Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := LeakReport{Scanned: 8, Valid: Tally{2, 5000}, Pending: Tally{1, 100}, Compacted: Tally{1, 50}, Leaked: Tally{3, 4146}, Skipped: Tally{1, 10}}
	if r != want {
		t.Errorf("report %+v\nwant   %+v", r, want)
	}
	sort.Strings(leaked)
	if !reflect.DeepEqual(leaked, []string{"chunks/0/0/1_2_4096", "chunks/0/0/3_0_40", "chunks/0/0/4_0_10"}) {
		t.Errorf("leaked %v", leaked)
	}
	if objects != 8 || len(warnings) != 2 {
		t.Errorf("%d objects seen, warnings %q", objects, warnings)
	}
}
