package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Summary is what a complete check of a backup found.
type Summary struct {
	Footer     *Footer
	Format     *codec.Format // the volume's format
	FormatData []byte        // its JSON, as stored in the backup
	Segments   []Segment     // in file order
	Records    map[SegType]uint64
	MaxACLID   uint32 // highest ACL rule id (0: none)
	Size       int64
}

// counterNames are the counters a backup may set, by JuiceFS's names.
var counterNames = []string{"usedSpace", "totalInodes", "nextInode", "nextChunk", "nextSession", "nextTrash", "lastChangelog"}

// Check reads a whole backup of the given size and checks everything a load
// relies on: the end marker and the footer (magic, version), every segment
// header, every record (its encoding, and values the keyspace can hold),
// one format of a metadata version this client understands, and the
// footer's offsets and record counts against the segments. threads
// segments are checked at a time; progress, when set, is told of every
// segment checked. The error names the byte offset of the first problem.
func Check(ctx context.Context, r io.ReaderAt, size int64, threads int, progress func(SegType, int)) (*Summary, error) {
	footer, eos, err := ReadFooter(r, size)
	if err != nil {
		return nil, err
	}
	s := &Summary{Footer: footer, Records: map[SegType]uint64{}, Size: size}
	if err := scanSegments(r, eos, func(seg Segment) error {
		s.Segments = append(s.Segments, seg)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.checkSegments(ctx, r, max(threads, 1), progress); err != nil {
		return nil, err
	}
	return s, s.checkFooter(eos)
}

// checkSegments checks every segment, threads at a time, and reports the
// problem found at the lowest offset.
func (s *Summary) checkSegments(ctx context.Context, r io.ReaderAt, threads int, progress func(SegType, int)) error {
	var mu sync.Mutex
	var first *FormatError
	var formats int
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(threads)
	for _, seg := range s.Segments {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			n, maxACL, f, err := checkSegment(r, seg)
			mu.Lock()
			defer mu.Unlock()
			var fe *FormatError
			if errors.As(err, &fe) {
				if first == nil || fe.Offset < first.Offset {
					first = fe
				}
				return nil
			} else if err != nil {
				return err
			}
			s.Records[seg.Type] += uint64(n)
			s.MaxACLID = max(s.MaxACLID, maxACL)
			if f != nil {
				formats++
				s.FormatData = f.Data
			}
			if progress != nil {
				progress(seg.Type, n)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if first != nil {
		return first
	}
	switch {
	case formats == 0:
		return &FormatError{Offset: 0, Reason: "the backup holds no format segment (the volume's settings)"}
	case formats > 1:
		return &FormatError{Offset: 0, Reason: fmt.Sprintf("the backup holds %d format segments, want one", formats)}
	}
	f, err := codec.ParseSetting(s.FormatData)
	if err != nil {
		return &FormatError{Offset: 0, Reason: "format segment: " + err.Error()}
	}
	if f.Name == "" {
		return &FormatError{Offset: 0, Reason: "format segment: the volume has no name"}
	}
	if err := f.Validate(); err != nil {
		return &FormatError{Offset: 0, Reason: "format segment: " + err.Error()}
	}
	if err := f.CheckMetaVersion(); err != nil {
		return &FormatError{Offset: 0, Reason: "format segment: " + err.Error()}
	}
	s.Format = f
	s.Records[SegFormat] = 1
	return nil
}

// checkSegment checks one segment: the number of its records, the highest
// ACL id among them, and for a format segment its message.
func checkSegment(r io.ReaderAt, seg Segment) (n int, maxACL uint32, f *FormatRecord, err error) {
	rr := newRecordReader(r, seg)
	if seg.Type == SegFormat {
		f, err = rr.formatRecord()
		return 1, 0, f, err
	}
	err = rr.each(func(field protowire.Number, rec message, off int64) error {
		n++
		if a, ok := rec.(*ACL); ok {
			maxACL = max(maxACL, a.ID)
		}
		if problem := checkRecord(field, rec); problem != "" {
			return rr.errorf(off, "record %d: %s", n, problem)
		}
		return nil
	})
	return n, maxACL, nil, err
}

// checkRecord tells what is wrong with a record, if anything: values the
// keyspace cannot hold, which a load would otherwise write.
func checkRecord(field protowire.Number, rec message) string {
	switch r := rec.(type) {
	case *Counter:
		if !slices.Contains(counterNames, r.Key) {
			return fmt.Sprintf("unknown counter %q", r.Key)
		}
	case *Node:
		var a codec.Attr
		if r.Inode == 0 {
			return "inode 0"
		}
		if err := codec.UnmarshalAttr(r.Data, &a); err != nil {
			return fmt.Sprintf("inode %d: %v", r.Inode, err)
		}
	case *Edge:
		return checkEdge(r)
	case *Chunk:
		if r.Inode == 0 {
			return "chunk of inode 0"
		}
		if len(r.Slices) == 0 || len(r.Slices)%codec.SliceRecordSize != 0 {
			return fmt.Sprintf("chunk %d of inode %d: %d bytes of slices, not a positive multiple of %d", r.Index, r.Inode, len(r.Slices), codec.SliceRecordSize)
		}
	case *SliceRef:
		if r.ID == 0 || r.Refs < 1 {
			return fmt.Sprintf("slice %d (size %d) with %d references", r.ID, r.Size, r.Refs)
		}
	case *Xattr:
		if r.Inode == 0 || len(r.Name) == 0 || len(r.Name) > codec.MaxXattrNameLen || len(r.Value) > codec.MaxXattrValueLen {
			return fmt.Sprintf("extended attribute of inode %d with a %d-byte name and a %d-byte value", r.Inode, len(r.Name), len(r.Value))
		}
	case *Parent:
		if r.Inode == 0 || r.Parent == 0 || r.Count < 1 {
			return fmt.Sprintf("inode %d linked %d times in directory %d", r.Inode, r.Count, r.Parent)
		}
	case *Symlink:
		if r.Inode == 0 || len(r.Target) == 0 || len(r.Target) > codec.MaxSymlinkLen {
			return fmt.Sprintf("symbolic link %d with a %d-byte target", r.Inode, len(r.Target))
		}
	case *Sustained:
		if r.Sid == 0 || len(r.Inodes) == 0 || slices.Contains(r.Inodes, 0) {
			return fmt.Sprintf("session %d with sustained inodes %v", r.Sid, r.Inodes)
		}
	case *DelFile, *DirStat:
		if ino := inodeOf(r); ino == 0 {
			return "inode 0"
		}
	case *Quota:
		if field == fieldQuotas && r.Type > uint32(codec.QuotaGroup) {
			return fmt.Sprintf("quota %d of unknown type %d", r.Key, r.Type)
		}
	case *ACL:
		if r.ID == 0 {
			return "ACL rule 0"
		}
		if _, err := codec.UnmarshalACLRule(r.Data); err != nil {
			return fmt.Sprintf("ACL rule %d: %v", r.ID, err)
		}
	}
	return ""
}

func inodeOf(rec message) uint64 {
	switch r := rec.(type) {
	case *DelFile:
		return r.Inode
	case *DirStat:
		return r.Inode
	}
	return 0
}

func checkEdge(e *Edge) string {
	switch {
	case e.Parent == 0 || e.Inode == 0:
		return fmt.Sprintf("entry %q from %d to %d", e.Name, e.Parent, e.Inode)
	case len(e.Name) == 0 || len(e.Name) > codec.MaxNameLen:
		return fmt.Sprintf("entry of directory %d with a %d-byte name", e.Parent, len(e.Name))
	case bytes.IndexByte(e.Name, '/') >= 0 || bytes.IndexByte(e.Name, 0) >= 0:
		return fmt.Sprintf("entry %q of directory %d: a name cannot contain '/' or NUL", e.Name, e.Parent)
	case e.Type > 255 || !codec.FileType(e.Type).Valid():
		return fmt.Sprintf("entry %q of directory %d: unknown type %d", e.Name, e.Parent, e.Type)
	}
	return ""
}

// checkFooter compares the footer with the segments.
func (s *Summary) checkFooter(eos int64) error {
	seen := map[string]*SegInfo{}
	for _, seg := range s.Segments {
		info := seen[seg.Type.String()]
		if info == nil {
			info = &SegInfo{}
			seen[seg.Type.String()] = info
		}
		info.Offsets = append(info.Offsets, uint64(seg.Offset))
	}
	for t, n := range s.Records {
		if info := seen[t.String()]; info != nil {
			info.Num = n
		}
	}
	for name, want := range s.Footer.Infos {
		got := seen[name]
		if got == nil {
			return &FormatError{Offset: eos, Reason: fmt.Sprintf("the footer lists %s segments at %v, which are not there: truncated or damaged", name, want.Offsets)}
		}
		if !slices.Equal(got.Offsets, want.Offsets) {
			return &FormatError{Offset: eos, Reason: fmt.Sprintf("the footer puts the %s segments at %v, they are at %v", name, want.Offsets, got.Offsets)}
		}
		if got.Num != want.Num {
			return &FormatError{Offset: eos, Reason: fmt.Sprintf("the footer counts %d %s records, the segments hold %d", want.Num, name, got.Num)}
		}
	}
	for name, got := range seen {
		if s.Footer.Infos[name] == nil {
			return &FormatError{Offset: int64(got.Offsets[0]), Reason: fmt.Sprintf("%s segment missing from the footer", name)}
		}
	}
	return nil
}
