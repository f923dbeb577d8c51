package meta

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Recursive removal (`rmr`), also used to empty trash hour directories and
// detached clone trees. A directory is emptied by listing a bounded batch of
// its entries, emptying and removing its sub-directories (in parallel while a
// worker slot is free, inline otherwise), removing the other entries with
// BatchUnlink, and listing again until nothing is left; then it is removed
// with Rmdir. Every removal is an ordinary Unlink/BatchUnlink/Rmdir, so with
// the trash enabled every file and every directory of the tree lands in the
// trash hour directory on its own, side by side.

// RmrDefaultThreads is the parallelism of Remove when none is given.
const RmrDefaultThreads = 50

// rmrListLimit bounds how many entries one listing round of a directory
// being emptied reads.
const rmrListLimit = 10000

// rmrInvisibleRetries: an Rmdir that keeps failing with ENOTEMPTY although
// listing shows nothing (entries the listing cannot decode) is given up
// after this many rounds instead of looping forever.
const rmrInvisibleRetries = 3

// rmrState is shared by the workers of one recursive removal.
type rmrState struct {
	e          *Engine
	skipTrash  bool
	slots      chan struct{}
	guard      *treeGuard // the removal never leaves the tree it empties
	count      atomic.Int64
	progressMu sync.Mutex
	progress   func(n int)
}

// newRmrState prepares a removal with at most threads directories emptied
// in parallel.
func (e *Engine) newRmrState(skipTrash bool, threads int, progress func(n int)) *rmrState {
	return &rmrState{e: e, skipTrash: skipTrash, slots: make(chan struct{}, threads), guard: newTreeGuard(), progress: progress}
}

func (s *rmrState) add(n int) {
	if n == 0 {
		return
	}
	s.count.Add(int64(n))
	if s.progress != nil {
		s.progressMu.Lock()
		s.progress(n)
		s.progressMu.Unlock()
	}
}

// Remove deletes name in parent and, for a directory, everything below it.
// The caller needs write and search permission on parent and on every
// directory emptied. threads bounds the directories emptied in parallel
// (<= 0 means RmrDefaultThreads, at most 255). progress, when set, receives
// the number of entries just removed (attempted, as the official client
// counts them), never concurrently; the total is returned. With the trash enabled and skipTrash
// false every node goes to the trash individually.
func (e *Engine) Remove(ctx context.Context, parent Ino, name string, skipTrash bool, threads int, progress func(n int)) (int, error) {
	if parent == 0 {
		parent = RootInode
	}
	switch name {
	case ".":
		return 0, syscall.EINVAL
	case "..":
		return 0, syscall.ENOTEMPTY
	}
	if err := e.Access(ctx, parent, MayWrite|MayExec, nil); err != nil {
		return 0, err
	}
	ino, attr, err := e.Lookup(WithCaller(ctx, rootCaller), parent, name)
	if err != nil {
		return 0, err
	}
	if attr.Typ != codec.TypeDirectory {
		if progress != nil {
			progress(1)
		}
		return 1, e.Unlink(ctx, parent, name, skipTrash)
	}
	switch {
	case threads <= 0:
		threads = RmrDefaultThreads
	case threads > 255:
		threads = 255
	}
	s := e.newRmrState(skipTrash, threads, progress)
	if err := s.guard.enter(ctx, parent, name, ino, &attr); err != nil {
		return 0, err
	}
	err = s.emptyEntry(ctx, parent, name, ino)
	return int(s.count.Load()), err
}

// emptyEntry empties directory ino (named name in parent) and removes it,
// starting over when a concurrent creation made the final Rmdir fail.
// Directories of the trash are only emptied, never removed here.
func (s *rmrState) emptyEntry(ctx context.Context, parent Ino, name string, ino Ino) error {
	invisible := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		seen, err := s.emptyDir(ctx, ino)
		if err != nil || ino.IsTrash() {
			return err
		}
		err = s.e.Rmdir(ctx, parent, name, s.skipTrash)
		if !errors.Is(err, syscall.ENOTEMPTY) {
			s.add(1)
			return err
		}
		if seen == 0 {
			if invisible++; invisible >= rmrInvisibleRetries {
				return fmt.Errorf("directory %d (%q in %d) keeps entries that cannot be listed: %w", ino, name, parent, syscall.ENOTEMPTY)
			}
		} else {
			invisible = 0
		}
	}
}

// emptyDir removes every entry of directory ino. It returns how many
// entries it saw in total.
func (s *rmrState) emptyDir(ctx context.Context, ino Ino) (int, error) {
	seen := 0
	for {
		entries, err := s.e.listEntriesLimit(ctx, ino, rmrListLimit)
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			return seen, err
		}
		if len(entries) == 0 {
			return seen, nil
		}
		seen += len(entries)
		if err := s.e.Access(ctx, ino, MayWrite|MayExec, nil); err != nil {
			return seen, err
		}
		files, dirs := splitDirs(entries)
		if err := s.enterAll(ctx, ino, dirs); err != nil {
			return seen, err
		}
		subdirs := newFanOut(s.slots)
		for _, ent := range dirs {
			if err := ctx.Err(); err != nil {
				subdirs.fail(err)
				break
			}
			subdirs.tryGo(func() error { return ignoreENOENT(s.emptyEntry(ctx, ino, ent.Name, ent.Inode)) })
			if subdirs.failed() {
				break
			}
		}
		if err := subdirs.wait(); err != nil {
			return seen, err
		}
		if len(files) > 0 {
			n, err := s.e.BatchUnlink(ctx, ino, files, s.skipTrash)
			s.add(n)
			if err != nil {
				return seen, err
			}
		}
		if ino == TrashInode {
			return seen, nil // the trash root is tried once
		}
	}
}

// splitDirs splits entries into those of other nodes and those of
// directories.
func splitDirs(entries []Entry) (files, dirs []Entry) {
	for _, ent := range entries {
		if ent.Attr.Typ == codec.TypeDirectory {
			dirs = append(dirs, ent)
		} else {
			files = append(files, ent)
		}
	}
	return files, dirs
}

// enterAll reads the attributes of the sub-directories dirs of directory
// ino and checks, before anything is removed, that the removal may enter
// every one of them (see treeGuard).
func (s *rmrState) enterAll(ctx context.Context, ino Ino, dirs []Entry) error {
	found := make([]bool, len(dirs))
	if err := s.e.readAttrs(ctx, dirs, found); err != nil {
		return err
	}
	for i := range dirs {
		var attr *Attr
		if found[i] {
			attr = &dirs[i].Attr
		}
		if err := s.guard.enter(ctx, ino, dirs[i].Name, dirs[i].Inode, attr); err != nil {
			return err
		}
	}
	return nil
}

// listEntriesLimit lists up to limit entries of a directory (types only).
// Small directories are read whole (and cached); larger ones are scanned
// until limit entries are found.
func (e *Engine) listEntriesLimit(ctx context.Context, ino Ino, limit int) ([]Entry, error) {
	dkey := e.keys.Entries(ino)
	n, err := e.cachedHLen(ctx, dkey)
	if err != nil {
		return nil, err
	}
	if n <= smallDirLimit {
		return e.listEntries(ctx, ino)
	}
	var out []Entry
	seen := make(map[string]struct{}, limit)
	errStop := errors.New("stop")
	err = e.hscan(ctx, dkey, func(name, v string) error {
		if _, dup := seen[name]; dup {
			return nil
		}
		seen[name] = struct{}{}
		ent, err := e.appendEntry(dkey, name, v)
		if err != nil {
			return err
		}
		if ent != nil {
			out = append(out, *ent)
		}
		if len(out) >= limit {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return out, err
}
