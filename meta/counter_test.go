package meta_test

import (
	"context"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestInodeCounterWentBack: an asynchronous failover can lose the last
// increments of nextinode, so that the next range another client reserves
// holds inodes that exist. A create given such an inode must not overwrite
// it: the engine notices, reserves a new range and creates the file there.
func TestInodeCounterWentBack(t *testing.T) {
	v := newVolume(t, 0)
	ctx := context.Background()
	a := v.e
	var made []meta.Ino
	for _, name := range []string{"a1", "a2", "a3"} {
		ino, _, err := a.Mknod(ctx, meta.RootInode, name, codec.TypeFile, 0o644, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, ino)
	}
	// As if a failover had lost every increment of the counter.
	a.Sync(ctx) // the root's statistics exist before another client counts in them
	v.srv.Do(t, v.db, "SET", a.Keys().NextInode(), "1")
	b := v.open(meta.Options{NoBackgroundJobs: true})
	seen := map[meta.Ino]bool{}
	for _, ino := range made {
		seen[ino] = true
	}
	for _, name := range []string{"b1", "b2", "b3", "b4"} {
		ino, _, err := b.Mknod(ctx, meta.RootInode, name, codec.TypeFile, 0o600, 0, 0)
		if err != nil {
			t.Fatalf("mknod %s: %v", name, err)
		}
		if seen[ino] {
			t.Fatalf("mknod %s reused inode %d", name, ino)
		}
		seen[ino] = true
	}
	for i, name := range []string{"a1", "a2", "a3"} {
		ino, attr, err := b.Lookup(ctx, meta.RootInode, name)
		if err != nil || ino != made[i] || attr.Mode != 0o644 {
			t.Fatalf("%s after the counter went back: inode %d mode %o %v, want inode %d mode 644", name, ino, attr.Mode, err, made[i])
		}
	}
	v.check(b)
}
