package dump

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/rueidisfs/rueidisfs/codec"
)

// The spool holds every Redis command a load will send, in order, while the
// document is being validated; nothing reaches Redis before the whole dump
// has been read and checked. It is a temporary file, read back sequentially
// when writing, again to find the first occurrence of hard-linked inodes,
// and once more to delete what was written if the load fails midway.
//
// A record is: a kind byte; for kindAttr the inode (uvarint) and the
// fingerprint of the node (8 bytes); the number of arguments (uvarint); each
// argument as a uvarint length and its bytes. Arguments are the command
// name, the key, then the command's arguments.

const (
	kindPlain byte = iota
	kindAttr       // SET i{ino} <attr>: patched for hard links when written
)

// spoolRecord is one command read back from the spool.
type spoolRecord struct {
	kind byte
	ino  codec.Ino
	fp   uint64
	args []string
}

// storage is where a spool lives: a temporary file.
type storage interface {
	io.ReadWriteSeeker
}

type spool struct {
	st      storage
	w       *bufio.Writer
	records int64
	bytes   int64
	scratch []byte
	bufSize int
}

// newSpool returns a spool over st, buffering writes and reads by bufSize
// bytes.
func newSpool(st storage, bufSize int) *spool {
	return &spool{st: st, w: bufio.NewWriterSize(st, bufSize), bufSize: bufSize}
}

// add appends a command.
func (s *spool) add(args ...string) error { return s.addRecord(kindPlain, 0, 0, args) }

// addAttr appends the SET of an attribute record with the node's
// fingerprint.
func (s *spool) addAttr(ino codec.Ino, fp uint64, key string, attr []byte) error {
	return s.addRecord(kindAttr, ino, fp, []string{"SET", key, string(attr)})
}

func (s *spool) addRecord(kind byte, ino codec.Ino, fp uint64, args []string) error {
	b := append(s.scratch[:0], kind)
	if kind == kindAttr {
		b = binary.AppendUvarint(b, uint64(ino))
		b = binary.BigEndian.AppendUint64(b, fp)
	}
	b = binary.AppendUvarint(b, uint64(len(args)))
	for _, a := range args {
		b = binary.AppendUvarint(b, uint64(len(a)))
		if _, err := s.w.Write(b); err != nil {
			return fmt.Errorf("write the load spool: %w", err)
		}
		s.bytes += int64(len(b))
		b = b[:0]
		if _, err := s.w.WriteString(a); err != nil {
			return fmt.Errorf("write the load spool: %w", err)
		}
		s.bytes += int64(len(a))
	}
	if len(b) > 0 { // no argument at all
		if _, err := s.w.Write(b); err != nil {
			return fmt.Errorf("write the load spool: %w", err)
		}
		s.bytes += int64(len(b))
	}
	s.scratch = b[:0]
	s.records++
	return nil
}

// reader flushes what was written and returns a reader from the start. The
// spool may be appended to again after the reader is done with.
func (s *spool) reader() (*spoolReader, error) {
	if err := s.w.Flush(); err != nil {
		return nil, fmt.Errorf("write the load spool: %w", err)
	}
	if _, err := s.st.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind the load spool: %w", err)
	}
	return &spoolReader{s: s, r: bufio.NewReaderSize(io.LimitReader(s.st, s.bytes), s.bufSize)}, nil
}

// appendMode repositions the spool at its end after reading.
func (s *spool) appendMode() error {
	_, err := s.st.Seek(s.bytes, io.SeekStart)
	if err != nil {
		return fmt.Errorf("seek in the load spool: %w", err)
	}
	s.w.Reset(s.st)
	return nil
}

type spoolReader struct {
	s *spool
	r *bufio.Reader
}

// next returns the next record, or io.EOF.
func (r *spoolReader) next(rec *spoolRecord) error {
	kind, err := r.r.ReadByte()
	if err != nil {
		return err // io.EOF at a record boundary
	}
	rec.kind, rec.ino, rec.fp = kind, 0, 0
	if kind == kindAttr {
		ino, err := binary.ReadUvarint(r.r)
		if err != nil {
			return errSpoolCorrupt
		}
		var fp [8]byte
		if _, err := io.ReadFull(r.r, fp[:]); err != nil {
			return errSpoolCorrupt
		}
		rec.ino, rec.fp = codec.Ino(ino), binary.BigEndian.Uint64(fp[:])
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil || n > 1<<20 {
		return errSpoolCorrupt
	}
	rec.args = rec.args[:0]
	for range n {
		l, err := binary.ReadUvarint(r.r)
		if err != nil || l > 1<<30 {
			return errSpoolCorrupt
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(r.r, b); err != nil {
			return errSpoolCorrupt
		}
		rec.args = append(rec.args, string(b))
	}
	return nil
}
