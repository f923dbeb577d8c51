package meta_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// rawAttr reads an attribute value straight from Redis.
func rawAttr(t *testing.T, e *meta.Engine, ino meta.Ino) string {
	t.Helper()
	c := e.Client()
	v, err := c.Do(bg, c.B().Get().Key(e.Keys().Inode(ino)).Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// setMode sets mode, uid and gid bypassing SetAttr's rules.
func setMode(t *testing.T, e *meta.Engine, ino meta.Ino, mode uint16, uid, gid uint32) {
	t.Helper()
	if _, err := e.SetAttrForTest(bg, ino, mode, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func TestSetAttrBasics(t *testing.T) {
	clk := voltest.NewClock() // times move only when the test says so
	v := newVolumeWith(t, volumeOpts{engine: meta.Options{Clock: clk}})
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	a0, _ := e.GetAttr(bg, f)
	clk.Advance(time.Millisecond)

	req := meta.Attr{Mode: 0o600, Uid: 5, Gid: 6}
	a, err := e.SetAttr(bg, f, codec.SetAttrMode, &req)
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode != 0o600 || a.Uid != 0 || a.Gid != 0 || !after(a.Ctime, a.Ctimensec, a0.Ctime, a0.Ctimensec) {
		t.Fatalf("chmod: %+v (before %+v)", a, a0)
	}
	if req != (meta.Attr{Mode: 0o600, Uid: 5, Gid: 6}) {
		t.Fatalf("SetAttr modified its argument: %+v", req)
	}
	if g, _ := e.GetAttr(bg, f); g != a {
		t.Fatalf("stored %+v, returned %+v", g, a)
	}

	// Nothing to change: no write at all, the current attribute returned.
	raw := rawAttr(t, e, f)
	for _, c := range []struct {
		set  codec.SetAttrMask
		attr meta.Attr
	}{
		{codec.SetAttrMode, meta.Attr{Mode: 0o600}},
		{codec.SetAttrUID | codec.SetAttrGID, meta.Attr{}},
		{codec.SetAttrMtime, meta.Attr{Mtime: a.Mtime, Mtimensec: a.Mtimensec}},
		{codec.SetAttrSize | codec.SetAttrCtime | codec.SetAttrCtimeNow, meta.Attr{Length: 100, Ctime: 1}},
		{0, meta.Attr{Mode: 0o777}},
	} {
		got, err := e.SetAttr(bg, f, c.set, &c.attr)
		if err != nil || got != a {
			t.Fatalf("no-op SetAttr(%#x): %+v %v", c.set, got, err)
		}
		if rawAttr(t, e, f) != raw {
			t.Fatalf("no-op SetAttr(%#x) wrote", c.set)
		}
	}

	// Owner, flags and tier; flags and tier count as a change even when equal.
	a, err = e.SetAttr(bg, f, codec.SetAttrUID|codec.SetAttrGID|codec.SetAttrFlag|codec.SetAttrTier,
		&meta.Attr{Uid: 1000, Gid: 2000, Flags: codec.FlagSkipTrash, Tier: 3})
	if err != nil || a.Uid != 1000 || a.Gid != 2000 || a.Flags != codec.FlagSkipTrash || a.Tier != 3 {
		t.Fatalf("chown/chattr/tier: %+v %v", a, err)
	}
	clk.Advance(time.Millisecond)
	b, err := e.SetAttr(bg, f, codec.SetAttrFlag, &meta.Attr{Flags: codec.FlagSkipTrash})
	if err != nil || !after(b.Ctime, b.Ctimensec, a.Ctime, a.Ctimensec) {
		t.Fatalf("same flags: %+v %v", b, err)
	}
	if _, err := e.SetAttr(bg, f, codec.SetAttrTier, &meta.Attr{}); err != nil {
		t.Fatal(err)
	}

	// Inode 0 is the root.
	r, err := e.SetAttr(bg, 0, codec.SetAttrMode, &meta.Attr{Mode: 0o755})
	if err != nil || r.Mode != 0o755 || r.Parent != meta.RootInode {
		t.Fatalf("chmod of inode 0: %+v %v", r, err)
	}
	_, err = e.SetAttr(bg, 999999, codec.SetAttrMode, &meta.Attr{Mode: 0o755})
	wantErrno(t, err, syscall.ENOENT)
}

func after(s int64, ns uint32, s0 int64, ns0 uint32) bool {
	return s > s0 || s == s0 && ns > ns0
}

func TestSetAttrPermissions(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	f := mustCreate(t, e, as(1000), meta.RootInode, "f", 0o644)
	owner := as(1000, 1000, 1001)
	other := as(2000)

	if a, err := e.SetAttr(owner, f, codec.SetAttrMode, &meta.Attr{Mode: 0o640}); err != nil || a.Mode != 0o640 {
		t.Fatalf("chmod by the owner: %+v %v", a, err)
	}
	_, err := e.SetAttr(other, f, codec.SetAttrMode, &meta.Attr{Mode: 0o666})
	wantErrno(t, err, syscall.EPERM)
	// gid: owner (or root) only, and only to a group of the caller.
	_, err = e.SetAttr(owner, f, codec.SetAttrGID, &meta.Attr{Gid: 3000})
	wantErrno(t, err, syscall.EPERM)
	_, err = e.SetAttr(other, f, codec.SetAttrGID, &meta.Attr{Gid: 1000})
	wantErrno(t, err, syscall.EPERM) // even without a change
	if a, err := e.SetAttr(owner, f, codec.SetAttrGID, &meta.Attr{Gid: 1001}); err != nil || a.Gid != 1001 {
		t.Fatalf("chgrp by the owner: %+v %v", a, err)
	}
	// uid: root only, unless unchanged.
	_, err = e.SetAttr(owner, f, codec.SetAttrUID, &meta.Attr{Uid: 2000})
	wantErrno(t, err, syscall.EPERM)
	if _, err := e.SetAttr(owner, f, codec.SetAttrUID, &meta.Attr{Uid: 1000}); err != nil {
		t.Fatal(err)
	}
	// setgid requested by a non-member of the file's group is dropped.
	if a, err := e.SetAttr(as(1000), f, codec.SetAttrMode, &meta.Attr{Mode: 0o2755}); err != nil || a.Mode != 0o755 {
		t.Fatalf("setgid by a non-member: %+v %v", a, err)
	}
	if a, err := e.SetAttr(owner, f, codec.SetAttrMode, &meta.Attr{Mode: 0o2755}); err != nil || a.Mode != 0o2755 {
		t.Fatalf("setgid by a member: %+v %v", a, err)
	}
	// A non-owner may only clear set-ID bits.
	setMode(t, e, f, 0o6755, 1000, 1001)
	groupMember := as(2000, 1001)
	if a, err := e.SetAttr(groupMember, f, codec.SetAttrMode, &meta.Attr{Mode: 0o2755}); err != nil || a.Mode != 0o2755 {
		t.Fatalf("non-owner clearing setuid: %+v %v", a, err)
	}
	for _, m := range []uint16{0o2775, 0o3755, 0o6755} {
		_, err = e.SetAttr(groupMember, f, codec.SetAttrMode, &meta.Attr{Mode: m})
		wantErrno(t, err, syscall.EPERM)
	}
	if a, err := e.SetAttr(groupMember, f, codec.SetAttrMode, &meta.Attr{Mode: 0o755}); err != nil || a.Mode != 0o755 {
		t.Fatalf("non-owner clearing setgid: %+v %v", a, err)
	}
	// For a non-member the requested setgid is dropped first: asking to
	// keep it clears it.
	setMode(t, e, f, 0o6755, 1000, 1001)
	if a, err := e.SetAttr(other, f, codec.SetAttrMode, &meta.Attr{Mode: 0o2755}); err != nil || a.Mode != 0o755 {
		t.Fatalf("non-member non-owner keeping setgid: %+v %v", a, err)
	}
	// Root may do anything.
	if a, err := e.SetAttr(bg, f, codec.SetAttrMode|codec.SetAttrUID|codec.SetAttrGID, &meta.Attr{Mode: 0o1777, Uid: 7, Gid: 8}); err != nil ||
		a.Mode != 0o1777 || a.Uid != 7 || a.Gid != 8 {
		t.Fatalf("root: %+v %v", a, err)
	}
}

func TestSetAttrClearsSetID(t *testing.T) {
	clk := voltest.NewClock() // times move only when the test says so
	v := newVolumeWith(t, volumeOpts{engine: meta.Options{Clock: clk}})
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	d := mustMkdir(t, e, bg, meta.RootInode, "d", 0o755)
	member := as(1000, 1000, 1001)
	for _, c := range []struct {
		name   string
		ino    meta.Ino
		start  uint16
		ctx    bool // as the owner 1000 (a member of 1001) instead of root
		set    codec.SetAttrMask
		req    meta.Attr
		result uint16
	}{
		{"root chown, group-exec", f, 0o4755, false, codec.SetAttrUID, meta.Attr{Uid: 1000}, 0o755},
		{"root chown keeps setgid without group-exec", f, 0o6745, false, codec.SetAttrUID, meta.Attr{Uid: 1000}, 0o2745},
		{"root chgrp to the same group still clears", f, 0o4755, false, codec.SetAttrGID, meta.Attr{Gid: 1000}, 0o755},
		{"owner chgrp clears both", f, 0o6755, true, codec.SetAttrGID, meta.Attr{Gid: 1001}, 0o755},
		{"owner chgrp clears setgid without group-exec", f, 0o2745, true, codec.SetAttrGID, meta.Attr{Gid: 1001}, 0o745},
		{"directories keep their bits", d, 0o6755, false, codec.SetAttrUID | codec.SetAttrGID, meta.Attr{Uid: 5, Gid: 5}, 0o6755},
		{"chown+chmod keeps the old bits, then clears them", f, 0o4755, false, codec.SetAttrUID | codec.SetAttrMode,
			meta.Attr{Uid: 1000, Mode: 0o700}, 0o700},
		{"chown+chmod by root without group-exec keeps setgid", f, 0o2745, false, codec.SetAttrUID | codec.SetAttrMode,
			meta.Attr{Uid: 1000, Mode: 0o640}, 0o2640},
		{"chmod alone is not a change of owner", f, 0o4755, false, codec.SetAttrMode, meta.Attr{Mode: 0o4700}, 0o4700},
	} {
		setMode(t, e, c.ino, c.start, 1000, 1000)
		ctx := bg
		if c.ctx {
			ctx = member
		}
		before, _ := e.GetAttr(bg, c.ino)
		clk.Advance(time.Millisecond)
		a, err := e.SetAttr(ctx, c.ino, c.set, &c.req)
		if err != nil || a.Mode != c.result {
			t.Errorf("%s: mode %o (%v), want %o", c.name, a.Mode, err, c.result)
		}
		if !after(a.Ctime, a.Ctimensec, before.Ctime, before.Ctimensec) {
			t.Errorf("%s: ctime not updated", c.name)
		}
	}
}

func TestSetAttrTimes(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	private := mustCreate(t, e, as(1000), meta.RootInode, "private", 0o644)
	shared := mustCreate(t, e, as(1000), meta.RootInode, "shared", 0o666)
	rootOwned := mustCreate(t, e, bg, meta.RootInode, "root", 0o666)
	other := as(2000)
	explicit := meta.Attr{Atime: 1000, Atimensec: 1, Mtime: 2000, Mtimensec: 2}
	both := codec.SetAttrAtime | codec.SetAttrMtime
	if _, err := e.SetAttr(as(1000), private, both, &explicit); err != nil {
		t.Fatalf("owner setting times: %v", err)
	}
	different := meta.Attr{Atime: 3000, Mtime: 4000}
	for _, c := range []struct {
		name string
		ctx  bool // as 2000 rather than the owner
		ino  meta.Ino
		set  codec.SetAttrMask
		want syscall.Errno
	}{
		{"other explicit without write", true, private, codec.SetAttrMtime, syscall.EACCES},
		{"other now without write", true, private, codec.SetAttrMtimeNow, syscall.EACCES},
		{"other atime now without write", true, private, codec.SetAttrAtimeNow, syscall.EACCES},
		{"other explicit with write", true, shared, both, 0},
		{"other now with write", true, shared, codec.SetAttrAtimeNow | codec.SetAttrMtimeNow, 0},
		{"other explicit on a root file", true, rootOwned, codec.SetAttrAtime, syscall.EPERM},
		{"other now on a root file with write", true, rootOwned, codec.SetAttrMtimeNow, 0},
	} {
		ctx := as(1000)
		if c.ctx {
			ctx = other
		}
		_, err := e.SetAttr(ctx, c.ino, c.set, &different)
		if c.want == 0 && err != nil || c.want != 0 && !errorIs(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	a, _ := e.GetAttr(bg, private)
	if a.Atime != 1000 || a.Atimensec != 1 || a.Mtime != 2000 || a.Mtimensec != 2 {
		t.Fatalf("explicit times: %+v", a)
	}
	// Setting the current value is no change, so nobody is refused.
	raw := rawAttr(t, e, private)
	if _, err := e.SetAttr(other, private, both, &explicit); err != nil || rawAttr(t, e, private) != raw {
		t.Fatalf("unchanged times: %v", err)
	}
	// A negative time means now.
	now := time.Now().Unix()
	a, err := e.SetAttr(bg, private, both, &meta.Attr{Atime: -1, Mtime: -1})
	if err != nil || a.Atime < now || a.Mtime < now {
		t.Fatalf("negative times: %+v %v", a, err)
	}
	a, err = e.SetAttr(bg, private, codec.SetAttrMtimeNow, &meta.Attr{Mtime: 5})
	if err != nil || a.Mtime < now || a.Atime < now {
		t.Fatalf("mtime now: %+v %v", a, err)
	}
}

func errorIs(err error, errno syscall.Errno) bool { return meta.ToErrno(err) == errno }

func TestSetAttrInTrash(t *testing.T) {
	v := newVolume(t, 1)
	e := v.e
	f := mustCreate(t, e, bg, meta.RootInode, "f", 0o644)
	if err := e.Unlink(bg, meta.RootInode, "f", false); err != nil {
		t.Fatal(err)
	}
	_, err := e.SetAttr(bg, f, codec.SetAttrMode, &meta.Attr{Mode: 0o600})
	wantErrno(t, err, syscall.EPERM)
	if err := e.CheckSetAttr(bg, f, codec.SetAttrMode, &meta.Attr{Mode: 0o600}); err != nil {
		t.Fatalf("CheckSetAttr does not look at the trash: %v", err)
	}
}

func TestCheckSetAttr(t *testing.T) {
	v := newVolume(t, 0)
	e := v.e
	f := mustCreate(t, e, as(1000), meta.RootInode, "f", 0o644)
	raw := rawAttr(t, e, f)
	err := e.CheckSetAttr(as(2000), f, codec.SetAttrMode, &meta.Attr{Mode: 0o600})
	wantErrno(t, err, syscall.EPERM)
	err = e.CheckSetAttr(as(2000), f, codec.SetAttrMtimeNow, &meta.Attr{})
	wantErrno(t, err, syscall.EACCES)
	req := meta.Attr{Mode: 0o2600}
	if err := e.CheckSetAttr(as(1000), f, codec.SetAttrMode|codec.SetAttrMtimeNow, &req); err != nil {
		t.Fatal(err)
	}
	if req.Mode != 0o2600 {
		t.Fatalf("CheckSetAttr modified its argument")
	}
	if rawAttr(t, e, f) != raw {
		t.Fatalf("CheckSetAttr wrote")
	}
	err = e.CheckSetAttr(bg, 999999, codec.SetAttrMode, &meta.Attr{})
	wantErrno(t, err, syscall.ENOENT)
}

// TestSetAttrACL: with an access ACL, chmod goes through the rule (owner,
// mask or group, other); a changed rule is stored under a new id.
func TestSetAttrACL(t *testing.T) {
	clk := voltest.NewClock() // times move only when the test says so
	v := newVolumeWith(t, volumeOpts{acl: true, engine: meta.Options{Clock: clk}})
	e := v.e
	f := mustCreate(t, e, as(1000), meta.RootInode, "f", 0o644)
	rule := codec.ACLRule{Owner: 6, Group: 4, Mask: 6, Other: 4, NamedUsers: []codec.ACLEntry{{ID: 1001, Perm: 6}}}
	a0, err := e.SetAccessACLForTest(bg, f, rule)
	if err != nil || a0.Mode != 0o664 {
		t.Fatalf("set ACL: %+v %v", a0, err)
	}
	// The named user may set times through the ACL.
	if _, err := e.SetAttr(as(1001), f, codec.SetAttrMtime, &meta.Attr{Mtime: 12345}); err != nil {
		t.Fatalf("named user with rw: %v", err)
	}

	a, err := e.SetAttr(as(1000), f, codec.SetAttrMode, &meta.Attr{Mode: 0o4640})
	if err != nil || a.Mode != 0o4640 || a.AccessACL == a0.AccessACL || a.AccessACL == 0 {
		t.Fatalf("chmod with ACL: %+v (before %+v) %v", a, a0, err)
	}
	got := aclRule(t, e, a.AccessACL)
	want := codec.ACLRule{Owner: 6, Group: 4, Mask: 4, Other: 0, NamedUsers: rule.NamedUsers}
	if !got.Equal(want) {
		t.Fatalf("rule after chmod %+v, want %+v", got, want)
	}
	// Now the mask limits the named user to read.
	_, err = e.SetAttr(as(1001), f, codec.SetAttrMtime, &meta.Attr{Mtime: 54321})
	wantErrno(t, err, syscall.EACCES)

	// The same mode again: the rule is unchanged and keeps its id, but the
	// official client still counts a chmod of an ACL inode as a change.
	clk.Advance(time.Millisecond)
	b, err := e.SetAttr(as(1000), f, codec.SetAttrMode, &meta.Attr{Mode: 0o4640})
	if err != nil || b.AccessACL != a.AccessACL || b.Mode != a.Mode || !after(b.Ctime, b.Ctimensec, a.Ctime, a.Ctimensec) {
		t.Fatalf("same chmod with ACL: %+v (before %+v) %v", b, a, err)
	}
	// Going back to the original bits finds the original rule again.
	if c, err := e.SetAttr(as(1000), f, codec.SetAttrMode, &meta.Attr{Mode: 0o664}); err != nil || c.AccessACL != a0.AccessACL {
		t.Fatalf("chmod back: %+v %v", c, err)
	}
	// Quirk of the official client: no ownership check in the ACL branch.
	if c, err := e.SetAttr(as(2000), f, codec.SetAttrMode, &meta.Attr{Mode: 0o600}); err != nil || c.Mode != 0o600 {
		t.Fatalf("non-owner chmod with ACL: %+v %v", c, err)
	}
	// CheckSetAttr does not take the ACL branch.
	err = e.CheckSetAttr(as(2000), f, codec.SetAttrMode, &meta.Attr{Mode: 0o644})
	wantErrno(t, err, syscall.EPERM)

	// A minimal rule (no mask): the group class follows the mode.
	g := mustCreate(t, e, as(1000), meta.RootInode, "g", 0o644)
	if _, err := e.SetAccessACLForTest(bg, g, codec.ACLRule{Owner: 7, Group: 5, Mask: codec.ACLUnset, Other: 5}); err != nil {
		t.Fatal(err)
	}
	c, err := e.SetAttr(as(1000), g, codec.SetAttrMode, &meta.Attr{Mode: 0o731})
	if err != nil || c.Mode != 0o731 {
		t.Fatalf("chmod with a minimal ACL: %+v %v", c, err)
	}
	if got, want := aclRule(t, e, c.AccessACL), (codec.ACLRule{Owner: 7, Group: 3, Mask: codec.ACLUnset, Other: 1}); !got.Equal(want) {
		t.Fatalf("minimal rule %+v, want %+v", got, want)
	}
}

func aclRule(t *testing.T, e *meta.Engine, id uint32) codec.ACLRule {
	t.Helper()
	c := e.Client()
	v, err := c.Do(bg, c.B().Hget().Key(e.Keys().ACL()).Field(meta.Ino(id).String()).Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	r, err := codec.UnmarshalACLRule(v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSetAttrOwnerUsage: a change of owner moves a file's or directory's
// user/group quota usage (checked by the recount at the end).
func TestSetAttrOwnerUsage(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{userGroupQuota: true})
	e := v.e
	d := mustMkdir(t, e, as(1000), meta.RootInode, "d", 0o777)
	f := mustCreate(t, e, as(1000), d, "f", 0o644)
	writeNew(t, e, f, 0, 10000)
	if _, err := e.SetAttr(bg, f, codec.SetAttrUID|codec.SetAttrGID, &meta.Attr{Uid: 2000, Gid: 3000}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetAttr(bg, d, codec.SetAttrGID, &meta.Attr{Gid: 4000}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetAttr(as(1000), d, codec.SetAttrGID, &meta.Attr{Gid: 1000}); err != nil {
		t.Fatal(err)
	}
	v.check()
	if got := userUsed(t, e, e.Keys().UserQuotaUsedSpace(), "2000"); got != 12288 {
		t.Fatalf("uid 2000 uses %d", got)
	}
}

// TestSetAttrSymlinkOwnerUsage: a symlink's usage moves to its new owner
// (the official client leaves it with the old one; see moveOwnerUsage), so
// that the usage recount at the end of the test agrees.
func TestSetAttrSymlinkOwnerUsage(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{userGroupQuota: true})
	e := v.e
	l, _, err := e.Symlink(as(1000), meta.RootInode, "l", "target")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetAttr(bg, l, codec.SetAttrUID, &meta.Attr{Uid: 2000}); err != nil {
		t.Fatal(err)
	}
	e.Sync(bg)
	if got := userUsed(t, e, e.Keys().UserQuotaUsedInodes(), "1000"); got != 0 {
		t.Fatalf("uid 1000 has %d inodes after giving its symlink away", got)
	}
	if got := userUsed(t, e, e.Keys().UserQuotaUsedInodes(), "2000"); got != 1 {
		t.Fatalf("uid 2000 has %d inodes after receiving a symlink", got)
	}
}
