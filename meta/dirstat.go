package meta

import (
	"context"
	"strconv"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// DirStat is a directory's statistics over its direct children: the summed
// length of its regular files, the summed charged space (align4K of each
// file, 4096 for anything else) and the number of entries.
type DirStat struct {
	Length, Space, Inodes int64
}

// GetDirStat returns the statistics of directory ino, including this
// client's unflushed changes. Missing or negative stored statistics are
// recomputed from the entries (and stored, unless the engine is read-only).
func (e *Engine) GetDirStat(ctx context.Context, ino Ino) (DirStat, error) {
	st, ok, err := e.readDirStat(ctx, ino)
	if err != nil && !codec.IsCorruption(err) {
		return DirStat{}, err
	}
	if err != nil || !ok || st.Length < 0 || st.Space < 0 || st.Inodes < 0 {
		if e.readOnly() {
			return e.computeDirStat(ctx, ino)
		}
		return e.syncDirStat(ctx, ino)
	}
	p := e.stats.pendingDirStat(ino)
	return DirStat{Length: st.Length + p.length, Space: st.Space + p.space, Inodes: st.Inodes + p.inodes}, nil
}

// readDirStat reads the statistics of dir as stored; ok is false when a
// field is missing, and a field that is not an integer is corruption.
func (e *Engine) readDirStat(ctx context.Context, dir Ino) (st DirStat, ok bool, err error) {
	k := e.keys
	f := dir.String()
	names := [3]string{k.DirDataLength(), k.DirUsedSpace(), k.DirUsedInodes()}
	res := e.rdb.DoMulti(ctx,
		e.rdb.B().Hget().Key(names[0]).Field(f).Build(),
		e.rdb.B().Hget().Key(names[1]).Field(f).Build(),
		e.rdb.B().Hget().Key(names[2]).Field(f).Build())
	var vals [3]int64
	for i, r := range res {
		s, err := r.ToString()
		if isNil(err) {
			return DirStat{}, false, nil
		}
		if err != nil {
			return DirStat{}, false, e.redisErr("HGET "+names[i], err)
		}
		if vals[i], err = codec.ParseInt(names[i], f, s); err != nil {
			return DirStat{}, false, err
		}
	}
	return DirStat{Length: vals[0], Space: vals[1], Inodes: vals[2]}, true, nil
}

// dirNlink counts what a directory's link count should be: 2 plus one per
// sub-directory entry, stray entries (see Inspector.StrayEntry) excepted
// (always 2 for the trash root and hour directories, which are not charged
// for their sub-directories).
func (e *Engine) dirNlink(ctx context.Context, dir Ino) (uint32, error) {
	if dir.IsTrash() {
		return 2, nil
	}
	entries, err := e.listEntries(ctx, dir)
	if err != nil {
		return 0, err
	}
	_, subdirs := splitDirs(entries)
	found := make([]bool, len(subdirs))
	if err := e.readAttrs(ctx, subdirs, found); err != nil {
		return 0, err
	}
	n := uint32(2)
	for i := range subdirs {
		var stray bool
		if found[i] {
			if stray, err = e.Inspect().StrayEntry(ctx, dir, subdirs[i].Inode, &subdirs[i].Attr); err != nil {
				return 0, err
			}
		}
		if !stray {
			n++
		}
	}
	return n, nil
}

// computeDirStat counts a directory's statistics from its entries.
func (e *Engine) computeDirStat(ctx context.Context, ino Ino) (DirStat, error) {
	st, _, err := e.countDirStat(ctx, ino)
	return st, err
}

// countDirStat counts a directory's statistics from its entries and returns
// the children it read the attributes of.
func (e *Engine) countDirStat(ctx context.Context, ino Ino) (DirStat, []Ino, error) {
	if _, err := e.GetAttr(ctx, ino); err != nil {
		return DirStat{}, nil, err
	}
	entries, err := e.listEntries(ctx, ino)
	if err != nil {
		return DirStat{}, nil, err
	}
	if err := e.fillAttrs(ctx, entries); err != nil {
		return DirStat{}, nil, err
	}
	var st DirStat
	children := make([]Ino, 0, len(entries))
	for _, ent := range entries {
		children = append(children, ent.Inode)
		st.Inodes++
		if ent.Attr.Typ == codec.TypeFile {
			st.Length += int64(ent.Attr.Length)
			st.Space += int64(codec.Align4K(ent.Attr.Length))
		} else {
			st.Space += 4096
		}
	}
	return st, children, nil
}

// A recount of a directory whose statistics are missing races with this
// client's own operations in it: one that committed before the recount read
// the entries but queues its delta after the recount dropped the pending
// ones would be counted twice (the official client has this window). The
// recount therefore drops and reads while no transaction of this client is
// between its commit and its accounting (see countExclusively), which
// stalls this client's transactions with accounting (those that write,
// create, remove or rename) for the time of the count. So that a
// busy client is not stalled every second, the flusher recounts a directory
// only when this client has not written its entries or its children's
// attributes for recountQuiet (writes are noted before they are sent), and
// checks again after reading; a busy directory waits for a later flush, at
// most recountMaxPostponed times, then is recounted regardless. An explicit
// flush (Sync, FlushStats, closing the session) recounts at once: a volume
// this client used briefly must not be left without the statistics the
// official client's fsck expects.
const (
	recountQuiet        = time.Second
	recountMaxPostponed = 5
)

// recountDirStat recomputes a directory's statistics and stores them. This
// client's pending deltas for the directory are dropped first: the recount
// includes them. With waitQuiet (the periodic flush) it returns
// errRecountBusy instead when this client wrote to the directory or its
// children too recently (see recountQuiet).
func (e *Engine) recountDirStat(ctx context.Context, ino Ino, waitQuiet bool) (DirStat, error) {
	reg := e.cache
	t0, epoch := reg.Now(), reg.Epoch()
	busy := func(key string) bool {
		last := reg.LastChange(key)
		return waitQuiet && last != 0 && last > t0-int64(recountQuiet)
	}
	dkey := e.keys.Entries(ino)
	if busy(dkey) {
		return DirStat{}, errRecountBusy
	}
	st, children, err := e.countExclusively(ctx, ino)
	if err != nil {
		return st, err
	}
	if (waitQuiet && reg.Epoch() != epoch) || busy(dkey) {
		return DirStat{}, errRecountBusy
	}
	for _, c := range children {
		if busy(e.keys.Inode(c)) {
			return DirStat{}, errRecountBusy
		}
	}
	return st, e.storeDirStat(ctx, ino, st)
}

// countExclusively drops this client's pending deltas for directory ino and
// counts its statistics while none of this client's transactions is between
// its commit and its accounting (see commitAndAccount): every change that
// committed before has its delta pending, dropped here as the count
// includes the change, and every later one commits after the count read,
// so its delta adds to the stored count. This client's transactions with
// accounting wait meanwhile; the count only reads (it must not start a
// transaction).
func (e *Engine) countExclusively(ctx context.Context, ino Ino) (DirStat, []Ino, error) {
	e.stats.accounting.Lock()
	defer e.stats.accounting.Unlock()
	e.stats.dropPending(ino)
	return e.countDirStat(ctx, ino)
}

// syncDirStat recomputes a directory's statistics and stores them now.
func (e *Engine) syncDirStat(ctx context.Context, ino Ino) (DirStat, error) {
	return e.recountDirStat(ctx, ino, false)
}

// storeDirStat writes st as the statistics of directory ino, provided its
// attribute still exists (ENOENT otherwise: statistics of a removed
// directory would never be dropped).
func (e *Engine) storeDirStat(ctx context.Context, ino Ino, st DirStat) error {
	return e.runTx(ctx, func(tx *Tx) error {
		if _, ok, err := tx.GetAttrBytes(e.keys.Inode(ino)); err != nil {
			return err
		} else if !ok {
			return syscall.ENOENT
		}
		f := ino.String()
		tx.HSet(e.keys.DirDataLength(), f, strconv.FormatInt(st.Length, 10))
		tx.HSet(e.keys.DirUsedSpace(), f, strconv.FormatInt(st.Space, 10))
		tx.HSet(e.keys.DirUsedInodes(), f, strconv.FormatInt(st.Inodes, 10))
		tx.Log("DIRSTAT(%d,%d,%d,%d)", ino, st.Length, st.Space, st.Inodes)
		return nil
	})
}
