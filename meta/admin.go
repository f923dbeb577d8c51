package meta

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Volume-level administration (the `destroy` command) and what deleted
// files still hold (`status --more`).

// Reset deletes every key of the volume, as `juicefs destroy` does: FLUSHDB
// of the database, or, with a Cluster key prefix, DEL of every key carrying
// the prefix (a cluster has one database shared by many volumes). The engine
// must not be used for anything but Close afterwards.
func (e *Engine) Reset(ctx context.Context) error {
	if e.readOnly() {
		return fmt.Errorf("reset: the engine is read-only")
	}
	defer e.InvalidateCache()
	if e.keys.Prefix() == "" {
		return e.redisErr("FLUSHDB", e.rdb.Do(ctx, e.rdb.B().Flushdb().Build()).Error())
	}
	// All keys share the prefix's hash slot, so a batch is one DEL.
	return e.scanKeys(ctx, "*", func(keys []string) error {
		return e.redisErr("DEL", e.rdb.Do(ctx, e.rdb.B().Del().Key(keys...).Build()).Error())
	})
}

// InvalidateCache makes this client forget what it cached of keys (of
// everything without keys), at once. Tools that write keys directly through
// Client() call it afterwards, so that the engine's later reads see their
// writes without waiting for Redis' invalidation messages.
func (e *Engine) InvalidateCache(keys ...string) {
	if len(keys) == 0 {
		e.cache.InvalidateAll()
		e.overlay.clear()
		return
	}
	e.cache.Invalidate(keys...)
	e.overlay.forget(keys...)
}

// DeletedObjects counts what deleted files still hold, as `juicefs status
// --more` reports it: files in the trash, files deleted while open or not
// yet purged (delfiles), slices replaced by compaction but kept for the
// trash (delSlices) and slices whose last reference went away but whose data
// was not deleted yet (negative sliceRef counts). Sizes are in bytes.
type DeletedObjects struct {
	TrashFileCount, TrashFileSize                     int64
	PendingDeletedFileCount, PendingDeletedFileSize   int64
	TrashSliceCount, TrashSliceSize                   int64
	PendingDeletedSliceCount, PendingDeletedSliceSize int64
}

// DeletedObjects computes what deleted files still hold. It only reads,
// except that directory statistics of trash sub-directories that are
// missing are recomputed and stored (unless the engine is read-only), as
// Engine.GetDirStat does.
func (in Inspector) DeletedObjects(ctx context.Context) (DeletedObjects, error) {
	e := in.e
	var d DeletedObjects
	if err := e.scanTrashFiles(ctx, &d); err != nil {
		return d, fmt.Errorf("scan trash files: %w", err)
	}
	if err := e.scanPendingFiles(ctx, &d); err != nil {
		return d, fmt.Errorf("scan pending deleted files: %w", err)
	}
	err := e.hscan(ctx, e.keys.DelSlices(), func(field, value string) error {
		recs, err := codec.UnmarshalDelSliceRecords(value)
		if err != nil {
			e.log.Warn(codec.CorruptField(e.keys.DelSlices(), field, err).Error())
			return nil
		}
		for _, r := range recs {
			d.TrashSliceCount++
			d.TrashSliceSize += int64(r.Size)
		}
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("scan trash slices: %w", err)
	}
	err = e.hscan(ctx, e.keys.SliceRef(), func(field, value string) error {
		refs, err := codec.ParseInt(e.keys.SliceRef(), field, value)
		if err != nil {
			e.log.Warn(err.Error())
			return nil
		}
		if refs >= 0 {
			return nil
		}
		_, size, ok := e.keys.ParseSliceRefField(field)
		if !ok {
			return codec.CorruptField(e.keys.SliceRef(), field, fmt.Errorf("field name is not k<id>_<size>"))
		}
		d.PendingDeletedSliceCount++
		d.PendingDeletedSliceSize += int64(size)
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("scan pending deleted slices: %w", err)
	}
	return d, nil
}

// scanTrashFiles counts the files below the hourly trash directories: from
// their directory statistics when the volume keeps them, else by listing
// them (regular files only, as JuiceFS does).
func (e *Engine) scanTrashFiles(ctx context.Context, d *DeletedObjects) error {
	if _, err := e.GetAttr(ctx, TrashInode); errors.Is(err, syscall.ENOENT) {
		return nil // the trash was never enabled: nothing to count
	} else if err != nil {
		return err
	}
	hours, err := e.Readdir(ctx, TrashInode, false)
	if err != nil {
		return err
	}
	f := e.format.Load()
	for _, h := range hours {
		if h.Name == "." || h.Name == ".." {
			continue
		}
		if _, ok := codec.ParseTrashHourName(h.Name); !ok {
			e.log.Warn(fmt.Sprintf("unexpected entry %q in the trash", h.Name))
			continue
		}
		if f != nil && f.DirStats {
			st, err := e.GetDirStat(ctx, h.Inode)
			if err == nil {
				d.TrashFileCount += st.Inodes
				d.TrashFileSize += st.Length
				continue
			}
			e.log.Warn(fmt.Sprintf("directory statistics of trash directory %s (inode %d): %v; listing it instead", h.Name, h.Inode, err))
		}
		files, err := e.Readdir(ctx, h.Inode, true)
		if err != nil {
			e.log.Warn(fmt.Sprintf("list trash directory %s: %v", h.Name, err))
			continue
		}
		for _, f := range files {
			if f.Attr.Typ == codec.TypeFile {
				d.TrashFileCount++
				d.TrashFileSize += int64(f.Attr.Length)
			}
		}
	}
	return nil
}

// scanPendingFiles counts the members "ino:length" of delfiles, each inode
// once.
func (e *Engine) scanPendingFiles(ctx context.Context, d *DeletedObjects) error {
	seen := map[Ino]bool{}
	const batch = 1000
	for start := int64(0); ; start += batch {
		members, err := e.rdb.Do(ctx, e.rdb.B().Zrange().Key(e.keys.DelFiles()).Min(strconv.FormatInt(start, 10)).
			Max(strconv.FormatInt(start+batch-1, 10)).Build()).AsStrSlice()
		if err != nil {
			return e.redisErr("ZRANGE "+e.keys.DelFiles(), err)
		}
		for _, m := range members {
			ino, length, ok := codec.ParseDelFileMember(m)
			if !ok || seen[ino] {
				continue // legacy members are purged by the cleanup job
			}
			seen[ino] = true
			d.PendingDeletedFileCount++
			d.PendingDeletedFileSize += int64(length)
		}
		if len(members) < batch {
			return nil
		}
	}
}
