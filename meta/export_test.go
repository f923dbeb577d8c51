package meta

import (
	"context"
	"syscall"
)

// SetAttrForTest sets mode (full 12 bits), uid and gid of an inode directly,
// for tests that need a particular owner or mode without going through
// SetAttr's permission rules.
func (e *Engine) SetAttrForTest(ctx context.Context, ino Ino, mode uint16, uid, gid uint32) (Attr, error) {
	var a Attr
	err := e.runTx(ctx, func(tx *Tx) error {
		key := e.keys.Inode(ino)
		v, ok, err := tx.Get(key)
		if err != nil {
			return err
		}
		if !ok {
			return syscall.ENOENT
		}
		if a, err = e.decodeAttr(key, v); err != nil {
			return err
		}
		a.Mode, a.Uid, a.Gid = mode, uid, gid
		tx.Set(key, string(a.Marshal()))
		return nil
	})
	return a, err
}
