package meta

import (
	"context"
	"errors"
)

// ClaimRootXattr sets the extended attribute name of the root directory to
// value if it still holds old ("": not set), in one transaction: of several
// clients that read the same old value and claim at the same time, exactly
// one wins. It reports whether this call won. Background jobs that JuiceFS
// clients elect through a root attribute (the metadata backup's
// "lastBackup") use it.
func (e *Engine) ClaimRootXattr(ctx context.Context, name, old, value string) (bool, error) {
	if err := checkXattrName(name); err != nil {
		return false, err
	}
	key := e.keys.Xattrs(RootInode)
	err := e.runTx(ctx, func(tx *Tx) error {
		cur, _, err := tx.HGet(key, name)
		if err != nil {
			return err
		}
		if cur != old {
			return errClaimTaken
		}
		tx.HSet(key, name, value)
		tx.Log("SETXATTR(%d,%s,%s,%d)", RootInode, logEscape(name), logEscape(value), 0)
		return nil
	})
	if errors.Is(err, errClaimTaken) {
		return false, nil
	}
	return err == nil, err
}
