package meta_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestSmoke(t *testing.T) {
	e := newVolume(t, 1).e
	ctx := context.Background()
	d, _, err := e.Mkdir(ctx, meta.RootInode, "dir", 0o755, 0o022)
	if err != nil {
		t.Fatal(err)
	}
	f, a, err := e.Create(ctx, d, "file", 0o644, 0o022, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Typ != codec.TypeFile || a.Mode != 0o644 {
		t.Fatalf("attr %+v", a)
	}
	ino, la, err := e.Lookup(ctx, d, "file")
	if err != nil || ino != f || la.Typ != codec.TypeFile {
		t.Fatalf("lookup %v %v %+v", err, ino, la)
	}
	if _, _, err := e.Mkdir(ctx, d, "file", 0o755, 0); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("want EEXIST, got %v", err)
	}
	if _, _, err := e.Rename(ctx, d, "file", meta.RootInode, "moved", 0); err != nil {
		t.Fatal(err)
	}
	if err := e.Unlink(ctx, meta.RootInode, "moved", false); err != nil {
		t.Fatal(err)
	}
	if err := e.Rmdir(ctx, meta.RootInode, "dir", false); err != nil {
		t.Fatal(err)
	}
	ents, err := e.Readdir(ctx, meta.TrashInode, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("trash: %+v", ents)
	pa, _ := e.GetAttr(ctx, meta.RootInode)
	t.Logf("root %+v", pa)
}
