package meta

import (
	"context"
	"sync"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// With TrashDays > 0 deleted entries are moved into an hourly sub-directory
// of the trash root (named after the UTC hour, e.g. 2026-08-01-13) under the
// name {parent}-{inode}-{name}, keeping their data until the trash job
// expires the hour directory.

type trashCache struct {
	mu   sync.Mutex
	name string
	ino  Ino
}

// trashDir returns the trash sub-directory for deletions happening now, 0 if
// the trash is disabled. It creates the directory on the first deletion of
// an hour (any client may win that race; the loser uses the winner's).
func (e *Engine) trashDir(ctx context.Context) (Ino, error) {
	f := e.format.Load()
	if f == nil || f.TrashDays <= 0 {
		return 0, nil
	}
	name := codec.TrashHourName(e.now())
	e.trash.mu.Lock()
	defer e.trash.mu.Unlock()
	if e.trash.name == name {
		return e.trash.ino, nil
	}
	ino, err := e.ensureTrashHour(ctx, name)
	if err != nil {
		return 0, err
	}
	e.trash.name, e.trash.ino = name, ino
	return ino, nil
}

func (e *Engine) ensureTrashHour(ctx context.Context, name string) (Ino, error) {
	dkey := e.keys.Entries(TrashInode)
	v, ok, err := e.cachedHGet(ctx, dkey, name)
	if err != nil {
		return 0, err
	}
	if ok {
		ent, err := e.decodeEntry(dkey, name, v)
		return ent.Inode, err
	}
	n, err := e.rdb.Do(ctx, e.rdb.B().Incr().Key(e.keys.NextTrash()).Build()).AsInt64()
	if err != nil {
		return 0, e.redisErr("INCR "+e.keys.NextTrash(), err)
	}
	ino := TrashInode + Ino(n)
	var existing Ino
	err = e.runTx(ctx, func(tx *Tx) error {
		existing = 0
		if _, ok, err := tx.GetAttrBytes(e.keys.Inode(TrashInode)); err != nil {
			return err
		} else if !ok {
			return syscall.ENOENT
		}
		tx.ExpectFieldAbsent(dkey, name)
		if v, present := tx.KnownField(dkey, name); present {
			ent, err := e.decodeEntry(dkey, name, v)
			if err != nil {
				return err
			}
			existing = ent.Inode
			return nil
		}
		attr := Attr{Typ: codec.TypeDirectory, Mode: 0o555, Nlink: 2, Length: codec.DirLength, Parent: TrashInode}
		setTimes(&attr, e.now(), true, true, true)
		tx.Set(e.keys.Inode(ino), string(attr.Marshal()))
		tx.HSet(dkey, name, string(codec.Entry{Typ: codec.TypeDirectory, Inode: ino}.Marshal()))
		e.queueEmptyDirStats(tx, ino)
		tx.IncrBy(e.keys.UsedSpace(), 4096)
		tx.IncrBy(e.keys.TotalInodes(), 1)
		tx.Log("CREATE(%d,%s,0,0,%d,365,0,,linux,false):%d", TrashInode, name, codec.TypeDirectory, ino)
		tx.Account(func() { e.afterCreate(ctx, TrashInode, ino, &attr) })
		tx.Touches(TrashInode)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if existing != 0 {
		return existing, nil
	}
	return ino, nil
}
