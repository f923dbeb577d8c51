package codec

import (
	"cmp"
	"slices"
)

// SliceRecord is one element of a c{ino}_{indx} list: the
// piece [Off, Off+Len) of slice (ID, Size) placed at chunk offset Pos. ID 0
// is a record of zeros (hole, truncation).
type SliceRecord struct {
	Pos  uint32
	ID   uint64
	Size uint32
	Off  uint32
	Len  uint32
}

// Marshal returns the 24-byte encoding of r.
func (r SliceRecord) Marshal() []byte { return r.Append(make([]byte, 0, SliceRecordSize)) }

// Append appends the 24-byte encoding of r to dst.
func (r SliceRecord) Append(dst []byte) []byte {
	return put32(put32(put32(put64(put32(dst, r.Pos), r.ID), r.Size), r.Off), r.Len)
}

// UnmarshalSliceRecord decodes one chunk list element; it must be exactly 24
// bytes.
func UnmarshalSliceRecord[B Bytes](b B) (SliceRecord, error) {
	if len(b) != SliceRecordSize {
		return SliceRecord{}, corruptf("slice record has %d bytes, need %d", len(b), SliceRecordSize)
	}
	return SliceRecord{Pos: be32(b, 0), ID: be64(b, SliceOffID), Size: be32(b, SliceOffSize), Off: be32(b, 16), Len: be32(b, 20)}, nil
}

// UnmarshalSliceRecords decodes a whole LRANGE reply of a chunk list. As in
// JuiceFS, one malformed element makes the whole list corrupt (EIO).
func UnmarshalSliceRecords[B Bytes](elems []B) ([]SliceRecord, error) {
	recs := make([]SliceRecord, len(elems))
	for i, e := range elems {
		if len(e) != SliceRecordSize {
			return nil, corruptf("slice record %d has %d bytes, need %d", i, len(e), SliceRecordSize)
		}
		recs[i], _ = UnmarshalSliceRecord(e)
	}
	return recs, nil
}

// Slice is one piece of the visible layout of a chunk: Len bytes taken from
// offset Off of slice (ID, Size). ID 0 reads as zeros.
type Slice struct {
	ID   uint64
	Size uint32
	Off  uint32
	Len  uint32
}

// BuildLayout computes the visible layout of a chunk from its records, the
// result of Read and the input of compaction.
//
// Records are replayed in list order and a later record hides whatever an
// earlier one put in the range it covers. The result is a list of contiguous
// pieces starting at chunk offset 0: each maximal range showing one record
// becomes one piece (a record partly hidden in its middle gives two pieces,
// with Off advanced accordingly; a zero record keeps its stored Size and Off);
// each range no record covers becomes a gap {ID 0, Size = Len = gap}. There is
// no trailing gap, and an empty or all-zero-length input gives nil.
//
// The visible bytes are exactly those of JuiceFS's buildSlice. JuiceFS may
// split a gap into several hole pieces, give a gap Size 0, and emit pieces of
// zero length for zero-length records (which no 1.4.1 code writes); here gaps
// are always whole and zero-length records are dropped. Neither changes the
// data read nor the size and position of a compacted slice.
//
// It runs in O(n log n) for n records in the common case: records are visited
// newest first while a sorted set of already covered ranges tells which parts
// of each record are still visible.
func BuildLayout(records []SliceRecord) []Slice {
	type span struct{ start, end uint64 }
	type piece struct {
		pos uint64
		s   Slice
	}
	var covered []span // sorted, disjoint, non-adjacent
	pieces := make([]piece, 0, len(records))
	for i := len(records) - 1; i >= 0; i-- {
		r := &records[i]
		if r.Len == 0 {
			continue
		}
		start, end := uint64(r.Pos), uint64(r.Pos)+uint64(r.Len)
		visible := func(from, to uint64) piece {
			return piece{from, Slice{ID: r.ID, Size: r.Size, Off: r.Off + uint32(from-start), Len: uint32(to - from)}}
		}
		// First covered span that ends at or after start: it overlaps or
		// touches the record, as may the following ones.
		lo, _ := slices.BinarySearchFunc(covered, start, func(s span, v uint64) int { return cmp.Compare(s.end, v) })
		cur, hi := start, lo
		for ; hi < len(covered) && covered[hi].start <= end; hi++ {
			c := covered[hi]
			if c.start > cur {
				pieces = append(pieces, visible(cur, min(c.start, end)))
			}
			cur = max(cur, c.end)
		}
		if cur < end {
			pieces = append(pieces, visible(cur, end))
		}
		merged := span{start, end}
		if lo < hi {
			merged.start = min(merged.start, covered[lo].start)
			merged.end = max(merged.end, covered[hi-1].end)
		}
		covered = slices.Replace(covered, lo, hi, merged)
	}
	if len(pieces) == 0 {
		return nil
	}
	// Pieces were found newest record first; for the usual mostly-appending
	// chunk, reversing them leaves the sort little to do.
	slices.Reverse(pieces)
	slices.SortFunc(pieces, func(a, b piece) int { return cmp.Compare(a.pos, b.pos) })
	var pos uint64
	gaps := 0
	for _, p := range pieces {
		if p.pos > pos {
			gaps++
		}
		pos = p.pos + uint64(p.s.Len)
	}
	out := make([]Slice, 0, len(pieces)+gaps)
	pos = 0
	for _, p := range pieces {
		if p.pos > pos {
			gap := uint32(p.pos - pos)
			out = append(out, Slice{Size: gap, Len: gap})
		}
		out = append(out, p.s)
		pos = p.pos + uint64(p.s.Len)
	}
	return out
}
