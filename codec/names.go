package codec

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// LockOwnerKey returns the lockf/lockp hash field of a lock holder: decimal
// session ID, '_', and the 64-bit lock owner as exactly 16 upper-case
// hexadecimal digits, e.g. "3_00000000DEADBEEF".
func LockOwnerKey(sid, owner uint64) string {
	const hexDigits = "0123456789ABCDEF"
	var buf [20 + 1 + 16]byte
	b := strconv.AppendUint(buf[:0], sid, 10)
	b = append(b, '_')
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(owner>>uint(shift))&0xF])
	}
	return string(b)
}

// ParseLockOwnerKey splits a lock owner field into session ID and owner. As
// in JuiceFS, the field must contain exactly one '_' and the owner is read as
// hexadecimal in either case.
func ParseLockOwnerKey(field string) (sid, owner uint64, ok bool) {
	s, o, found := strings.Cut(field, "_")
	if !found || strings.Contains(o, "_") {
		return 0, 0, false
	}
	sid, err1 := strconv.ParseUint(s, 10, 64)
	owner, err2 := strconv.ParseUint(o, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return sid, owner, true
}

// DelFileMember returns the delfiles zset member of a file whose data must be
// deleted: "{ino}:{length}". The length tells the data
// cleaner how many chunks to visit.
func DelFileMember(ino Ino, length uint64) string {
	var buf [41]byte
	b := strconv.AppendUint(buf[:0], uint64(ino), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, length, 10)
	return string(b)
}

// ParseDelFileMember parses a delfiles member of the current form: exactly
// one ':' between two decimal numbers. Other members are legacy ones (see
// ParseLegacyDelFileMember).
func ParseDelFileMember(member string) (ino Ino, length uint64, ok bool) {
	i, l, found := strings.Cut(member, ":")
	if !found || strings.Contains(l, ":") {
		return 0, 0, false
	}
	n, err1 := strconv.ParseUint(i, 10, 64)
	length, err2 := strconv.ParseUint(l, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return Ino(n), length, true
}

// LegacyDelFileLength is the length assumed for a legacy delfiles member that
// records none.
const LegacyDelFileLength = 1 << 30

// ParseLegacyDelFileMember parses a delfiles member written by old clients:
// any member that does not contain exactly one ':'. The inode is the part
// before the first ':'; the length is the third ':'-separated part if there
// is one, else LegacyDelFileLength. ok is false for current-form members and
// when the inode is not a number.
func ParseLegacyDelFileMember(member string) (ino Ino, length uint64, ok bool) {
	parts := strings.Split(member, ":")
	if len(parts) == 2 {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	length = LegacyDelFileLength
	if len(parts) > 2 {
		if length, err = strconv.ParseUint(parts[2], 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return Ino(n), length, true
}

// DelSlicesField returns the delSlices hash field for the slices replaced by a
// compaction that produced slice id at Unix time unixSec: "{id}_{unixSec}".
func DelSlicesField(id uint64, unixSec int64) string {
	var buf [41]byte
	b := strconv.AppendUint(buf[:0], id, 10)
	b = append(b, '_')
	b = strconv.AppendInt(b, unixSec, 10)
	return string(b)
}

// ParseDelSlicesField is the inverse of DelSlicesField. Like JuiceFS it
// requires exactly one '_' and an unsigned time.
func ParseDelSlicesField(field string) (id uint64, unixSec int64, ok bool) {
	i, t, found := strings.Cut(field, "_")
	if !found || strings.Contains(t, "_") {
		return 0, 0, false
	}
	id, err1 := strconv.ParseUint(i, 10, 64)
	ts, err2 := strconv.ParseUint(t, 10, 64)
	if err1 != nil || err2 != nil || ts > math.MaxInt64 {
		return 0, 0, false
	}
	return id, int64(ts), true
}

// TrashEntryName returns the name a deleted node gets in its trash
// sub-directory: "{parent}-{ino}-{name}", cut to its first
// 255 bytes (even inside a UTF-8 sequence) when longer.
func TrashEntryName(parent, ino Ino, name string) string {
	b := make([]byte, 0, min(MaxNameLen, 42+len(name)))
	b = strconv.AppendUint(b, uint64(parent), 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(ino), 10)
	b = append(b, '-')
	b = append(b, name...)
	if len(b) > MaxNameLen {
		b = b[:MaxNameLen]
	}
	return string(b)
}

// ParseTrashEntryName splits a trash entry name on its first two '-', as
// `juicefs restore` does: the original parent, the inode and the (possibly
// cut) original name, which may itself contain '-'. ok is false when there
// are fewer than two '-' or either number is not decimal.
func ParseTrashEntryName(entry string) (parent, ino Ino, name string, ok bool) {
	p, rest, found1 := strings.Cut(entry, "-")
	i, name, found2 := strings.Cut(rest, "-")
	if !found1 || !found2 {
		return 0, 0, "", false
	}
	pn, err1 := strconv.ParseUint(p, 10, 64)
	in, err2 := strconv.ParseUint(i, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, "", false
	}
	return Ino(pn), Ino(in), name, true
}

// trashHourLayout is the time layout of trash sub-directory names.
const trashHourLayout = "2006-01-02-15"

// TrashHourName returns the name of the trash sub-directory collecting the
// deletions of t's hour: t in UTC formatted as "YYYY-MM-DD-HH".
func TrashHourName(t time.Time) string {
	return t.UTC().Format(trashHourLayout)
}

// ParseTrashHourName parses a trash sub-directory name back into the UTC
// start of its hour; the trash cleaner uses it to find expired directories.
func ParseTrashHourName(name string) (time.Time, bool) {
	t, err := time.Parse(trashHourLayout, name)
	return t, err == nil
}
