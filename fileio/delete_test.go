package fileio_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/meta"
)

// waitObjects waits until the bucket holds n block objects.
func (v *volume) waitObjects(n int) {
	v.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := len(v.bucket.Objects("chunks/"))
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("%d objects in the bucket, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeleteData: the objects of a deleted file are deleted, at once
// without trash, when the trash expires with it, and when the last handle
// of a file unlinked while open closes.
func TestDeleteData(t *testing.T) {
	t.Run("no trash", func(t *testing.T) {
		v := newVolume(t, volumeOpts{})
		f := v.create("f")
		f.WriteAt(ctx, randomBytes(1, 3*65536+10), 0)
		if err := f.Close(ctx); err != nil {
			t.Fatal(err)
		}
		v.waitObjects(4)
		if err := v.e.Unlink(ctx, meta.RootInode, "f", false); err != nil {
			t.Fatal(err)
		}
		v.waitObjects(0)
	})
	t.Run("trash", func(t *testing.T) {
		v := newVolume(t, volumeOpts{trashDays: 1})
		f := v.create("f")
		f.WriteAt(ctx, randomBytes(2, 100000), 0)
		f.Close(ctx)
		if err := v.e.Unlink(ctx, meta.RootInode, "f", false); err != nil {
			t.Fatal(err)
		}
		v.waitObjects(2) // kept while in the trash
		if _, err := v.e.Cleanup().ExpireTrash(ctx, time.Now().Add(48*time.Hour), nil); err != nil {
			t.Fatal(err)
		}
		v.waitObjects(0)
	})
	t.Run("open while unlinked", func(t *testing.T) {
		v := newVolume(t, volumeOpts{})
		f := v.create("f")
		data := randomBytes(3, 70000)
		f.WriteAt(ctx, data, 0)
		if err := f.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := v.e.Unlink(ctx, meta.RootInode, "f", false); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(data))
		if n, err := f.ReadAt(ctx, got, 0); n != len(data) || !bytes.Equal(got, data) {
			t.Fatalf("an unlinked open file read %d bytes (%v)", n, err)
		}
		v.waitObjects(2)
		if err := f.Close(ctx); err != nil {
			t.Fatal(err)
		}
		v.waitObjects(0)
	})
}
