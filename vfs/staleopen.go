package vfs

import (
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// staleOpens turns the failure of an open of an inode that another client
// removed into ESTALE. The kernel opens the inode a cached name led to; if
// the name was unlinked (or renamed over) elsewhere meanwhile, the engine
// answers ENOENT (the inode is gone) or EPERM (a write open of an inode now
// in the trash), errors open(2) of that path could never give. On ESTALE
// Linux walks the path again once, asking this file system to look every
// name up (LOOKUP_REVAL), and opens, or with O_CREAT creates, what the name
// holds now. If that lookup names the same inode again in a way that
// explains the error (a name inside the trash, or an immutable or
// append-only file), the error was the inode's own: the next failed open of
// it returns the error itself. A lookup that merely raced the removal (it
// read the name before the removal and the attribute after) confirms
// nothing.
type staleOpens struct {
	mu sync.Mutex
	// failed maps an inode answered ESTALE to whether a lookup has named
	// it since.
	failed map[Ino]bool
	n      atomic.Int32 // len(failed), read by lookups without the lock
}

// maxStaleOpens bounds the inodes remembered (removed inodes are never
// named again, so their entries would otherwise stay).
const maxStaleOpens = 10000

// answer is the reply to a failed open of ino with st.
func (s *staleOpens) answer(ino Ino, st syscall.Errno) syscall.Errno {
	if st != syscall.ENOENT && st != syscall.EPERM {
		return st
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if named, ok := s.failed[ino]; ok && named {
		delete(s.failed, ino)
		s.n.Store(int32(len(s.failed)))
		return st
	}
	if s.failed == nil || len(s.failed) >= maxStaleOpens {
		s.failed = map[Ino]bool{}
	}
	s.failed[ino] = false
	s.n.Store(int32(len(s.failed)))
	return syscall.ESTALE
}

// named records that a lookup in directory parent (the engine's number)
// returned ino with attr.
func (s *staleOpens) named(parent, ino Ino, attr *Attr) {
	if s.n.Load() == 0 || (!parent.IsTrash() && attr.Flags&(codec.FlagImmutable|codec.FlagAppend) == 0) {
		return
	}
	s.mu.Lock()
	if _, ok := s.failed[ino]; ok {
		s.failed[ino] = true
	}
	s.mu.Unlock()
}
