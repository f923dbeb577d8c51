package meta_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// Rules of the acl-quota fixture (see aclxattr_test.go for their xattr form).
var (
	sharedRule = codec.ACLRule{Owner: 6, Group: 4, Mask: 6, Other: 4,
		NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 6}}, NamedGroups: []codec.ACLEntry{{ID: 1002, Perm: 4}}}
	teamAccessRule = codec.ACLRule{Owner: 7, Group: 5, Mask: 7, Other: 5,
		NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}}
	teamDefaultRule = codec.ACLRule{Owner: 7, Group: 5, Mask: 7, Other: 0,
		NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}, NamedGroups: []codec.ACLEntry{{ID: 1002, Perm: 5}}}
)

func newACLVolume(t *testing.T) *volume { return newVolumeWith(t, volumeOpts{acl: true}) }

func (v *volume) attr(ino meta.Ino) meta.Attr {
	v.t.Helper()
	a, err := v.e.GetAttr(context.Background(), ino)
	if err != nil {
		v.t.Fatal(err)
	}
	return a
}

func (v *volume) setFacl(ino meta.Ino, typ uint8, r codec.ACLRule) {
	v.t.Helper()
	if err := v.e.SetFacl(context.Background(), ino, typ, r); err != nil {
		v.t.Fatalf("SetFacl(%d, %d): %v", ino, typ, err)
	}
}

func (v *volume) wantFacl(ino meta.Ino, typ uint8, want codec.ACLRule) {
	v.t.Helper()
	got, err := v.e.GetFacl(context.Background(), ino, typ)
	if err != nil || !got.Equal(want) {
		v.t.Fatalf("GetFacl(%d, %d) = %+v %v, want %+v", ino, typ, got, err, want)
	}
}

func (v *volume) wantNoFacl(ino meta.Ino, typ uint8) {
	v.t.Helper()
	_, err := v.e.GetFacl(context.Background(), ino, typ)
	expectErrno(v.t, "GetFacl of an inode without ACL", err, syscall.ENODATA)
}

func (v *volume) aclHashLen() int64 {
	v.t.Helper()
	n, err := v.srv.Do(v.t, v.db, "HLEN", v.e.Keys().ACL()).AsInt64()
	mustNil(v.t, "HLEN acl", err)
	return n
}

func sameTime(a, b meta.Attr) bool { return a.Ctime == b.Ctime && a.Ctimensec == b.Ctimensec }

func TestFaclAccess(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")
	before := v.attr(ino)
	v.setFacl(ino, codec.ACLTypeAccess, sharedRule)
	a := v.attr(ino)
	if a.Mode != 0o664 || a.AccessACL == 0 || a.DefaultACL != 0 {
		t.Fatalf("attr after SetFacl: mode %o, ids %d/%d", a.Mode, a.AccessACL, a.DefaultACL)
	}
	if sameTime(a, before) {
		t.Fatal("ctime not updated")
	}
	v.wantFacl(ino, codec.ACLTypeAccess, sharedRule)
	v.wantNoFacl(ino, codec.ACLTypeDefault)
	stored, err := v.srv.Do(t, v.db, "HGET", v.e.Keys().ACL(), strconv.FormatUint(uint64(a.AccessACL), 10)).AsBytes()
	if err != nil || !bytes.Equal(stored, sharedRule.Marshal()) {
		t.Fatalf("acl hash holds %x %v, want %x", stored, err, sharedRule.Marshal())
	}
	if got, err := v.e.GetXattr(ctx, ino, meta.XattrACLAccess); err != nil || !bytes.Equal(got, b64(t, fixtureSharedACL)) {
		t.Fatalf("GetXattr(access) = %x %v", got, err)
	}
	_, err = v.e.GetXattr(ctx, ino, meta.XattrACLDefault)
	expectErrno(t, "GetXattr(default)", err, syscall.ENODATA)
	if names, err := v.e.ListXattr(ctx, ino); err != nil || !slices.Equal(names, []string{meta.XattrACLAccess}) {
		t.Fatalf("ListXattr = %q %v", names, err)
	}
	// The returned rule is a copy: changing it does not change the cache.
	r, _ := v.e.GetFacl(ctx, ino, codec.ACLTypeAccess)
	r.NamedUsers[0].Perm = 0
	v.wantFacl(ino, codec.ACLTypeAccess, sharedRule)
}

func TestFaclDefault(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	d, _, err := v.e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	mustNil(t, "mkdir", err)
	v.setFacl(d, codec.ACLTypeDefault, teamDefaultRule)
	a := v.attr(d)
	if a.Mode != 0o755 || a.AccessACL != 0 || a.DefaultACL == 0 {
		t.Fatalf("attr: mode %o, ids %d/%d", a.Mode, a.AccessACL, a.DefaultACL)
	}
	v.wantFacl(d, codec.ACLTypeDefault, teamDefaultRule)
	v.wantNoFacl(d, codec.ACLTypeAccess)
	if got, err := v.e.GetXattr(ctx, d, meta.XattrACLDefault); err != nil || !bytes.Equal(got, b64(t, fixtureTeamDefault)) {
		t.Fatalf("GetXattr(default) = %x %v", got, err)
	}
	if names, err := v.e.ListXattr(ctx, d); err != nil || !slices.Equal(names, []string{meta.XattrACLDefault}) {
		t.Fatalf("ListXattr = %q %v", names, err)
	}
	// A minimal default rule is stored (unlike a minimal access rule).
	minimal := codec.ACLRule{Owner: 7, Group: 5, Mask: codec.ACLUnset, Other: 1}
	v.setFacl(d, codec.ACLTypeDefault, minimal)
	v.wantFacl(d, codec.ACLTypeDefault, minimal)
	if a := v.attr(d); a.Mode != 0o755 {
		t.Fatalf("mode %o after a minimal default ACL", a.Mode)
	}
	// The official client does not refuse a default ACL on a file.
	f := v.file(meta.RootInode, "f")
	v.setFacl(f, codec.ACLTypeDefault, teamDefaultRule)
	v.wantFacl(f, codec.ACLTypeDefault, teamDefaultRule)
}

func TestFaclMinimalFoldsIntoMode(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	ino, _, err := v.e.Create(ctx, meta.RootInode, "f", 0o4644, 0, 0)
	mustNil(t, "create", err)
	mustNil(t, "release", v.e.Release(ctx, ino))
	v.setFacl(ino, codec.ACLTypeAccess, sharedRule)
	if a := v.attr(ino); a.Mode != 0o4664 {
		t.Fatalf("mode %o, want 4664 (special bits kept)", a.Mode)
	}
	n := v.aclHashLen()
	v.setFacl(ino, codec.ACLTypeAccess, codec.ACLRule{Owner: 7, Group: 5, Mask: codec.ACLUnset, Other: 1})
	a := v.attr(ino)
	if a.Mode != 0o4751 || a.AccessACL != 0 {
		t.Fatalf("after a minimal rule: mode %o, access id %d", a.Mode, a.AccessACL)
	}
	v.wantNoFacl(ino, codec.ACLTypeAccess)
	if v.aclHashLen() != n {
		t.Fatal("a minimal access rule was stored")
	}
	if names, _ := v.e.ListXattr(ctx, ino); len(names) != 0 {
		t.Fatalf("ListXattr = %q", names)
	}
	// The same through the xattr interface: owner, group, other entries only.
	minimal := meta.EncodeACLXattr(codec.ACLRule{Owner: 6, Group: 0, Mask: codec.ACLUnset, Other: 0})
	mustNil(t, "setxattr minimal", v.e.SetXattr(ctx, ino, meta.XattrACLAccess, minimal, 0))
	if a := v.attr(ino); a.Mode != 0o4600 || a.AccessACL != 0 {
		t.Fatalf("after setxattr minimal: mode %o, id %d", a.Mode, a.AccessACL)
	}
}

func TestFaclEmptyRuleRemoves(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	d, _, err := v.e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	mustNil(t, "mkdir", err)
	v.setFacl(d, codec.ACLTypeAccess, teamAccessRule)
	v.setFacl(d, codec.ACLTypeDefault, teamDefaultRule)
	if names, _ := v.e.ListXattr(ctx, d); len(names) != 2 {
		t.Fatalf("ListXattr = %q", names)
	}
	v.setFacl(d, codec.ACLTypeAccess, codec.EmptyACLRule())
	a := v.attr(d)
	if a.AccessACL != 0 || a.DefaultACL == 0 || a.Mode != 0o775 {
		t.Fatalf("after removing the access ACL: ids %d/%d, mode %o (unchanged expected)", a.AccessACL, a.DefaultACL, a.Mode)
	}
	v.wantNoFacl(d, codec.ACLTypeAccess)
	mustNil(t, "removexattr default", v.e.RemoveXattr(ctx, d, meta.XattrACLDefault))
	v.wantNoFacl(d, codec.ACLTypeDefault)
	if names, _ := v.e.ListXattr(ctx, d); len(names) != 0 {
		t.Fatalf("ListXattr = %q", names)
	}
	// Removing what is not there changes nothing and is no error.
	before := v.attr(d)
	mustNil(t, "removexattr again", v.e.RemoveXattr(ctx, d, meta.XattrACLDefault))
	mustNil(t, "removexattr access", v.e.RemoveXattr(ctx, d, meta.XattrACLAccess))
	if !sameTime(v.attr(d), before) {
		t.Fatal("a removal of nothing changed ctime")
	}
	// The header alone is the empty rule as well.
	v.setFacl(d, codec.ACLTypeAccess, sharedRule)
	mustNil(t, "setxattr empty", v.e.SetXattr(ctx, d, meta.XattrACLAccess, []byte{2, 0, 0, 0}, 0))
	v.wantNoFacl(d, codec.ACLTypeAccess)
}

func TestFaclDedupe(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	a, b, c := v.file(meta.RootInode, "a"), v.file(meta.RootInode, "b"), v.file(meta.RootInode, "c")
	v.setFacl(a, codec.ACLTypeAccess, sharedRule)
	// Through the xattr interface, as setfacl does.
	mustNil(t, "setxattr", v.e.SetXattr(ctx, b, meta.XattrACLAccess, b64(t, fixtureSharedACL), 0))
	ida, idb := v.attr(a).AccessACL, v.attr(b).AccessACL
	if ida == 0 || ida != idb {
		t.Fatalf("identical rules got ids %d and %d", ida, idb)
	}
	if n := v.aclHashLen(); n != 1 {
		t.Fatalf("acl hash has %d rules, want 1", n)
	}
	v.setFacl(c, codec.ACLTypeAccess, teamAccessRule)
	if idc := v.attr(c).AccessACL; idc == ida || idc == 0 {
		t.Fatalf("a different rule got id %d (shared rule %d)", idc, ida)
	}
	// A client started later knows every rule and reuses them too.
	other := v.open(meta.Options{})
	d := v.file(meta.RootInode, "d")
	mustNil(t, "other SetFacl", other.SetFacl(ctx, d, codec.ACLTypeAccess, sharedRule))
	if idd := v.attr(d).AccessACL; idd != ida {
		t.Fatalf("the other client stored the shared rule as %d, not %d", idd, ida)
	}
	if n := v.aclHashLen(); n != 2 {
		t.Fatalf("acl hash has %d rules, want 2", n)
	}
}

func TestFaclFillsUnsetEntriesFromMode(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	ino, _, err := v.e.Create(ctx, meta.RootInode, "f", 0o640, 0, 0)
	mustNil(t, "create", err)
	mustNil(t, "release", v.e.Release(ctx, ino))
	v.setFacl(ino, codec.ACLTypeAccess, codec.ACLRule{Owner: codec.ACLUnset, Group: codec.ACLUnset, Mask: 7, Other: codec.ACLUnset,
		NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}})
	want := codec.ACLRule{Owner: 6, Group: 4, Mask: 7, Other: 0, NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}}
	v.wantFacl(ino, codec.ACLTypeAccess, want)
	if a := v.attr(ino); a.Mode != 0o670 {
		t.Fatalf("mode %o, want 670", a.Mode)
	}
}

func TestFaclUnchangedWritesNothing(t *testing.T) {
	v := newACLVolume(t)
	ino := v.file(meta.RootInode, "f")
	ops := v.changeLog()
	v.setFacl(ino, codec.ACLTypeAccess, sharedRule)
	before := v.attr(ino)
	v.setFacl(ino, codec.ACLTypeAccess, sharedRule)
	if !sameTime(v.attr(ino), before) {
		t.Fatal("setting the same ACL again changed ctime")
	}
	want := []string{"SETFACL(" + ino.String() + ",1," + logEscapeForTest(sharedRule.Marshal()) + ")"}
	v.setFacl(ino, codec.ACLTypeAccess, codec.EmptyACLRule())
	want = append(want, "SETFACL("+ino.String()+",1,"+logEscapeForTest(codec.EmptyACLRule().Marshal())+")")
	if got := ops(); !slices.Equal(got, want) {
		t.Fatalf("change log %q, want %q", got, want)
	}
}

// logEscapeForTest is the change-log escaping of JuiceFS's change log.
func logEscapeForTest(b []byte) string {
	const hex = "0123456789ABCDEF"
	var out []byte
	for _, c := range b {
		if c < 0x20 || c >= 0x7F || bytes.IndexByte([]byte(`,%()"\`), c) >= 0 {
			out = append(out, '%', hex[c>>4], hex[c&15])
		} else {
			out = append(out, c)
		}
	}
	return string(out)
}

func TestFaclErrors(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")
	for _, typ := range []uint8{0, 3, 255} {
		expectErrno(t, "SetFacl bad type", v.e.SetFacl(ctx, ino, typ, sharedRule), syscall.EINVAL)
		_, err := v.e.GetFacl(ctx, ino, typ)
		expectErrno(t, "GetFacl bad type", err, syscall.EINVAL)
	}
	expectErrno(t, "SetFacl on inode 0", v.e.SetFacl(ctx, 0, codec.ACLTypeAccess, sharedRule), syscall.EPERM)
	expectErrno(t, "SetFacl on the trash", v.e.SetFacl(ctx, meta.TrashInode, codec.ACLTypeAccess, sharedRule), syscall.EPERM)
	expectErrno(t, "SetFacl on a trash dir", v.e.SetFacl(ctx, meta.TrashInode+5, codec.ACLTypeAccess, sharedRule), syscall.EPERM)
	expectErrno(t, "SetFacl on a missing inode", v.e.SetFacl(ctx, 424242, codec.ACLTypeAccess, sharedRule), syscall.ENOENT)
	_, err := v.e.GetFacl(ctx, 424242, codec.ACLTypeAccess)
	expectErrno(t, "GetFacl on a missing inode", err, syscall.ENOENT)
	_, err = v.e.GetXattr(ctx, 424242, meta.XattrACLAccess)
	expectErrno(t, "GetXattr(access) on a missing inode", err, syscall.ENOENT)
	expectErrno(t, "setxattr with a malformed ACL", v.e.SetXattr(ctx, ino, meta.XattrACLAccess, []byte{1, 0, 0, 0}, 0), syscall.EINVAL)

	// Only the owner or root.
	stranger := meta.WithCaller(ctx, meta.Caller{Uid: 1001, Gids: []uint32{0}})
	expectErrno(t, "SetFacl by a non-owner", v.e.SetFacl(stranger, ino, codec.ACLTypeAccess, sharedRule), syscall.EPERM)
	expectErrno(t, "setxattr(ACL) by a non-owner", v.e.SetXattr(stranger, ino, meta.XattrACLAccess, b64(t, fixtureSharedACL), 0), syscall.EPERM)
	// Anyone may read an ACL.
	v.setFacl(ino, codec.ACLTypeAccess, sharedRule)
	if r, err := v.e.GetFacl(stranger, ino, codec.ACLTypeAccess); err != nil || !r.Equal(sharedRule) {
		t.Fatalf("GetFacl by a non-owner: %+v %v", r, err)
	}
	owned := meta.WithCaller(ctx, meta.Caller{Uid: 1001, Gids: []uint32{1001}})
	mine, _, err := v.e.Create(owned, meta.RootInode, "mine", 0o644, 0, 0)
	mustNil(t, "create as 1001", err)
	mustNil(t, "release", v.e.Release(ctx, mine))
	mustNil(t, "SetFacl by the owner", v.e.SetFacl(owned, mine, codec.ACLTypeAccess, sharedRule))

	// Immutable, even for root.
	v.setFlags(ino, codec.FlagImmutable)
	expectErrno(t, "SetFacl on an immutable inode", v.e.SetFacl(ctx, ino, codec.ACLTypeAccess, teamAccessRule), syscall.EPERM)
	v.setFlags(ino, 0)

	// Read-only client.
	ro, err := meta.Open(ctx, v.url, meta.Options{ReadOnly: true})
	mustNil(t, "open", err)
	t.Cleanup(func() { ro.Close(context.Background()) })
	_, err = ro.Load(ctx, true)
	mustNil(t, "load", err)
	expectErrno(t, "SetFacl read-only", ro.SetFacl(ctx, ino, codec.ACLTypeAccess, teamAccessRule), syscall.EROFS)
	expectErrno(t, "removexattr(ACL) read-only", ro.RemoveXattr(ctx, ino, meta.XattrACLAccess), syscall.EROFS)
	if r, err := ro.GetFacl(ctx, ino, codec.ACLTypeAccess); err != nil || !r.Equal(sharedRule) {
		t.Fatalf("GetFacl read-only: %+v %v", r, err)
	}
}

// setFlags writes an inode's flag byte behind the engine's back (SetAttr is
// not part of these tests); the engine learns it from the cache invalidation
// or from its transaction's failed condition.
func (v *volume) setFlags(ino meta.Ino, flags uint8) {
	v.t.Helper()
	key := v.e.Keys().Inode(ino)
	raw, err := v.srv.Do(v.t, v.db, "GET", key).AsBytes()
	mustNil(v.t, "GET", err)
	var a codec.Attr
	mustNil(v.t, "decode", codec.UnmarshalAttr(raw, &a))
	a.Flags = flags
	mustNil(v.t, "SET", v.srv.Do(v.t, v.db, "SET", key, string(a.Marshal())).Error())
}

func TestFaclDisabled(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")
	expectErrno(t, "SetFacl", v.e.SetFacl(ctx, ino, codec.ACLTypeAccess, sharedRule), syscall.ENOTSUP)
	_, err := v.e.GetFacl(ctx, ino, codec.ACLTypeAccess)
	expectErrno(t, "GetFacl", err, syscall.ENOTSUP)
}

func TestFaclClearsSetgid(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	member := meta.WithCaller(ctx, meta.Caller{Uid: 1001, Gids: []uint32{1002}})
	outsider := meta.WithCaller(ctx, meta.Caller{Uid: 1001, Gids: []uint32{1003}})
	a, _, err := v.e.Create(member, meta.RootInode, "a", 0o2755, 0, 0)
	mustNil(t, "create a", err)
	b, _, err := v.e.Create(member, meta.RootInode, "b", 0o2755, 0, 0)
	mustNil(t, "create b", err)
	mustNil(t, "release", v.e.Release(ctx, a))
	mustNil(t, "release", v.e.Release(ctx, b))
	mustNil(t, "SetFacl as a group member", v.e.SetFacl(member, a, codec.ACLTypeAccess, sharedRule))
	if m := v.attr(a).Mode; m != 0o2664 {
		t.Fatalf("member: mode %o, want 2664", m)
	}
	mustNil(t, "SetFacl outside the group", v.e.SetFacl(outsider, b, codec.ACLTypeAccess, sharedRule))
	if m := v.attr(b).Mode; m != 0o0664 {
		t.Fatalf("outsider: mode %o, want 0664", m)
	}
	// Root keeps it.
	v.setFacl(a, codec.ACLTypeAccess, codec.EmptyACLRule())
	if m := v.attr(a).Mode; m&0o2000 == 0 {
		t.Fatalf("root cleared setgid: mode %o", m)
	}
	// Clearing setgid alone is a change worth writing, even with an
	// unchanged ACL.
	before := v.attr(a)
	mustNil(t, "removexattr as an outsider", v.e.RemoveXattr(outsider, a, meta.XattrACLAccess))
	after := v.attr(a)
	if after.Mode&0o2000 != 0 || sameTime(after, before) {
		t.Fatalf("outsider's no-op removal: mode %o, ctime changed %v", after.Mode, !sameTime(after, before))
	}
}

// The acl/team tree of the acl-quota fixture, rebuilt here: a default ACL is
// inherited by files and directories two levels deep, with exactly the values
// the official client produced.
func TestDefaultACLInheritance(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	acl, _, err := v.e.Mkdir(ctx, meta.RootInode, "acl", 0o777, 0o022)
	mustNil(t, "mkdir acl", err)
	team, _, err := v.e.Mkdir(ctx, acl, "team", 0o777, 0o022)
	mustNil(t, "mkdir team", err)
	// setfacl -m u:1001:rwx team; setfacl -d -m u:1001:rwx,g:1002:r-x,m::rwx,o::--- team
	mustNil(t, "access", v.e.SetXattr(ctx, team, meta.XattrACLAccess, b64(t, fixtureTeamAccess), 0))
	mustNil(t, "default", v.e.SetXattr(ctx, team, meta.XattrACLDefault, b64(t, fixtureTeamDefault), 0))
	inherited, _, err := v.e.Create(ctx, team, "inherited.txt", 0o666, 0o022, 0)
	mustNil(t, "create inherited.txt", err)
	mustNil(t, "release", v.e.Release(ctx, inherited))
	subdir, _, err := v.e.Mkdir(ctx, team, "subdir", 0o777, 0o022)
	mustNil(t, "mkdir subdir", err)
	deeper, _, err := v.e.Create(ctx, subdir, "deeper.txt", 0o666, 0o022, 0)
	mustNil(t, "create deeper.txt", err)
	mustNil(t, "release", v.e.Release(ctx, deeper))
	link, _, err := v.e.Symlink(ctx, subdir, "link", "deeper.txt")
	mustNil(t, "symlink", err)

	m := readManifest(t, "acl-quota")
	for path, ino := range map[string]meta.Ino{
		"acl/team": team, "acl/team/inherited.txt": inherited,
		"acl/team/subdir": subdir, "acl/team/subdir/deeper.txt": deeper,
	} {
		ent := m.entry(t, path)
		a := v.attr(ino)
		if got := strconv.FormatUint(uint64(a.Mode), 8); "0"+got != ent.Perm {
			t.Errorf("%s: mode 0%s, the official client made %s", path, got, ent.Perm)
		}
		var want []string
		for name, enc := range ent.Xattrs {
			got, err := v.e.GetXattr(ctx, ino, name)
			if wantVal, _ := base64.StdEncoding.DecodeString(enc); err != nil || !bytes.Equal(got, wantVal) {
				t.Errorf("%s: %s = %x %v, want %x", path, name, got, err, wantVal)
			}
			want = append(want, name)
		}
		if names, err := v.e.ListXattr(ctx, ino); err != nil || !slices.Equal(sortedNames(names), sortedNames(want)) {
			t.Errorf("%s: ListXattr %q %v, want %q", path, names, err, want)
		}
	}
	// Inherited rules are shared, not copied.
	if v.attr(subdir).DefaultACL != v.attr(team).DefaultACL {
		t.Error("subdir does not share its parent's default ACL id")
	}
	if v.attr(inherited).AccessACL != v.attr(deeper).AccessACL {
		t.Error("identical inherited access rules got different ids")
	}
	// Symlinks inherit nothing.
	if a := v.attr(link); a.AccessACL != 0 || a.DefaultACL != 0 || a.Mode != 0o777 {
		t.Errorf("symlink: ids %d/%d, mode %o", a.AccessACL, a.DefaultACL, a.Mode)
	}
}

// The chmod-after and mask-only files of the acl-quota fixture, rebuilt.
func TestACLFixtureRecipes(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	m := readManifest(t, "acl-quota")

	// setfacl -m u:1001:rwx on a 0644 file, then chmod 0640.
	f := v.file(meta.RootInode, "chmod-after.txt")
	v.setFacl(f, codec.ACLTypeAccess, codec.ACLRule{Owner: 6, Group: 4, Mask: 7, Other: 4,
		NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}})
	if a := v.attr(f); a.Mode != 0o674 {
		t.Fatalf("after setfacl: mode %o", a.Mode)
	}
	a, err := v.e.ChmodACLForTest(ctx, f, 0o640)
	mustNil(t, "chmod", err)
	ent := m.entry(t, "acl/chmod-after.txt")
	if a.Mode != 0o640 || "0"+strconv.FormatUint(uint64(a.Mode), 8) != ent.Perm {
		t.Fatalf("after chmod: mode %o, fixture %s", a.Mode, ent.Perm)
	}
	if got, _ := v.e.GetXattr(ctx, f, meta.XattrACLAccess); !bytes.Equal(got, b64(t, ent.Xattrs[meta.XattrACLAccess])) {
		t.Fatalf("after chmod: %x", got)
	}

	// setfacl -m m::r on a file with named entries.
	g := v.file(meta.RootInode, "mask-only.txt")
	ent = m.entry(t, "acl/mask-only.txt")
	mustNil(t, "setxattr", v.e.SetXattr(ctx, g, meta.XattrACLAccess, b64(t, ent.Xattrs[meta.XattrACLAccess]), 0))
	if a := v.attr(g); "0"+strconv.FormatUint(uint64(a.Mode), 8) != ent.Perm {
		t.Fatalf("mask-only: mode %o, fixture %s", a.Mode, ent.Perm)
	}

	// chmod of a file without ACL just sets the mode.
	h := v.file(meta.RootInode, "plain")
	if a, err := v.e.ChmodACLForTest(ctx, h, 0o600); err != nil || a.Mode != 0o600 || a.AccessACL != 0 {
		t.Fatalf("plain chmod: %o %d %v", a.Mode, a.AccessACL, err)
	}
}

// What the official client wrote is read back exactly: every ACL of the
// acl-quota volume, through GetXattr, ListXattr and GetFacl.
func TestACLFixture(t *testing.T) {
	e, m := openFixture(t, "acl-quota")
	ctx := context.Background()
	if n := checkFixtureXattrs(t, e, m); n != 10 {
		t.Fatalf("%d ACL xattrs checked, want 10", n)
	}
	for _, ent := range m.Entries {
		a, err := e.GetAttr(ctx, meta.Ino(ent.Ino))
		mustNil(t, ent.Path, err)
		if got := "0" + strconv.FormatUint(uint64(a.Mode), 8); got != ent.Perm {
			t.Errorf("%s: mode %s, manifest %s", ent.Path, got, ent.Perm)
		}
		for typ, name := range map[uint8]string{codec.ACLTypeAccess: meta.XattrACLAccess, codec.ACLTypeDefault: meta.XattrACLDefault} {
			r, err := e.GetFacl(ctx, meta.Ino(ent.Ino), typ)
			enc, has := ent.Xattrs[name]
			switch {
			case !has:
				if err == nil {
					t.Errorf("%s: GetFacl(%d) = %+v, want ENODATA", ent.Path, typ, r)
				}
			case err != nil || !bytes.Equal(meta.EncodeACLXattr(r), b64(t, enc)):
				t.Errorf("%s: GetFacl(%d) = %+v %v", ent.Path, typ, r, err)
			}
		}
	}
	// The two files with the same ACL share one rule.
	x, _ := e.GetAttr(ctx, meta.Ino(m.entry(t, "acl/shared.txt").Ino))
	y, _ := e.GetAttr(ctx, meta.Ino(m.entry(t, "acl/same-as-shared.txt").Ino))
	if x.AccessACL == 0 || x.AccessACL != y.AccessACL {
		t.Fatalf("shared ACL ids %d and %d", x.AccessACL, y.AccessACL)
	}
}

// Permission checks of a non-root caller on an inode with an access ACL.
func TestACLPermissions(t *testing.T) {
	v := newACLVolume(t)
	ctx := context.Background()
	as := func(uid uint32, gids ...uint32) context.Context {
		return meta.WithCaller(ctx, meta.Caller{Uid: uid, Gids: gids})
	}
	check := func(what string, cctx context.Context, ino meta.Ino, mask uint8, allowed bool) {
		t.Helper()
		err := v.e.Access(cctx, ino, mask, nil)
		if allowed && err != nil || !allowed && !errors.Is(err, syscall.EACCES) {
			c := meta.CallerOf(cctx)
			t.Errorf("%s: uid %d gids %v mask %d: %v, want allowed=%v", what, c.Uid, c.Gids, mask, err, allowed)
		}
	}
	const r, w, x = meta.MayRead, meta.MayWrite, meta.MayExec

	f := v.file(meta.RootInode, "f") // root:root
	v.setFacl(f, codec.ACLTypeAccess, codec.ACLRule{Owner: 6, Group: 4, Mask: 6, Other: 0,
		NamedUsers:  []codec.ACLEntry{{ID: 1001, Perm: 7}, {ID: 1007, Perm: 1}},
		NamedGroups: []codec.ACLEntry{{ID: 1002, Perm: 2}, {ID: 1003, Perm: 4}}})
	check("named user", as(1001, 1001), f, r|w, true)
	check("named user limited by the mask", as(1001, 1001), f, x, false)
	check("named user entry wins over groups", as(1007, 0, 1003), f, r, false)
	check("owning group", as(1005, 0), f, r, true)
	check("owning group lacks write", as(1005, 0), f, w, false)
	check("named group", as(1004, 1002), f, w, true)
	check("named group lacks read", as(1004, 1002), f, r, false)
	check("any matching group may grant", as(1004, 1002, 1003), f, r, true)
	check("no single group grants both", as(1004, 1002, 1003), f, r|w, false)
	check("other", as(1006, 1006), f, r, false)
	check("root", ctx, f, r|w|x, true)

	// A matching group that refuses decides, even when "other" would allow.
	g := v.file(meta.RootInode, "g")
	v.setFacl(g, codec.ACLTypeAccess, codec.ACLRule{Owner: 6, Group: 0, Mask: 7, Other: 4,
		NamedGroups: []codec.ACLEntry{{ID: 1002, Perm: 2}}})
	check("group refuses", as(1004, 1002), g, r, false)
	check("owning group refuses", as(1004, 0), g, r, false)
	check("other allows", as(1006, 1006), g, r, true)

	// The owner entry, not a named entry for the same uid, applies to the owner.
	mine, _, err := v.e.Create(as(1001, 1001), meta.RootInode, "mine", 0o644, 0, 0)
	mustNil(t, "create", err)
	mustNil(t, "release", v.e.Release(ctx, mine))
	mustNil(t, "SetFacl by owner", v.e.SetFacl(as(1001, 1001), mine, codec.ACLTypeAccess, codec.ACLRule{
		Owner: 4, Group: 4, Mask: 7, Other: 0, NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}}))
	check("owner entry", as(1001, 1001), mine, r, true)
	check("owner entry lacks write", as(1001, 1001), mine, w, false)

	// With empty group-class bits (mask ---) the ACL is not consulted and the
	// mode bits decide, as in the official client: the named user gets
	// "other".
	h := v.file(meta.RootInode, "h")
	v.setFacl(h, codec.ACLTypeAccess, codec.ACLRule{Owner: 6, Group: 4, Mask: 0, Other: 4,
		NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 7}}})
	if m := v.attr(h).Mode; m != 0o604 {
		t.Fatalf("mode %o", m)
	}
	check("mask --- falls back to other", as(1001, 1001), h, r, true)
	check("mask --- falls back to other (write)", as(1001, 1001), h, w, false)

	// A directory's ACL governs creating in it and looking up.
	d, _, err := v.e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	mustNil(t, "mkdir", err)
	v.setFacl(d, codec.ACLTypeAccess, teamAccessRule)
	v.setFacl(d, codec.ACLTypeDefault, teamDefaultRule)
	child, attr, err := v.e.Create(as(1001, 1001), d, "by-1001", 0o644, 0o022, 0)
	mustNil(t, "create by the named user", err)
	mustNil(t, "release", v.e.Release(ctx, child))
	if attr.Uid != 1001 || attr.AccessACL == 0 || attr.Mode != 0o640 {
		t.Fatalf("child: uid %d, access id %d, mode %o", attr.Uid, attr.AccessACL, attr.Mode)
	}
	_, _, err = v.e.Create(as(1006, 1006), d, "by-1006", 0o644, 0o022, 0)
	expectErrno(t, "create by other", err, syscall.EACCES)
	_, _, err = v.e.Lookup(as(1006, 1006), d, "by-1001")
	mustNil(t, "lookup by other (r-x)", err)
	// The inherited ACL: named user 1001 rwx limited by mask rw-; other ---.
	check("inherited named user", as(1001, 1001), child, r|w, true)
	check("inherited group 1002 r-x masked", as(1004, 1002), child, r, true)
	check("inherited group 1002 cannot write", as(1004, 1002), child, w, false)
	check("inherited other", as(1006, 1006), child, r, false)
}
