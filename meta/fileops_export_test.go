package meta

import (
	"context"

	"github.com/rueidisfs/rueidisfs/codec"
)

// SetAccessACLForTest stores rule in the acl hash and makes it the access
// ACL of inode ino, with the permission bits the rule implies (special bits
// kept), the way setfacl leaves an inode. It stands in for SetFacl in tests
// of the ACL branch of SetAttr.
func (e *Engine) SetAccessACLForTest(ctx context.Context, ino Ino, rule codec.ACLRule) (Attr, error) {
	id, err := e.storeACLRule(ctx, &rule)
	if err != nil {
		return Attr{}, err
	}
	var a Attr
	err = e.runTx(ctx, func(tx *Tx) error {
		key := e.keys.Inode(ino)
		var err error
		if a, err = e.txAttr(tx, key); err != nil {
			return err
		}
		a.AccessACL = id
		a.Mode = a.Mode&0o7000 | aclMode(&rule)
		tx.Set(key, string(a.Marshal()))
		return nil
	})
	return a, err
}

// LoadQuotasForTest reloads quota limits and usage (and the volume usage)
// from Redis now, as the heartbeat does, so that limits a test wrote
// directly are enforced.
func (e *Engine) LoadQuotasForTest(ctx context.Context) error { return e.stats.loadQuotas(ctx) }
