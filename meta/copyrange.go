package meta

import (
	"context"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// CopyFileRange copies bytes [offIn, offIn+size) of file fin to offset
// offOut of file fout without copying data: the visible pieces of the
// source range (holes included) are appended as records to the destination's
// chunk lists, split where they cross a destination chunk boundary, and
// every copied record of a real slice adds a reference to it in sliceRef.
//
// size is clamped to the source length; an offIn at or past the end copies
// nothing and changes nothing (copied and newLength are then 0). A source or
// destination that is not a regular file gives EINVAL, an immutable or
// append-only destination EPERM; permissions are the caller's business (the
// VFS checked the handles, and rejected flags and overlapping ranges).
// Growth of the destination is refused beyond quotas (EDQUOT) or capacity
// (ENOSPC); a range reaching codec.MaxFileLength gives EFBIG. It returns the
// number of bytes copied and the destination's new length.
func (e *Engine) CopyFileRange(ctx context.Context, fin Ino, offIn uint64, fout Ino, offOut, size uint64, _ uint32) (copied, newLength uint64, err error) {
	if offIn >= codec.MaxFileLength || offOut >= codec.MaxFileLength || size >= codec.MaxFileLength-max(offIn, offOut) {
		return 0, 0, syscall.EFBIG
	}
	inKey, outKey := e.keys.Inode(fin), e.keys.Inode(fout)
	var attr Attr
	var d fileDelta
	err = e.runTx(ctx, func(tx *Tx) error {
		copied, newLength, d = 0, 0, fileDelta{}
		vals, present, err := tx.MGet(outKey, inKey)
		if err != nil {
			return err
		}
		if !present[0] || !present[1] {
			return syscall.ENOENT
		}
		var src Attr
		if err := codec.UnmarshalAttr(vals[1], &src); err != nil {
			return corrupt(inKey, err)
		}
		if src.Typ != codec.TypeFile {
			return syscall.EINVAL
		}
		if offIn >= src.Length {
			return nil
		}
		n := min(size, src.Length-offIn)
		if err := codec.UnmarshalAttr(vals[0], &attr); err != nil {
			return corrupt(outKey, err)
		}
		if attr.Typ != codec.TypeFile {
			return syscall.EINVAL
		}
		if attr.Flags&(codec.FlagImmutable|codec.FlagAppend) != 0 {
			return syscall.EPERM
		}
		if end := offOut + n; end > attr.Length {
			d = sizeDelta(attr.Length, end)
			attr.Length = end
		}
		if err := e.checkGrowth(ctx, fout, &attr, d.space); err != nil {
			return err
		}
		setTimes(&attr, e.now(), false, true, true)
		if err := e.queueCopiedRecords(tx, fin, offIn, fout, offOut, n); err != nil {
			return err
		}
		tx.Set(outKey, marshalAttr(&attr))
		if d.space > 0 {
			tx.IncrBy(e.keys.UsedSpace(), d.space)
		}
		tx.Account(func() { e.afterResize(ctx, fout, &attr, d) })
		touchParent(tx, &attr)
		tx.Log("COPYFILERANGE(%d,%d,%d,%d,%d):%d", fin, offIn, fout, offOut, n, attr.Length)
		copied, newLength = n, attr.Length
		return nil
	})
	if !applied(err) {
		return 0, 0, err
	}
	return copied, newLength, err
}

// queueCopiedRecords reads the source chunks covering [offIn, offIn+n) and
// queues the destination records and reference increments. The source lists
// are conditions of the transaction: read from the cache, they may predate
// a compaction (by this or another client) that replaced and deleted the
// slices they name, which the copy would then reference. (The official
// client does not watch them.)
func (e *Engine) queueCopiedRecords(tx *Tx, fin Ino, offIn uint64, fout Ino, offOut, n uint64) error {
	first, last := offIn/codec.ChunkSize, (offIn+n)/codec.ChunkSize
	keys := make([]string, 0, last-first+1)
	for i := first; i <= last; i++ {
		keys = append(keys, e.keys.Chunk(fin, uint32(i)))
	}
	lists, err := tx.LRanges(keys)
	if err != nil {
		return err
	}
	end := offIn + n
	push := func(doff uint64, s codec.Slice) {
		tx.Do("RPUSH", e.keys.Chunk(fout, uint32(doff/codec.ChunkSize)),
			sliceRecord(uint32(doff%codec.ChunkSize), s.ID, s.Size, s.Off, s.Len))
		if s.ID > 0 {
			tx.HIncrBy(e.keys.SliceRef(), e.keys.SliceRefField(s.ID, s.Size), 1)
		}
	}
	for i, list := range lists {
		recs, err := codec.UnmarshalSliceRecords(list)
		if err != nil {
			return corrupt(keys[i], err)
		}
		// A zero record under everything makes the holes explicit pieces,
		// so that copying them blanks the destination.
		recs = append([]codec.SliceRecord{{Len: codec.ChunkSize}}, recs...)
		pos := (first + uint64(i)) * codec.ChunkSize
		for _, s := range codec.BuildLayout(recs) {
			start := pos
			pos += uint64(s.Len)
			if start >= end || pos <= offIn {
				continue
			}
			if start < offIn {
				cut := offIn - start
				s.Off += uint32(cut)
				s.Len -= uint32(cut)
				start = offIn
			}
			if start+uint64(s.Len) > end {
				s.Len = uint32(end - start)
			}
			doff := start - offIn + offOut
			if room := codec.ChunkSize - doff%codec.ChunkSize; uint64(s.Len) > room {
				head := s
				head.Len = uint32(room)
				push(doff, head)
				s.Off += uint32(room)
				s.Len -= uint32(room)
				doff += room
			}
			push(doff, s)
		}
	}
	return nil
}
