package meta

import (
	"context"
	"errors"
	"fmt"

	"github.com/rueidisfs/rueidisfs/codec"
)

// compatVersion is the version compared with a volume's client-version limits.
var compatVersion = mustVersion(Version)

func mustVersion(s string) codec.Version {
	v, err := codec.ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Load reads the volume's format. With checkVersion it refuses a volume whose
// metadata version or client-version limits exclude this client.
func (e *Engine) Load(ctx context.Context, checkVersion bool) (*codec.Format, error) {
	f, err := e.readFormat(ctx)
	if err != nil {
		return nil, err
	}
	if checkVersion {
		if err := CheckCompatible(f); err != nil {
			return nil, err
		}
	}
	e.format.Store(f)
	e.sliceDeleterSet.Do(func() { e.connectData(f) })
	return f, nil
}

// connectData asks Options.SliceDeleter how to delete slices of the volume
// with format f.
func (e *Engine) connectData(f *codec.Format) {
	if e.opts.SliceDeleter == nil {
		return
	}
	fn, err := e.opts.SliceDeleter(f)
	if err != nil {
		e.log.Warn(fmt.Sprintf("object storage: %v; unreferenced slices are left for gc", err))
		return
	}
	if fn != nil {
		e.deleteSlice.Store(&fn)
	}
}

// CheckCompatible tells whether this client may use a volume with format f
// (its metadata version and client-version limits); the error wraps
// ErrIncompatible.
func CheckCompatible(f *codec.Format) error {
	if err := f.CheckVersion(compatVersion); err != nil {
		return fmt.Errorf("%w (this client is %s): %w", ErrIncompatible, Version, err)
	}
	return nil
}

func (e *Engine) readFormat(ctx context.Context) (*codec.Format, error) {
	v, ok, err := e.cachedGet(ctx, e.keys.Setting())
	if err != nil {
		return nil, err
	}
	if !ok || v == "" {
		return nil, ErrNotFormatted
	}
	f, err := codec.ParseSetting([]byte(v))
	if err == nil {
		err = f.Validate()
	}
	if err != nil {
		return nil, corrupt(e.keys.Setting(), err)
	}
	if f.Tiers == nil {
		f.Tiers = map[uint8]codec.Tier{0: {ID: 0, StorageClass: f.StorageClass}}
	}
	return f, nil
}

// Init writes the volume format, as `juicefs format` and `juicefs config` do.
// On a database that already holds a volume, the stored UUID is kept and a
// change of name, block size, compression, shards, hash prefix or metadata
// version is refused unless force is set. Enabling directory statistics or
// user/group quotas drops the hashes that must be recomputed. The root
// directory is created for a new volume, the trash root whenever the trash is
// enabled.
func (e *Engine) Init(ctx context.Context, f *codec.Format, force bool) error {
	if e.readOnly() {
		return fmt.Errorf("format: the engine is read-only")
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("invalid format: %w", err)
	}
	old, err := e.readFormat(ctx)
	switch {
	case errors.Is(err, ErrNotFormatted):
		old = nil
	case err != nil && codec.IsCorruption(err):
		return fmt.Errorf("existing format is broken: %w", err)
	case err != nil:
		return err
	}
	var drop []string
	if old != nil {
		if err := checkFormatUpdate(old, f, force); err != nil {
			return err
		}
		if f.UUID != old.UUID {
			f.UUID = old.UUID
		}
		if !old.DirStats && f.DirStats {
			drop = append(drop, e.keys.DirUsedInodes(), e.keys.DirUsedSpace())
		}
		if !old.UserGroupQuota && f.UserGroupQuota {
			drop = append(drop, e.keys.UserQuota(), e.keys.UserQuotaUsedSpace(), e.keys.UserQuotaUsedInodes(),
				e.keys.GroupQuota(), e.keys.GroupQuotaUsedSpace(), e.keys.GroupQuotaUsedInodes())
		}
	}
	setting, err := f.MarshalSetting()
	if err != nil {
		return fmt.Errorf("encode format: %w", err)
	}
	now := e.now().Unix()
	cmds := e.rdb.B()
	batch := make([]rueidisCompleted, 0, 7+len(drop))
	for _, k := range drop {
		batch = append(batch, cmds.Del().Key(k).Build())
	}
	batch = append(batch, cmds.Set().Key(e.keys.Setting()).Value(string(setting)).Build())
	if f.TrashDays > 0 {
		trash := rootAttr(0o555, now)
		batch = append(batch, cmds.Set().Key(e.keys.Inode(TrashInode)).Value(string(trash.Marshal())).Nx().Build())
	}
	if old == nil {
		root := rootAttr(0o777, now)
		batch = append(batch, cmds.Set().Key(e.keys.Inode(RootInode)).Value(string(root.Marshal())).Build())
		if f.DirStats {
			// The empty root's statistics, as mkdir stores a new
			// directory's. Missing, they are recomputed from the entries
			// at the first flush, which also counts what other clients
			// have pending for the root: those deltas were counted twice.
			field := RootInode.String()
			for _, k := range []string{e.keys.DirUsedInodes(), e.keys.DirDataLength(), e.keys.DirUsedSpace()} {
				batch = append(batch, cmds.Hset().Key(k).FieldValue().FieldValue(field, "0").Build())
			}
		}
	}
	if err := e.execAtomically(ctx, batch); err != nil {
		return fmt.Errorf("write format: %w", err)
	}
	keys := []string{e.keys.Setting(), e.keys.Inode(TrashInode), e.keys.Inode(RootInode)}
	e.cache.Invalidate(append(keys, drop...)...)
	e.overlay.forget(keys...)
	e.format.Store(f)
	return nil
}

// rootAttr is the attribute of the root and trash root directories written
// at format time: times are whole seconds, as the official client writes them.
func rootAttr(mode uint16, now int64) *codec.Attr {
	return &codec.Attr{
		Typ: codec.TypeDirectory, Mode: mode, Nlink: 2, Length: 4096, Parent: RootInode,
		Atime: now, Mtime: now, Ctime: now,
	}
}

// checkFormatUpdate refuses the changes JuiceFS refuses without force.
func checkFormatUpdate(old, f *codec.Format, force bool) error {
	if force {
		return nil
	}
	type change struct {
		what     string
		old, new any
	}
	var c *change
	switch {
	case f.Name != old.Name:
		c = &change{"name", old.Name, f.Name}
	case f.BlockSize != old.BlockSize:
		c = &change{"block size", old.BlockSize, f.BlockSize}
	case f.Compression != old.Compression:
		c = &change{"compression", old.Compression, f.Compression}
	case f.Shards != old.Shards:
		c = &change{"shards", old.Shards, f.Shards}
	case f.HashPrefix != old.HashPrefix:
		c = &change{"hash prefix", old.HashPrefix, f.HashPrefix}
	case f.MetaVersion != old.MetaVersion:
		c = &change{"meta version", old.MetaVersion, f.MetaVersion}
	}
	if c != nil {
		return fmt.Errorf("cannot update volume %s from %v to %v", c.what, c.old, c.new)
	}
	return nil
}
