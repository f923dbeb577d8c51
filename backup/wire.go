package backup

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Format constants.
const (
	// Magic opens the footer and, as a segment type, marks the end of the
	// segments.
	Magic = 0x747083
	// Version is the format version this package reads and writes.
	Version = 1
)

// SegType is the type of a segment.
type SegType uint32

// The segment types, numbered as JuiceFS numbers them.
const (
	SegFormat SegType = 1 + iota
	SegCounter
	SegNode
	SegEdge
	SegChunk
	SegSliceRef
	SegSymlink
	SegSustained
	SegDelFile
	SegXattr
	SegACL
	SegStat
	SegQuota
	SegParent
	SegChangeLog
	segTypeEnd // one past the last known type
)

var segNames = [...]string{
	SegFormat: "format", SegCounter: "counter", SegNode: "node", SegEdge: "edge", SegChunk: "chunk",
	SegSliceRef: "sliceRef", SegSymlink: "symlink", SegSustained: "sustained", SegDelFile: "delFile",
	SegXattr: "xattr", SegACL: "acl", SegStat: "stat", SegQuota: "quota", SegParent: "parent",
	SegChangeLog: "changeLog",
}

// String is the segment type's name in the footer ("node", "sliceRef", ...).
func (t SegType) String() string {
	if t > 0 && t < segTypeEnd {
		return segNames[t]
	}
	return fmt.Sprintf("type-%d", uint32(t))
}

// SegTypes lists the known segment types in order.
func SegTypes() []SegType {
	ts := make([]SegType, 0, segTypeEnd-1)
	for t := SegFormat; t < segTypeEnd; t++ {
		ts = append(ts, t)
	}
	return ts
}

// segTypeByName finds a type from its footer name.
func segTypeByName(name string) (SegType, bool) {
	for t := SegFormat; t < segTypeEnd; t++ {
		if segNames[t] == name {
			return t, true
		}
	}
	return 0, false
}

// Field numbers of the repeated fields of message Batch.
const (
	fieldNodes       protowire.Number = 1
	fieldEdges       protowire.Number = 2
	fieldChunks      protowire.Number = 3
	fieldSliceRefs   protowire.Number = 4
	fieldXattrs      protowire.Number = 5
	fieldParents     protowire.Number = 6
	fieldSymlinks    protowire.Number = 7
	fieldSustained   protowire.Number = 8
	fieldDelFiles    protowire.Number = 9
	fieldDirStats    protowire.Number = 10
	fieldQuotas      protowire.Number = 11
	fieldACLs        protowire.Number = 12
	fieldCounters    protowire.Number = 13
	fieldChangeLogs  protowire.Number = 14
	fieldUserQuotas  protowire.Number = 15
	fieldGroupQuotas protowire.Number = 16
)

// batchFields are the Batch fields a segment of each type may carry.
func batchFields(t SegType) []protowire.Number {
	switch t {
	case SegCounter:
		return []protowire.Number{fieldCounters}
	case SegNode:
		return []protowire.Number{fieldNodes}
	case SegEdge:
		return []protowire.Number{fieldEdges}
	case SegChunk:
		return []protowire.Number{fieldChunks}
	case SegSliceRef:
		return []protowire.Number{fieldSliceRefs}
	case SegSymlink:
		return []protowire.Number{fieldSymlinks}
	case SegSustained:
		return []protowire.Number{fieldSustained}
	case SegDelFile:
		return []protowire.Number{fieldDelFiles}
	case SegXattr:
		return []protowire.Number{fieldXattrs}
	case SegACL:
		return []protowire.Number{fieldACLs}
	case SegStat:
		return []protowire.Number{fieldDirStats}
	case SegQuota:
		return []protowire.Number{fieldQuotas, fieldUserQuotas, fieldGroupQuotas}
	case SegParent:
		return []protowire.Number{fieldParents}
	case SegChangeLog:
		return []protowire.Number{fieldChangeLogs}
	}
	return nil
}

// A message is one protobuf message of the format: its fields can be set
// one by one while decoding, and it appends its encoding.
type message interface {
	reset()
	// set stores one field; v is the value of a varint or fixed field, b
	// that of a length-delimited one. Unknown fields are ignored, as
	// protobuf decoders do.
	set(num protowire.Number, typ protowire.Type, v uint64, b []byte) error
	appendTo(b []byte) []byte
}

// errWireType is a known field with an unexpected encoding.
var errWireType = errors.New("unexpected wire type")

// decode parses the fields of one message from b into m.
func decode(m message, b []byte) error {
	m.reset()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v uint64
		var val []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(b)
			v = uint64(v32)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			val, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n >= 0 {
				b = b[n:]
				continue // groups: never used by the format, skipped
			}
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := m.set(num, typ, v, val); err != nil {
			return fmt.Errorf("field %d: %w", num, err)
		}
	}
	return nil
}

// wantVarint and wantBytes check a field's wire type.
func wantVarint(typ protowire.Type) error {
	if typ != protowire.VarintType {
		return errWireType
	}
	return nil
}

func wantBytes(typ protowire.Type) error {
	if typ != protowire.BytesType {
		return errWireType
	}
	return nil
}

// Appenders of proto3 fields: zero values are left out, as protobuf
// encoders do.

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendInt(b []byte, num protowire.Number, v int64) []byte { return appendUint(b, num, uint64(v)) }

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendString(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

// appendPacked appends a packed repeated uint64 field.
func appendPacked(b []byte, num protowire.Number, vs []uint64) []byte {
	if len(vs) == 0 {
		return b
	}
	size := 0
	for _, v := range vs {
		size += protowire.SizeVarint(v)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	for _, v := range vs {
		b = protowire.AppendVarint(b, v)
	}
	return b
}

// appendRepeated adds one element of a repeated uint64 field, packed (b of
// a length-delimited field) or not (v of a varint).
func appendRepeated(dst []uint64, typ protowire.Type, v uint64, b []byte) ([]uint64, error) {
	switch typ {
	case protowire.VarintType:
		return append(dst, v), nil
	case protowire.BytesType:
		for len(b) > 0 {
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return dst, protowire.ParseError(n)
			}
			dst = append(dst, x)
			b = b[n:]
		}
		return dst, nil
	}
	return dst, errWireType
}

// appendMessage appends m as field num of the enclosing message.
func appendMessage(b []byte, num protowire.Number, m message, scratch []byte) ([]byte, []byte) {
	scratch = m.appendTo(scratch[:0])
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, scratch), scratch
}
