package meta_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func expectErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func mustNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// keyExists asks Redis directly whether key exists.
func (v *volume) keyExists(key string) bool {
	v.t.Helper()
	n, err := v.srv.Do(v.t, v.db, "EXISTS", key).AsInt64()
	if err != nil {
		v.t.Fatal(err)
	}
	return n == 1
}

func (v *volume) file(parent meta.Ino, name string) meta.Ino {
	v.t.Helper()
	ino, _, err := v.e.Create(context.Background(), parent, name, 0o644, 0o022, 0)
	if err != nil {
		v.t.Fatal(err)
	}
	mustNil(v.t, "release", v.e.Release(context.Background(), ino))
	return ino
}

func sortedNames(names []string) []string {
	s := slices.Clone(names)
	slices.Sort(s)
	return s
}

func TestXattrSetGetList(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")

	if names, err := v.e.ListXattr(ctx, ino); err != nil || len(names) != 0 {
		t.Fatalf("fresh file lists %q %v", names, err)
	}
	values := map[string][]byte{
		"user.text":   []byte("hello"),
		"user.empty":  {},
		"user.binary": {0, 1, 0xFE, 0xFF, 0x80, 0, '%', ',', '\n'},
		"trusted.x":   bytes.Repeat([]byte{0xAB}, 1000),
	}
	for name, val := range values {
		mustNil(t, "set "+name, v.e.SetXattr(ctx, ino, name, val, 0))
	}
	for name, val := range values {
		got, err := v.e.GetXattr(ctx, ino, name)
		if err != nil || !bytes.Equal(got, val) {
			t.Fatalf("get %s: %x %v, want %x", name, got, err, val)
		}
	}
	names, err := v.e.ListXattr(ctx, ino)
	mustNil(t, "list", err)
	want := []string{"trusted.x", "user.binary", "user.empty", "user.text"}
	if !slices.Equal(sortedNames(names), want) {
		t.Fatalf("list %q, want %q", names, want)
	}
	// Overwrite with flags 0.
	mustNil(t, "overwrite", v.e.SetXattr(ctx, ino, "user.text", []byte("again"), 0))
	if got, _ := v.e.GetXattr(ctx, ino, "user.text"); string(got) != "again" {
		t.Fatalf("after overwrite %q", got)
	}
	_, err = v.e.GetXattr(ctx, ino, "user.missing")
	expectErrno(t, "get missing", err, syscall.ENODATA)
	// Inode 0 means the root.
	mustNil(t, "set on 0", v.e.SetXattr(ctx, 0, "user.root", []byte("r"), 0))
	if got, err := v.e.GetXattr(ctx, meta.RootInode, "user.root"); err != nil || string(got) != "r" {
		t.Fatalf("root xattr via 0: %q %v", got, err)
	}
	if names, err := v.e.ListXattr(ctx, 0); err != nil || !slices.Equal(names, []string{"user.root"}) {
		t.Fatalf("root list %q %v", names, err)
	}
	// The hash x{ino} holds exactly the raw values.
	raw, err := v.srv.Do(t, v.db, "HGET", v.e.Keys().Xattrs(ino), "user.binary").AsBytes()
	if err != nil || !bytes.Equal(raw, values["user.binary"]) {
		t.Fatalf("raw value %x %v", raw, err)
	}
}

func TestXattrFlags(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")

	expectErrno(t, "replace absent", v.e.SetXattr(ctx, ino, "user.a", []byte("1"), codec.XattrReplace), syscall.ENODATA)
	mustNil(t, "create absent", v.e.SetXattr(ctx, ino, "user.a", []byte("1"), codec.XattrCreate))
	expectErrno(t, "create present", v.e.SetXattr(ctx, ino, "user.a", []byte("2"), codec.XattrCreate), syscall.EEXIST)
	mustNil(t, "replace present", v.e.SetXattr(ctx, ino, "user.a", []byte("3"), codec.XattrReplace))
	if got, _ := v.e.GetXattr(ctx, ino, "user.a"); string(got) != "3" {
		t.Fatalf("value %q, want 3", got)
	}
	for _, f := range []uint32{3, 4, 0x10, 1 << 31} {
		expectErrno(t, "bad flags", v.e.SetXattr(ctx, ino, "user.b", nil, f), syscall.EINVAL)
	}
	// Another client creates the attribute behind our back: XATTR_CREATE
	// still sees it (the condition fails and the retry reports EEXIST).
	other := v.open(meta.Options{})
	mustNil(t, "other create", other.SetXattr(ctx, ino, "user.c", []byte("x"), codec.XattrCreate))
	expectErrno(t, "create after other", v.e.SetXattr(ctx, ino, "user.c", []byte("y"), codec.XattrCreate), syscall.EEXIST)
	// And removes it: XATTR_REPLACE notices, even if its read was stale
	// (the condition on the value fails and the retry reads afresh).
	mustNil(t, "other remove", other.RemoveXattr(ctx, ino, "user.c"))
	expectErrno(t, "replace after other removed", v.e.SetXattr(ctx, ino, "user.c", []byte("z"), codec.XattrReplace), syscall.ENODATA)
}

func TestXattrLimits(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")

	long := "user." + strings.Repeat("n", meta.MaxXattrNameLen-5)
	mustNil(t, "255-byte name", v.e.SetXattr(ctx, ino, long, []byte("v"), 0))
	if got, err := v.e.GetXattr(ctx, ino, long); err != nil || string(got) != "v" {
		t.Fatalf("get 255-byte name: %q %v", got, err)
	}
	tooLong := long + "x"
	expectErrno(t, "set 256-byte name", v.e.SetXattr(ctx, ino, tooLong, []byte("v"), 0), syscall.ERANGE)
	_, err := v.e.GetXattr(ctx, ino, tooLong)
	expectErrno(t, "get 256-byte name", err, syscall.ERANGE)
	expectErrno(t, "remove 256-byte name", v.e.RemoveXattr(ctx, ino, tooLong), syscall.ERANGE)

	big := bytes.Repeat([]byte{7}, meta.MaxXattrValueLen)
	mustNil(t, "64 KiB value", v.e.SetXattr(ctx, ino, "user.big", big, 0))
	if got, err := v.e.GetXattr(ctx, ino, "user.big"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("get 64 KiB value: %d bytes, %v", len(got), err)
	}
	expectErrno(t, "value too big", v.e.SetXattr(ctx, ino, "user.big", append(big, 7), 0), syscall.ERANGE)

	expectErrno(t, "set empty name", v.e.SetXattr(ctx, ino, "", []byte("v"), 0), syscall.EINVAL)
	_, err = v.e.GetXattr(ctx, ino, "")
	expectErrno(t, "get empty name", err, syscall.EINVAL)
	expectErrno(t, "remove empty name", v.e.RemoveXattr(ctx, ino, ""), syscall.EINVAL)
}

func TestXattrRemove(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")

	mustNil(t, "set a", v.e.SetXattr(ctx, ino, "user.a", []byte("1"), 0))
	mustNil(t, "set b", v.e.SetXattr(ctx, ino, "user.b", nil, 0))
	mustNil(t, "remove a", v.e.RemoveXattr(ctx, ino, "user.a"))
	expectErrno(t, "remove a again", v.e.RemoveXattr(ctx, ino, "user.a"), syscall.ENODATA)
	_, err := v.e.GetXattr(ctx, ino, "user.a")
	expectErrno(t, "get removed", err, syscall.ENODATA)
	if names, _ := v.e.ListXattr(ctx, ino); !slices.Equal(names, []string{"user.b"}) {
		t.Fatalf("list %q", names)
	}
	mustNil(t, "remove empty value", v.e.RemoveXattr(ctx, ino, "user.b"))
	if v.keyExists(v.e.Keys().Xattrs(ino)) {
		t.Fatal("x key left after the last attribute was removed")
	}
	expectErrno(t, "remove on an inode without any", v.e.RemoveXattr(ctx, ino, "user.b"), syscall.ENODATA)
}

// As in the official client, xattr calls do not look at the inode: get on a
// missing inode is ENODATA, set succeeds; list needs the attribute.
func TestXattrMissingInode(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	v.file(meta.RootInode, "f")
	const ghost = meta.Ino(987654)
	_, err := v.e.GetXattr(ctx, ghost, "user.a")
	expectErrno(t, "get", err, syscall.ENODATA)
	_, err = v.e.ListXattr(ctx, ghost)
	expectErrno(t, "list", err, syscall.ENOENT)
	expectErrno(t, "remove", v.e.RemoveXattr(ctx, ghost, "user.a"), syscall.ENODATA)
	mustNil(t, "set", v.e.SetXattr(ctx, ghost, "user.a", []byte("1"), 0))
	mustNil(t, "remove", v.e.RemoveXattr(ctx, ghost, "user.a"))
}

func TestXattrGoneWithTheFile(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	f := v.file(meta.RootInode, "f")
	d, _, err := v.e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	mustNil(t, "mkdir", err)
	l, _, err := v.e.Symlink(ctx, meta.RootInode, "l", "f")
	mustNil(t, "symlink", err)
	for _, ino := range []meta.Ino{f, d, l} {
		mustNil(t, "set", v.e.SetXattr(ctx, ino, "user.a", []byte("1"), 0))
	}
	// A second link keeps the attributes.
	_, err = v.e.Link(ctx, f, meta.RootInode, "f2")
	mustNil(t, "link", err)
	mustNil(t, "unlink f", v.e.Unlink(ctx, meta.RootInode, "f", false))
	if !v.keyExists(v.e.Keys().Xattrs(f)) {
		t.Fatal("x key of a file with another link was deleted")
	}
	mustNil(t, "unlink f2", v.e.Unlink(ctx, meta.RootInode, "f2", false))
	mustNil(t, "rmdir", v.e.Rmdir(ctx, meta.RootInode, "d", false))
	mustNil(t, "unlink l", v.e.Unlink(ctx, meta.RootInode, "l", false))
	for _, ino := range []meta.Ino{f, d, l} {
		if v.keyExists(v.e.Keys().Xattrs(ino)) {
			t.Fatalf("x key of deleted inode %d still exists", ino)
		}
	}
}

func TestXattrKeptInTrash(t *testing.T) {
	v := newVolume(t, 1)
	ctx := context.Background()
	f := v.file(meta.RootInode, "f")
	mustNil(t, "set", v.e.SetXattr(ctx, f, "user.a", []byte("kept"), 0))
	mustNil(t, "unlink", v.e.Unlink(ctx, meta.RootInode, "f", false))
	checkKeptXattr(t, v, f)
}

// A directory removed to the trash keeps its attributes too.
func TestXattrKeptInTrashDir(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{trashDays: 1})
	ctx := context.Background()
	d, _, err := v.e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	mustNil(t, "mkdir", err)
	mustNil(t, "set", v.e.SetXattr(ctx, d, "user.a", []byte("kept"), 0))
	mustNil(t, "rmdir", v.e.Rmdir(ctx, meta.RootInode, "d", false))
	checkKeptXattr(t, v, d)
}

func checkKeptXattr(t *testing.T, v *volume, ino meta.Ino) {
	t.Helper()
	ctx := context.Background()
	if !v.keyExists(v.e.Keys().Xattrs(ino)) {
		t.Fatalf("x key of inode %d in the trash was deleted", ino)
	}
	if got, err := v.e.GetXattr(ctx, ino, "user.a"); err != nil || string(got) != "kept" {
		t.Fatalf("inode %d in the trash: %q %v", ino, got, err)
	}
	if names, err := v.e.ListXattr(ctx, ino); err != nil || !slices.Equal(names, []string{"user.a"}) {
		t.Fatalf("inode %d in the trash lists %q %v", ino, names, err)
	}
}

func TestXattrACLNamesWithoutACL(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")
	value := b64(t, fixtureSharedACL)
	for _, name := range []string{meta.XattrACLAccess, meta.XattrACLDefault} {
		expectErrno(t, "set "+name, v.e.SetXattr(ctx, ino, name, value, 0), syscall.ENOTSUP)
		_, err := v.e.GetXattr(ctx, ino, name)
		expectErrno(t, "get "+name, err, syscall.ENODATA)
		expectErrno(t, "remove "+name, v.e.RemoveXattr(ctx, ino, name), syscall.ENOTSUP)
	}
	if v.keyExists(v.e.Keys().Xattrs(ino)) {
		t.Fatal("an ACL name was stored as a plain xattr")
	}
}

func TestXattrReadOnly(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")
	mustNil(t, "set", v.e.SetXattr(ctx, ino, "user.a", []byte("1"), 0))
	ro, err := meta.Open(ctx, v.url, meta.Options{ReadOnly: true})
	mustNil(t, "open", err)
	t.Cleanup(func() { ro.Close(context.Background()) })
	_, err = ro.Load(ctx, true)
	mustNil(t, "load", err)
	expectErrno(t, "set", ro.SetXattr(ctx, ino, "user.b", nil, 0), syscall.EROFS)
	expectErrno(t, "set with bad flags", ro.SetXattr(ctx, ino, "user.b", nil, 9), syscall.EROFS)
	expectErrno(t, "remove", ro.RemoveXattr(ctx, ino, "user.a"), syscall.EROFS)
	if got, err := ro.GetXattr(ctx, ino, "user.a"); err != nil || string(got) != "1" {
		t.Fatalf("get: %q %v", got, err)
	}
	if names, err := ro.ListXattr(ctx, ino); err != nil || len(names) != 1 {
		t.Fatalf("list: %q %v", names, err)
	}
}

// Another client sees our changes (server-assisted cache invalidation).
func TestXattrTwoClients(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")
	other := v.open(meta.Options{})
	_, err := other.GetXattr(ctx, ino, "user.a") // cached as absent
	expectErrno(t, "first get", err, syscall.ENODATA)
	mustNil(t, "set", v.e.SetXattr(ctx, ino, "user.a", []byte("1"), 0))
	voltest.Eventually(t, 2*time.Second, "xattr change from another client", voltest.Holds(func() bool {
		got, err := other.GetXattr(ctx, ino, "user.a")
		return err == nil && string(got) == "1"
	}))
	mustNil(t, "remove", v.e.RemoveXattr(ctx, ino, "user.a"))
	voltest.Eventually(t, 2*time.Second, "xattr change from another client", voltest.Holds(func() bool {
		names, err := other.ListXattr(ctx, ino)
		return err == nil && len(names) == 0
	}))
}

// changeLog turns the change log on and returns a function reading the
// operations logged since.
func (v *volume) changeLog() func() []string {
	v.t.Helper()
	ctx := context.Background()
	f := *v.e.Format()
	f.ChangeLog = true
	mustNil(v.t, "enable the change log", v.e.Init(ctx, &f, false))
	return func() []string {
		v.t.Helper()
		entries, err := v.srv.Do(v.t, v.db, "LRANGE", v.e.Keys().TxnLog(), "0", "-1").AsStrSlice()
		mustNil(v.t, "LRANGE txnLog", err)
		ops := make([]string, len(entries))
		for i, e := range entries {
			parts := strings.Split(e, "|")
			if len(parts) != 3 {
				v.t.Fatalf("malformed change-log entry %q", e)
			}
			ops[i] = parts[1]
		}
		return ops
	}
}

func TestXattrChangeLog(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	ino := v.file(meta.RootInode, "f")
	ops := v.changeLog()
	mustNil(t, "set", v.e.SetXattr(ctx, ino, "user.a,b", []byte{0, 'x', 0xFF, '%'}, codec.XattrCreate))
	expectErrno(t, "create again", v.e.SetXattr(ctx, ino, "user.a,b", nil, codec.XattrCreate), syscall.EEXIST)
	mustNil(t, "remove", v.e.RemoveXattr(ctx, ino, "user.a,b"))
	expectErrno(t, "remove again", v.e.RemoveXattr(ctx, ino, "user.a,b"), syscall.ENODATA)
	want := []string{
		"SETXATTR(" + ino.String() + ",user.a%2Cb,%00x%FF%25,1)",
		"REMOVEXATTR(" + ino.String() + ",user.a%2Cb)",
		// The official client logs a removal even when nothing was removed.
		"REMOVEXATTR(" + ino.String() + ",user.a%2Cb)",
	}
	if got := ops(); !slices.Equal(got, want) {
		t.Fatalf("change log %q, want %q", got, want)
	}
}

func (m *manifest) entry(t *testing.T, path string) manifestEntry {
	t.Helper()
	for _, e := range m.Entries {
		if e.Path == path {
			return e
		}
	}
	t.Fatalf("manifest has no %s", path)
	return manifestEntry{}
}

// openFixture loads a volume written by the official client into a fresh
// database and opens it, with its manifest.
func openFixture(t *testing.T, volume string) (*meta.Engine, *manifest) {
	t.Helper()
	e, _, _ := loadFixture(t, volume)
	return e, readManifest(t, volume)
}

// checkFixtureXattrs compares every extended attribute the official client
// showed through its mount with what GetXattr and ListXattr return.
func checkFixtureXattrs(t *testing.T, e *meta.Engine, m *manifest) (checked int) {
	t.Helper()
	ctx := context.Background()
	for _, ent := range m.Entries {
		var want []string
		for name, enc := range ent.Xattrs {
			val, err := base64.StdEncoding.DecodeString(enc)
			mustNil(t, ent.Path, err)
			got, err := e.GetXattr(ctx, meta.Ino(ent.Ino), name)
			if err != nil || !bytes.Equal(got, val) {
				t.Errorf("%s: GetXattr(%s) = %x %v, want %x", ent.Path, name, got, err, val)
			}
			want = append(want, name)
			checked++
		}
		names, err := e.ListXattr(ctx, meta.Ino(ent.Ino))
		if err != nil || !slices.Equal(sortedNames(names), sortedNames(want)) {
			t.Errorf("%s: ListXattr = %q %v, want %q", ent.Path, names, err, want)
		}
	}
	return checked
}

func TestXattrFixtureBasic(t *testing.T) {
	e, m := openFixture(t, "basic")
	if n := checkFixtureXattrs(t, e, m); n < 7 {
		t.Fatalf("only %d xattrs checked", n)
	}
}
