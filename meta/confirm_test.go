package meta_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// staleDelay is how late the client under test hears of other clients'
// changes in the tests below: its replies, and Redis' invalidations with
// them, come through a proxy that holds them that long.
const staleDelay = 150 * time.Millisecond

// staleClient opens a second client of v through a proxy; slow starts
// delaying what it receives, so that its cache keeps values another client
// has already replaced.
func staleClient(t *testing.T, v *volume) (e *meta.Engine, slow func()) {
	t.Helper()
	p := redistest.StartProxy(t, v.srv)
	e, err := meta.Open(bg, p.URL("redis", v.db), meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.NewSession(bg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(bg) })
	return e, func() { p.SetDelay(staleDelay) }
}

// TestNoOpOutcomesConfirmed: an operation that finds nothing to do (the
// mode, owner, times or length already as asked, a rename onto the same
// inode, an entry of a batch removal already gone) decides so from values
// its client may have cached before another client replaced them. It must
// not return success without checking them: here client A's cache is stale
// by another client's change, and A's operation must still take effect.
func TestNoOpOutcomesConfirmed(t *testing.T) {
	v := newVolume(t, 0)
	b := v.e
	a, slow := staleClient(t, v)
	// One directory per case, each looked up once by A: more lookups in a
	// directory would have A prefetch it instead of caching single entries.
	d := mustMkdir(t, b, bg, meta.RootInode, "d", 0o777)
	f := mustCreate(t, b, bg, d, "f", 0o644)
	if _, err := b.Link(bg, f, d, "g"); err != nil {
		t.Fatal(err)
	}
	bd := mustMkdir(t, b, bg, meta.RootInode, "bd", 0o777)
	n := mustCreate(t, b, bg, bd, "n", 0o644)
	t1, t2 := time.Unix(1_600_000_000, 0), time.Unix(1_700_000_000, 0)
	setattr := func(e *meta.Engine, set codec.SetAttrMask, attr meta.Attr) {
		t.Helper()
		if _, err := e.SetAttr(bg, f, set, &attr); err != nil {
			t.Fatal(err)
		}
	}
	// A sets everything once and caches the result; A also knows d/f and
	// d/g as one inode and d/n as n.
	if _, err := a.Truncate(bg, f, 0, 100, true); err != nil {
		t.Fatal(err)
	}
	setattr(a, codec.SetAttrMode|codec.SetAttrUID|codec.SetAttrMtime, meta.Attr{Mode: 0o640, Uid: 5, Mtime: t1.Unix()})
	if _, _, err := a.Lookup(bg, d, "g"); err != nil {
		t.Fatal(err)
	}
	// A rename of f onto g does nothing (one inode) and has A read both
	// entries.
	if _, _, err := a.Rename(bg, d, "f", d, "g", 0); err != nil {
		t.Fatal(err)
	}
	// A batch removal of an entry n no longer names does nothing and has A
	// read n.
	if _, err := a.BatchUnlink(bg, bd, []meta.Entry{{Inode: n + 1000, Name: "n"}}, true); err != nil {
		t.Fatal(err)
	}
	slow()

	// B changes each thing behind A's back; right after, before A hears of
	// it, A asks for what it believes is already so.
	if _, err := b.Truncate(bg, f, 0, 200, true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Truncate(bg, f, 0, 100, true); err != nil {
		t.Fatal(err)
	}
	setattr(b, codec.SetAttrMode, meta.Attr{Mode: 0o600})
	setattr(a, codec.SetAttrMode, meta.Attr{Mode: 0o640})
	setattr(b, codec.SetAttrUID, meta.Attr{Uid: 6})
	setattr(a, codec.SetAttrUID, meta.Attr{Uid: 5})
	setattr(b, codec.SetAttrMtime, meta.Attr{Mtime: t2.Unix()})
	setattr(a, codec.SetAttrMtime, meta.Attr{Mtime: t1.Unix()})
	other := mustCreate(t, b, bg, d, "other", 0o644)
	if _, _, err := b.Rename(bg, d, "other", d, "g", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Rename(bg, d, "f", d, "g", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Unlink(bg, bd, "n", true); err != nil {
		t.Fatal(err)
	}
	n2 := mustCreate(t, b, bg, bd, "n", 0o644)
	if _, err := a.BatchUnlink(bg, bd, []meta.Entry{{Inode: n2, Name: "n", Attr: meta.Attr{Typ: codec.TypeFile}}}, true); err != nil {
		t.Fatal(err)
	}

	got, err := b.GetAttr(bg, f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode&0o7777 != 0o640 || got.Uid != 5 || got.Mtime != t1.Unix() || got.Length != 100 {
		t.Errorf("after A's operations: mode %o uid %d mtime %d length %d, want 640 5 %d 100", got.Mode&0o7777, got.Uid, got.Mtime, got.Length, t1.Unix())
	}
	if ino, _, err := b.Lookup(bg, d, "g"); err != nil || ino != f {
		t.Errorf("rename of f onto g, which B had replaced by inode %d: g is inode %d (%v), want %d", other, ino, err, f)
	}
	if _, _, err := b.Lookup(bg, d, "f"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("f still there after its rename: %v", err)
	}
	if _, _, err := b.Lookup(bg, bd, "n"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("batch removal skipped n, re-created by B as inode %d (%d before): %v", n2, n, err)
	}
	v.check(a)
}

// TestNoOpCopyAndACLConfirmed: two more no-ops decided from values another
// client has replaced (see TestNoOpOutcomesConfirmed): a copy_file_range
// from a source A believes empty copies nothing, and a SetFacl giving the
// ACL A believes is set changes nothing. B has extended the source and
// removed the ACL; A's calls must still take effect.
func TestNoOpCopyAndACLConfirmed(t *testing.T) {
	v := newACLVolume(t)
	b := v.e
	a, slow := staleClient(t, v)
	d := mustMkdir(t, b, bg, meta.RootInode, "d", 0o777)
	src := mustCreate(t, b, bg, d, "src", 0o644)
	dst := mustCreate(t, b, bg, d, "dst", 0o644)
	// f is A's: B knows nothing of it, and reads it fresh below.
	f := mustCreate(t, a, bg, d, "f", 0o644)
	// A copies from the empty source and sets f's ACL, and caches both
	// attributes (its own write dropped f's from its cache: read it again).
	if n, _, err := a.CopyFileRange(bg, src, 0, dst, 0, 1000, 0); err != nil || n != 0 {
		t.Fatalf("copy from an empty file: %d bytes (%v)", n, err)
	}
	if err := a.SetFacl(bg, f, codec.ACLTypeAccess, sharedRule); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetAttr(bg, f); err != nil {
		t.Fatal(err)
	}
	slow()

	if _, err := b.Truncate(bg, src, 0, 1000, true); err != nil {
		t.Fatal(err)
	}
	if n, _, err := a.CopyFileRange(bg, src, 0, dst, 0, 1000, 0); err != nil || n != 1000 {
		t.Errorf("copy from a source B extended to 1000 bytes: %d bytes copied (%v), want 1000", n, err)
	}
	if err := b.SetFacl(bg, f, codec.ACLTypeAccess, codec.EmptyACLRule()); err != nil {
		t.Fatal(err)
	}
	if err := a.SetFacl(bg, f, codec.ACLTypeAccess, sharedRule); err != nil {
		t.Fatal(err)
	}

	if got, err := b.GetAttr(bg, dst); err != nil || got.Length != 1000 {
		t.Errorf("destination of the copy: length %d (%v), want 1000", got.Length, err)
	}
	if got, err := b.GetAttr(bg, f); err != nil || got.AccessACL == 0 {
		t.Errorf("after A set the ACL B had removed: access ACL id %d (%v), want one", got.AccessACL, err)
	}
	v.check(a)
}

// TestErrorsConfirmed: an error decided from values the client may have
// cached before another client replaced them must not be returned. After B
// creates a file, empties a directory or opens a directory to everyone, A's
// unlink, rmdir and mkdir (as a user who may not write there before) must
// succeed, although A's cache still says ENOENT, ENOTEMPTY and EACCES.
func TestErrorsConfirmed(t *testing.T) {
	v := newVolume(t, 0)
	b := v.e
	a, slow := staleClient(t, v)
	// One parent per case: A's own removal in a directory drops what A
	// cached of it, which would hide the stale values of the next case.
	du := mustMkdir(t, b, bg, meta.RootInode, "du", 0o777)
	dr := mustMkdir(t, b, bg, meta.RootInode, "dr", 0o777)
	e := mustMkdir(t, b, bg, dr, "e", 0o755)
	mustCreate(t, b, bg, e, "x", 0o644)
	g := mustMkdir(t, b, bg, meta.RootInode, "g", 0o755)
	user := meta.WithCaller(bg, meta.Caller{Uid: 1000, Gids: []uint32{1000}})

	if _, _, err := a.Lookup(bg, du, "f"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("lookup of f before it exists: %v", err)
	}
	if _, _, err := a.Lookup(bg, dr, "e"); err != nil {
		t.Fatal(err)
	}
	if ents, err := a.Readdir(bg, e, false); err != nil || len(ents) != 3 {
		t.Fatalf("readdir e: %d %v", len(ents), err)
	}
	if _, _, err := a.Mkdir(user, g, "sub", 0o755, 0); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("mkdir in g before it is opened: %v", err)
	}
	slow()

	mustCreate(t, b, bg, du, "f", 0o644)
	if err := a.Unlink(bg, du, "f", true); err != nil {
		t.Errorf("unlink of a file B created: %v", err)
	}
	if err := b.Unlink(bg, e, "x", true); err != nil {
		t.Fatal(err)
	}
	if err := a.Rmdir(bg, dr, "e", true); err != nil {
		t.Errorf("rmdir of a directory B emptied: %v", err)
	}
	if _, err := b.SetAttr(bg, g, codec.SetAttrMode, &meta.Attr{Mode: 0o777}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Mkdir(user, g, "sub", 0o755, 0); err != nil {
		t.Errorf("mkdir in a directory B opened to everyone: %v", err)
	}
	v.check(a)
}

// TestLookupDuringReplacement: while client B keeps renaming new files over
// a name, client A's lookups of that name may find in its cache an entry
// whose inode B has just deleted. A lookup must then settle on what Redis
// holds: never an error (the name always exists) and never an attribute of
// nothing (mode 0, nlink 0).
func TestLookupDuringReplacement(t *testing.T) {
	v := newVolume(t, 0)
	a, b := v.e, v.open(meta.Options{})
	d := mustMkdir(t, b, bg, meta.RootInode, "d", 0o777)
	mustCreate(t, b, bg, d, "x", 0o644)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("t%d", i)
			if _, _, err := b.Mknod(bg, d, name, codec.TypeFile, 0o644, 0, 0); err != nil {
				done <- err
				return
			}
			if _, _, err := b.Rename(bg, d, name, d, "x", 0); err != nil {
				done <- err
				return
			}
		}
	}()
	bad := 0
	for i := 0; i < 3000; i++ {
		_, attr, err := a.Lookup(bg, d, "x")
		if err != nil || attr.Nlink == 0 || attr.Mode&0o777 != 0o644 {
			if bad++; bad <= 5 {
				t.Errorf("lookup %d: %+v %v", i, attr, err)
			}
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if bad > 0 {
		t.Errorf("%d of 3000 lookups were wrong", bad)
	}
	v.check(b)
}

// TestCopyAfterCompaction: client A copies a range of a file whose chunk
// list it has cached, right after client B compacted that chunk (replacing
// its slices by one and dropping the old ones). The copy must reference
// only slices the source still has, never the deleted ones.
func TestCopyAfterCompaction(t *testing.T) {
	v := newVolume(t, 0)
	compact := meta.Options{Compact: func(context.Context, uint64, []codec.Slice) error { return nil }}
	b := v.open(compact)
	a, slow := staleClient(t, v)
	src := mustCreate(t, b, bg, meta.RootInode, "src", 0o644)
	dst := mustCreate(t, b, bg, meta.RootInode, "dst", 0o644)
	for i := uint32(0); i < 4; i++ {
		id, err := b.NewSlice(bg)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Write(bg, src, 0, i*1000, codec.Slice{ID: id, Size: 1000, Len: 1000}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Read(bg, src, 0); err != nil { // A caches the four slices
		t.Fatal(err)
	}
	if _, _, err := a.CopyFileRange(bg, src, 0, dst, 0, 1, 0); err != nil { // and reads the list in a transaction
		t.Fatal(err)
	}
	slow()
	if err := b.CompactChunk(bg, src, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.CopyFileRange(bg, src, 0, dst, 0, 4000, 0); err != nil {
		t.Fatal(err)
	}
	ids := func(e *meta.Engine, ino meta.Ino) map[uint64]bool {
		slices, err := e.Read(bg, ino, 0)
		if err != nil {
			t.Fatal(err)
		}
		out := map[uint64]bool{}
		for _, s := range slices {
			if s.ID != 0 {
				out[s.ID] = true
			}
		}
		return out
	}
	have := ids(b, src)
	if len(have) != 1 {
		t.Fatalf("the source has slices %v after compaction, want one", have)
	}
	for id := range ids(b, dst) {
		if !have[id] {
			t.Errorf("the copy references slice %d, which the compaction deleted (the source has %v)", id, have)
		}
	}
	v.check(a, b)
}
