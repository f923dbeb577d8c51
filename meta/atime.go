package meta

import (
	"context"
	"fmt"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// needAtimeUpdate applies the atime mode: relatime updates when atime is
// older than mtime or ctime or more than a day old; strictatime also when
// it is more than a second old; noatime never.
func (e *Engine) needAtimeUpdate(a *Attr, now time.Time) bool {
	mode := e.opts.AtimeMode
	if mode == codec.AtimeNo || mode == "" {
		return false
	}
	at := time.Unix(a.Atime, int64(a.Atimensec))
	if time.Unix(a.Mtime, int64(a.Mtimensec)).After(at) || time.Unix(a.Ctime, int64(a.Ctimensec)).After(at) ||
		now.Sub(at) > 24*time.Hour {
		return true
	}
	return mode == codec.AtimeStrict && now.Sub(at) > time.Second
}

// touchAtime updates an inode's atime if the atime mode asks for it. Failure
// only costs a warning: reads must not fail because atime could not move.
func (e *Engine) touchAtime(ctx context.Context, ino Ino) {
	err := e.runTx(ctx, func(tx *Tx) error {
		key := e.keys.Inode(ino)
		v, ok, err := tx.Get(key)
		if err != nil || !ok {
			return err
		}
		a, err := e.decodeAttr(key, v)
		if err != nil {
			return err
		}
		now := e.now()
		if !e.needAtimeUpdate(&a, now) {
			return nil
		}
		setTimes(&a, now, true, false, false)
		tx.Set(key, string(a.Marshal()))
		tx.Log("ACCESS(%d)", ino)
		return nil
	})
	if err != nil {
		e.log.Warn(fmt.Sprintf("update atime of inode %d: %v", ino, err))
	}
}
