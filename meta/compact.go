package meta

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Compaction merges the records of a chunk into one new slice when the
// chunk has collected many, so that reading it needs fewer objects. The
// engine decides (thresholds, which records), asks the data layer
// (Options.Compact) to write the merged bytes as a new slice, then swaps
// the records in one script call that first checks the list did not change
// meanwhile. The replaced slices lose their references (deleted when that
// was the last), or, with the trash enabled, are kept in delSlices until
// the trash would have expired.

//go:embed compact.lua
var compactLua string

var compactScriptSource = luaSource("compact.lua", compactLua)

var (
	compactScript = rueidis.NewLuaScript(compactScriptSource)
	// dropZeroRefScript removes a sliceRef field whose value is still "0".
	dropZeroRefScript = rueidis.NewLuaScript(`if redis.call('HGET', KEYS[1], ARGV[1]) == '0' then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0`)
)

// CompactFunc writes the bytes that a merged chunk layout shows (pieces of
// slices; holes, id 0, as zeros) as the new slice id, whose size is the sum
// of the pieces' lengths. Every block must be stored when it returns nil.
type CompactFunc func(ctx context.Context, id uint64, layout []codec.Slice) error

// Compaction thresholds of the official client: a write that makes a chunk
// list n records long compacts it in the background when n%100 == 99 or
// n > backgroundCompactAt, and before returning when n >= ForceCompactRecords;
// a read compacts a chunk of readCompactAt or more records or pieces.
const (
	backgroundCompactAt = 350
	readCompactAt       = 5
	maxCompactions      = 10 // background compactions running at once
	minSkippedLen       = 1 << 20
)

// compactions tracks the chunks being compacted by this engine.
type compactions struct {
	mu      sync.Mutex
	cond    *sync.Cond
	running map[uint64]bool
}

func chunkID(ino Ino, indx uint32) uint64 { return uint64(ino) + uint64(indx)<<40 }

// start marks a chunk as being compacted: a background compaction gives up
// when the chunk is busy or too many run; a forced one waits for the chunk.
func (c *compactions) start(id uint64, wait bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == nil {
		c.running = map[uint64]bool{}
		c.cond = sync.NewCond(&c.mu)
	}
	if !wait && (len(c.running) > maxCompactions || c.running[id]) {
		return false
	}
	for c.running[id] {
		c.cond.Wait()
	}
	c.running[id] = true
	return true
}

func (c *compactions) done(id uint64) {
	c.mu.Lock()
	delete(c.running, id)
	c.cond.Broadcast()
	c.mu.Unlock()
}

// compactAfterWrite starts the compaction a write of a chunk list now n
// records long calls for.
func (e *Engine) compactAfterWrite(ctx context.Context, ino Ino, indx uint32, n int64) {
	if e.opts.Compact == nil || (n%100 != 99 && n <= backgroundCompactAt) {
		return
	}
	if n >= codec.ForceCompactRecords {
		if err := e.compactChunk(ctx, ino, indx, true, false); err != nil {
			e.log.Warn(fmt.Sprintf("compact inode %d chunk %d: %v", ino, indx, err))
		}
		return
	}
	e.compactInBackground(ino, indx)
}

// compactInBackground compacts a chunk without waiting for it.
func (e *Engine) compactInBackground(ino Ino, indx uint32) {
	if e.opts.Compact == nil || e.readOnly() {
		return
	}
	id := chunkID(ino, indx)
	if !e.compacting.start(id, false) {
		return
	}
	started := e.spawn(&e.purgeWG, func() {
		defer e.compacting.done(id)
		if _, err := e.compactOnce(e.life, ino, indx); err != nil {
			e.log.Warn(fmt.Sprintf("compact inode %d chunk %d: %v", ino, indx, err))
		}
	})
	if !started {
		e.compacting.done(id)
	}
}

// CompactChunk merges the records of chunk indx of file ino into one slice
// through Options.Compact, repeating until nothing is left to merge (as
// `juicefs compact` does). It waits for a compaction of the same chunk
// running in this client.
func (e *Engine) CompactChunk(ctx context.Context, ino Ino, indx uint32) error {
	return e.compactChunk(ctx, ino, indx, true, true)
}

func (e *Engine) compactChunk(ctx context.Context, ino Ino, indx uint32, wait, repeat bool) error {
	if e.opts.Compact == nil {
		return errors.New("compaction needs the volume's data layer, which this client has not")
	}
	if e.readOnly() {
		return syscall.EROFS
	}
	id := chunkID(ino, indx)
	if !e.compacting.start(id, wait) {
		return nil
	}
	defer e.compacting.done(id)
	for {
		merged, err := e.compactOnce(ctx, ino, indx)
		if err != nil || !merged || !repeat {
			return err
		}
	}
}

// Compact compacts every chunk of file ino below its length (the work of
// `compact PATH`), calling progress after each chunk.
func (e *Engine) Compact(ctx context.Context, ino Ino, progress func(indx uint32)) error {
	a, err := e.GetAttr(ctx, ino)
	if err != nil {
		return err
	}
	if a.Typ != codec.TypeFile {
		return nil
	}
	chunks := uint32((a.Length + codec.ChunkSize - 1) / codec.ChunkSize)
	for indx := uint32(0); indx < chunks; indx++ {
		if err := e.CompactChunk(ctx, ino, indx); err != nil {
			return fmt.Errorf("chunk %d: %w", indx, err)
		}
		if progress != nil {
			progress(indx)
		}
	}
	return nil
}

// compactOnce does one compaction of a chunk; merged reports whether
// records were replaced.
func (e *Engine) compactOnce(ctx context.Context, ino Ino, indx uint32) (merged bool, err error) {
	key := e.keys.Chunk(ino, indx)
	vals, err := e.rdb.Do(ctx, e.rdb.B().Lrange().Key(key).Start(0).Stop(codec.MaxCompactRecords-1).Build()).AsStrSlice()
	if err != nil {
		return false, e.redisErr("LRANGE "+key, err)
	}
	recs, err := codec.UnmarshalSliceRecords(vals)
	if err != nil {
		return false, corrupt(key, err)
	}
	plan, ok := planCompaction(recs)
	if !ok {
		return false, nil
	}
	newID, err := e.NewSlice(ctx)
	if err != nil {
		return false, err
	}
	if err := e.opts.Compact(ctx, newID, plan.layout); err != nil {
		return false, fmt.Errorf("write merged slice %d: %w", newID, err)
	}
	return e.swapRecords(ctx, ino, indx, vals, recs, plan, newID)
}

// compactionPlan is what a compaction replaces: the records after the
// skipped ones, merged into layout (size bytes at chunk offset pos).
type compactionPlan struct {
	skipped   int
	pos, size uint32
	layout    []codec.Slice
}

// planCompaction decides what to merge, as the official client does:
// leading records are kept while the first is a big (at least 1 MiB and a
// fifth of the rest's merged size) visible piece of its own that does not
// occur again; the rest are merged, leading and trailing holes trimmed. It
// reports false when fewer than two records would be merged.
func planCompaction(recs []codec.SliceRecord) (compactionPlan, bool) {
	skipped := 0
	for ; skipped < len(recs); skipped++ {
		rest := recs[skipped:]
		p := mergeRecords(rest)
		first := rest[0]
		if first.Len < minSkippedLen || uint64(first.Len)*5 < uint64(p.size) || p.size == 0 {
			break
		}
		if p.pos != first.Pos || p.layout[0] != (codec.Slice{ID: first.ID, Size: first.Size, Off: first.Off, Len: first.Len}) {
			break
		}
		if repeated(rest) {
			break
		}
	}
	p := mergeRecords(recs[skipped:])
	p.skipped = skipped
	return p, len(recs)-skipped >= 2 && p.size > 0
}

func repeated(rest []codec.SliceRecord) bool {
	for _, r := range rest[1:] {
		if r == rest[0] {
			return true
		}
	}
	return false
}

// mergeRecords is the visible layout of recs with leading and trailing
// holes trimmed; a layout that is nothing but a hole becomes one zero
// byte at offset 0.
func mergeRecords(recs []codec.SliceRecord) compactionPlan {
	layout := codec.BuildLayout(recs)
	var pos uint32
	for len(layout) > 1 {
		if layout[0].ID == 0 {
			pos += layout[0].Len
			layout = layout[1:]
		} else if layout[len(layout)-1].ID == 0 {
			layout = layout[:len(layout)-1]
		} else {
			break
		}
	}
	if len(layout) == 1 && layout[0].ID == 0 {
		layout = []codec.Slice{{Size: 1, Len: 1}}
	}
	var size uint32
	for _, s := range layout {
		size += s.Len
	}
	return compactionPlan{pos: pos, size: size, layout: layout}
}

// swapRecords installs the merged slice newID in place of the compacted
// records, if the chunk still starts with the records read (vals).
func (e *Engine) swapRecords(ctx context.Context, ino Ino, indx uint32, vals []string, recs []codec.SliceRecord, p compactionPlan, newID uint64) (bool, error) {
	key := e.keys.Chunk(ino, indx)
	f := e.format.Load()
	trash := f != nil && f.TrashDays > 0
	newField := e.keys.SliceRefField(newID, p.size)
	args := []string{strings.Join(vals, ""), fmt.Sprint(p.skipped),
		sliceRecord(p.pos, newID, p.size, 0, p.size), newField, "0", "", "", ""}
	if trash {
		var kept []codec.DelSliceRecord
		for _, r := range recs[p.skipped:] {
			if r.ID > 0 {
				kept = append(kept, codec.DelSliceRecord{ID: r.ID, Size: r.Size})
			}
		}
		args[4], args[5] = "1", codec.DelSlicesField(newID, e.now().Unix())
		if len(kept) > 0 {
			args[6] = string(codec.MarshalDelSliceRecords(kept))
		}
	} else {
		for _, r := range recs[p.skipped:] {
			if r.ID > 0 {
				args = append(args, e.keys.SliceRefField(r.ID, r.Size))
			}
		}
	}
	keys := []string{key, e.keys.SliceRef(), e.keys.DelSlices()}
	if f != nil && f.ChangeLog {
		keys = append(keys, e.keys.TxnLog(), e.keys.TxnLastLog())
		args[7] = e.changeLogEntry(fmt.Sprintf("COMPACTCHUNK(%d,%d,%d,%d,%d,%d,%d)", ino, indx, p.skipped, len(recs)-p.skipped, p.pos, newID, p.size))
	}
	freed, err := compactScript.Exec(ctx, e.rdb, keys, args).AsStrSlice()
	e.cache.Invalidate(key, e.keys.SliceRef(), e.keys.DelSlices())
	if err != nil && !strings.Contains(err.Error(), "WASTED") {
		// The outcome may be unknown: the new slice's marker tells.
		_, herr := e.rdb.Do(ctx, e.rdb.B().Hget().Key(e.keys.SliceRef()).Field(newField).Build()).ToString()
		switch {
		case herr == nil:
			err, freed = nil, nil // installed; replaced slices released by gc
		case !rueidis.IsRedisNil(herr):
			e.log.Warn(fmt.Sprintf("compact inode %d chunk %d: %v; slice %d (%d bytes) may be orphaned, left for gc", ino, indx, err, newID, p.size))
			return false, e.redisErr("compact "+key, err)
		}
	}
	if err != nil {
		// Not installed: the merged slice is garbage.
		e.rdb.Do(ctx, e.rdb.B().Hincrby().Key(e.keys.SliceRef()).Field(newField).Increment(-1).Build())
		e.releaseSlice(ctx, newID, p.size)
		if strings.Contains(err.Error(), "WASTED") {
			return false, nil
		}
		return false, e.redisErr("compact "+key, err)
	}
	if err := dropZeroRefScript.Exec(ctx, e.rdb, []string{e.keys.SliceRef()}, []string{newField}).Error(); err != nil {
		e.log.Warn(fmt.Sprintf("compact inode %d chunk %d: clear the marker %s: %v (the hourly cleanup will)", ino, indx, newField, err))
	}
	seen := map[string]bool{}
	for _, field := range freed {
		if id, size, ok := parseSliceRefField(field); ok && !seen[field] {
			seen[field] = true
			e.releaseSlice(ctx, id, size)
		}
	}
	return true, nil
}

// CompactAll compacts every chunk of the volume holding more than one
// record (the work of `gc --compact`), threads at a time, calling progress
// after each chunk. It returns how many chunks it compacted.
func (e *Engine) CompactAll(ctx context.Context, threads int, progress func()) (int, error) {
	type chunkRef struct {
		ino  Ino
		indx uint32
	}
	work := make(chan chunkRef)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		done  int
		first error
	)
	for range max(threads, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				err := e.CompactChunk(ctx, c.ino, c.indx)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("compact inode %d chunk %d: %w", c.ino, c.indx, err)
				}
				done++
				mu.Unlock()
				if progress != nil {
					progress()
				}
			}
		}()
	}
	err := e.scanKeys(ctx, "c*", func(keys []string) error {
		var refs []chunkRef
		var cmds []rueidisCompleted
		for _, k := range keys {
			if ino, indx, ok := e.keys.ParseChunkKey(k); ok {
				refs = append(refs, chunkRef{ino, indx})
				cmds = append(cmds, e.rdb.B().Llen().Key(k).Build())
			}
		}
		for i, r := range e.rdb.DoMulti(ctx, cmds...) {
			n, err := r.AsInt64()
			if err != nil {
				return e.redisErr("LLEN", err)
			}
			if n > 1 {
				select {
				case work <- refs[i]:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	})
	close(work)
	wg.Wait()
	if err == nil {
		err = first
	}
	return done, err
}
