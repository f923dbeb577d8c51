package objstore

import (
	"reflect"
	"testing"

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
