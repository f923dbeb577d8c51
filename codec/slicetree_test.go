package codec

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestJuiceFSLayoutCases: the layouts juicefs info --raw printed for the
// basic fixture (testdata/juicefs-1.4.1/basic/info.txt) and the ways holes
// are described.
func TestJuiceFSLayoutCases(t *testing.T) {
	tests := []struct {
		name string
		recs []SliceRecord
		want []Slice
	}{
		{"empty", nil, nil},
		// data/sparse.img, chunk 0: the gap between two writes is filled by
		// a cut, with Size 0.
		{"gap between writes", []SliceRecord{
			{Pos: 0, ID: 8, Size: 4096, Len: 4096},
			{Pos: 700000, ID: 9, Size: 8192, Len: 8192},
		}, []Slice{{8, 4096, 0, 4096}, {0, 0, 0, 695904}, {9, 8192, 0, 8192}}},
		// data/sparse.img, chunk 1: a leading gap keeps Size = Len.
		{"leading gap", []SliceRecord{{Pos: 2891136, ID: 10, Size: 4000, Len: 4000}},
			[]Slice{{0, 2891136, 0, 2891136}, {10, 4000, 0, 4000}}},
		// data/overwrite.dat: four writes, one hidden.
		{"overwrites", []SliceRecord{
			{Pos: 0, ID: 11, Size: 200000, Len: 200000},
			{Pos: 100000, ID: 12, Size: 60000, Len: 60000},
			{Pos: 130000, ID: 13, Size: 60000, Len: 60000},
			{Pos: 130000, ID: 14, Size: 60000, Len: 60000},
		}, []Slice{{11, 200000, 0, 100000}, {12, 60000, 0, 30000}, {14, 60000, 0, 60000}, {11, 200000, 190000, 10000}}},
		// data/trunc-short.txt: the zero record of a truncate.
		{"truncated", []SliceRecord{
			{Pos: 0, ID: 15, Size: 50000, Len: 50000},
			{Pos: 12345, ID: 0, Size: 0, Len: 37655},
		}, []Slice{{15, 50000, 0, 12345}, {0, 0, 0, 37655}}},
		// A write in the middle of a filled gap cuts the hole piece in two;
		// the part after the write keeps its Off advanced past it, like
		// any piece (30 bytes before, 10 hidden).
		{"hole cut in two", []SliceRecord{
			{Pos: 0, ID: 1, Size: 10, Len: 10},
			{Pos: 100, ID: 2, Size: 10, Len: 10},
			{Pos: 40, ID: 3, Size: 10, Len: 10},
		}, []Slice{{1, 10, 0, 10}, {0, 0, 0, 30}, {3, 10, 0, 10}, {0, 0, 40, 50}, {2, 10, 0, 10}}},
		// Written backwards: the gap is filled from 0 when the later record
		// is inserted, then cut where that record ends.
		{"written backwards", []SliceRecord{
			{Pos: 50, ID: 2, Size: 10, Len: 10},
			{Pos: 0, ID: 1, Size: 10, Len: 10},
		}, []Slice{{1, 10, 0, 10}, {0, 0, 10, 40}, {2, 10, 0, 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JuiceFSLayout(tt.recs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestJuiceFSLayoutSameBytes: on random chunk lists JuiceFSLayout shows the
// same bytes as BuildLayout; only the description of holes differs.
func TestJuiceFSLayoutSameBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for range 2000 {
		var recs []SliceRecord
		for j := range 1 + rng.IntN(8) {
			pos := uint32(rng.IntN(200))
			n := uint32(1 + rng.IntN(60))
			id := uint64(j + 1)
			if rng.IntN(6) == 0 {
				id = 0
			}
			recs = append(recs, SliceRecord{Pos: pos, ID: id, Size: n + 5, Off: uint32(rng.IntN(5)), Len: n})
		}
		want, got := paint(BuildLayout(recs)), paint(JuiceFSLayout(recs))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("records %v:\nJuiceFSLayout %v\nBuildLayout   %v", recs, JuiceFSLayout(recs), BuildLayout(recs))
		}
	}
}

// paint lists, byte by byte, which slice byte (id, offset) a layout shows;
// holes show as id 0 whatever their description.
func paint(layout []Slice) [][2]uint64 {
	var out [][2]uint64
	for _, s := range layout {
		for i := range s.Len {
			if s.ID == 0 {
				out = append(out, [2]uint64{0, 0})
			} else {
				out = append(out, [2]uint64{s.ID, uint64(s.Off + i)})
			}
		}
	}
	// A trailing hole record shows zeros, as the end of a shorter layout
	// would: drop trailing holes on both sides.
	for len(out) > 0 && out[len(out)-1][0] == 0 {
		out = out[:len(out)-1]
	}
	return out
}
