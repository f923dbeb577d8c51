package meta

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/cachestore"
	"github.com/rueidisfs/rueidisfs/codec"
)

//go:embed resolve.lua
var resolveLua string

var resolveScriptSource = luaSource("resolve.lua", resolveLua)

// TrashName is the name under which the trash root appears in the root
// directory. It has no entry in d1: it is resolved in code.
const TrashName = ".trash"

// cachedAttr reads and decodes the attribute at key: from the client-side
// cache when it holds it, decoded once per cached value, else from Redis
// (through the cache).
func (e *Engine) cachedAttr(ctx context.Context, key string) (Attr, bool, error) {
	a, _, ok, err := e.cachedAttrCell(ctx, key)
	return a, ok, err
}

// cachedAttrCell is cachedAttr also returning the cell it was decoded from
// (its memo the attribute), nil when it came from Redis.
func (e *Engine) cachedAttrCell(ctx context.Context, key string) (Attr, *cachestore.Cell, bool, error) {
	if c := e.cachedCell(key, cmdGet, ""); c != nil {
		a, ok, err := e.cellAttr(key, c)
		if err != nil || !ok {
			c = nil
		}
		return a, c, ok, err
	}
	v, ok, err := e.cachedGet(ctx, key)
	if err != nil || !ok {
		return Attr{}, nil, ok, err
	}
	a, err := e.decodeAttr(key, v)
	return a, nil, true, err
}

// cellAttr decodes the attribute cached in c, once per cached value.
func (e *Engine) cellAttr(key string, c *cachestore.Cell) (Attr, bool, error) {
	if a, ok := c.Memo().(*Attr); ok {
		return *a, true, nil
	}
	v, ok, err := stringReply(e, "GET", key, rueidis.NewResult(c.Message(), nil))
	if err != nil || !ok {
		return Attr{}, ok, err
	}
	a, err := e.decodeAttr(key, v)
	if err != nil {
		return Attr{}, true, err
	}
	memo := a
	c.SetMemo(&memo)
	return a, true, nil
}

// entryAttr is cachedAttr of the node that ref names. An entry decoded
// from its own cached value keeps the cell of the node's attribute from
// its last lookup: while that value is cached, it is used without looking
// it up again in the cache's index (the lock and map lookups that are most
// of a cached lookup's cost when many goroutines look up at once).
func (e *Engine) entryAttr(ctx context.Context, ref cachedEntry) (Attr, bool, error) {
	if ref.attrCell != nil {
		if c := e.cache.Reuse(ref.attrCell.Load()); c != nil {
			return e.cellAttr(ref.attrKey, c)
		}
	}
	a, c, ok, err := e.cachedAttrCell(ctx, ref.attrKey)
	if ref.attrCell != nil && c != nil {
		ref.attrCell.Store(c)
	}
	return a, ok, err
}

func (e *Engine) decodeAttr(key, v string) (Attr, error) {
	var a Attr
	if err := codec.UnmarshalAttr([]byte(v), &a); err != nil {
		return a, corrupt(key, err)
	}
	return a, nil
}

func (e *Engine) decodeEntry(key, name, v string) (codec.Entry, error) {
	ent, err := codec.UnmarshalEntry([]byte(v))
	if err != nil {
		return ent, corrupt(key, errWithField(name, err))
	}
	return ent, nil
}

type fieldError struct {
	field string
	err   error
}

func (f fieldError) Error() string { return "field " + quoteName(f.field) + ": " + f.err.Error() }
func (f fieldError) Unwrap() error { return f.err }

func errWithField(field string, err error) error { return fieldError{field, err} }

func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

// synthesizedRoot is what GetAttr returns for the root or the trash root when
// their attribute cannot be read quickly, as the official client does, so
// that a slow Redis does not make the mount point itself fail.
func synthesizedRoot(ino Ino) Attr {
	a := Attr{Typ: codec.TypeDirectory, Mode: 0o777, Nlink: 2, Length: 4096, Parent: RootInode}
	if ino == TrashInode {
		a.Mode = 0o555
	}
	return a
}

// GetAttr returns the attribute of an inode (ENOENT if it does not exist).
func (e *Engine) GetAttr(ctx context.Context, ino Ino) (Attr, error) {
	if ino == 0 {
		ino = RootInode
	}
	key := e.keys.Inode(ino)
	if ino == RootInode || ino == TrashInode {
		tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		a, ok, err := e.cachedAttr(tctx, key)
		cancel()
		if !ok { // absent, or Redis did not answer in time
			return synthesizedRoot(ino), nil
		}
		return a, err // err: a corrupt value
	}
	a, ok, err := e.cachedAttr(ctx, key)
	if err == nil && !ok {
		return Attr{}, syscall.ENOENT
	}
	if err == nil && a.Typ == codec.TypeDirectory {
		e.stats.rememberParent(ino, a.Parent)
	}
	return a, err
}

// validName checks a name given for a new entry.
func validName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return syscall.EINVAL
	}
	if len(name) > codec.MaxNameLen {
		return syscall.ENAMETOOLONG
	}
	return nil
}

// Lookup finds name in directory parent and returns its inode and attribute.
// "." and ".." are understood; ".trash" in the root is the trash root. The
// caller needs search (execute) permission on parent. An entry whose
// attribute is missing (corruption) is returned with only its type set.
func (e *Engine) Lookup(ctx context.Context, parent Ino, name string) (Ino, Attr, error) {
	if parent == 0 {
		parent = RootInode
	}
	if name == "." || name == ".." {
		return e.lookupDots(ctx, parent, name)
	}
	if c := CallerOf(ctx); c.Uid != 0 {
		pa, err := e.GetAttr(ctx, parent)
		if err != nil {
			return 0, Attr{}, err
		}
		if pa.Typ != codec.TypeDirectory {
			return 0, Attr{}, syscall.ENOTDIR
		}
		if err := e.checkAccess(ctx, c, &pa, MayExec); err != nil {
			return 0, Attr{}, err
		}
	}
	if parent == RootInode && name == TrashName {
		a, err := e.GetAttr(ctx, TrashInode)
		return TrashInode, a, err
	}
	if len(name) > codec.MaxNameLen {
		return 0, Attr{}, syscall.ENAMETOOLONG
	}
	var dkb [64]byte
	dkey := "" // made when needed: a cached lookup needs only dkb's
	ref, ok, found, err := e.cachedLookupEntry(e.keys.AppendEntries(dkb[:0], parent), name)
	if !found {
		dkey = e.keys.Entries(parent)
		var ino Ino
		var a Attr
		if ino, a, found, err = e.lookupOnce(ctx, parent, dkey, name); found {
			return ino, a, err
		}
		ref, ok, err = e.lookupEntry(ctx, parent, dkey, name)
	}
	if err != nil {
		return 0, Attr{}, err
	}
	if !ok {
		return 0, Attr{}, syscall.ENOENT
	}
	ent := ref.entry
	a, ok, err := e.entryAttr(ctx, ref)
	if err != nil {
		return 0, Attr{}, err
	}
	if !ok {
		if dkey == "" {
			dkey = e.keys.Entries(parent)
		}
		return e.lookupSettled(ctx, parent, dkey, name, ent.Inode)
	}
	if a.Typ == codec.TypeDirectory && !parent.IsTrash() {
		e.stats.rememberParent(ent.Inode, parent)
	}
	return ent.Inode, a, nil
}

// lookupOnce answers, in one round trip, a lookup that the client-side
// cache cannot answer (neither the entry nor a listing of the directory is
// cached): the resolve script reads the entry and the child's attribute
// together, where reading them here takes two dependent round trips (this
// is what a mount's lookups of names just created, renamed or not yet seen
// cost). The miss still counts toward prefetching the directory. done is
// false when the caller should look up as usual: a prefetch is under way,
// the name missed before (it is then read through the cache, to be
// cached), or the script cannot (ACLs, a corrupt value).
func (e *Engine) lookupOnce(ctx context.Context, parent Ino, dkey, name string) (Ino, Attr, bool, error) {
	if e.CacheEnabled() {
		if e.prefetch.busy(parent) {
			return 0, Attr{}, false, nil
		}
		if ready := e.prefetch.missed(e, parent, dkey); ready != nil {
			if !e.spawn(nil, func() { e.prefetchDir(e.life, parent, dkey, ready) }) {
				e.prefetch.done(parent, ready)
			}
		}
		if e.prefetch.missedBefore(parent, name) {
			return 0, Attr{}, false, nil
		}
	}
	ino, a, raw, err := e.resolveRemote(ctx, parent, []string{name})
	if errors.Is(err, syscall.ENOTSUP) {
		return 0, Attr{}, false, nil
	}
	if err == nil {
		// A lookup that misses is mostly the kernel's, before an unlink,
		// rename or rmdir of the name: their transaction takes what it
		// read as a guess (which its commit checks) instead of reading
		// the entry and the attribute again, two dependent round trips.
		e.overlay.hint(dkey, name, string(codec.Entry{Typ: a.Typ, Inode: ino}.Marshal()), e.keys.Inode(ino), raw)
	}
	if err == nil && a.Typ == codec.TypeDirectory && !parent.IsTrash() {
		e.stats.rememberParent(ino, parent)
	}
	return ino, a, true, err
}

// lookupSettled answers a lookup whose entry named inode gone, whose
// attribute was not found: the entry came from the cache and was removed or
// replaced since (a commit deletes the attribute before it changes the
// entry, so the attribute's invalidation can even arrive first), or the
// volume is corrupt. Entry and attribute are read again from Redis,
// uncached, until they agree; an entry that still names gone when read
// after gone's attribute was found missing is corrupt.
func (e *Engine) lookupSettled(ctx context.Context, parent Ino, dkey, name string, gone Ino) (Ino, Attr, error) {
	for {
		v, ok, err := fieldReply(e, dkey, e.rdb.Do(ctx, e.rdb.B().Hmget().Key(dkey).Field(name).Build()))
		if err != nil {
			return 0, Attr{}, err
		}
		if !ok {
			return 0, Attr{}, syscall.ENOENT
		}
		ent, err := e.decodeEntry(dkey, name, v)
		if err != nil {
			return 0, Attr{}, err
		}
		if ent.Inode == gone {
			return 0, Attr{}, corrupt(dkey, fmt.Errorf("entry %q names inode %d, which has no attribute", name, gone))
		}
		akey := e.keys.Inode(ent.Inode)
		av, err := e.rdb.Do(ctx, e.rdb.B().Get().Key(akey).Build()).ToString()
		if rueidis.IsRedisNil(err) {
			gone = ent.Inode
			continue
		}
		if err != nil {
			return 0, Attr{}, e.redisErr("GET "+akey, err)
		}
		a, err := e.decodeAttr(akey, av)
		if err == nil && a.Typ == codec.TypeDirectory && !parent.IsTrash() {
			e.stats.rememberParent(ent.Inode, parent)
		}
		return ent.Inode, a, err
	}
}

// lookupDots answers a lookup of "." or ".." in parent.
func (e *Engine) lookupDots(ctx context.Context, parent Ino, name string) (Ino, Attr, error) {
	a, err := e.GetAttr(ctx, parent)
	if name == "." || parent == RootInode {
		return parent, a, err
	}
	if err != nil {
		return 0, Attr{}, err
	}
	if a.Typ != codec.TypeDirectory {
		return 0, Attr{}, syscall.ENOTDIR
	}
	pa, err := e.GetAttr(ctx, a.Parent)
	return a.Parent, pa, err
}

// cachedEntry is a decoded directory entry with the key of its attribute.
type cachedEntry struct {
	entry   codec.Entry
	attrKey string
	// attrCell, in the memo of an entry's own cached value, holds the
	// cell of the attribute at attrKey that its lookups last found (see
	// entryAttr); nil in a listing's entries.
	attrCell *atomic.Pointer[cachestore.Cell]
}

// cachedLookupEntry answers the lookup of name in the directory at dkey
// from the client-side cache: the entry cached on its own (decoded once per
// cached value), or in a cached listing of the directory (see listedEntry);
// found is false when neither is cached. The key is in a buffer: a hit of
// an entry decoded before makes no string of it (that cost a cached lookup
// more than the lookup itself).
func (e *Engine) cachedLookupEntry(dkey []byte, name string) (ref cachedEntry, present, found bool, err error) {
	c := e.cachedCellOfKey(dkey, cmdField, name)
	if c == nil {
		return e.listedEntry(dkey, name)
	}
	if r, ok := c.Memo().(*cachedEntry); ok {
		return *r, true, true, nil
	}
	key := string(dkey)
	v, ok, err := fieldReply(e, key, rueidis.NewResult(c.Message(), nil))
	if err != nil || !ok {
		return cachedEntry{}, false, true, err
	}
	ref, err = e.decodeCachedEntry(key, name, v)
	if err == nil {
		// A copy: taking ref's address would move ref to the heap on
		// every call, hits included.
		memo := ref
		memo.attrCell = new(atomic.Pointer[cachestore.Cell])
		c.SetMemo(&memo)
		ref = memo
	}
	return ref, true, true, err
}

// lookupEntry reads and decodes the entry of name in directory parent (key
// dkey) that the cache does not hold: from the listing of a prefetch in
// flight once it is done, else from Redis through the cache; a miss may
// start a prefetch of the directory for the lookups to come.
func (e *Engine) lookupEntry(ctx context.Context, parent Ino, dkey, name string) (cachedEntry, bool, error) {
	if e.prefetch.wait(ctx, parent) {
		if ref, ok, found, err := e.cachedLookupEntry([]byte(dkey), name); found {
			return ref, ok, err
		}
	}
	r := e.readCached(ctx, e.fieldRead(dkey, name))
	if !r.IsCacheHit() {
		if ready := e.prefetch.missed(e, parent, dkey); ready != nil {
			// This lookup paid its round trip; the next ones in this
			// directory will not, once the prefetch (in the background,
			// so that this caller does not wait for it) is done.
			if !e.spawn(nil, func() { e.prefetchDir(e.life, parent, dkey, ready) }) {
				e.prefetch.done(parent, ready)
			}
		}
	}
	v, ok, err := fieldReply(e, dkey, r)
	if err != nil || !ok {
		return cachedEntry{}, ok, err
	}
	ref, err := e.decodeCachedEntry(dkey, name, v)
	return ref, true, err
}

func (e *Engine) decodeCachedEntry(dkey, name, v string) (cachedEntry, error) {
	ent, err := e.decodeEntry(dkey, name, v)
	if err != nil {
		return cachedEntry{}, err
	}
	return cachedEntry{entry: ent, attrKey: e.keys.Inode(ent.Inode)}, nil
}

// Resolve walks a slash-separated path from directory parent, following no
// symlinks (a symlink in the middle is ENOTSUP), and returns the final inode
// and attribute. Search permission is required on every directory passed.
//
// Components whose entry and attribute are in the client-side cache are
// looked up locally; from the first one that is not, the rest of the walk is
// done by a server-side script in one round trip (with ACLs on the way, or a
// "." / ".." / ".trash" component, the walk falls back to lookups).
func (e *Engine) Resolve(ctx context.Context, parent Ino, path string) (Ino, Attr, error) {
	if parent == 0 {
		parent = RootInode
	}
	ino := parent
	a, err := e.GetAttr(ctx, ino)
	if err != nil {
		return 0, Attr{}, err
	}
	comps := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	for i, comp := range comps {
		switch a.Typ {
		case codec.TypeDirectory:
		case codec.TypeSymlink:
			return 0, Attr{}, syscall.ENOTSUP
		default:
			return 0, Attr{}, syscall.ENOTDIR
		}
		if dkey := e.keys.Entries(ino); !e.cache.Cached(dkey, cmdField+comp) && !e.cache.Cached(dkey, cmdHGetAll) {
			if rino, ra, _, err := e.resolveRemote(ctx, ino, comps[i:]); !errors.Is(err, syscall.ENOTSUP) {
				return rino, ra, err
			}
		}
		ino, a, err = e.Lookup(ctx, ino, comp)
		if err != nil {
			return 0, Attr{}, err
		}
	}
	return ino, a, nil
}

// resolveRemote walks comps from dir with the resolve script and returns
// the node found with its attribute, decoded and as stored. ENOTSUP means
// the script could not decide and the caller should walk with lookups.
func (e *Engine) resolveRemote(ctx context.Context, dir Ino, comps []string) (Ino, Attr, string, error) {
	for _, c := range comps {
		if c == "." || c == ".." || c == TrashName || len(c) > codec.MaxNameLen {
			return 0, Attr{}, "", syscall.ENOTSUP
		}
	}
	caller := CallerOf(ctx)
	args := []string{dir.String(), strings.Join(comps, "/"), strconv.FormatUint(uint64(caller.Uid), 10)}
	for _, g := range caller.Gids {
		args = append(args, strconv.FormatUint(uint64(g), 10))
	}
	keys := []string{e.keys.Prefix() + "i", e.keys.Prefix() + "d"}
	res, err := e.resolveScript.Exec(ctx, e.rdb, keys, args).ToArray()
	if err != nil {
		msg := err.Error()
		for _, c := range []syscall.Errno{syscall.ENOENT, syscall.ENOTDIR, syscall.EACCES, syscall.ENOTSUP} {
			if strings.Contains(msg, errnoName(c)) {
				return 0, Attr{}, "", c
			}
		}
		if _, ok := rueidis.IsRedisErr(err); ok {
			// Redis refused the script (TRYAGAIN while the volume's Cluster
			// slot migrates, NOPERM, ...): the lookups may still work.
			return 0, Attr{}, "", syscall.ENOTSUP
		}
		return 0, Attr{}, "", e.redisErr("resolve", err)
	}
	if len(res) != 2 {
		return 0, Attr{}, "", syscall.ENOTSUP
	}
	s, _ := res[0].ToString()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, Attr{}, "", syscall.ENOTSUP
	}
	v, _ := res[1].ToString()
	a, err := e.decodeAttr(e.keys.Inode(Ino(n)), v)
	return Ino(n), a, v, err
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.ENOTDIR:
		return "ENOTDIR"
	case syscall.EACCES:
		return "EACCES"
	}
	return "ENOTSUP"
}

// ReadLink returns the target of a symlink (EINVAL if ino is not one).
func (e *Engine) ReadLink(ctx context.Context, ino Ino) (string, error) {
	key := e.keys.Symlink(ino)
	v, ok, err := e.cachedGet(ctx, key)
	if err != nil {
		return "", err
	}
	if ok && v != "" {
		if e.opts.AtimeMode != "noatime" && !e.readOnly() {
			e.touchAtime(ctx, ino)
		}
		return v, nil
	}
	a, err := e.GetAttr(ctx, ino)
	if err != nil {
		return "", err
	}
	if a.Typ != codec.TypeSymlink {
		return "", syscall.EINVAL
	}
	return "", corrupt(key, errMissingTarget)
}
