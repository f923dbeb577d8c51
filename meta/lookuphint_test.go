package meta_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/meta"
)

// TestLookupSeedsRemoval: a name looked up by a client that had nothing of
// it cached (the kernel's LOOKUP before unlink or rename) is removed or
// renamed without reading its entry and attribute again: the transaction
// takes what the lookup read as its guess.
func TestLookupSeedsRemoval(t *testing.T) {
	v := newVolume(t, 0)
	d := mustMkdir(t, v.e, bg, meta.RootInode, "d", 0o755)
	mustCreate(t, v.e, bg, d, "f", 0o644)
	mustCreate(t, v.e, bg, d, "g", 0o644)
	// No background jobs: nothing else reads through r's cache.
	r := v.open(meta.Options{NoBackgroundJobs: true})
	if _, err := r.GetAttr(bg, d); err != nil { // cached from now on
		t.Fatal(err)
	}
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"f", func() error { return r.Unlink(bg, d, "f", false) }},
		{"g", func() error { _, _, err := r.Rename(bg, d, "g", d, "g2", 0); return err }},
	} {
		lookupOK(t, r, d, op.name)
		before := r.CacheStats().Misses
		if err := op.do(); err != nil {
			t.Fatal(err)
		}
		if misses := r.CacheStats().Misses - before; misses != 0 {
			t.Errorf("removing %s after its lookup read %d values", op.name, misses)
		}
	}
	if got := names(t, v.e, d); len(got) != 1 || got[0] != "g2" {
		t.Fatalf("directory holds %v, want [g2]", got)
	}
}

// TestStaleLookupSeed: what a lookup read is only a guess. When another
// client changes the name or its node before the removal or rename, the
// commit refuses the guess and the operation decides again on the current
// values.
func TestStaleLookupSeed(t *testing.T) {
	v := newVolume(t, 0)
	w := v.e
	d := mustMkdir(t, w, bg, meta.RootInode, "d", 0o755)
	mustCreate(t, w, bg, d, "f", 0o644)
	g := mustCreate(t, w, bg, d, "g", 0o644)
	h := mustCreate(t, w, bg, d, "h", 0o644)
	r := v.open(meta.Options{NoBackgroundJobs: true}) // nothing else reads through its cache

	// f now names g's node: r's unlink of f removes that one.
	lookupOK(t, r, d, "f")
	if _, _, err := w.Rename(bg, d, "g", d, "f", 0); err != nil {
		t.Fatal(err)
	}
	conflicts := r.TxStats().Conflicts
	if err := r.Unlink(bg, d, "f", false); err != nil {
		t.Fatal(err)
	}
	if _, err := w.GetAttr(bg, g); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("the node f named at the unlink still exists: %v", err)
	}

	// h's mode changed: the renamed node keeps the new mode (the rename
	// writes the whole attribute, with its new change time).
	lookupOK(t, r, d, "h")
	if _, err := w.SetAttrForTest(bg, h, 0o600, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, a, err := r.Rename(bg, d, "h", d, "h2", 0); err != nil || a.Mode != 0o600 {
		t.Fatalf("rename: mode %o, %v; want 600", a.Mode, err)
	}
	if a, err := w.GetAttr(bg, h); err != nil || a.Mode != 0o600 {
		t.Fatalf("renamed node: mode %o, %v; want 600", a.Mode, err)
	}
	if r.TxStats().Conflicts < conflicts+2 {
		t.Fatalf("%d conflicts: the outdated lookups were not taken as guesses", r.TxStats().Conflicts-conflicts)
	}
	if got := names(t, w, d); len(got) != 1 || got[0] != "h2" {
		t.Fatalf("directory holds %v, want [h2]", got)
	}
}
