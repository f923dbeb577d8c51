package vfs

import (
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
)

// TestStaleOpens: a failed open of a removed inode is answered ESTALE (the
// kernel looks the path up again) until a lookup names the inode in a way
// that explains the error; then the error itself.
func TestStaleOpens(t *testing.T) {
	var s staleOpens
	if st := s.answer(5, syscall.EACCES); st != syscall.EACCES {
		t.Fatalf("EACCES answered %v", st)
	}
	for range 2 {
		if st := s.answer(5, syscall.ENOENT); st != syscall.ESTALE {
			t.Fatalf("ENOENT answered %v, want ESTALE", st)
		}
	}
	// A lookup that read the name before the removal and the attribute
	// after (now in the trash) confirms nothing.
	s.named(1, 5, &Attr{Parent: codec.TrashInode + 1})
	if st := s.answer(5, syscall.EPERM); st != syscall.ESTALE {
		t.Fatalf("EPERM after a racing lookup answered %v, want ESTALE", st)
	}
	// A name inside the trash, or an immutable file: the error is its own.
	s.named(codec.TrashInode+1, 5, &Attr{Parent: codec.TrashInode + 1})
	if st := s.answer(5, syscall.EPERM); st != syscall.EPERM {
		t.Fatalf("EPERM of a file opened in the trash answered %v", st)
	}
	s.answer(6, syscall.EPERM)
	s.named(1, 6, &Attr{Parent: 1, Flags: codec.FlagImmutable})
	if st := s.answer(6, syscall.EPERM); st != syscall.EPERM {
		t.Fatalf("EPERM of an immutable file answered %v", st)
	}
	// Confirmed inodes are forgotten; removed ones are remembered.
	s.answer(7, syscall.ENOENT)
	if s.n.Load() != 1 {
		t.Fatalf("%d inodes remembered, want 1", s.n.Load())
	}
}
