package objstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/rueidisfs/rueidisfs/codec"
)

// ChunksPrefix is the prefix of every data block key.
const ChunksPrefix = "chunks/"

// Temporary files of the `file` storage: an object is written to
// "<dir>/.jfs.<name>.tmp.<random number>" first, then renamed to
// "<dir>/<name>".
const (
	partialPrefix = ".jfs."
	partialMark   = ".tmp."
)

// PartialUploadName names a temporary file for an object named name (the
// last element of its key), unique by the random number n.
func PartialUploadName(name string, n int) string {
	return partialPrefix + name + partialMark + strconv.Itoa(n)
}

// IsPartialUpload tells whether name (the last element of a key) is a
// temporary file of an upload that has not finished (or never will).
func IsPartialUpload(name string) bool {
	return strings.HasPrefix(name, partialPrefix) && strings.Contains(name, partialMark)
}

// BlockSize is the block size of f in bytes.
func BlockSize(f *codec.Format) int { return f.BlockSize << 10 }

// BlockKey names block indx (of size bytes) of slice id.
func BlockKey(hashPrefix bool, id uint64, indx, size int) string {
	if hashPrefix {
		return fmt.Sprintf("%s%02X/%d/%d_%d_%d", ChunksPrefix, id%256, id/1000/1000, id, indx, size)
	}
	return fmt.Sprintf("%s%d/%d/%d_%d_%d", ChunksPrefix, id/1000/1000, id/1000, id, indx, size)
}

// BlockSizes returns the size of every block of a slice of size bytes: all
// of blockSize bytes but the last.
func BlockSizes(blockSize int, size uint32) []int {
	if size == 0 || blockSize <= 0 {
		return nil
	}
	n := (int(size)-1)/blockSize + 1
	out := make([]int, n)
	for i := range out {
		out[i] = blockSize
	}
	out[n-1] = int(size) - (n-1)*blockSize
	return out
}

// ParseBlockName splits the last component of a block key ("7_0_1048576")
// into slice id, block index and block size.
func ParseBlockName(name string) (id uint64, indx, size int, ok bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	id, err1 := strconv.ParseUint(parts[0], 10, 64)
	indx, err2 := strconv.Atoi(parts[1])
	size, err3 := strconv.Atoi(parts[2])
	return id, indx, size, err1 == nil && err2 == nil && err3 == nil
}

// RemoveSlice deletes every block of slice id (size bytes) of the volume f,
// as the data layer does when the slice's last reference goes away.
func RemoveSlice(ctx context.Context, s Store, f *codec.Format, id uint64, size uint32) error {
	var firstErr error
	for i, bs := range BlockSizes(BlockSize(f), size) {
		if err := s.Delete(ctx, BlockKey(f.HashPrefix, id, i, bs)); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// SliceObject is the part of one object that a piece of a chunk's layout
// shows: the object (named with the volume prefix, as `juicefs info` prints
// it; empty for a hole), its size, and the offset and length used.
type SliceObject struct {
	Key            string
	Size, Off, Len uint32
}

// SliceObjects maps a visible piece of a slice (Off and Len bytes of slice
// id of size bytes) onto the objects holding it, the way `juicefs info`
// lists them. A hole (id 0) is one object without a key. A piece outside
// its slice gives nil.
func SliceObjects(f *codec.Format, s codec.Slice) []SliceObject {
	if s.ID == 0 {
		return []SliceObject{{Size: s.Size, Off: s.Off, Len: s.Len}}
	}
	if s.Len == 0 || uint64(s.Off)+uint64(s.Len) > uint64(s.Size) {
		return nil
	}
	bs := uint32(BlockSize(f))
	first, last := s.Off/bs, (s.Off+s.Len-1)/bs
	objs := make([]SliceObject, 0, last-first+1)
	for i := first; i <= last; i++ {
		size := bs
		if (i+1)*bs > s.Size {
			size = s.Size - i*bs
		}
		objs = append(objs, SliceObject{Key: f.Name + "/" + BlockKey(f.HashPrefix, s.ID, int(i), int(size)), Size: size, Len: size})
	}
	objs[0].Off = s.Off - first*bs
	objs[0].Len = objs[0].Size - objs[0].Off
	end := s.Off + s.Len - last*bs // end of the piece in the last object
	lo := &objs[len(objs)-1]
	lo.Len = end - lo.Off
	return objs
}
