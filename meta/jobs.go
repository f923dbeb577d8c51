package meta

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Background jobs shared by all clients of a volume. Each runs in every
// client with background jobs enabled, but a timestamp key elects one runner
// per interval across the whole volume (see electJob).
const (
	cleanupInterval = time.Hour
	// deletedFileDelay: files queued in delfiles less than this long ago are
	// probably still being purged by the client that deleted them.
	deletedFileDelay = time.Hour
)

func (e *Engine) startCleanupJobs(ctx context.Context) {
	e.startMaintenanceJobs(ctx)
	e.goSession(func() {
		e.periodic(ctx, cleanupInterval, e.keys.LastCleanupFiles(), func(ctx context.Context) {
			if _, err := e.Cleanup().PurgeDeletedFilesBefore(ctx, e.now().Add(-deletedFileDelay), 600000); err != nil {
				e.log.Warn(fmt.Sprintf("clean up deleted files: %v", err))
			}
		})
	})
}

// periodic runs job about every interval, when this client wins the
// election on key.
func (e *Engine) periodic(ctx context.Context, interval time.Duration, key string, job func(context.Context)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(interval)):
		}
		won, err := e.electJob(ctx, key, int64(interval.Seconds()*0.9))
		if err != nil {
			e.log.Warn(fmt.Sprintf("checking counter %s: %v", key, err))
			continue
		}
		if won {
			jctx, cancel := context.WithTimeout(ctx, 50*time.Minute)
			job(jctx)
			cancel()
		}
	}
}

// PurgeDeletedFilesBefore purges the data of files queued in delfiles
// before edge (at most limit of them) and returns how many were purged.
func (c Cleaner) PurgeDeletedFilesBefore(ctx context.Context, edge time.Time, limit int) (int, error) {
	e := c.e
	members, err := e.rdb.Do(ctx, e.rdb.B().Zrangebyscore().Key(e.keys.DelFiles()).Min("-inf").
		Max(strconv.FormatInt(edge.Unix(), 10)).Limit(0, int64(limit)).Build()).AsStrSlice()
	if err != nil {
		return 0, e.redisErr("ZRANGEBYSCORE delfiles", err)
	}
	n := 0
	for _, m := range members {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		ino, length, ok := codec.ParseDelFileMember(m)
		if !ok {
			continue // legacy members are handled by the legacy cleaner
		}
		if err := e.deleteFileData(ctx, ino, length); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
