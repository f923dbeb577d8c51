package meta_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"reflect"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Values getfacl read through a JuiceFS 1.4.1 mount (acl-quota fixture).
const (
	fixtureSharedACL   = "AgAAAAEABgD/////AgAGAOkDAAAEAAQA/////wgABADqAwAAEAAGAP////8gAAQA/////w=="
	fixtureTeamAccess  = "AgAAAAEABwD/////AgAHAOkDAAAEAAUA/////xAABwD/////IAAFAP////8="
	fixtureTeamDefault = "AgAAAAEABwD/////AgAHAOkDAAAEAAUA/////wgABQDqAwAAEAAHAP////8gAAAA/////w=="
	fixtureChmodAfter  = "AgAAAAEABgD/////AgAHAOkDAAAEAAQA/////xAABAD/////IAAAAP////8="
)

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// aclXattr builds a posix_acl_xattr value from (tag, perm, id) triples.
func aclXattr(entries ...[3]uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, e[2])
	}
	return b
}

const none = 0xFFFFFFFF

func TestACLXattrFixtureValues(t *testing.T) {
	cases := []struct {
		name string
		b64  string
		rule codec.ACLRule
	}{
		{"shared", fixtureSharedACL, codec.ACLRule{Owner: 6, Group: 4, Mask: 6, Other: 4,
			NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 6}}, NamedGroups: []codec.ACLEntry{{ID: 1002, Perm: 4}}}},
		{"team access", fixtureTeamAccess, codec.ACLRule{Owner: 7, Group: 5, Mask: 7, Other: 5,
			NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}}},
		{"team default", fixtureTeamDefault, codec.ACLRule{Owner: 7, Group: 5, Mask: 7, Other: 0,
			NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}, NamedGroups: []codec.ACLEntry{{ID: 1002, Perm: 5}}}},
		{"chmod after", fixtureChmodAfter, codec.ACLRule{Owner: 6, Group: 4, Mask: 4, Other: 0,
			NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := b64(t, c.b64)
			r, err := meta.DecodeACLXattr(want)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Equal(c.rule) {
				t.Fatalf("decoded %+v, want %+v", r, c.rule)
			}
			if got := meta.EncodeACLXattr(c.rule); !bytes.Equal(got, want) {
				t.Fatalf("encoded %x, want %x", got, want)
			}
		})
	}
}

func TestACLXattrEncodeLayout(t *testing.T) {
	minimal := codec.ACLRule{Owner: 6, Group: 4, Mask: codec.ACLUnset, Other: 0}
	want := aclXattr([3]uint32{1, 6, none}, [3]uint32{4, 4, none}, [3]uint32{0x20, 0, none})
	if got := meta.EncodeACLXattr(minimal); !bytes.Equal(got, want) {
		t.Fatalf("minimal rule: %x, want %x", got, want)
	}
	// Unset base entries are written as 0xFFFF (and read back as unset).
	empty := meta.EncodeACLXattr(codec.EmptyACLRule())
	want = aclXattr([3]uint32{1, 0xFFFF, none}, [3]uint32{4, 0xFFFF, none}, [3]uint32{0x20, 0xFFFF, none})
	if !bytes.Equal(empty, want) {
		t.Fatalf("empty rule: %x, want %x", empty, want)
	}
	if r, err := meta.DecodeACLXattr(empty); err != nil || !r.IsEmpty() {
		t.Fatalf("decode of the empty rule: %+v %v", r, err)
	}
}

func TestACLXattrDecode(t *testing.T) {
	ok := []struct {
		name string
		in   []byte
		want codec.ACLRule
	}{
		{"header only is the empty rule", aclXattr(), codec.EmptyACLRule()},
		{"partial base", aclXattr([3]uint32{1, 7, none}), codec.ACLRule{Owner: 7, Group: codec.ACLUnset, Mask: codec.ACLUnset, Other: codec.ACLUnset}},
		{"unknown tag ignored", aclXattr([3]uint32{0x40, 7, 5}, [3]uint32{0x20, 1, none}),
			codec.ACLRule{Owner: codec.ACLUnset, Group: codec.ACLUnset, Mask: codec.ACLUnset, Other: 1}},
		{"filler bytes ignored", append([]byte{2, 9, 9, 9}, aclXattr([3]uint32{0x20, 1, none})[4:]...),
			codec.ACLRule{Owner: codec.ACLUnset, Group: codec.ACLUnset, Mask: codec.ACLUnset, Other: 1}},
		{"named entries keep their order", aclXattr([3]uint32{2, 4, 9}, [3]uint32{2, 2, 3}, [3]uint32{0x10, 7, none}),
			codec.ACLRule{Owner: codec.ACLUnset, Group: codec.ACLUnset, Mask: 7, Other: codec.ACLUnset,
				NamedUsers: []codec.ACLEntry{{ID: 9, Perm: 4}, {ID: 3, Perm: 2}}}},
	}
	for _, c := range ok {
		r, err := meta.DecodeACLXattr(c.in)
		if err != nil || !r.Equal(c.want) {
			t.Errorf("%s: %+v %v, want %+v", c.name, r, err, c.want)
		}
	}
	bad := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"short header", []byte{2, 0}},
		{"partial entry", append(aclXattr(), 1, 0, 7, 0)},
		{"version 1", append([]byte{1, 0, 0, 0}, aclXattr([3]uint32{1, 7, none})[4:]...)},
		{"two owners", aclXattr([3]uint32{1, 7, none}, [3]uint32{1, 6, none})},
		{"two groups", aclXattr([3]uint32{4, 7, none}, [3]uint32{4, 6, none})},
		{"two masks", aclXattr([3]uint32{0x10, 7, none}, [3]uint32{0x10, 6, none})},
		{"two others", aclXattr([3]uint32{0x20, 7, none}, [3]uint32{0x20, 6, none})},
		{"named user without mask", aclXattr([3]uint32{1, 7, none}, [3]uint32{2, 7, 1001}, [3]uint32{4, 5, none}, [3]uint32{0x20, 5, none})},
		{"named group without mask", aclXattr([3]uint32{8, 7, 1002})},
	}
	for _, c := range bad {
		if r, err := meta.DecodeACLXattr(c.in); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: %+v %v, want EINVAL", c.name, r, err)
		}
	}
}

// FuzzACLXattr: decoding arbitrary bytes never panics, and whatever decodes
// encodes to a value that decodes to the same rule and re-encodes to itself.
func FuzzACLXattr(f *testing.F) {
	for _, s := range []string{fixtureSharedACL, fixtureTeamAccess, fixtureTeamDefault, fixtureChmodAfter} {
		f.Add(b64(f, s))
	}
	f.Add(aclXattr())
	f.Add(aclXattr([3]uint32{0x10, 0xFFFF, none}))
	f.Add([]byte{2, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := meta.DecodeACLXattr(b)
		if err != nil {
			if !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("error %v is not EINVAL", err)
			}
			return
		}
		enc := meta.EncodeACLXattr(r)
		r2, err := meta.DecodeACLXattr(enc)
		if err != nil {
			t.Fatalf("re-decode of %x: %v", enc, err)
		}
		if !r2.Equal(r) {
			t.Fatalf("round trip: %+v became %+v", r, r2)
		}
		if enc2 := meta.EncodeACLXattr(r2); !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encode: %x then %x", enc, enc2)
		}
		// The stored rule encoding round-trips too.
		if r3, err := codec.UnmarshalACLRule(r.Marshal()); err != nil || !reflect.DeepEqual(normalize(r3), normalize(r)) {
			t.Fatalf("rule encoding: %+v %v", r3, err)
		}
	})
}

func normalize(r codec.ACLRule) codec.ACLRule {
	if len(r.NamedUsers) == 0 {
		r.NamedUsers = nil
	}
	if len(r.NamedGroups) == 0 {
		r.NamedGroups = nil
	}
	return r
}
