package meta

import (
	"context"
	"time"
)

// SetAttrForTest sets mode (full 12 bits), uid and gid of an inode directly,
// for tests that need a particular owner or mode without going through
// SetAttr's permission rules.
func (e *Engine) SetAttrForTest(ctx context.Context, ino Ino, mode uint16, uid, gid uint32) (Attr, error) {
	var a Attr
	err := e.runTx(ctx, func(tx *Tx) error {
		key := e.keys.Inode(ino)
		var err error
		if a, err = e.txAttr(tx, key); err != nil {
			return err
		}
		a.Mode, a.Uid, a.Gid = mode, uid, gid
		tx.Set(key, string(a.Marshal()))
		return nil
	})
	return a, err
}

// FlushDirStatsPeriodicForTest runs one periodic flush of the directory
// statistics (which postpones recounts of directories written recently).
func (e *Engine) FlushDirStatsPeriodicForTest(ctx context.Context) {
	e.stats.flushDirStats(ctx, true)
}

// SetQuotaFenceForTest sets the lease of the fences this engine takes,
// stops their renewal (a stalled setter) with noRenew, and installs a hook
// run by `quota set` between its count and the store.
func (e *Engine) SetQuotaFenceForTest(lease time.Duration, noRenew bool, beforeStore func()) {
	e.qfence.lease, e.qfence.noRenew, e.qfence.beforeStore = lease, noRenew, beforeStore
}
