package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEntry(t *testing.T) {
	e := Entry{Typ: TypeDirectory, Inode: 0x0102030405060708}
	if got := hex.EncodeToString(e.Marshal()); got != "020102030405060708" {
		t.Fatalf("Marshal = %s", got)
	}
	back, err := UnmarshalEntry(string(e.Marshal()))
	if err != nil || back != e {
		t.Fatalf("round trip %+v %v", back, err)
	}
	for _, n := range []int{0, 8, 10} {
		_, err := UnmarshalEntry(make([]byte, n))
		if !IsCorruption(err) || !strings.Contains(err.Error(), "need 9") {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

func TestQuota(t *testing.T) {
	tests := []struct {
		q   QuotaLimits
		hex string
	}{
		{UnlimitedQuota(), "ffffffffffffffffffffffffffffffff"},
		{QuotaLimits{MaxSpace: 1 << 30, MaxInodes: 100}, "00000000400000000000000000000064"},
		{QuotaLimits{}, "00000000000000000000000000000000"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.q.Marshal()); got != tt.hex {
			t.Errorf("%+v: %s, want %s", tt.q, got, tt.hex)
		}
		b, _ := hex.DecodeString(tt.hex)
		if got, err := UnmarshalQuota(b); err != nil || got != tt.q {
			t.Errorf("decode %s: %+v %v", tt.hex, got, err)
		}
	}
	for _, n := range []int{0, 15, 17, 32} {
		if _, err := UnmarshalQuota(make([]byte, n)); !IsCorruption(err) {
			t.Errorf("%d bytes accepted", n)
		}
	}
}

func TestDelSliceRecords(t *testing.T) {
	recs := []DelSliceRecord{{ID: 20, Size: 40000}, {ID: 1 << 40, Size: 1}}
	b := MarshalDelSliceRecords(recs)
	if got := hex.EncodeToString(b); got != "000000000000001400009c40"+"000001000000000000000001" {
		t.Fatalf("Marshal = %s", got)
	}
	back, err := UnmarshalDelSliceRecords(b)
	if err != nil || !reflect.DeepEqual(back, recs) {
		t.Fatalf("round trip %v %v", back, err)
	}
	for _, n := range []int{0, 11, 13, 25} {
		if _, err := UnmarshalDelSliceRecords(make([]byte, n)); !IsCorruption(err) {
			t.Errorf("%d bytes accepted", n)
		}
	}
}

func TestPosixLocks(t *testing.T) {
	ls := []PosixLock{{Type: LockRead, Pid: 10, Start: 0, End: 99}, {Type: LockWrite, Pid: 11, Start: 100, End: ^uint64(0)}}
	b := MarshalPosixLocks(ls)
	want := "00000000" + "0000000a" + "0000000000000000" + "0000000000000063" +
		"00000001" + "0000000b" + "0000000000000064" + "ffffffffffffffff"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("Marshal = %s", got)
	}
	back, err := UnmarshalPosixLocks(b)
	if err != nil || !reflect.DeepEqual(back, ls) {
		t.Fatalf("round trip %v %v", back, err)
	}
	if back, err := UnmarshalPosixLocks(""); err != nil || back != nil {
		t.Errorf("empty: %v %v", back, err)
	}
	if _, err := UnmarshalPosixLocks(make([]byte, 30)); !IsCorruption(err) {
		t.Error("30 bytes accepted")
	}
}

func TestACLRule(t *testing.T) {
	// acl rule 1 of the acl-quota fixture: u:1001:rw-,g:1002:r-- on a 0644 file.
	const fixtureHex = "000600040006000400000001000003e9000600000001000003ea0004"
	want := ACLRule{Owner: 6, Group: 4, Mask: 6, Other: 4,
		NamedUsers: []ACLEntry{{ID: 1001, Perm: 6}}, NamedGroups: []ACLEntry{{ID: 1002, Perm: 4}}}
	b, _ := hex.DecodeString(fixtureHex)
	r, err := UnmarshalACLRule(b)
	if err != nil || !r.Equal(want) || !reflect.DeepEqual(r, want) {
		t.Fatalf("decode: %+v %v", r, err)
	}
	if got := hex.EncodeToString(want.Marshal()); got != fixtureHex || want.EncodedLen() != len(b) {
		t.Fatalf("encode: %s", got)
	}
	if r.IsEmpty() || r.IsMinimal() {
		t.Error("rule with entries is empty/minimal")
	}

	empty := EmptyACLRule()
	if !empty.IsEmpty() || !empty.IsMinimal() {
		t.Error("EmptyACLRule not empty")
	}
	minimal := ACLRule{Owner: 7, Group: 5, Mask: ACLUnset, Other: 0}
	if minimal.IsEmpty() || !minimal.IsMinimal() {
		t.Error("minimal rule misclassified")
	}
	if got := hex.EncodeToString(minimal.Marshal()); got != "00070005ffff00000000000000000000" {
		t.Errorf("minimal encoding %s", got)
	}
	back, err := UnmarshalACLRule(minimal.Marshal())
	if err != nil || back.NamedUsers != nil || !back.Equal(minimal) {
		t.Errorf("minimal round trip %+v %v", back, err)
	}
	withEmptyLists := minimal
	withEmptyLists.NamedUsers = []ACLEntry{}
	if !withEmptyLists.Equal(minimal) {
		t.Error("nil and empty entry lists differ")
	}
	other := want
	other.NamedGroups = []ACLEntry{{ID: 1002, Perm: 5}}
	if other.Equal(want) {
		t.Error("different group entries are equal")
	}

	bad := []struct {
		name string
		hex  string
	}{
		{"short header", "0006000400060004000000"},
		{"no group count", "000600040006000400000000"},
		{"users beyond end", "000600040006000400000002000003e9000600000000"},
		{"huge count", "0006000400060004ffffffff"},
		{"groups beyond end", "0006000400060004000000000000000100000001"},
		{"trailing bytes", "00060004000600040000000000000000ff"},
	}
	for _, tt := range bad {
		b, _ := hex.DecodeString(tt.hex)
		if _, err := UnmarshalACLRule(b); !IsCorruption(err) {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func TestCorruptError(t *testing.T) {
	var a Attr
	err := Corrupt("i123", UnmarshalAttr(make([]byte, 12), &a))
	if got := err.Error(); got != `corrupt value in key "i123": attribute record has 12 bytes, need at least 63` {
		t.Errorf("message = %s", got)
	}
	_, derr := UnmarshalEntry("abc")
	err = CorruptField("d1", "name", derr)
	if got := err.Error(); got != `corrupt value in key "d1" field "name": directory entry has 3 bytes, need 9` {
		t.Errorf("message = %s", got)
	}
	if !IsCorruption(err) || IsCorruption(errors.New("x")) || IsCorruption(nil) {
		t.Error("IsCorruption")
	}
	if Corrupt("k", nil) != nil {
		t.Error("Corrupt(nil) != nil")
	}
	base := errors.New("boom")
	wrapped := Corrupt("setting", base)
	if !IsCorruption(wrapped) || !errors.Is(wrapped, base) || wrapped.Error() != `corrupt value in key "setting": boom` {
		t.Errorf("wrapped = %v", wrapped)
	}
	_, perr := ParseSetting("{")
	if !IsCorruption(perr) || !strings.HasPrefix(Corrupt("setting", perr).Error(), `corrupt value in key "setting": invalid volume format JSON: `) {
		t.Errorf("ParseSetting error = %v", perr)
	}
}

// TestFixtureHashValues re-encodes every directory entry, ACL rule, quota and
// delayed-slice value of the fixtures.
func TestFixtureHashValues(t *testing.T) {
	counts := map[string]int{}
	for _, vol := range fixtureVolumes {
		ks := loadFixture(t, vol)
		for _, name := range sortedNames(ks, 'd') {
			for field, v := range ks[name].Hash {
				e, err := UnmarshalEntry(v)
				if err != nil {
					t.Fatalf("%s %s %q: %v", vol, name, field, err)
				}
				if !bytes.Equal(e.Marshal(), v) || !e.Typ.Valid() {
					t.Errorf("%s %s %q: %+v", vol, name, field, e)
				}
				// The child's attribute has the same type.
				var a Attr
				if err := UnmarshalAttr(ks["i"+e.Inode.String()].String, &a); err != nil || a.Typ != e.Typ {
					t.Errorf("%s %s %q: child type %v, entry %v (%v)", vol, name, field, a.Typ, e.Typ, err)
				}
				counts["entry"]++
			}
		}
		if k := ks["acl"]; k != nil {
			for id, v := range k.Hash {
				r, err := UnmarshalACLRule(v)
				if err != nil {
					t.Fatalf("%s acl %s: %v", vol, id, err)
				}
				if !bytes.Equal(r.Marshal(), v) || r.IsEmpty() {
					t.Errorf("%s acl %s: %+v", vol, id, r)
				}
				counts["acl"]++
			}
		}
		for _, hash := range []string{"dirQuota", "userQuota", "groupQuota"} {
			if k := ks[hash]; k != nil {
				for f, v := range k.Hash {
					q, err := UnmarshalQuota(v)
					if err != nil || !bytes.Equal(q.Marshal(), v) {
						t.Errorf("%s %s %s: %+v %v", vol, hash, f, q, err)
					}
					if q != (QuotaLimits{MaxSpace: 1 << 30, MaxInodes: 100}) {
						t.Errorf("%s %s %s: %+v", vol, hash, f, q)
					}
					counts["quota"]++
				}
			}
		}
		if k := ks["delSlices"]; k != nil {
			for f, v := range k.Hash {
				if _, _, ok := ParseDelSlicesField(f); !ok {
					t.Errorf("%s delSlices field %q", vol, f)
				}
				recs, err := UnmarshalDelSliceRecords(v)
				if err != nil || !bytes.Equal(MarshalDelSliceRecords(recs), v) {
					t.Errorf("%s delSlices %s: %v %v", vol, f, recs, err)
				}
				counts["delSlices"] += len(recs)
			}
		}
	}
	if counts["entry"] < 100 || counts["acl"] != 8 || counts["quota"] != 2 || counts["delSlices"] != 6 {
		t.Errorf("unexpected fixture counts %v", counts)
	}
}
