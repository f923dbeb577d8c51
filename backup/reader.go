package backup

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// segHeaderSize is the type and length in front of every segment.
const segHeaderSize = 12

// maxRecord bounds one record read into memory. JuiceFS's largest records
// are chunk lists (24 bytes a slice) and extended attributes (64 KiB at
// most); a longer one is damage, not data.
const maxRecord = 64 << 20

// Segment locates one segment of a backup.
type Segment struct {
	Type   SegType
	Offset int64 // of its header
	Length int64 // of its message
}

// payload is where the segment's message starts.
func (s Segment) payload() int64 { return s.Offset + segHeaderSize }

// scanSegments walks the segment headers from the start of a backup to its
// end marker at eos, calling fn for each.
func scanSegments(r io.ReaderAt, eos int64, fn func(Segment) error) error {
	var hdr [segHeaderSize]byte
	for off := int64(0); off < eos; {
		if eos-off < segHeaderSize {
			return &FormatError{Offset: off, Reason: fmt.Sprintf("%d bytes before the end marker, too few for a segment header", eos-off)}
		}
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return fmt.Errorf("read the segment at byte %d: %w", off, err)
		}
		seg := Segment{Type: SegType(binary.BigEndian.Uint32(hdr[:4])), Offset: off}
		n := binary.BigEndian.Uint64(hdr[4:])
		switch {
		case seg.Type == Magic:
			return &FormatError{Offset: off, Reason: "end marker before the end of the segments: the file was cut and joined, or is damaged"}
		case seg.Type == 0 || seg.Type >= segTypeEnd:
			return &FormatError{Offset: off, Reason: fmt.Sprintf("unknown segment type %d", uint32(seg.Type))}
		case n > uint64(eos-seg.payload()):
			return &FormatError{Offset: off + 4, Reason: fmt.Sprintf("%s segment of %d bytes runs past the end of the segments (byte %d): truncated or damaged", seg.Type, n, eos)}
		}
		seg.Length = int64(n)
		if err := fn(seg); err != nil {
			return err
		}
		off = seg.payload() + seg.Length
	}
	return nil
}

// recordReader streams the records of one segment.
type recordReader struct {
	seg Segment
	br  *bufio.Reader
	pos int64 // offset in the backup of the next byte of br
	end int64
	buf []byte
	// one reusable record per Batch field
	recs map[protowire.Number]message
}

func newRecordReader(r io.ReaderAt, seg Segment) *recordReader {
	sr := io.NewSectionReader(r, seg.payload(), seg.Length)
	return &recordReader{seg: seg, br: bufio.NewReaderSize(sr, 64<<10), pos: seg.payload(), end: seg.payload() + seg.Length,
		recs: map[protowire.Number]message{}}
}

func (rr *recordReader) errorf(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, Reason: fmt.Sprintf("%s segment at byte %d: ", rr.seg.Type, rr.seg.Offset) + fmt.Sprintf(format, args...)}
}

func (rr *recordReader) varint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		c, err := rr.br.ReadByte()
		if err != nil {
			return 0, rr.errorf(rr.pos, "the message ends inside a number")
		}
		rr.pos++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, rr.errorf(rr.pos, "a number longer than 10 bytes")
}

// formatRecord reads the message of a format segment.
func (rr *recordReader) formatRecord() (*FormatRecord, error) {
	if rr.seg.Length > maxRecord {
		return nil, rr.errorf(rr.pos, "%d bytes of format", rr.seg.Length)
	}
	buf := make([]byte, rr.seg.Length)
	if _, err := io.ReadFull(rr.br, buf); err != nil {
		return nil, fmt.Errorf("read the format segment at byte %d: %w", rr.seg.Offset, err)
	}
	var f FormatRecord
	if err := decode(&f, buf); err != nil {
		return nil, rr.errorf(rr.pos, "malformed format message: %v", err)
	}
	return &f, nil
}

// each calls fn for every record of a Batch segment, with the Batch field
// it belongs to and its offset. The record is reused for the next one.
func (rr *recordReader) each(fn func(field protowire.Number, rec message, off int64) error) error {
	allowed := batchFields(rr.seg.Type)
	for rr.pos < rr.end {
		off := rr.pos
		tag, err := rr.varint()
		if err != nil {
			return err
		}
		num, typ := protowire.DecodeTag(tag)
		if !slices.Contains(allowed, num) {
			return rr.errorf(off, "field %d does not belong in a %s segment", num, rr.seg.Type)
		}
		if typ != protowire.BytesType {
			return rr.errorf(off, "field %d has wire type %d, want a message", num, typ)
		}
		n, err := rr.varint()
		if err != nil {
			return err
		}
		if n > maxRecord || int64(n) > rr.end-rr.pos {
			return rr.errorf(off, "record of %d bytes runs past the end of the segment", n)
		}
		if cap(rr.buf) < int(n) {
			rr.buf = make([]byte, n)
		}
		rr.buf = rr.buf[:n]
		if _, err := io.ReadFull(rr.br, rr.buf); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return rr.errorf(rr.pos, "the file ends inside a record")
			}
			return err
		}
		recStart := rr.pos
		rr.pos += int64(n)
		rec := rr.recs[num]
		if rec == nil {
			rec = newRecord(num)
			rr.recs[num] = rec
		}
		if err := decode(rec, rr.buf); err != nil {
			return rr.errorf(recStart, "malformed record: %v", err)
		}
		if err := fn(num, rec, recStart); err != nil {
			return err
		}
	}
	return nil
}
