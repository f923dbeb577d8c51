package codec

import (
	"bytes"
	"reflect"
	"testing"
)

// canonicalAttr reports whether b is a value JuiceFS 1.4.1 could have
// written, which is exactly when decoding and re-encoding returns b.
func canonicalAttr(b []byte) bool {
	aclSet := func() bool { return !bytes.Equal(b[71:79], make([]byte, 8)) }
	switch len(b) {
	case 72:
		return b[71] == 0
	case 73:
		return b[71] != 0 && b[72] == 0
	case 80:
		return aclSet() && b[79] == 0
	case 81:
		return aclSet() && b[79] != 0 && b[80] == 0
	}
	return false
}

func FuzzUnmarshalAttr(f *testing.F) {
	for _, vol := range fixtureVolumes {
		ks := loadFixture(f, vol)
		for _, name := range sortedNames(ks, 'i')[:2] {
			f.Add(ks[name].String)
		}
	}
	f.Add((&Attr{Typ: TypeFile, AccessACL: 1, Tier: 2}).Marshal())
	f.Add(make([]byte, 63))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Attr
		err := UnmarshalAttr(b, &a)
		// Decodable: long enough, a known type, a length below the largest.
		valid := len(b) >= AttrMinLen && FileType(be16(b, AttrOffMode)>>12).Valid() && be64(b, AttrOffLength) < MaxFileLength
		if (err == nil) != valid {
			t.Fatalf("len %d: err = %v", len(b), err)
		}
		if err != nil {
			return
		}
		e := a.Marshal()
		if len(e) != a.EncodedLen() || e[len(e)-1] != 0 {
			t.Fatalf("bad encoding length %d", len(e))
		}
		var a2 Attr
		if err := UnmarshalAttr(e, &a2); err != nil || a2 != a {
			t.Fatalf("re-decode differs: %+v vs %+v (%v)", a2, a, err)
		}
		if same := bytes.Equal(e, b); same != canonicalAttr(b) {
			t.Fatalf("canonical(%x) = %v but re-encoding equal = %v", b, canonicalAttr(b), same)
		}
	})
}

func FuzzEntry(f *testing.F) {
	f.Add(Entry{Typ: TypeFile, Inode: 2}.Marshal())
	f.Add([]byte("short"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := UnmarshalEntry(b)
		if (err == nil) != (len(b) == EntrySize && FileType(b[0]).Valid()) {
			t.Fatalf("len %d: err = %v", len(b), err)
		}
		if err == nil && !bytes.Equal(e.Marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// layoutInvariants checks what must hold for any layout: contiguous from 0,
// covering exactly up to the end of the furthest non-empty record.
func layoutInvariants(t *testing.T, recs []SliceRecord, layout []Slice) {
	var end, total uint64
	for _, r := range recs {
		if r.Len > 0 {
			end = max(end, uint64(r.Pos)+uint64(r.Len))
		}
	}
	for i, s := range layout {
		if s.Len == 0 {
			t.Fatalf("piece %d has length 0", i)
		}
		total += uint64(s.Len)
	}
	if total != end {
		t.Fatalf("layout covers %d bytes, records end at %d", total, end)
	}
	if len(layout) > 0 && layout[len(layout)-1].ID == 0 && layout[len(layout)-1].Size == layout[len(layout)-1].Len {
		// A trailing piece with ID 0 must come from a zero record.
		last := layout[len(layout)-1]
		found := false
		for _, r := range recs {
			if r.ID == 0 && r.Len > 0 && uint64(r.Pos)+uint64(r.Len) == end && r.Size == last.Size {
				found = true
			}
		}
		if !found {
			t.Fatalf("trailing gap %+v", last)
		}
	}
}

func FuzzSliceRecords(f *testing.F) {
	ks := loadFixture(f, "basic")
	for _, name := range []string{"c18_0", "c17_0", "c19_0"} {
		f.Add(bytes.Join(ks[name].List, nil))
	}
	f.Add(make([]byte, 23))
	f.Fuzz(func(t *testing.T, b []byte) {
		var elems [][]byte
		for len(b) > 0 {
			n := min(len(b), SliceRecordSize)
			elems, b = append(elems, b[:n]), b[n:]
		}
		recs, err := UnmarshalSliceRecords(elems)
		allFull := len(elems) == 0 || len(elems[len(elems)-1]) == SliceRecordSize
		if (err == nil) != allFull {
			t.Fatalf("err = %v with full records %v", err, allFull)
		}
		if err != nil {
			return
		}
		for i, r := range recs {
			if !bytes.Equal(r.Marshal(), elems[i]) {
				t.Fatalf("record %d re-encodes differently", i)
			}
		}
		layoutInvariants(t, recs, BuildLayout(recs))
	})
}

// FuzzBuildLayout compares BuildLayout with the byte-array model on small
// chunks: every 5 input bytes make one record within 96 bytes.
func FuzzBuildLayout(f *testing.F) {
	f.Add([]byte{0, 50, 1, 0, 50, 10, 10, 2, 0, 10})
	f.Add([]byte{30, 10, 1, 5, 40, 0, 31, 0, 0, 0, 20, 20, 3, 1, 30})
	f.Fuzz(func(t *testing.T, b []byte) {
		var recs []SliceRecord
		for ; len(b) >= 5; b = b[5:] {
			recs = append(recs, SliceRecord{Pos: uint32(b[0] % 64), Len: uint32(b[1] % 33),
				ID: uint64(b[2] % 4), Off: uint32(b[3] % 16), Size: uint32(b[4])})
		}
		got, want := BuildLayout(recs), bruteLayout(recs)
		if len(got) != 0 || len(want) != 0 {
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("records %v:\n got %v\nwant %v", recs, got, want)
			}
		}
		layoutInvariants(t, recs, got)
	})
}

func FuzzACLRule(f *testing.F) {
	for _, v := range loadFixture(f, "acl-quota")["acl"].Hash {
		f.Add(v)
	}
	f.Add(EmptyACLRule().Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalACLRule(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), b) || r.EncodedLen() != len(b) {
			t.Fatalf("re-encoding differs")
		}
		r2, err := UnmarshalACLRule(string(b))
		if err != nil || !r2.Equal(r) {
			t.Fatalf("string decode differs")
		}
	})
}

func FuzzQuota(f *testing.F) {
	f.Add(UnlimitedQuota().Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := UnmarshalQuota(b)
		if (err == nil) != (len(b) == QuotaSize) {
			t.Fatalf("len %d: err = %v", len(b), err)
		}
		if err == nil && !bytes.Equal(q.Marshal(), b) {
			t.Fatal("re-encoding differs")
		}
	})
}

func FuzzPosixLocks(f *testing.F) {
	f.Add(MarshalPosixLocks([]PosixLock{{LockWrite, 1, 0, 10}, {LockRead, 2, 20, ^uint64(0)}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ls, err := UnmarshalPosixLocks(b)
		if (err == nil) != (len(b)%PosixLockSize == 0) {
			t.Fatalf("len %d: err = %v", len(b), err)
		}
		if err == nil && !bytes.Equal(MarshalPosixLocks(ls), b) {
			t.Fatal("re-encoding differs")
		}
	})
}

func FuzzDelSliceRecords(f *testing.F) {
	for _, v := range loadFixture(f, "basic")["delSlices"].Hash {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := UnmarshalDelSliceRecords(b)
		if (err == nil) != (len(b) > 0 && len(b)%DelSliceRecordSize == 0) {
			t.Fatalf("len %d: err = %v", len(b), err)
		}
		if err == nil && !bytes.Equal(MarshalDelSliceRecords(recs), b) {
			t.Fatal("re-encoding differs")
		}
	})
}

func FuzzParseSetting(f *testing.F) {
	for _, vol := range fixtureVolumes {
		f.Add(loadFixture(f, vol)["setting"].String)
	}
	f.Add([]byte(`{"Tiers":{"7":{"ID":7,"Tag":"a=b"}},"Capacity":1,"Bucket":"<&>"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fm, err := ParseSetting(b)
		if err != nil {
			if !IsCorruption(err) {
				t.Fatalf("error is not a corruption: %v", err)
			}
			return
		}
		enc, err := fm.MarshalSetting()
		if err != nil {
			t.Fatal(err)
		}
		fm2, err := ParseSetting(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		enc2, _ := fm2.MarshalSetting()
		if !bytes.Equal(enc, enc2) || !reflect.DeepEqual(fm, fm2) {
			t.Fatalf("not idempotent:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.4.1+2026-07-30.0b90c7d", "1.1.0-A", "2", "1.2.3-rc-1+x+y", "1..2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		v2, err := ParseVersion(v.String())
		if err != nil || v2 != v {
			t.Fatalf("%q -> %+v -> %q -> %+v (%v)", s, v, v.String(), v2, err)
		}
		if CompareVersions(v, v2) != 0 {
			t.Fatal("version differs from itself")
		}
		release := Version{Major: v.Major, Minor: v.Minor, Patch: v.Patch}
		if v.PreRelease != "" && CompareVersions(v, release) != -1 {
			t.Fatalf("pre-release %q not below its release", s)
		}
	})
}

func FuzzNames(f *testing.F) {
	f.Add(uint64(3), uint64(0xDEADBEEF), "x-y")
	f.Fuzz(func(t *testing.T, a, b uint64, name string) {
		if sid, owner, ok := ParseLockOwnerKey(LockOwnerKey(a, b)); !ok || sid != a || owner != b {
			t.Fatal("lock owner key")
		}
		if ino, l, ok := ParseDelFileMember(DelFileMember(Ino(a), b)); !ok || ino != Ino(a) || l != b {
			t.Fatal("delfiles member")
		}
		entry := TrashEntryName(Ino(a), Ino(b), name)
		if len(entry) > MaxNameLen {
			t.Fatal("trash name too long")
		}
		p, i, n, ok := ParseTrashEntryName(entry)
		if !ok || p != Ino(a) || i != Ino(b) || (len(entry) < MaxNameLen && n != name) {
			t.Fatalf("trash name %q -> %d %d %q %v", entry, p, i, n, ok)
		}
		_, _, _ = ParseLockOwnerKey(name)
		_, _, _ = ParseDelFileMember(name)
		_, _, _ = ParseLegacyDelFileMember(name)
		_, _, _ = ParseDelSlicesField(name)
	})
}
