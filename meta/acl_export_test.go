package meta

import (
	"context"
	"time"
)

// ChmodACLForTest changes the permission bits of an inode the way SetAttr
// does for an inode with an access ACL (through chmodACL), so that tests of
// package meta_test can exercise the helper before SetAttr uses it.
func (e *Engine) ChmodACLForTest(ctx context.Context, ino Ino, mode uint16) (Attr, error) {
	var attr Attr
	err := e.runTx(ctx, func(tx *Tx) error {
		key := e.keys.Inode(ino)
		var err error
		if attr, err = e.txAttr(tx, key); err != nil {
			return err
		}
		handled, err := e.chmodACL(ctx, &attr, mode)
		if err != nil {
			return err
		}
		if !handled {
			attr.Mode = mode
		}
		setTimes(&attr, time.Now(), false, false, true)
		tx.Set(key, string(attr.Marshal()))
		return nil
	})
	return attr, err
}
