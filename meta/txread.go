package meta

import (
	"context"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Reads that open most transactions: the record an operation works on must
// exist (ENOENT otherwise) and decode. They live here so that every
// operation reports a missing or corrupt record the same way.

// txAttr reads the attribute at key within tx; a missing one is ENOENT. It
// decodes the string as read, without the copy decodeAttr makes (Write and
// Truncate run it on every call).
func (e *Engine) txAttr(tx *Tx, key string) (Attr, error) {
	v, ok, err := tx.Get(key)
	if err != nil {
		return Attr{}, err
	}
	if !ok {
		return Attr{}, syscall.ENOENT
	}
	var a Attr
	if err := codec.UnmarshalAttr(v, &a); err != nil {
		return a, corrupt(key, err)
	}
	return a, nil
}

// txEntry reads the entry name of the entries hash dkey within tx; a
// missing one is ENOENT. It also returns the stored value, for callers that
// move the entry elsewhere unchanged.
func (e *Engine) txEntry(tx *Tx, dkey, name string) (codec.Entry, string, error) {
	v, ok, err := tx.HGet(dkey, name)
	if err != nil {
		return codec.Entry{}, "", err
	}
	if !ok {
		return codec.Entry{}, "", syscall.ENOENT
	}
	ent, err := e.decodeEntry(dkey, name, v)
	return ent, v, err
}

// dirChange says what a change of a directory's entries needs beyond the
// directory existing, being one, and the caller's write and search
// permission on it.
type dirChange struct {
	// notInTrash: the directory must not be in the trash (ENOENT), as
	// for a new name.
	notInTrash bool
	// forbidden are the directory flags that refuse the change (EPERM).
	forbidden uint8
}

var (
	// dirAddName: a name is added (create, link, the destination of a
	// rename).
	dirAddName = dirChange{notInTrash: true, forbidden: codec.FlagImmutable}
	// dirRemoveName: a name is removed (unlink, rmdir, the source of a
	// rename).
	dirRemoveName = dirChange{forbidden: codec.FlagAppend | codec.FlagImmutable}
)

// txParentDir reads, within tx, the attribute of the directory at pkey
// whose entries caller c is about to change, and applies the rules of
// change: ENOENT when it is gone (or, for dirAddName, in the trash),
// ENOTDIR, EACCES without write and search permission, EPERM when a flag
// forbids the change. It reads with GetAttrBytes, so that concurrent link
// count and time updates of the directory do not conflict.
func (e *Engine) txParentDir(ctx context.Context, tx *Tx, c Caller, pkey string, change dirChange) (Attr, error) {
	pv, ok, err := tx.GetAttrBytes(pkey)
	if err != nil {
		return Attr{}, err
	}
	if !ok {
		return Attr{}, syscall.ENOENT
	}
	pattr, err := e.decodeAttr(pkey, pv)
	if err != nil {
		return pattr, err
	}
	if pattr.Typ != codec.TypeDirectory {
		return pattr, syscall.ENOTDIR
	}
	if change.notInTrash && pattr.Parent > TrashInode {
		return pattr, syscall.ENOENT
	}
	if err := e.checkAccess(ctx, c, &pattr, MayWrite|MayExec); err != nil {
		return pattr, err
	}
	if pattr.Flags&change.forbidden != 0 {
		return pattr, syscall.EPERM
	}
	return pattr, nil
}
