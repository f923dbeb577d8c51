package vfs

import (
	"sync"
	"syscall"

	"github.com/rueidisfs/rueidisfs/fileio"
)

// handle is one open file or directory: what the kernel calls a file
// handle (fh), created by open, create or opendir and freed by release.
type handle struct {
	fh    uint64
	ino   Ino // kernel number
	flags uint32
	file  *fileio.File    // regular files
	dir   *dirHandle      // directories
	node  *internalHandle // internal files

	// Lock bookkeeping, so that close and release can drop what the handle
	// took (see locks.go).
	mu         sync.Mutex
	flockOwner uint64
	hasFlock   bool
	posixOwner uint64
	hasPosix   bool
}

func (h *handle) writable() bool {
	return h.flags&syscall.O_ACCMODE != syscall.O_RDONLY
}

// handleTable numbers the handles as JuiceFS does: odd numbers for handles
// that cannot write (read-only files, directories, internal files), even
// ones for writable files.
type handleTable struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]*handle
	// open counts the handles of each inode.
	open map[Ino]int
}

func (t *handleTable) init() {
	t.m = map[uint64]*handle{}
	t.open = map[Ino]int{}
}

func (t *handleTable) add(h *handle) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	if (t.next%2 == 0) != (h.node == nil && h.dir == nil && h.writable()) {
		t.next++
	}
	h.fh = t.next
	t.m[h.fh] = h
	t.open[h.ino]++
	return h.fh
}

// get returns the handle fh of inode ino, nil if there is none.
func (t *handleTable) get(ino Ino, fh uint64) *handle {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.m[fh]
	if h == nil || h.ino != ino {
		return nil
	}
	return h
}

// remove forgets handle fh and returns it (nil if unknown).
func (t *handleTable) remove(ino Ino, fh uint64) *handle {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.m[fh]
	if h == nil || h.ino != ino {
		return nil
	}
	delete(t.m, fh)
	if t.open[ino]--; t.open[ino] <= 0 {
		delete(t.open, ino)
	}
	return h
}
