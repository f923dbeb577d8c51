package backup

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"
	"golang.org/x/sync/errgroup"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

// The per-inode keys found by the SCAN of mix, by kind.
type keyKind int

const (
	kindNode keyKind = iota
	kindEdge
	kindChunk
	kindSymlink
	kindXattr
	kindParent
	kindCount
)

// kindBatch is how many keys of each kind one job reads. A job reads its
// directories one after the other, a page of entries at a time, and a
// directory can hold millions: few directories per job let their reads
// start during the SCAN and run side by side, where a batch of bigBatch
// directories (as juicefs reads them) left one job reading every
// directory of a volume alone after the SCAN.
var kindBatch = [kindCount]int{bigBatch, dirBatch, smallBatch, bigBatch, smallBatch, smallBatch}

const dirBatch = 10

// classify tells the kind of a key of the volume, if it is one mix dumps.
func (d *dumper) classify(key string) (keyKind, bool) {
	k := d.keys
	if _, ok := k.ParseInodeKey(key); ok {
		return kindNode, true
	}
	if _, ok := k.ParseEntriesKey(key); ok {
		return kindEdge, true
	}
	if _, _, ok := k.ParseChunkKey(key); ok {
		return kindChunk, true
	}
	if _, ok := k.ParseSymlinkKey(key); ok {
		return kindSymlink, true
	}
	if _, ok := k.ParseXattrsKey(key); ok {
		return kindXattr, true
	}
	if _, ok := k.ParseParentsKey(key); ok {
		return kindParent, true
	}
	return 0, false
}

// mix dumps the per-inode keys: one SCAN hands batches of keys of each
// kind to at most Threads jobs, whose segments one writer writes as they
// come. Memory: up to 2×Threads SCAN pages, the jobs' batches and Threads
// segments waiting.
func (d *dumper) mix(ctx context.Context) error {
	scanner, err := redisconn.ScanNode(ctx, d.c, d.keys)
	if err != nil {
		return redisErr("find the node to scan", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make(chan *batch, d.opts.Threads)
	written := make(chan error, 1)
	go func() { written <- d.drain(out, cancel) }()

	jobs, jctx := errgroup.WithContext(ctx)
	jobs.SetLimit(d.opts.Threads)
	emit := func(b *batch) error {
		select {
		case out <- b:
			return nil
		case <-jctx.Done():
			return jctx.Err()
		}
	}
	// The SCAN runs ahead of the jobs by up to 2×Threads pages: handing
	// out a batch waits while Threads jobs are busy, and a SCAN waiting
	// with it would leave Redis idle between pages.
	pages := make(chan []string, 2*d.opts.Threads)
	scanned := make(chan error, 1)
	go func() {
		defer close(pages)
		scanned <- d.scan(jctx, scanner, func(keys []string) error {
			select {
			case pages <- keys:
				return nil
			case <-jctx.Done():
				return jctx.Err()
			}
		})
	}()
	var pending [kindCount][]string
	submit := func(kind keyKind) {
		keys := pending[kind]
		pending[kind] = nil
		jobs.Go(func() error { return d.readKeys(jctx, kind, keys, emit) })
	}
	for keys := range pages {
		for _, key := range keys {
			if kind, ok := d.classify(key); ok {
				pending[kind] = append(pending[kind], key)
				if len(pending[kind]) >= kindBatch[kind] {
					submit(kind)
				}
			}
		}
	}
	scanErr := <-scanned
	if scanErr == nil {
		for kind := range kindCount {
			if len(pending[kind]) > 0 {
				submit(kind)
			}
		}
	}
	jobErr := jobs.Wait()
	close(out)
	writeErr := <-written
	switch {
	case writeErr != nil:
		return writeErr
	case jobErr != nil: // the SCAN then stopped for it
		return jobErr
	}
	return scanErr
}

// drain writes the segments of out until it is closed; after a failure it
// cancels the jobs and discards the rest.
func (d *dumper) drain(out <-chan *batch, cancel func()) error {
	var failed error
	for b := range out {
		if failed == nil && b.n > 0 {
			if failed = d.sw.writeBatch(b); failed != nil {
				cancel()
			}
		}
	}
	return failed
}

// scan calls fn with every page of keys of the volume until fn fails.
func (d *dumper) scan(ctx context.Context, node rueidis.Client, fn func([]string) error) error {
	var cursor uint64
	match := d.keys.Pattern("*")
	for {
		e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(match).Count(bigBatch).Build()).AsScanEntry()
		if err != nil {
			return redisErr("SCAN", err)
		}
		if err := fn(e.Elements); err != nil {
			return err
		}
		if e.Cursor == 0 {
			return nil
		}
		cursor = e.Cursor
	}
}

// readKeys reads a batch of keys of one kind and emits their segments.
func (d *dumper) readKeys(ctx context.Context, kind keyKind, keys []string, emit func(*batch) error) error {
	switch kind {
	case kindNode, kindSymlink:
		return d.readStrings(ctx, kind, keys, emit)
	case kindEdge:
		return d.readEdges(ctx, keys, emit)
	case kindChunk:
		return d.readChunks(ctx, keys, emit)
	}
	return d.readHashes(ctx, kind, keys, emit)
}

// readStrings reads attributes or symlink targets with one MGET. Targets
// are kept as stored (juicefs unescapes "%XX" in them, which changes a
// target that contains such a sequence).
func (d *dumper) readStrings(ctx context.Context, kind keyKind, keys []string, emit func(*batch) error) error {
	vals, err := d.c.Do(ctx, d.c.B().Mget().Key(keys...).Build()).ToArray()
	if err != nil {
		return redisErr("MGET", err)
	}
	b := newBatch(SegNode, fieldNodes)
	if kind == kindSymlink {
		b = newBatch(SegSymlink, fieldSymlinks)
	}
	for i, v := range vals {
		s, err := v.ToString()
		if err != nil {
			continue // gone since the SCAN, or not a string
		}
		if kind == kindNode {
			ino, _ := d.keys.ParseInodeKey(keys[i])
			b.add(&Node{Inode: uint64(ino), Data: []byte(s)})
		} else {
			ino, _ := d.keys.ParseSymlinkKey(keys[i])
			b.add(&Symlink{Inode: uint64(ino), Target: []byte(s)})
		}
	}
	return emit(b)
}

// readEdges reads the entries of a batch of directories, a page of each at
// a time, emitting a segment every bigBatch entries.
func (d *dumper) readEdges(ctx context.Context, keys []string, emit func(*batch) error) error {
	b := newBatch(SegEdge, fieldEdges)
	for _, key := range keys {
		parent, _ := d.keys.ParseEntriesKey(key)
		err := d.hscan(ctx, key, func(name, value string) error {
			ent, err := codec.UnmarshalEntry(value)
			if err != nil {
				return fmt.Errorf("dump: entry %q of %s: %w", name, key, err)
			}
			b.add(&Edge{Parent: uint64(parent), Inode: uint64(ent.Inode), Name: []byte(name), Type: uint32(ent.Typ)})
			if b.n < bigBatch {
				return nil
			}
			err = emit(b)
			b = newBatch(SegEdge, fieldEdges)
			return err
		})
		if err != nil {
			return err
		}
	}
	return emit(b)
}

// readChunks reads a batch of chunk lists in one pipeline. A malformed
// slice record is left out with a warning (the others are kept).
func (d *dumper) readChunks(ctx context.Context, keys []string, emit func(*batch) error) error {
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = d.c.B().Lrange().Key(k).Start(0).Stop(-1).Build()
	}
	b := newBatch(SegChunk, fieldChunks)
	var slices []byte
	for i, r := range d.c.DoMulti(ctx, cmds...) {
		elems, err := r.AsStrSlice()
		if err != nil {
			return redisErr("LRANGE "+keys[i], err)
		}
		slices = slices[:0]
		for _, s := range elems {
			if len(s) != codec.SliceRecordSize {
				d.opts.Logger.Warn(fmt.Sprintf("dump: a slice record of %s has %d bytes; left out", keys[i], len(s)))
				continue
			}
			slices = append(slices, s...)
		}
		if len(slices) == 0 {
			continue
		}
		ino, indx, _ := d.keys.ParseChunkKey(keys[i])
		b.add(&Chunk{Inode: uint64(ino), Index: indx, Slices: slices})
	}
	return emit(b)
}

// readHashes reads the extended attributes or the parents of a batch of
// inodes in one pipeline.
func (d *dumper) readHashes(ctx context.Context, kind keyKind, keys []string, emit func(*batch) error) error {
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = d.c.B().Hgetall().Key(k).Build()
	}
	b := newBatch(SegXattr, fieldXattrs)
	if kind == kindParent {
		b = newBatch(SegParent, fieldParents)
	}
	for i, r := range d.c.DoMulti(ctx, cmds...) {
		m, err := r.AsStrMap()
		if err != nil {
			return redisErr("HGETALL "+keys[i], err)
		}
		for field, v := range m {
			if kind == kindXattr {
				ino, _ := d.keys.ParseXattrsKey(keys[i])
				b.add(&Xattr{Inode: uint64(ino), Name: []byte(field), Value: []byte(v)})
				continue
			}
			ino, _ := d.keys.ParseParentsKey(keys[i])
			parent, err1 := strconv.ParseUint(field, 10, 64)
			count, err2 := strconv.ParseInt(v, 10, 64)
			if err1 != nil || err2 != nil {
				d.opts.Logger.Warn(fmt.Sprintf("dump: parent %q -> %q of %s is malformed; left out", field, v, keys[i]))
				continue
			}
			b.add(&Parent{Inode: uint64(ino), Parent: parent, Count: count})
		}
	}
	return emit(b)
}
