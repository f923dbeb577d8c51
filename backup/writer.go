package backup

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// batch builds the message of one segment, record by record.
type batch struct {
	typ     SegType
	field   protowire.Number
	buf     []byte // the Batch message so far
	scratch []byte
	n       int // records
}

func newBatch(typ SegType, field protowire.Number) *batch {
	b := &batch{typ: typ, field: field}
	if buf, ok := batchBufs.Get().(*[]byte); ok {
		b.buf = (*buf)[:0]
	}
	return b
}

// batchBufs keeps the buffers of written batches for the next ones: a
// dump fills hundreds of segments of up to a MiB each, and growing each
// from nothing cost a sixth of its CPU in copies and collections.
var batchBufs sync.Pool

// add appends one record.
func (b *batch) add(m message) {
	b.buf, b.scratch = appendMessage(b.buf, b.field, m, b.scratch)
	b.n++
}

// addTo appends one record under another Batch field (quotas of users and
// groups share a segment with directory quotas).
func (b *batch) addTo(field protowire.Number, m message) {
	b.buf, b.scratch = appendMessage(b.buf, field, m, b.scratch)
	b.n++
}

// segmentWriter writes segments one after the other and keeps what the
// footer will say about them.
type segmentWriter struct {
	w      io.Writer
	pos    uint64
	footer *Footer
	hdr    [segHeaderSize]byte
	// progress, when set, is told of every segment written.
	progress func(SegType, int)
}

func newSegmentWriter(w io.Writer, progress func(SegType, int)) *segmentWriter {
	return &segmentWriter{w: w, footer: newFooter(), progress: progress}
}

// write writes one segment holding n records.
func (sw *segmentWriter) write(typ SegType, msg []byte, n int) error {
	binary.BigEndian.PutUint32(sw.hdr[:4], uint32(typ))
	binary.BigEndian.PutUint64(sw.hdr[4:], uint64(len(msg)))
	if _, err := sw.w.Write(sw.hdr[:]); err != nil {
		return fmt.Errorf("write the backup: %w", err)
	}
	if _, err := sw.w.Write(msg); err != nil {
		return fmt.Errorf("write the backup: %w", err)
	}
	info := sw.footer.Infos[typ.String()]
	if info == nil {
		info = &SegInfo{}
		sw.footer.Infos[typ.String()] = info
	}
	info.Offsets = append(info.Offsets, sw.pos)
	info.Num += uint64(n)
	sw.pos += uint64(segHeaderSize + len(msg))
	if sw.progress != nil {
		sw.progress(typ, n)
	}
	return nil
}

// writeBatch writes a batch as one segment.
// Its buffer goes back to batchBufs: b must not be used after.
func (sw *segmentWriter) writeBatch(b *batch) error {
	err := sw.write(b.typ, b.buf, b.n)
	buf := b.buf[:0]
	b.buf = nil
	batchBufs.Put(&buf)
	return err
}

// finish writes the end marker and the footer.
func (sw *segmentWriter) finish() error {
	if _, err := sw.w.Write(appendFooter(nil, sw.footer)); err != nil {
		return fmt.Errorf("write the backup: %w", err)
	}
	return nil
}
