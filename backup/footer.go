package backup

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// SegInfo is what the footer says about the segments of one type.
type SegInfo struct {
	Offsets []uint64 // byte offset of each segment of the type, in file order
	Num     uint64   // records in all of them
}

// Footer closes a backup.
type Footer struct {
	Magic   uint32
	Version uint32
	Infos   map[string]*SegInfo // by segment name
}

func newFooter() *Footer {
	return &Footer{Magic: Magic, Version: Version, Infos: map[string]*SegInfo{}}
}

// Names returns the segment names of the footer, sorted.
func (f *Footer) Names() []string {
	names := make([]string, 0, len(f.Infos))
	for n := range f.Infos {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// segInfo messages and map entries are decoded through these.
func (s *SegInfo) reset() { *s = SegInfo{} }
func (s *SegInfo) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		var err error
		s.Offsets, err = appendRepeated(s.Offsets, typ, v, b)
		return err
	case 2:
		s.Num = v
		return wantVarint(typ)
	}
	return nil
}
func (s *SegInfo) appendTo(b []byte) []byte {
	return appendUint(appendPacked(b, 1, s.Offsets), 2, s.Num)
}

type infoEntry struct {
	key  string
	info SegInfo
}

func (e *infoEntry) reset() { *e = infoEntry{} }
func (e *infoEntry) set(num protowire.Number, typ protowire.Type, _ uint64, b []byte) error {
	switch num {
	case 1:
		e.key = string(b)
		return wantBytes(typ)
	case 2:
		if err := wantBytes(typ); err != nil {
			return err
		}
		return decode(&e.info, b)
	}
	return nil
}
func (e *infoEntry) appendTo(b []byte) []byte {
	b = appendString(b, 1, e.key)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, e.info.appendTo(nil))
}

func (f *Footer) reset() { *f = Footer{Infos: map[string]*SegInfo{}} }
func (f *Footer) set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
	switch num {
	case 1:
		f.Magic = uint32(v)
		return wantVarint(typ)
	case 2:
		f.Version = uint32(v)
		return wantVarint(typ)
	case 3:
		if err := wantBytes(typ); err != nil {
			return err
		}
		var e infoEntry
		if err := decode(&e, b); err != nil {
			return err
		}
		info := e.info
		f.Infos[e.key] = &info
	}
	return nil
}
func (f *Footer) appendTo(b []byte) []byte {
	b = appendUint(appendUint(b, 1, uint64(f.Magic)), 2, uint64(f.Version))
	var scratch []byte
	for _, name := range f.Names() {
		b, scratch = appendMessage(b, 3, &infoEntry{key: name, info: *f.Infos[name]}, scratch)
	}
	return b
}

// maxFooter bounds the footer read into memory (it holds one offset per
// segment: a few kilobytes for millions of records).
const maxFooter = 64 << 20

// ReadFooter reads the footer at the end of a backup of the given size, and
// checks the end marker before it. It returns the footer and the offset of
// the end marker, where the segments end.
func ReadFooter(r io.ReaderAt, size int64) (*Footer, int64, error) {
	if size < 12 {
		return nil, 0, &FormatError{Offset: 0, Reason: fmt.Sprintf("%d bytes is too short for a backup (the end marker and footer length alone take 12)", size)}
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], size-8); err != nil {
		return nil, 0, fmt.Errorf("read the footer length: %w", err)
	}
	n := binary.BigEndian.Uint64(lenBuf[:])
	if n > maxFooter || int64(n) > size-12 {
		return nil, 0, &FormatError{Offset: size - 8, Reason: fmt.Sprintf("footer length %d does not fit in the file: truncated or not a binary backup", n)}
	}
	eos := size - 8 - int64(n) - 4
	buf := make([]byte, 4+n)
	if _, err := r.ReadAt(buf, eos); err != nil {
		return nil, 0, fmt.Errorf("read the footer: %w", err)
	}
	if m := binary.BigEndian.Uint32(buf); m != Magic {
		return nil, 0, &FormatError{Offset: eos, Reason: fmt.Sprintf("end marker %#x, want %#x: truncated or not a binary backup", m, Magic)}
	}
	f := &Footer{}
	if err := decode(f, buf[4:]); err != nil {
		return nil, 0, &FormatError{Offset: eos + 4, Reason: "malformed footer: " + err.Error()}
	}
	if f.Magic != Magic {
		return nil, 0, &FormatError{Offset: eos + 4, Reason: fmt.Sprintf("footer magic %#x, want %#x", f.Magic, Magic)}
	}
	if f.Version > Version {
		return nil, 0, &FormatError{Offset: eos + 4, Reason: fmt.Sprintf("backup format version %d is newer than %d, the newest this rueidisfs reads; load it with a newer client", f.Version, Version)}
	}
	if f.Version < 1 {
		return nil, 0, &FormatError{Offset: eos + 4, Reason: fmt.Sprintf("backup format version %d is not valid", f.Version)}
	}
	return f, eos, nil
}

// appendFooter appends the end marker, the footer and its length.
func appendFooter(b []byte, f *Footer) []byte {
	b = binary.BigEndian.AppendUint32(b, Magic)
	start := len(b)
	b = f.appendTo(b)
	return binary.BigEndian.AppendUint64(b, uint64(len(b)-start))
}
