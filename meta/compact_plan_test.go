package meta

import (
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
)

func rec(pos uint32, id uint64, size, off, n uint32) codec.SliceRecord {
	return codec.SliceRecord{Pos: pos, ID: id, Size: size, Off: off, Len: n}
}

// TestPlanCompaction checks which records a compaction merges and the
// merged slice's place and size, by the official client's rules.
func TestPlanCompaction(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name         string
		recs         []codec.SliceRecord
		ok           bool
		skipped      int
		pos, size    uint32
		layoutPieces int
	}{
		{"one record", []codec.SliceRecord{rec(0, 1, 10, 0, 10)}, false, 0, 0, 10, 1},
		{"two overlapping", []codec.SliceRecord{rec(0, 1, 100, 0, 100), rec(50, 2, 100, 0, 100)}, true, 0, 0, 150, 2},
		{"leading hole trimmed", []codec.SliceRecord{rec(1000, 1, 100, 0, 100), rec(1100, 2, 100, 0, 100)}, true, 0, 1000, 200, 2},
		{"trailing hole trimmed", []codec.SliceRecord{rec(0, 1, 100, 0, 100), rec(50, 2, 100, 0, 100), rec(150, 0, 500, 0, 500)}, true, 0, 0, 150, 2},
		{"big first kept", []codec.SliceRecord{rec(0, 1, 4*mib, 0, 4*mib), rec(4*mib, 2, 10, 0, 10), rec(4*mib+10, 3, 10, 0, 10)}, true, 1, 4 * mib, 20, 2},
		{"big first overwritten", []codec.SliceRecord{rec(0, 1, 4*mib, 0, 4*mib), rec(0, 2, 10, 0, 10), rec(20, 3, 10, 0, 10)}, true, 0, 0, 4 * mib, 4},
		{"small first merged", []codec.SliceRecord{rec(0, 1, 100, 0, 100), rec(100, 2, 10, 0, 10), rec(110, 3, 10, 0, 10)}, true, 0, 0, 120, 3},
		{"only holes", []codec.SliceRecord{rec(0, 0, 100, 0, 100), rec(50, 0, 100, 0, 100)}, true, 0, 50, 1, 1},
		{"all kept", []codec.SliceRecord{rec(0, 1, 4*mib, 0, 4*mib), rec(4*mib, 2, 4*mib, 0, 4*mib)}, false, 0, 0, 0, 0},
	}
	for _, c := range cases {
		p, ok := planCompaction(c.recs)
		if ok != c.ok {
			t.Errorf("%s: ok = %v, want %v (%+v)", c.name, ok, c.ok, p)
			continue
		}
		if !ok {
			continue
		}
		if p.skipped != c.skipped || p.pos != c.pos || p.size != c.size || len(p.layout) != c.layoutPieces {
			t.Errorf("%s: skipped %d pos %d size %d pieces %d, want %d %d %d %d", c.name, p.skipped, p.pos, p.size, len(p.layout), c.skipped, c.pos, c.size, c.layoutPieces)
		}
	}
}
