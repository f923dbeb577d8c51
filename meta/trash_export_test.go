package meta

import (
	"context"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Test hooks: they let black-box tests put the trash in states that only
// time produces.

// MakeTrashHour creates (or finds) the trash hour directory called name
// through the transaction deletions use.
func MakeTrashHour(ctx context.Context, e *Engine, name string) (Ino, error) {
	return e.ensureTrashHour(ctx, name)
}

// AgeTrashHour renames the trash hour directory of the current hour to
// name (an older hour) in one transaction, and makes e forget it, so that
// the next deletion creates a new current hour directory.
func AgeTrashHour(ctx context.Context, e *Engine, name string) (Ino, error) {
	cur := codec.TrashHourName(time.Now())
	dkey := e.keys.Entries(TrashInode)
	var ino Ino
	err := e.runTx(ctx, func(tx *Tx) error {
		ent, v, err := e.txEntry(tx, dkey, cur)
		if err != nil {
			return err
		}
		ino = ent.Inode
		tx.ExpectFieldAbsent(dkey, name)
		tx.HDel(dkey, cur)
		tx.HSet(dkey, name, v)
		return nil
	})
	e.trash.mu.Lock()
	e.trash.name, e.trash.ino = "", 0
	e.trash.mu.Unlock()
	return ino, err
}

// RunTrashJob runs one round of the hourly trash job, without election.
func RunTrashJob(ctx context.Context, e *Engine) { e.runTrashJob(ctx) }
