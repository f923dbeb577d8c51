package meta

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

type (
	rueidisCompleted = rueidis.Completed
	rueidisMessage   = rueidis.RedisMessage
)

func isNil(err error) bool { return rueidis.IsRedisNil(err) }

// execAtomically runs the commands in one MULTI/EXEC. rueidis writes the
// batch contiguously on the shared pipelined connection, so no dedicated
// connection is needed.
func (e *Engine) execAtomically(ctx context.Context, cmds []rueidis.Completed) error {
	if len(cmds) == 0 {
		return nil
	}
	batch := make(rueidis.Commands, 0, len(cmds)+2)
	batch = append(batch, e.rdb.B().Multi().Build())
	batch = append(batch, cmds...)
	batch = append(batch, e.rdb.B().Exec().Build())
	res := e.rdb.DoMulti(ctx, batch...)
	for i, r := range res {
		if err := r.Error(); err != nil {
			return e.redisErr(fmt.Sprintf("MULTI command %d", i), err)
		}
	}
	exec, err := res[len(res)-1].ToArray()
	if err != nil {
		return e.redisErr("EXEC", err)
	}
	for i, r := range exec {
		if err := r.Error(); err != nil && !isNil(err) {
			return e.redisErr(fmt.Sprintf("EXEC command %d", i), err)
		}
	}
	return nil
}

// getInt reads an integer counter (absent = 0).
func (e *Engine) getInt(ctx context.Context, key string) (int64, error) {
	v, err := e.rdb.Do(ctx, e.rdb.B().Get().Key(key).Build()).ToString()
	if err != nil {
		if isNil(err) {
			return 0, nil
		}
		return 0, e.redisErr("GET "+key, err)
	}
	return codec.ParseInt(key, "", v)
}

// scanKeys calls fn with batches of the volume's keys matching pattern (the
// prefix is added), as the official tools do with SCAN ... COUNT 10000.
func (e *Engine) scanKeys(ctx context.Context, pattern string, fn func(keys []string) error) error {
	node, err := redisconn.ScanNode(ctx, e.rdb, e.keys)
	if err != nil {
		return e.redisErr("find the node to scan", err)
	}
	var cursor uint64
	match := e.keys.Prefix() + pattern
	for {
		entry, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(match).Count(10000).Build()).AsScanEntry()
		if err != nil {
			return e.redisErr("SCAN "+match, err)
		}
		if len(entry.Elements) > 0 {
			if err := fn(entry.Elements); err != nil {
				return err
			}
		}
		if entry.Cursor == 0 {
			return nil
		}
		cursor = entry.Cursor
	}
}
