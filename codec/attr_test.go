package codec

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
)

func TestAttrSpecExample(t *testing.T) {
	a := Attr{Typ: TypeDirectory, Mode: 0o755, Uid: 1000, Gid: 1001, Nlink: 2, Length: 4096, Parent: 1}
	b := a.Marshal()
	if len(b) != 72 {
		t.Fatalf("len = %d, want 72", len(b))
	}
	if got, want := hex.EncodeToString(b[:11]), "0021ed000003e8000003e9"; got != want {
		t.Errorf("head = %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(b[47:59]), "000000020000000000001000"; got != want {
		t.Errorf("nlink+length = %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(b[63:]), "000000000000000100"; got != want {
		t.Errorf("tail = %s, want %s", got, want)
	}
	var back Attr
	if err := UnmarshalAttr(b, &back); err != nil || back != a {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestAttrLengths(t *testing.T) {
	base := Attr{Flags: FlagAppend | FlagSkipTrash, Typ: TypeFile, Mode: 0o4755, Uid: 7, Gid: 8,
		Atime: -5, Atimensec: 999999999, Mtime: 1 << 40, Mtimensec: 1, Ctime: 3, Ctimensec: 2,
		Nlink: 1, Length: MaxFileLength - 1, Rdev: 0x103, Parent: 9}
	tests := []struct {
		name          string
		access, deflt uint32
		tier          uint8
		wantLen       int
		aclAt, tierAt int // -1 when absent
	}{
		{"plain", 0, 0, 0, 72, -1, -1},
		{"tier", 0, 0, 3, 73, -1, 71},
		{"access acl", 5, 0, 0, 80, 71, -1},
		{"default acl", 0, 6, 0, 80, 71, -1},
		{"acl and tier", 5, 6, 255, 81, 71, 79},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			a.AccessACL, a.DefaultACL, a.Tier = tt.access, tt.deflt, tt.tier
			b := a.Marshal()
			if len(b) != tt.wantLen || a.EncodedLen() != tt.wantLen {
				t.Fatalf("len = %d (EncodedLen %d), want %d", len(b), a.EncodedLen(), tt.wantLen)
			}
			if b[len(b)-1] != 0 {
				t.Errorf("last byte = %#x, want 0", b[len(b)-1])
			}
			if tt.aclAt >= 0 {
				if got := be32(b, tt.aclAt); got != tt.access {
					t.Errorf("access ACL at %d = %d", tt.aclAt, got)
				}
				if got := be32(b, tt.aclAt+4); got != tt.deflt {
					t.Errorf("default ACL = %d", got)
				}
			}
			if tt.tierAt >= 0 && b[tt.tierAt] != tt.tier {
				t.Errorf("tier at %d = %d", tt.tierAt, b[tt.tierAt])
			}
			var back Attr
			if err := UnmarshalAttr(b, &back); err != nil {
				t.Fatal(err)
			}
			if back != a {
				t.Errorf("round trip:\n got %+v\nwant %+v", back, a)
			}
			if got := a.Append([]byte("xy")); !bytes.Equal(got[2:], b) || string(got[:2]) != "xy" {
				t.Errorf("Append does not append")
			}
			var fromString Attr
			if err := UnmarshalAttr(string(b), &fromString); err != nil || fromString != a {
				t.Errorf("string decode differs: %+v %v", fromString, err)
			}
		})
	}
}

func TestUnmarshalAttrReader(t *testing.T) {
	full := (&Attr{Typ: TypeFile, Mode: 0o644, Parent: 0x0102030405060708, AccessACL: 0x11, DefaultACL: 0x22, Tier: 9}).Marshal()
	tests := []struct {
		n                int
		parent           Ino
		access, dft      uint32
		tier             uint8
		wantErrSubstring string
	}{
		{0, 0, 0, 0, 0, "has 0 bytes, need at least 63"},
		{12, 0, 0, 0, 0, "attribute record has 12 bytes, need at least 63"},
		{62, 0, 0, 0, 0, "62 bytes"},
		{63, 0, 0, 0, 0, ""},                                    // very old value, no Parent
		{64, 0, 0, 0, 0x01, ""},                                 // 1 spare byte read as tier
		{70, 0, 0, 0, 0x01, ""},                                 // still no Parent
		{71, 0x0102030405060708, 0, 0, 0, ""},                   // Parent only
		{72, 0x0102030405060708, 0, 0, 0x00, ""},                // padding byte read as tier
		{79, 0x0102030405060708, 0x11, 0x22, 0, ""},             // ACL only
		{80, 0x0102030405060708, 0x11, 0x22, 9, ""},             // ACL and tier
		{81, 0x0102030405060708, 0x11, 0x22, 9, ""},             // full value
		{len(full), 0x0102030405060708, 0x11, 0x22, 9, ""},      // same
		{len(full) + 10, 0x0102030405060708, 0x11, 0x22, 9, ""}, // extra bytes ignored
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			b := make([]byte, tt.n)
			copy(b, full)
			a := Attr{Uid: 42, Parent: 77}
			err := UnmarshalAttr(b, &a)
			if tt.wantErrSubstring != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstring) || !IsCorruption(err) {
					t.Fatalf("err = %v, want corruption containing %q", err, tt.wantErrSubstring)
				}
				if a.Uid != 42 || a.Parent != 77 {
					t.Errorf("attr modified on error: %+v", a)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Parent != tt.parent || a.AccessACL != tt.access || a.DefaultACL != tt.dft || a.Tier != tt.tier {
				t.Errorf("got parent %#x acl %d/%d tier %d", a.Parent, a.AccessACL, a.DefaultACL, a.Tier)
			}
			if a.Uid != 0 || a.Typ != TypeFile || a.Mode != 0o644 {
				t.Errorf("base fields wrong: %+v", a)
			}
		})
	}
}

func TestAttrModes(t *testing.T) {
	tests := []struct {
		typ   FileType
		mode  uint16
		field uint16
		smode uint32
	}{
		{TypeFile, 0o644, 0x11a4, 0o100644},
		{TypeDirectory, 0o1777, 0x23ff, 0o41777},
		{TypeSymlink, 0o777, 0x31ff, 0o120777},
		{TypeFIFO, 0o600, 0x4180, 0o10600},
		{TypeBlockDev, 0o660, 0x51b0, 0o60660},
		{TypeCharDev, 0o666, 0x61b6, 0o20666},
		{TypeSocket, 0o755, 0x71ed, 0o140755},
		{TypeFile, 0o4755, 0x19ed, 0o104755},
	}
	for _, tt := range tests {
		a := Attr{Typ: tt.typ, Mode: tt.mode}
		if got := a.ModeField(); got != tt.field {
			t.Errorf("%v %o: ModeField = %#x, want %#x", tt.typ, tt.mode, got, tt.field)
		}
		if got := a.SMode(); got != tt.smode {
			t.Errorf("%v %o: SMode = %o, want %o", tt.typ, tt.mode, got, tt.smode)
		}
		if got, ok := FileTypeFromStatMode(tt.smode); !ok || got != tt.typ {
			t.Errorf("FileTypeFromStatMode(%o) = %v, %v", tt.smode, got, ok)
		}
	}
	if _, ok := FileTypeFromStatMode(0o644); ok {
		t.Error("FileTypeFromStatMode accepted a mode without type")
	}
}

func TestFileTypeNames(t *testing.T) {
	want := map[FileType]string{TypeFile: "regular", TypeDirectory: "directory", TypeSymlink: "symlink",
		TypeFIFO: "fifo", TypeBlockDev: "blockdev", TypeCharDev: "chardev", TypeSocket: "socket"}
	for typ, name := range want {
		if typ.String() != name || !typ.Valid() {
			t.Errorf("%d: %q", typ, typ.String())
		}
		if got, ok := ParseFileType(name); !ok || got != typ {
			t.Errorf("ParseFileType(%q) = %v, %v", name, got, ok)
		}
	}
	for _, bad := range []FileType{0, 8, 15, 255} {
		if bad.Valid() || bad.String() != "unknown" || bad.StatMode() != 0 {
			t.Errorf("type %d treated as valid", bad)
		}
	}
	if _, ok := ParseFileType("file"); ok {
		t.Error(`ParseFileType("file") succeeded`)
	}
}

func TestAlign4K(t *testing.T) {
	for _, tt := range []struct{ in, want uint64 }{{0, 4096}, {1, 4096}, {4095, 4096}, {4096, 4096}, {4097, 8192}, {12345, 16384}} {
		if got := Align4K(tt.in); got != tt.want {
			t.Errorf("Align4K(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestInoClasses(t *testing.T) {
	tests := []struct {
		ino                    Ino
		valid, normal, isTrash bool
	}{
		{0, false, false, false},
		{RootInode, true, true, false},
		{2, true, true, false},
		{ConfigInode, true, true, false},
		{TrashInode - 1, true, true, false},
		{TrashInode, true, false, true},
		{TrashInode + 1, true, false, true},
	}
	for _, tt := range tests {
		if tt.ino.IsValid() != tt.valid || tt.ino.IsNormal() != tt.normal || tt.ino.IsTrash() != tt.isTrash {
			t.Errorf("%d: valid %v normal %v trash %v", tt.ino, tt.ino.IsValid(), tt.ino.IsNormal(), tt.ino.IsTrash())
		}
	}
	if TrashInode.String() != "9223372032828243968" {
		t.Errorf("TrashInode = %s", TrashInode)
	}
}

// TestFixtureAttrs decodes and re-encodes every i* value of every fixture
// volume: identical bytes prove the layout, the ACL/tier rules and the
// trailing zero.
func TestFixtureAttrs(t *testing.T) {
	for _, vol := range fixtureVolumes {
		ks := loadFixture(t, vol)
		names := sortedNames(ks, 'i')
		if len(names) == 0 {
			t.Fatalf("%s: no inode keys", vol)
		}
		for _, name := range names {
			v := ks[name].String
			var a Attr
			if err := UnmarshalAttr(v, &a); err != nil {
				t.Fatalf("%s %s: %v", vol, name, err)
			}
			if got := a.Marshal(); !bytes.Equal(got, v) {
				t.Errorf("%s %s: re-encoded\n%x\nwant\n%x", vol, name, got, v)
			}
			if !a.Typ.Valid() {
				t.Errorf("%s %s: type %d", vol, name, a.Typ)
			}
		}
	}
}

func TestFixtureAttrSpotChecks(t *testing.T) {
	ks := loadFixture(t, "empty")
	attr := func(name string) Attr {
		var a Attr
		if err := UnmarshalAttr(ks[name].String, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	root := attr("i1")
	if root.Typ != TypeDirectory || root.Mode != 0o777 || root.Nlink != 2 || root.Length != 4096 ||
		root.Parent != 1 || root.Uid != 0 || root.Gid != 0 || root.Atimensec != 0 {
		t.Errorf("root = %+v", root)
	}
	trash := attr("i" + TrashInode.String())
	if trash.Typ != TypeDirectory || trash.Mode != 0o555 || trash.Nlink != 2 || trash.Length != 4096 || trash.Parent != 1 {
		t.Errorf("trash = %+v", trash)
	}
	if len(ks["i1"].String) != 72 {
		t.Errorf("root value has %d bytes", len(ks["i1"].String))
	}

	aq := loadFixture(t, "acl-quota")
	n80 := 0
	for _, name := range sortedNames(aq, 'i') {
		var a Attr
		_ = UnmarshalAttr(aq[name].String, &a)
		if len(aq[name].String) == 80 {
			n80++
			if a.AccessACL == 0 && a.DefaultACL == 0 {
				t.Errorf("%s: 80 bytes but no ACL", name)
			}
			if _, ok := aq["acl"].Hash[strconv.FormatUint(uint64(max(a.AccessACL, a.DefaultACL)), 10)]; !ok {
				t.Errorf("%s: ACL %d/%d not in acl hash", name, a.AccessACL, a.DefaultACL)
			}
		}
	}
	if n80 == 0 {
		t.Error("acl-quota has no 80-byte attribute")
	}
}

// TestFixtureAttrsMatchManifest compares every node the official client
// showed through FUSE with the decoded attribute record.
func TestFixtureAttrsMatchManifest(t *testing.T) {
	typeNames := map[string]FileType{"dir": TypeDirectory, "file": TypeFile, "symlink": TypeSymlink,
		"fifo": TypeFIFO, "socket": TypeSocket, "chardev": TypeCharDev, "blockdev": TypeBlockDev}
	for _, vol := range fixtureVolumes {
		ks := loadFixture(t, vol)
		entries := loadManifest(t, vol)
		for _, e := range entries {
			k := ks["i"+strconv.FormatUint(e.Ino, 10)]
			if k == nil {
				t.Errorf("%s %s: no attribute key for inode %d", vol, e.Path, e.Ino)
				continue
			}
			var a Attr
			if err := UnmarshalAttr(k.String, &a); err != nil {
				t.Fatal(err)
			}
			mode, _ := strconv.ParseUint(e.Mode, 8, 32)
			ns := func(sec int64, nsec uint32) int64 { return sec*1e9 + int64(nsec) }
			switch {
			case a.Typ != typeNames[e.Type]:
				t.Errorf("%s %s: type %v, manifest %s", vol, e.Path, a.Typ, e.Type)
			case a.SMode() != uint32(mode):
				t.Errorf("%s %s: mode %o, manifest %s", vol, e.Path, a.SMode(), e.Mode)
			case a.Uid != e.UID || a.Gid != e.GID || a.Length != e.Size || a.Nlink != e.Nlink:
				t.Errorf("%s %s: attr %+v, manifest %+v", vol, e.Path, a, e)
			case ns(a.Mtime, a.Mtimensec) != e.MtimeNs || ns(a.Ctime, a.Ctimensec) != e.CtimeNs || ns(a.Atime, a.Atimensec) != e.AtimeNs:
				t.Errorf("%s %s: times differ: %+v vs %+v", vol, e.Path, a, e)
			case a.Rdev != e.RdevMajor<<8|e.RdevMinor:
				t.Errorf("%s %s: rdev %#x, manifest %d:%d", vol, e.Path, a.Rdev, e.RdevMajor, e.RdevMinor)
			}
		}
	}
}

// TestAttrOffsets pins the field offsets the server-side scripts read to
// what Append writes.
func TestAttrOffsets(t *testing.T) {
	a := Attr{Flags: 0x21, Typ: TypeDirectory, Mode: 0o1755, Uid: 0x01020304, Gid: 0x05060708,
		Atime: 0x1112131415161718, Atimensec: 0x191a1b1c, Mtime: 0x2122232425262728, Mtimensec: 0x292a2b2c,
		Ctime: 0x3132333435363738, Ctimensec: 0x393a3b3c, Nlink: 0x41424344, Length: 0x5152535455565758,
		Rdev: 0x61626364, Parent: 0x7172737475767778, AccessACL: 0x81828384, DefaultACL: 0x91929394}
	b := a.Marshal()
	for _, f := range []struct {
		name string
		off  int
		want uint64
		size int
	}{
		{"flags", AttrOffFlags, 0x21, 1}, {"mode", AttrOffMode, uint64(a.ModeField()), 2},
		{"uid", AttrOffUid, 0x01020304, 4}, {"gid", AttrOffGid, 0x05060708, 4},
		{"atime", AttrOffAtime, 0x1112131415161718, 8}, {"atimensec", AttrOffAtimensec, 0x191a1b1c, 4},
		{"mtime", AttrOffMtime, 0x2122232425262728, 8}, {"mtimensec", AttrOffMtimensec, 0x292a2b2c, 4},
		{"ctime", AttrOffCtime, 0x3132333435363738, 8}, {"ctimensec", AttrOffCtimensec, 0x393a3b3c, 4},
		{"nlink", AttrOffNlink, 0x41424344, 4}, {"length", AttrOffLength, 0x5152535455565758, 8},
		{"rdev", AttrOffRdev, 0x61626364, 4}, {"parent", AttrOffParent, 0x7172737475767778, 8},
		{"access ACL", AttrOffACL, 0x81828384, 4},
	} {
		var got uint64
		for _, c := range b[f.off : f.off+f.size] {
			got = got<<8 | uint64(c)
		}
		if got != f.want {
			t.Errorf("%s at offset %d: %#x, want %#x", f.name, f.off, got, f.want)
		}
	}
	if AttrOffParent != AttrMinLen {
		t.Errorf("the optional fields start at %d, the minimal length is %d", AttrOffParent, AttrMinLen)
	}
	r := SliceRecord{Pos: 1, ID: 0x0102030405060708, Size: 0x11121314, Off: 3, Len: 4}.Marshal()
	if id, size := be64(r, SliceOffID), be32(r, SliceOffSize); id != 0x0102030405060708 || size != 0x11121314 {
		t.Errorf("slice record: id %#x size %#x at the offsets", id, size)
	}
	if ino := be64(Entry{Typ: TypeFile, Inode: 0x0102030405060708}.Marshal(), EntryOffInode); ino != 0x0102030405060708 {
		t.Errorf("entry: inode %#x at its offset", ino)
	}
}
