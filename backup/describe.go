package backup

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Text forms of segments, for `load --binary --stat --offset N`: protobuf's
// JSON mapping (64-bit numbers as strings, bytes in base64, zero values
// left out), one record a line.

// batchFieldNames are the JSON names of the Batch fields.
var batchFieldNames = map[protowire.Number]string{
	fieldNodes: "nodes", fieldEdges: "edges", fieldChunks: "chunks", fieldSliceRefs: "sliceRefs",
	fieldXattrs: "xattrs", fieldParents: "parents", fieldSymlinks: "symlinks", fieldSustained: "sustained",
	fieldDelFiles: "delfiles", fieldDirStats: "dirstats", fieldQuotas: "quotas", fieldACLs: "acls",
	fieldCounters: "counters", fieldChangeLogs: "changelogs", fieldUserQuotas: "userQuotas", fieldGroupQuotas: "groupQuotas",
}

// jsonObject builds one record's JSON object.
type jsonObject struct{ parts []string }

func (o *jsonObject) add(name, value string) {
	o.parts = append(o.parts, strconv.Quote(name)+": "+value)
}
func (o *jsonObject) u64(name string, v uint64) *jsonObject {
	if v != 0 {
		o.add(name, strconv.Quote(strconv.FormatUint(v, 10)))
	}
	return o
}
func (o *jsonObject) i64(name string, v int64) *jsonObject {
	if v != 0 {
		o.add(name, strconv.Quote(strconv.FormatInt(v, 10)))
	}
	return o
}
func (o *jsonObject) u32(name string, v uint32) *jsonObject {
	if v != 0 {
		o.add(name, strconv.FormatUint(uint64(v), 10))
	}
	return o
}
func (o *jsonObject) bytes(name string, v []byte) *jsonObject {
	if len(v) != 0 {
		o.add(name, strconv.Quote(base64.StdEncoding.EncodeToString(v)))
	}
	return o
}
func (o *jsonObject) str(name, v string) *jsonObject {
	if v != "" {
		b, _ := json.Marshal(v)
		o.add(name, string(b))
	}
	return o
}
func (o *jsonObject) String() string { return "{" + strings.Join(o.parts, ", ") + "}" }

// describeRecord renders one record.
func describeRecord(rec message) string {
	o := &jsonObject{}
	switch r := rec.(type) {
	case *Counter:
		o.str("key", r.Key).i64("value", r.Value)
	case *Node:
		o.u64("inode", r.Inode).bytes("data", r.Data)
	case *Edge:
		o.u64("parent", r.Parent).u64("inode", r.Inode).bytes("name", r.Name).u32("type", r.Type)
	case *Chunk:
		o.u64("inode", r.Inode).u32("index", r.Index).bytes("slices", r.Slices)
	case *SliceRef:
		o.u64("id", r.ID).u32("size", r.Size).i64("refs", r.Refs)
	case *Xattr:
		o.u64("inode", r.Inode).str("name", string(r.Name)).bytes("value", r.Value)
	case *Parent:
		o.u64("inode", r.Inode).u64("parent", r.Parent).i64("cnt", r.Count)
	case *Symlink:
		o.u64("inode", r.Inode).bytes("target", r.Target)
	case *Sustained:
		o.u64("sid", r.Sid)
		if len(r.Inodes) > 0 {
			ids := make([]string, len(r.Inodes))
			for i, ino := range r.Inodes {
				ids[i] = strconv.Quote(strconv.FormatUint(ino, 10))
			}
			o.add("inodes", "["+strings.Join(ids, ", ")+"]")
		}
	case *DelFile:
		o.u64("inode", r.Inode).u64("length", r.Length).i64("expire", r.Expire)
	case *DirStat:
		o.u64("inode", r.Inode).i64("dataLength", r.DataLength).i64("usedSpace", r.UsedSpace).i64("usedInodes", r.UsedInodes)
	case *Quota:
		o.u64("key", r.Key).i64("maxSpace", r.MaxSpace).i64("maxInodes", r.MaxInodes).
			i64("usedSpace", r.UsedSpace).i64("usedInodes", r.UsedInodes).u32("type", r.Type)
	case *ACL:
		o.u32("id", r.ID).bytes("data", r.Data)
	case *ChangeLog:
		o.i64("version", r.Version).bytes("entry", r.Entry)
	}
	return o.String()
}

// DescribeSegment writes the segment that starts at offset of a backup of
// the given size: its name, then its records (for the format, its JSON).
func DescribeSegment(w io.Writer, r io.ReaderAt, size, offset int64) error {
	_, eos, err := ReadFooter(r, size)
	if err != nil {
		return err
	}
	var found *Segment
	err = scanSegments(r, eos, func(seg Segment) error {
		if seg.Offset == offset {
			found = &seg
		}
		return nil
	})
	if err != nil {
		return err
	}
	if found == nil {
		return fmt.Errorf("no segment starts at byte %d (`load --binary --stat --offset -1` lists the offsets)", offset)
	}
	rr := newRecordReader(r, *found)
	fmt.Fprintf(w, "Segment: %s\n", found.Type)
	if found.Type == SegFormat {
		f, err := rr.formatRecord()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "Value: %s\n", f.Data)
		return err
	}
	fmt.Fprint(w, "Value: {")
	last := protowire.Number(0)
	n := 0
	err = rr.each(func(field protowire.Number, rec message, _ int64) error {
		if field != last {
			if last != 0 {
				fmt.Fprint(w, "\n  ],")
			}
			fmt.Fprintf(w, "\n  %q: [", batchFieldNames[field])
			last, n = field, 0
		}
		if n > 0 {
			fmt.Fprint(w, ",")
		}
		n++
		_, err := fmt.Fprintf(w, "\n    %s", describeRecord(rec))
		return err
	})
	if err != nil {
		return err
	}
	if last != 0 {
		fmt.Fprint(w, "\n  ]\n")
	}
	_, err = fmt.Fprintln(w, "}")
	return err
}

// records lists every record of a backup as "segment field {json}" lines,
// in file order (the format as "format {json}").
func records(r io.ReaderAt, size int64) ([]string, error) {
	_, eos, err := ReadFooter(r, size)
	if err != nil {
		return nil, err
	}
	var lines []string
	err = scanSegments(r, eos, func(seg Segment) error {
		rr := newRecordReader(r, seg)
		if seg.Type == SegFormat {
			f, err := rr.formatRecord()
			if err == nil {
				lines = append(lines, "format "+string(f.Data))
			}
			return err
		}
		return rr.each(func(field protowire.Number, rec message, _ int64) error {
			lines = append(lines, seg.Type.String()+" "+batchFieldNames[field]+" "+describeRecord(rec))
			return nil
		})
	})
	return lines, err
}
