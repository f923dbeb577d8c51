package codec

import (
	"encoding/hex"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestSliceRecordSpecExample(t *testing.T) {
	r := SliceRecord{Pos: 7, ID: 99, Size: 4 << 20, Off: 10, Len: 20}
	b := r.Marshal()
	if got, want := hex.EncodeToString(b), "00000007"+"0000000000000063"+"00400000"+"0000000a"+"00000014"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	back, err := UnmarshalSliceRecord(b)
	if err != nil || back != r {
		t.Fatalf("round trip %+v %v", back, err)
	}
	for _, n := range []int{0, 23, 25, 48} {
		if _, err := UnmarshalSliceRecord(make([]byte, n)); !IsCorruption(err) {
			t.Errorf("%d bytes: err = %v", n, err)
		}
	}
}

func TestUnmarshalSliceRecords(t *testing.T) {
	a := SliceRecord{Pos: 1, ID: 2, Size: 3, Off: 0, Len: 3}
	b := SliceRecord{Pos: 5, ID: 0, Len: 9}
	recs, err := UnmarshalSliceRecords([]string{string(a.Marshal()), string(b.Marshal())})
	if err != nil || !reflect.DeepEqual(recs, []SliceRecord{a, b}) {
		t.Fatalf("got %+v, %v", recs, err)
	}
	_, err = UnmarshalSliceRecords([][]byte{a.Marshal(), make([]byte, 23)})
	if !IsCorruption(err) || err.Error() != "corrupt value: slice record 1 has 23 bytes, need 24" {
		t.Fatalf("err = %v", err)
	}
	if recs, err := UnmarshalSliceRecords([]string{}); err != nil || len(recs) != 0 {
		t.Fatalf("empty list: %v %v", recs, err)
	}
}

// bruteLayout is the reference model of BuildLayout: it paints every byte of
// the chunk with the index of the newest record covering it and turns runs of
// equal indexes into pieces.
func bruteLayout(records []SliceRecord) []Slice {
	var end uint64
	for _, r := range records {
		if r.Len > 0 {
			end = max(end, uint64(r.Pos)+uint64(r.Len))
		}
	}
	owner := make([]int, end)
	for i := range owner {
		owner[i] = -1
	}
	for i, r := range records {
		for p := uint64(r.Pos); p < uint64(r.Pos)+uint64(r.Len); p++ {
			owner[p] = i
		}
	}
	var out []Slice
	for p := uint64(0); p < end; {
		q := p
		for q < end && owner[q] == owner[p] {
			q++
		}
		n := uint32(q - p)
		if o := owner[p]; o < 0 {
			out = append(out, Slice{Size: n, Len: n})
		} else {
			r := records[o]
			out = append(out, Slice{ID: r.ID, Size: r.Size, Off: r.Off + uint32(p-uint64(r.Pos)), Len: n})
		}
		p = q
	}
	return out
}

func TestBuildLayoutCases(t *testing.T) {
	tests := []struct {
		name string
		recs []SliceRecord
		want []Slice
	}{
		{"empty", nil, nil},
		{"only zero-length", []SliceRecord{{Pos: 10, ID: 1, Size: 5}}, nil},
		{"single", []SliceRecord{{Pos: 0, ID: 1, Size: 10, Len: 10}}, []Slice{{1, 10, 0, 10}}},
		{"leading gap", []SliceRecord{{Pos: 100, ID: 1, Size: 10, Len: 10}}, []Slice{{0, 100, 0, 100}, {1, 10, 0, 10}}},
		{"overwrite middle", []SliceRecord{
			{Pos: 0, ID: 1, Size: 100, Len: 100},
			{Pos: 40, ID: 2, Size: 20, Len: 20},
		}, []Slice{{1, 100, 0, 40}, {2, 20, 0, 20}, {1, 100, 60, 40}}},
		{"hole record in middle", []SliceRecord{
			{Pos: 0, ID: 1, Size: 100, Len: 100},
			{Pos: 10, ID: 0, Size: 0, Len: 30},
		}, []Slice{{1, 100, 0, 10}, {0, 0, 0, 30}, {1, 100, 40, 60}}},
		{"beyond others", []SliceRecord{
			{Pos: 0, ID: 1, Size: 10, Len: 10},
			{Pos: 50, ID: 2, Size: 10, Len: 10},
		}, []Slice{{1, 10, 0, 10}, {0, 40, 0, 40}, {2, 10, 0, 10}}},
		{"written backwards", []SliceRecord{
			{Pos: 50, ID: 2, Size: 10, Len: 10},
			{Pos: 0, ID: 1, Size: 10, Len: 10},
		}, []Slice{{1, 10, 0, 10}, {0, 40, 0, 40}, {2, 10, 0, 10}}},
		{"truncate then extend: trailing zero record kept", []SliceRecord{
			{Pos: 0, ID: 15, Size: 50000, Len: 50000},
			{Pos: 12345, ID: 0, Size: 0, Len: 37655},
		}, []Slice{{15, 50000, 0, 12345}, {0, 0, 0, 37655}}},
		{"fully hidden record", []SliceRecord{
			{Pos: 10, ID: 1, Size: 5, Len: 5},
			{Pos: 0, ID: 2, Size: 30, Len: 30},
		}, []Slice{{2, 30, 0, 30}}},
		{"overlay with offset inside slice", []SliceRecord{
			{Pos: 0, ID: 1, Size: 1000, Off: 100, Len: 50},
			{Pos: 20, ID: 2, Size: 10, Off: 0, Len: 10},
		}, []Slice{{1, 1000, 100, 20}, {2, 10, 0, 10}, {1, 1000, 130, 20}}},
		{"touching records stay separate", []SliceRecord{
			{Pos: 0, ID: 1, Size: 20, Len: 10},
			{Pos: 10, ID: 1, Size: 20, Off: 10, Len: 10},
		}, []Slice{{1, 20, 0, 10}, {1, 20, 10, 10}}},
		{"newer record bridges two older", []SliceRecord{
			{Pos: 0, ID: 1, Size: 10, Len: 10},
			{Pos: 20, ID: 2, Size: 10, Len: 10},
			{Pos: 5, ID: 3, Size: 20, Len: 20},
		}, []Slice{{1, 10, 0, 5}, {3, 20, 0, 20}, {2, 10, 5, 5}}},
		{"older record visible around several newer", []SliceRecord{
			{Pos: 0, ID: 1, Size: 100, Len: 100},
			{Pos: 10, ID: 2, Size: 10, Len: 10},
			{Pos: 30, ID: 3, Size: 10, Len: 10},
			{Pos: 20, ID: 4, Size: 10, Len: 10},
		}, []Slice{{1, 100, 0, 10}, {2, 10, 0, 10}, {4, 10, 0, 10}, {3, 10, 0, 10}, {1, 100, 40, 60}}},
		{"whole chunk", []SliceRecord{
			{Pos: 0, ID: 1, Size: ChunkSize, Len: ChunkSize},
			{Pos: ChunkSize - 1, ID: 2, Size: 1, Len: 1},
		}, []Slice{{1, ChunkSize, 0, ChunkSize - 1}, {2, 1, 0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BuildLayout(tt.recs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BuildLayout:\n got %v\nwant %v", got, tt.want)
			}
			if tt.want != nil && tt.want[len(tt.want)-1].Len < 1<<20 {
				if brute := bruteLayout(tt.recs); !reflect.DeepEqual(brute, tt.want) {
					t.Errorf("model disagrees with the expected layout: %v", brute)
				}
			}
		})
	}
}

func TestBuildLayoutRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 3000; iter++ {
		n := rng.IntN(30)
		space := uint32(1 + rng.IntN(300))
		recs := make([]SliceRecord, n)
		for i := range recs {
			pos := rng.Uint32N(space)
			recs[i] = SliceRecord{Pos: pos, ID: uint64(rng.IntN(4)), Size: rng.Uint32N(500), Off: rng.Uint32N(50), Len: rng.Uint32N(space - pos + 1)}
		}
		got, want := BuildLayout(recs), bruteLayout(recs)
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("records %v:\n got %v\nwant %v", recs, got, want)
		}
	}
}

// TestFixtureLayout checks the layouts `juicefs info --raw` printed for the
// basic volume (info.txt), the ones JuiceFS's Read returned.
func TestFixtureLayout(t *testing.T) {
	ks := loadFixture(t, "basic")
	layout := func(key string) []Slice {
		recs, err := UnmarshalSliceRecords(ks[key].List)
		if err != nil {
			t.Fatal(err)
		}
		return BuildLayout(recs)
	}
	// data/overwrite.dat (inode 18) and its clone (inode 24): four records,
	// slice 13 completely hidden by slice 14.
	want := []Slice{{11, 200000, 0, 100000}, {12, 60000, 0, 30000}, {14, 60000, 0, 60000}, {11, 200000, 190000, 10000}}
	for _, key := range []string{"c18_0", "c24_0"} {
		if got := layout(key); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", key, got, want)
		}
	}
	// data/sparse.img (inode 17). JuiceFS prints the first gap with Size 0
	// (a hole node of its tree); BuildLayout always gives gaps Size = Len.
	if got, want := layout("c17_0"), []Slice{{8, 4096, 0, 4096}, {0, 695904, 0, 695904}, {9, 8192, 0, 8192}}; !reflect.DeepEqual(got, want) {
		t.Errorf("c17_0: got %v, want %v", got, want)
	}
	if got, want := layout("c17_1"), []Slice{{0, 2891136, 0, 2891136}, {10, 4000, 0, 4000}}; !reflect.DeepEqual(got, want) {
		t.Errorf("c17_1: got %v, want %v", got, want)
	}
	// data/trunc-short.txt (inode 19): truncated, ends with a zero record.
	if got, want := layout("c19_0"), []Slice{{15, 50000, 0, 12345}, {0, 0, 0, 37655}}; !reflect.DeepEqual(got, want) {
		t.Errorf("c19_0: got %v, want %v", got, want)
	}
	// Every chunk of every volume: the model agrees, records re-encode.
	for _, vol := range fixtureVolumes {
		ks := loadFixture(t, vol)
		for _, name := range sortedNames(ks, 'c') {
			recs, err := UnmarshalSliceRecords(ks[name].List)
			if err != nil {
				t.Fatalf("%s %s: %v", vol, name, err)
			}
			for i, r := range recs {
				if string(r.Marshal()) != string(ks[name].List[i]) {
					t.Errorf("%s %s[%d]: re-encoding differs", vol, name, i)
				}
				if uint64(r.Pos)+uint64(r.Len) > ChunkSize || (r.ID != 0 && r.Off+r.Len > r.Size) {
					t.Errorf("%s %s[%d]: invariant broken: %+v", vol, name, i, r)
				}
			}
			if got, want := BuildLayout(recs), bruteLayout(recs); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: got %v, model %v", vol, name, got, want)
			}
		}
	}
}
