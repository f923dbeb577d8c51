package meta

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/rueidisfs/rueidisfs/codec"
)

// scanChunksAbove is the number of chunks a truncation must span before the
// chunk lists to blank are found with SCAN instead of by enumerating every
// index (as the official client does: a huge sparse extension touches only
// the few chunks that exist).
const scanChunksAbove = 10000

// Truncate sets the length of regular file ino. flags 1 means "through an
// open handle": the file may then sit in the trash. Unless skipPermCheck the
// caller needs write permission. A node that is not a regular file, or is
// immutable or append-only, gives EPERM; a length at or past
// codec.MaxFileLength EFBIG.
//
// The bytes between the old and the new length are covered with zero
// records, so that data past a shrunk end never reappears when the file
// grows again; the chunk lists themselves stay until compaction or deletion.
// Growth is refused beyond quotas (EDQUOT) or the volume's capacity (ENOSPC).
// Setting the current length changes nothing, not even mtime.
func (e *Engine) Truncate(ctx context.Context, ino Ino, flags uint8, length uint64, skipPermCheck bool) (Attr, error) {
	if length >= codec.MaxFileLength {
		return Attr{}, syscall.EFBIG
	}
	c := CallerOf(ctx)
	key := e.keys.Inode(ino)
	var attr Attr
	var d fileDelta
	err := e.runTx(ctx, func(tx *Tx) error {
		d = fileDelta{}
		var err error
		if attr, err = e.txAttr(tx, key); err != nil {
			return err
		}
		if attr.Typ != codec.TypeFile || attr.Flags&(codec.FlagImmutable|codec.FlagAppend) != 0 ||
			(flags == 0 && attr.Parent > TrashInode) {
			return syscall.EPERM
		}
		if !skipPermCheck {
			if err := e.checkAccess(ctx, c, &attr, MayWrite); err != nil {
				return err
			}
		}
		if length == attr.Length {
			return nil
		}
		d = sizeDelta(attr.Length, length)
		if err := e.checkGrowth(ctx, ino, &attr, d.space); err != nil {
			return err
		}
		left, right := min(attr.Length, length), max(attr.Length, length)
		middle, err := e.chunksBetween(ctx, ino, left, right)
		if err != nil {
			return err
		}
		old := attr.Length
		attr.Length = length
		setTimes(&attr, e.now(), false, true, true)
		tx.Set(key, marshalAttr(&attr))
		e.queueTruncateHoles(tx, ino, left, right, middle)
		tx.IncrBy(e.keys.UsedSpace(), d.space)
		tx.Account(func() { e.afterResize(ctx, ino, &attr, d) })
		touchParent(tx, &attr)
		tx.Log("TRUNCATE(%d,%d,%d,%d)", ino, old, length, flags)
		return nil
	})
	if !applied(err) {
		return Attr{}, err
	}
	if d.length < 0 {
		e.dropChunksBeyond(ctx, ino, length, length-uint64(d.length))
	}
	return attr, err
}

// dropChunksBeyond deletes the chunk lists a shrink left entirely past the
// new end of the file, releasing their slices. The official client keeps
// them until the file is deleted, and its deletion then only purges chunks
// below the final length, so they leak until `gc`; dropping them here keeps
// the volume clean. Each drop re-checks the file's length atomically, so a
// file written again meanwhile keeps its data. Failures only leave garbage
// for `gc`.
func (e *Engine) dropChunksBeyond(ctx context.Context, ino Ino, newLength, oldLength uint64) {
	first := uint32((newLength + codec.ChunkSize - 1) / codec.ChunkSize)
	last := uint32((oldLength - 1) / codec.ChunkSize)
	if oldLength == 0 || first > last {
		return
	}
	var indexes []uint32
	if last-first < scanChunksAbove {
		for indx := first; indx <= last; indx++ {
			indexes = append(indexes, indx)
		}
	} else {
		// A huge sparse range: find the lists that exist instead.
		existing, err := e.chunksBetween(ctx, ino, uint64(first-1)*codec.ChunkSize, (uint64(last)+1)*codec.ChunkSize)
		if err != nil {
			e.log.Warn(fmt.Sprintf("list chunks of inode %d past its end: %v", ino, err))
			return
		}
		indexes = existing
	}
	for _, indx := range indexes {
		if err := e.dropChunk(ctx, ino, indx, true); err != nil {
			e.log.Warn(fmt.Sprintf("drop chunk %d of inode %d past its end: %v", indx, ino, err))
			return
		}
	}
}

// chunksBetween returns the chunk indexes strictly between the chunks of
// left and right, which a truncation over [left, right) blanks entirely.
// Beyond scanChunksAbove chunks only the existing lists are listed (SCAN):
// the blanking pushes only into existing lists anyway.
func (e *Engine) chunksBetween(ctx context.Context, ino Ino, left, right uint64) ([]uint32, error) {
	first, last := left/codec.ChunkSize, right/codec.ChunkSize
	if last <= first+1 {
		return nil, nil
	}
	if (right-left)/codec.ChunkSize < scanChunksAbove {
		out := make([]uint32, 0, last-first-1)
		for i := first + 1; i < last; i++ {
			out = append(out, uint32(i))
		}
		return out, nil
	}
	return e.existingChunks(ctx, ino, func(indx uint64) bool { return indx > first && indx < last })
}

// fileChunks returns the indexes of the chunk lists a file of length may
// have, ascending: every index below the length when it spans fewer than
// scanChunksAbove chunks, otherwise (a huge, sparse file) the indexes of
// the lists that exist, found with SCAN — never one command per chunk of a
// length of petabytes.
func (e *Engine) fileChunks(ctx context.Context, ino Ino, length uint64) ([]uint32, error) {
	n := (min(length, codec.MaxFileLength) + codec.ChunkSize - 1) / codec.ChunkSize
	if n < scanChunksAbove {
		out := make([]uint32, n)
		for i := range out {
			out[i] = uint32(i)
		}
		return out, nil
	}
	return e.existingChunks(ctx, ino, func(indx uint64) bool { return indx < n })
}

// existingChunks returns the indexes of ino's chunk lists that exist and
// that keep accepts, ascending and each once (SCAN may return a key twice),
// found with SCAN: for huge sparse files, where a command per possible
// chunk would never end.
func (e *Engine) existingChunks(ctx context.Context, ino Ino, keep func(indx uint64) bool) ([]uint32, error) {
	prefix := e.keys.Prefix() + "c" + ino.String() + "_"
	var out []uint32
	err := e.scanKeys(ctx, "c"+ino.String()+"_*", func(keys []string) error {
		for _, k := range keys {
			indx, err := strconv.ParseUint(strings.TrimPrefix(k, prefix), 10, 32)
			if err != nil {
				continue // another inode's key matching the pattern, or junk
			}
			if keep(indx) {
				out = append(out, uint32(indx))
			}
		}
		return nil
	})
	slices.Sort(out)
	return slices.Compact(out), err
}

// queueTruncateHoles queues the zero records of a truncation over [left,
// right): from left to the end of its chunk (or to right), a full-chunk
// record into every listed middle chunk that exists (RPUSHX), and from the
// start of right's chunk to right when that is a later chunk.
func (e *Engine) queueTruncateHoles(tx *Tx, ino Ino, left, right uint64, middle []uint32) {
	firstEnd := (left/codec.ChunkSize + 1) * codec.ChunkSize
	n := uint32(right - left)
	if right > firstEnd {
		n = codec.ChunkSize - uint32(left%codec.ChunkSize)
	}
	tx.Do("RPUSH", e.keys.Chunk(ino, uint32(left/codec.ChunkSize)), sliceRecord(uint32(left%codec.ChunkSize), 0, 0, 0, n))
	if len(middle) > 0 {
		full := sliceRecord(0, 0, 0, 0, codec.ChunkSize)
		for _, indx := range middle {
			tx.Do("RPUSHX", e.keys.Chunk(ino, indx), full)
		}
	}
	if right > firstEnd && right%codec.ChunkSize > 0 {
		tx.Do("RPUSH", e.keys.Chunk(ino, uint32(right/codec.ChunkSize)), sliceRecord(0, 0, 0, 0, uint32(right%codec.ChunkSize)))
	}
}

// Fallocate allocates or zeroes the range [off, off+size) of regular file
// ino and returns its new length. mode combines codec.Falloc* bits: without
// KeepSize the file grows to cover the range; PunchHole (only together with
// KeepSize) and ZeroRange write zero records over the part of the range
// below the old length. CollapseRange and InsertRange are not supported
// (ENOTSUP alone, EINVAL combined); size 0 is EINVAL, a range reaching
// codec.MaxFileLength EFBIG. A FIFO gives EPIPE,
// any other non-file or an immutable file EPERM, an append-only file EPERM
// for anything but KeepSize; the caller needs write permission. mtime and
// ctime are set even when nothing else changes.
func (e *Engine) Fallocate(ctx context.Context, ino Ino, mode uint8, off, size uint64) (uint64, error) {
	switch {
	case mode&codec.FallocCollapseRange != 0 && mode != codec.FallocCollapseRange,
		mode&codec.FallocInsertRange != 0 && mode != codec.FallocInsertRange:
		return 0, syscall.EINVAL
	case mode == codec.FallocCollapseRange || mode == codec.FallocInsertRange:
		return 0, syscall.ENOTSUP
	case mode&codec.FallocPunchHole != 0 && mode&codec.FallocKeepSize == 0:
		return 0, syscall.EINVAL
	case size == 0:
		return 0, syscall.EINVAL
	case off >= codec.MaxFileLength || size >= codec.MaxFileLength-off:
		return 0, syscall.EFBIG
	}
	c := CallerOf(ctx)
	key := e.keys.Inode(ino)
	var attr Attr
	var d fileDelta
	err := e.runTx(ctx, func(tx *Tx) error {
		var err error
		if attr, err = e.txAttr(tx, key); err != nil {
			return err
		}
		if attr.Typ == codec.TypeFIFO {
			return syscall.EPIPE
		}
		if attr.Typ != codec.TypeFile || attr.Flags&codec.FlagImmutable != 0 {
			return syscall.EPERM
		}
		if err := e.checkAccess(ctx, c, &attr, MayWrite); err != nil {
			return err
		}
		if attr.Flags&codec.FlagAppend != 0 && mode&^codec.FallocKeepSize != 0 {
			return syscall.EPERM
		}
		old, length := attr.Length, attr.Length
		if off+size > old && mode&codec.FallocKeepSize == 0 {
			length = off + size
		}
		d = sizeDelta(old, length)
		if err := e.checkGrowth(ctx, ino, &attr, d.space); err != nil {
			return err
		}
		attr.Length = length
		setTimes(&attr, e.now(), false, true, true)
		tx.Set(key, marshalAttr(&attr))
		if mode&(codec.FallocZeroRange|codec.FallocPunchHole) != 0 && off < old {
			end := min(off+size, old)
			for pos := off; pos < end; {
				indx, coff := pos/codec.ChunkSize, pos%codec.ChunkSize
				n := min(end-pos, codec.ChunkSize-coff)
				tx.Do("RPUSH", e.keys.Chunk(ino, uint32(indx)), sliceRecord(uint32(coff), 0, 0, 0, uint32(n)))
				pos += n
			}
		}
		tx.IncrBy(e.keys.UsedSpace(), d.space)
		tx.Account(func() { e.afterResize(ctx, ino, &attr, d) })
		touchParent(tx, &attr)
		tx.Log("FALLOCATE(%d,%d,%d,%d)", ino, off, size, mode)
		return nil
	})
	if !applied(err) {
		return 0, err
	}
	return attr.Length, err
}
