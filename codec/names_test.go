package codec

import (
	"strings"
	"testing"
	"time"
)

func TestLockOwnerKey(t *testing.T) {
	tests := []struct {
		sid, owner uint64
		want       string
	}{
		{3, 0xDEADBEEF, "3_00000000DEADBEEF"},
		{0, 0, "0_0000000000000000"},
		{18446744073709551615, 0xFFFFFFFFFFFFFFFF, "18446744073709551615_FFFFFFFFFFFFFFFF"},
		{12, 0x0123456789abcdef, "12_0123456789ABCDEF"},
	}
	for _, tt := range tests {
		if got := LockOwnerKey(tt.sid, tt.owner); got != tt.want {
			t.Errorf("LockOwnerKey(%d, %x) = %q, want %q", tt.sid, tt.owner, got, tt.want)
		}
		sid, owner, ok := ParseLockOwnerKey(tt.want)
		if !ok || sid != tt.sid || owner != tt.owner {
			t.Errorf("ParseLockOwnerKey(%q) = %d %x %v", tt.want, sid, owner, ok)
		}
	}
	if sid, owner, ok := ParseLockOwnerKey("7_00000000deadbeef"); !ok || sid != 7 || owner != 0xdeadbeef {
		t.Error("lower-case owner rejected")
	}
	for _, bad := range []string{"", "3", "3_", "_1", "3_1_2", "x_1", "3_G", "3_0x10", "-1_1"} {
		if _, _, ok := ParseLockOwnerKey(bad); ok {
			t.Errorf("ParseLockOwnerKey(%q) accepted", bad)
		}
	}
}

func TestDelFileMember(t *testing.T) {
	if got := DelFileMember(4097, 123456); got != "4097:123456" {
		t.Errorf("DelFileMember = %q", got)
	}
	if got := DelFileMember(TrashInode-1, 1<<63); got != "9223372032828243967:9223372036854775808" {
		t.Errorf("DelFileMember = %q", got)
	}
	ino, length, ok := ParseDelFileMember("4097:123456")
	if !ok || ino != 4097 || length != 123456 {
		t.Errorf("ParseDelFileMember = %d %d %v", ino, length, ok)
	}
	for _, bad := range []string{"", "1", "1:", ":1", "1:2:3", "a:1", "1:-1"} {
		if _, _, ok := ParseDelFileMember(bad); ok {
			t.Errorf("ParseDelFileMember(%q) accepted", bad)
		}
	}
	legacy := []struct {
		in     string
		ino    Ino
		length uint64
		ok     bool
	}{
		{"17", 17, LegacyDelFileLength, true},
		{"17:a:4096", 17, 4096, true},
		{"17:x:4096:9", 17, 4096, true},
		{"17:100", 0, 0, false}, // current form
		{"x", 0, 0, false},
	}
	for _, tt := range legacy {
		ino, length, ok := ParseLegacyDelFileMember(tt.in)
		if ino != tt.ino || length != tt.length || ok != tt.ok {
			t.Errorf("ParseLegacyDelFileMember(%q) = %d %d %v", tt.in, ino, length, ok)
		}
	}
}

func TestDelSlicesField(t *testing.T) {
	if got := DelSlicesField(26, 1795778524); got != "26_1795778524" {
		t.Errorf("DelSlicesField = %q", got)
	}
	id, ts, ok := ParseDelSlicesField("26_1795778524")
	if !ok || id != 26 || ts != 1795778524 {
		t.Errorf("ParseDelSlicesField = %d %d %v", id, ts, ok)
	}
	for _, bad := range []string{"", "26", "26_", "_1", "1_2_3", "1_-5", "1_18446744073709551615"} {
		if _, _, ok := ParseDelSlicesField(bad); ok {
			t.Errorf("ParseDelSlicesField(%q) accepted", bad)
		}
	}
}

func TestTrashEntryName(t *testing.T) {
	if got := TrashEntryName(1, 379, "trash-me.txt"); got != "1-379-trash-me.txt" {
		t.Errorf("got %q", got)
	}
	// The 250-byte name of the basic fixture, cut at 255 bytes.
	long := strings.Repeat("t", 250)
	got := TrashEntryName(52, 381, long)
	if len(got) != MaxNameLen || got != "52-381-"+strings.Repeat("t", 248) {
		t.Errorf("long name: %d bytes %q", len(got), got)
	}
	if _, ok := loadFixture(t, "basic")["d9223372032828243969"].Hash[got]; !ok {
		t.Error("cut name not found in the fixture's trash directory")
	}
	// A cut may split a UTF-8 sequence, as in JuiceFS.
	got = TrashEntryName(1, 2, strings.Repeat("é", 130))
	if len(got) != MaxNameLen || got[:4] != "1-2-" {
		t.Errorf("utf-8 cut: %d bytes", len(got))
	}

	tests := []struct {
		in          string
		parent, ino Ino
		name        string
		ok          bool
	}{
		{"1-379-trash-me.txt", 1, 379, "trash-me.txt", true},
		{"373-374-gone", 373, 374, "gone", true},
		{"5-6-", 5, 6, "", true},
		{"5-6", 0, 0, "", false},
		{"a-6-x", 0, 0, "", false},
		{"5-b-x", 0, 0, "", false},
		{"", 0, 0, "", false},
	}
	for _, tt := range tests {
		p, i, n, ok := ParseTrashEntryName(tt.in)
		if p != tt.parent || i != tt.ino || n != tt.name || ok != tt.ok {
			t.Errorf("ParseTrashEntryName(%q) = %d %d %q %v", tt.in, p, i, n, ok)
		}
	}
}

func TestTrashHourName(t *testing.T) {
	tm := time.Date(2026, 11, 27, 19, 59, 0, 0, time.FixedZone("", 8*3600))
	if got := TrashHourName(tm); got != "2026-11-27-11" {
		t.Errorf("TrashHourName = %q", got)
	}
	back, ok := ParseTrashHourName("2026-11-27-11")
	if !ok || !back.Equal(time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseTrashHourName = %v %v", back, ok)
	}
	if _, ok := ParseTrashHourName("2026-11-27"); ok {
		t.Error("day name accepted")
	}
	// The fixture's trash directory is named this way.
	for name := range loadFixture(t, "basic")["d9223372032828243968"].Hash {
		if _, ok := ParseTrashHourName(name); !ok {
			t.Errorf("fixture trash directory %q", name)
		}
	}
}
