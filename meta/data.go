package meta

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

//go:embed chunkdel.lua
var chunkDelLua string

var chunkDelScriptSource = luaSource("chunkdel.lua", chunkDelLua)

// maxConcurrentPurges bounds how many deleted files one client purges at a
// time, as the official client does; beyond it files stay in delfiles for
// the hourly cleanup job of any client.
const maxConcurrentPurges = 100

// deleteFileDataAsync purges the chunks of a deleted file in the background.
// With wait (deletions inside the trash, by the trash cleaner) it waits for a
// purge slot instead of leaving the file to the hourly job.
func (e *Engine) deleteFileDataAsync(ino Ino, length uint64, wait bool) {
	if wait {
		e.purgeSlots <- struct{}{}
	} else {
		select {
		case e.purgeSlots <- struct{}{}:
		default:
			return
		}
	}
	started := e.spawn(&e.purgeWG, func() {
		defer func() { <-e.purgeSlots }()
		if err := e.deleteFileData(e.life, ino, length); err != nil {
			e.log.Warn(fmt.Sprintf("purge data of deleted inode %d: %v (left in delfiles for the cleanup job)", ino, err))
		}
	})
	if !started {
		<-e.purgeSlots // the engine is closing: the cleanup job purges it
	}
}

// deleteFileData deletes every chunk list of a deleted file below its
// recorded length, releases the slices no longer referenced and finally
// removes the file from delfiles.
func (e *Engine) deleteFileData(ctx context.Context, ino Ino, length uint64) error {
	indexes, err := e.fileChunks(ctx, ino, length)
	if err != nil {
		return err
	}
	for start := 0; start < len(indexes); start += 1000 {
		batch := indexes[start:min(start+1000, len(indexes))]
		cmds := make(rueidis.Commands, 0, len(batch))
		for _, indx := range batch {
			cmds = append(cmds, e.rdb.B().Llen().Key(e.keys.Chunk(ino, indx)).Build())
		}
		for i, r := range e.rdb.DoMulti(ctx, cmds...) {
			n, err := r.AsInt64()
			if err != nil {
				return e.redisErr("LLEN", err)
			}
			if n == 0 {
				continue
			}
			if err := e.deleteChunk(ctx, ino, batch[i]); err != nil {
				return err
			}
		}
	}
	member := codec.DelFileMember(ino, length)
	return e.redisErr("ZREM delfiles", e.rdb.Do(ctx, e.rdb.B().Zrem().Key(e.keys.DelFiles()).Member(member).Build()).Error())
}

// deleteChunk removes one chunk list of a deleted file and drops its slice
// references in one script call, then releases the slices that became
// unreferenced.
func (e *Engine) deleteChunk(ctx context.Context, ino Ino, indx uint32) error {
	return e.dropChunk(ctx, ino, indx, false)
}

// dropChunk is deleteChunk; with guarded, the chunk is only dropped while
// the file ends at or before the chunk's start (see chunkdel.lua).
func (e *Engine) dropChunk(ctx context.Context, ino Ino, indx uint32, guarded bool) error {
	key := e.keys.Chunk(ino, indx)
	keys := []string{key, e.keys.SliceRef(), e.keys.Inode(ino)}
	guard := ""
	if guarded {
		guard = strconv.FormatUint(uint64(indx)*codec.ChunkSize, 10)
	}
	logEntry := ""
	if f := e.format.Load(); f != nil && f.ChangeLog {
		keys = append(keys, e.keys.TxnLog(), e.keys.TxnLastLog())
		logEntry = e.changeLogEntry(fmt.Sprintf("DELCHUNK(%d,%d)", ino, indx))
	}
	freed, err := e.chunkDelScript.Exec(ctx, e.rdb, keys, []string{logEntry, guard}).AsStrSlice()
	if err != nil {
		if strings.Contains(err.Error(), "CORRUPT") {
			return corrupt(key, err)
		}
		return e.redisErr("delete chunk "+key, err)
	}
	e.cache.Invalidate(key, e.keys.SliceRef())
	seen := map[string]bool{}
	for _, f := range freed {
		if seen[f] {
			continue
		}
		seen[f] = true
		id, size, ok := parseSliceRefField(f)
		if ok {
			e.releaseSlice(ctx, id, size)
		}
	}
	return nil
}

func parseSliceRefField(f string) (uint64, uint32, bool) {
	rest, ok := strings.CutPrefix(f, "k")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(rest, "_")
	if !ok {
		return 0, 0, false
	}
	id, err1 := strconv.ParseUint(a, 10, 64)
	size, err2 := strconv.ParseUint(b, 10, 32)
	return id, uint32(size), err1 == nil && err2 == nil
}

// releaseSlice deletes the data of an unreferenced slice through the data
// layer, then its (negative) reference count. Without a data layer the
// count stays negative, marking the slice for `gc`, as the official client
// does with --max-deletes 0.
func (e *Engine) releaseSlice(ctx context.Context, id uint64, size uint32) {
	del := e.deleteSlice.Load()
	if del == nil {
		return
	}
	if err := (*del)(ctx, id, size); err != nil {
		e.log.Warn(fmt.Sprintf("delete data of slice %d (%d bytes): %v", id, size, err))
		return
	}
	field := e.keys.SliceRefField(id, size)
	if err := e.rdb.Do(ctx, e.rdb.B().Hdel().Key(e.keys.SliceRef()).Field(field).Build()).Error(); err != nil {
		e.log.Warn(fmt.Sprintf("HDEL sliceRef %s: %v", field, err))
	}
}
