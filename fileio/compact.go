package fileio

import (
	"context"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// WriteMerged is the data side of compaction (meta.CompactFunc): it writes
// what the merged layout of a chunk shows as the new slice id, reading each
// piece through the chunk store (holes as zeros) one block at a time, and
// returns once every block of the new slice is stored in the object
// storage (never only staged: the slices it replaces go when it is
// committed, and other clients must be able to read it). On a failure
// nothing of the new slice is left.
func WriteMerged(ctx context.Context, store *chunk.Store, id uint64, layout []codec.Slice) error {
	w := store.NewWriter(id)
	w.SetWriteback(false)
	bs := uint32(store.BlockSize())
	buf := make([]byte, bs)
	off := 0
	for _, s := range layout {
		for done := uint32(0); done < s.Len; {
			p := buf[:min(s.Len-done, bs)]
			if s.ID == 0 {
				clear(p)
			} else if err := store.ReadAt(ctx, s.ID, s.Size, p, int(s.Off+done)); err != nil {
				w.Abort()
				return err
			}
			if err := w.WriteAt(ctx, p, off); err != nil {
				w.Abort()
				return err
			}
			off += len(p)
			done += uint32(len(p))
			w.FlushTo(off)
		}
	}
	return w.Finish(ctx)
}

// Compactor returns the meta.CompactFunc writing merged slices through the
// chunk store that store returns (called when a compaction runs, so that
// the store may be built after the engine).
func Compactor(store func() *chunk.Store) meta.CompactFunc {
	return func(ctx context.Context, id uint64, layout []codec.Slice) error {
		return WriteMerged(ctx, store(), id, layout)
	}
}
