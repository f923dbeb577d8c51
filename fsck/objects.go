package fsck

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
)

// DelayedSlicesIno is the pseudo inode under which the slices compactions
// keep for the trash (delSlices) are checked, as the official fsck files
// them (under inode 1, which owns no data of its own).
const DelayedSlicesIno = meta.RootInode

// ObjectOptions tune CheckObjects.
type ObjectOptions struct {
	// ListAll lists every block of the volume first (fsck without --path):
	// Found then counts every block listed, and blocks missing from the
	// listing are looked up one by one. Without it every block is looked up
	// (and counted each time a slice shared by clones uses it).
	ListAll bool
	// Skip names files whose slices are not checked: files deleted but not
	// yet purged (delfiles), whose blocks may be going away.
	Skip map[meta.Ino]bool
	// CheckSize also compares the stored size of every block with its
	// expected size, which only holds for volumes without compression and
	// encryption.
	CheckSize bool
	// OnListed, OnSlice, when set, are called for every block listed and
	// every slice checked (progress).
	OnListed func(size int64)
	OnSlice  func(size uint32)
}

// LostBlock is a block that is missing (or, with CheckSize, has the wrong
// size).
type LostBlock struct {
	Ino  meta.Ino
	Path string // the file's first path, "inode:<n>" when it has none
	Key  string
	Size int // expected size
	Err  error
}

// ObjectReport is what CheckObjects found.
type ObjectReport struct {
	Found  objstore.Tally // blocks listed or looked up, with their stored size
	Slices objstore.Tally // slices checked, with their sizes
	Lost   objstore.Tally // blocks missing, with their expected size
	// LostBlocks lists every missing block, Broken every file missing data
	// (inode -> first path).
	LostBlocks []LostBlock
	Broken     map[meta.Ino]string
	// SkippedFiles and SkippedSlices count what Skip left out.
	SkippedFiles, SkippedSlices int
}

// BrokenList formats the broken files as `juicefs fsck` does: one
// "%13d: PATH" line per file, sorted.
func (r *ObjectReport) BrokenList() string {
	lines := make([]string, 0, len(r.Broken))
	for ino, p := range r.Broken {
		lines = append(lines, fmt.Sprintf("%13d: %s", ino, p))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// CheckObjects is the object part of `juicefs fsck`: every block of every
// slice in slices (per file, as meta.Inspector.Slices or Check report them; the slices
// kept for the trash under DelayedSlicesIno) must exist in store.
func CheckObjects(ctx context.Context, e *meta.Engine, store objstore.Store, f *codec.Format, slices map[meta.Ino][]meta.SliceID, opts ObjectOptions) (*ObjectReport, error) {
	r := &ObjectReport{Broken: map[meta.Ino]string{}}
	blocks := map[string]int64{}
	if opts.ListAll {
		for o, err := range store.List(ctx, objstore.ChunksPrefix, "") {
			if err != nil {
				return r, fmt.Errorf("list all blocks: %w", err)
			}
			parts := strings.Split(strings.TrimPrefix(o.Key, objstore.ChunksPrefix), "/")
			if len(parts) != 3 {
				continue
			}
			blocks[parts[2]] = o.Size
			r.Found.Count++
			r.Found.Bytes += o.Size
			if opts.OnListed != nil {
				opts.OnListed(o.Size)
			}
		}
	}
	inodes := make([]meta.Ino, 0, len(slices))
	for ino := range slices {
		inodes = append(inodes, ino)
	}
	sort.Slice(inodes, func(i, j int) bool { return inodes[i] < inodes[j] })
	bs := objstore.BlockSize(f)
	for _, ino := range inodes {
		ss := slices[ino]
		if opts.Skip[ino] {
			r.SkippedFiles++
			r.SkippedSlices += len(ss)
			continue
		}
		for _, s := range ss {
			if err := ctx.Err(); err != nil {
				return r, err
			}
			for i, size := range objstore.BlockSizes(bs, s.Size) {
				key := objstore.BlockKey(f.HashPrefix, s.ID, i, size)
				err := r.findBlock(ctx, store, key, size, blocks, opts)
				if err == nil {
					continue
				}
				p, ok := r.Broken[ino]
				if !ok {
					p = pathOf(ctx, e, ino)
					r.Broken[ino] = p
				}
				r.Lost.Count++
				r.Lost.Bytes += int64(size)
				r.LostBlocks = append(r.LostBlocks, LostBlock{Ino: ino, Path: p, Key: key, Size: size, Err: err})
			}
			r.Slices.Count++
			r.Slices.Bytes += int64(s.Size)
			if opts.OnSlice != nil {
				opts.OnSlice(s.Size)
			}
		}
	}
	return r, nil
}

// findBlock checks one block: in the listing, else with a lookup (which
// then counts as found).
func (r *ObjectReport) findBlock(ctx context.Context, store objstore.Store, key string, size int, blocks map[string]int64, opts ObjectOptions) error {
	name := key[strings.LastIndexByte(key, '/')+1:]
	stored, listed := blocks[name]
	if !listed {
		o, err := store.Head(ctx, key)
		if err != nil {
			return err
		}
		stored = o.Size
		r.Found.Count++
		r.Found.Bytes += o.Size
	}
	if opts.CheckSize && stored != int64(size) {
		return fmt.Errorf("stored with %d bytes, want %d", stored, size)
	}
	return nil
}

// pathOf names a file for the report of lost blocks.
func pathOf(ctx context.Context, e *meta.Engine, ino meta.Ino) string {
	if ino == DelayedSlicesIno {
		return "(slices kept for the trash by compaction, delSlices)"
	}
	if ps, err := e.GetPaths(ctx, ino); err == nil && len(ps) > 0 {
		sort.Strings(ps)
		return ps[0]
	}
	return fmt.Sprintf("inode:%d", ino)
}
