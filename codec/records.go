package codec

// Entry is the value of a field of a d{ino} hash: the child's type and inode.
// The field name is the entry name.
type Entry struct {
	Typ   FileType
	Inode Ino
}

// Marshal returns the 9-byte encoding of e.
func (e Entry) Marshal() []byte { return e.Append(make([]byte, 0, EntrySize)) }

// Append appends the 9-byte encoding of e to dst.
func (e Entry) Append(dst []byte) []byte {
	return put64(append(dst, byte(e.Typ)), uint64(e.Inode))
}

// UnmarshalEntry decodes a directory entry value. Any length other than 9 is
// corruption (the official client panics on it).
func UnmarshalEntry[B Bytes](b B) (Entry, error) {
	if len(b) != EntrySize {
		return Entry{}, corruptf("directory entry has %d bytes, need %d", len(b), EntrySize)
	}
	e := Entry{Typ: FileType(b[0]), Inode: Ino(be64(b, EntryOffInode))}
	if !e.Typ.Valid() {
		return Entry{}, corruptf("directory entry has unknown type %d", e.Typ)
	}
	return e, nil
}

// QuotaUnlimited is the conventional "no limit" value of QuotaLimits fields;
// any value <= 0 means unlimited.
const QuotaUnlimited int64 = -1

// QuotaLimits is the value of a dirQuota, userQuota or groupQuota field.
// Usage is stored separately as decimal integers.
type QuotaLimits struct {
	MaxSpace  int64 // bytes; <= 0 = unlimited
	MaxInodes int64 // <= 0 = unlimited
}

// UnlimitedQuota returns the limits JuiceFS writes with HSETNX when a quota
// entry is first needed: both -1.
func UnlimitedQuota() QuotaLimits {
	return QuotaLimits{MaxSpace: QuotaUnlimited, MaxInodes: QuotaUnlimited}
}

// Marshal returns the 16-byte encoding of q.
func (q QuotaLimits) Marshal() []byte { return q.Append(make([]byte, 0, QuotaSize)) }

// Append appends the 16-byte encoding of q to dst.
func (q QuotaLimits) Append(dst []byte) []byte {
	return put64(put64(dst, uint64(q.MaxSpace)), uint64(q.MaxInodes))
}

// UnmarshalQuota decodes a quota limit value; only exactly 16 bytes are
// valid.
func UnmarshalQuota[B Bytes](b B) (QuotaLimits, error) {
	if len(b) != QuotaSize {
		return QuotaLimits{}, corruptf("quota value has %d bytes, need %d", len(b), QuotaSize)
	}
	return QuotaLimits{MaxSpace: int64(be64(b, 0)), MaxInodes: int64(be64(b, 8))}, nil
}

// DelSliceRecord names one slice kept alive in a delSlices value.
type DelSliceRecord struct {
	ID   uint64
	Size uint32
}

// AppendDelSliceRecords appends the concatenated 12-byte encodings of recs
// to dst, the value of a delSlices field.
func AppendDelSliceRecords(dst []byte, recs []DelSliceRecord) []byte {
	for _, r := range recs {
		dst = put32(put64(dst, r.ID), r.Size)
	}
	return dst
}

// MarshalDelSliceRecords returns the delSlices value for recs.
func MarshalDelSliceRecords(recs []DelSliceRecord) []byte {
	return AppendDelSliceRecords(make([]byte, 0, len(recs)*DelSliceRecordSize), recs)
}

// UnmarshalDelSliceRecords decodes a delSlices value. JuiceFS ignores a value
// that is empty or not a multiple of 12 bytes; it is reported as corruption
// here so the caller can log and skip it.
func UnmarshalDelSliceRecords[B Bytes](b B) ([]DelSliceRecord, error) {
	if len(b) == 0 || len(b)%DelSliceRecordSize != 0 {
		return nil, corruptf("delayed slice list has %d bytes, need a non-zero multiple of %d", len(b), DelSliceRecordSize)
	}
	recs := make([]DelSliceRecord, len(b)/DelSliceRecordSize)
	for i := range recs {
		off := i * DelSliceRecordSize
		recs[i] = DelSliceRecord{ID: be64(b, off), Size: be32(b, off+8)}
	}
	return recs, nil
}

// PosixLock is one byte-range lock of one owner, an element of a lockp{ino}
// field value. Start and End are inclusive; an owner's
// records are sorted by Start and do not overlap.
type PosixLock struct {
	Type  uint32 // LockRead or LockWrite (Linux F_* values)
	Pid   uint32
	Start uint64
	End   uint64
}

// AppendPosixLocks appends the concatenated 24-byte encodings of ls to dst.
func AppendPosixLocks(dst []byte, ls []PosixLock) []byte {
	for _, l := range ls {
		dst = put64(put64(put32(put32(dst, l.Type), l.Pid), l.Start), l.End)
	}
	return dst
}

// MarshalPosixLocks returns the lockp field value for ls.
func MarshalPosixLocks(ls []PosixLock) []byte {
	return AppendPosixLocks(make([]byte, 0, len(ls)*PosixLockSize), ls)
}

// UnmarshalPosixLocks decodes a lockp field value; its length must be a
// multiple of 24 (an empty value is an empty list).
func UnmarshalPosixLocks[B Bytes](b B) ([]PosixLock, error) {
	if len(b)%PosixLockSize != 0 {
		return nil, corruptf("POSIX lock list has %d bytes, not a multiple of %d", len(b), PosixLockSize)
	}
	if len(b) == 0 {
		return nil, nil
	}
	ls := make([]PosixLock, len(b)/PosixLockSize)
	for i := range ls {
		off := i * PosixLockSize
		ls[i] = PosixLock{Type: be32(b, off), Pid: be32(b, off+4), Start: be64(b, off+8), End: be64(b, off+16)}
	}
	return ls, nil
}
