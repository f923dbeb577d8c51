package redisconn

import (
	"context"
	"sync/atomic"

	"github.com/redis/rueidis"
)

// idleSync sends a caller's command on a pooled connection of its own,
// written and read by the calling goroutine, when the caller is alone: no
// other command of this client under way, for loneCalls calls in a row. It
// pipelines the command otherwise. The client under it is made with
// rueidis' DisableAutoPipelining, which sends a command through the
// pipeline only when the command is marked (ToPipe), so the choice is made
// per command by marking it.
//
// Why: rueidis' pipeline hands every command to a writer goroutine and
// every reply back from a reader goroutine. With a processor idle, each of
// those hand-offs wakes an OS thread that finds nothing to do and sleeps
// again: a third of the client's CPU at one caller, and about 5 µs of each
// call's latency. A lone caller gains nothing from pipelining (there is
// nothing to batch with), so it talks to Redis directly, as go-redis does.
// Under concurrency commands join the pipeline as before, so Redis still
// reads and answers them in batches.
//
// What stays the same: every connection reaches the same server, a
// caller's commands are sequential either way (Do returns only once
// answered), and a command that needs one connection for several commands
// (a script and its WAIT) is sent in one DoMulti, which rueidis keeps on
// one connection. Cached reads (DoCache) always use the pipeline, whose
// connection is the one Redis tracks; writes from a pooled connection
// invalidate its keys like any other client's, and the engine drops what
// it wrote from the cache itself before returning. What changes: a reply
// on a pooled connection is not ordered after the invalidations Redis sent
// the tracked connection before it (see PauseDirectCalls for the one user
// that needs that order).
type idleSync struct {
	rueidis.Client
	busy atomic.Int32 // Do and DoMulti calls under way
	// lone counts the calls since one last overlapped another.
	lone atomic.Int64
	// paused stops direct calls (see Conn.PauseDirectCalls).
	paused atomic.Bool
}

// loneCalls is how many calls in a row must have found no other under way
// before calls go on a connection of their own: callers that overlap now
// and then (four threads creating files) keep batching in the pipeline.
const loneCalls = 32

// direct reports whether the call being started goes on a pooled connection.
func (c *idleSync) direct() bool {
	if c.busy.Add(1) > 1 {
		if c.lone.Load() != 0 {
			c.lone.Store(0)
		}
		return false
	}
	return c.lone.Add(1) > loneCalls && !c.paused.Load()
}

func (c *idleSync) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	// A blocking command keeps its dedicated connection: marked, rueidis
	// sends it there, as it did before (unmarked it would take a pooled
	// connection without a reader of its own).
	if !c.direct() || cmd.IsBlock() {
		cmd = cmd.ToPipe()
	}
	r := c.Client.Do(ctx, cmd)
	c.busy.Add(-1)
	return r
}

func (c *idleSync) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	// The caller's commands are marked in place (a mark only routes them).
	// Two kinds of call always take a connection of their own, as rueidis
	// sends them unmarked: those holding a blocking command (a script and
	// its WAIT) and very long ones (scans of large volumes). Marked,
	// rueidis would pipeline them, and the pipeline would wait with them.
	if !c.direct() && len(multi) < rueidis.DefaultBlockingPipeline && !anyBlocking(multi) {
		for i := range multi {
			multi[i] = multi[i].ToPipe()
		}
	}
	r := c.Client.DoMulti(ctx, multi...)
	c.busy.Add(-1)
	return r
}

func anyBlocking(multi []rueidis.Completed) bool {
	for i := range multi {
		if multi[i].IsBlock() {
			return true
		}
	}
	return false
}

// PauseDirectCalls stops (pause) or resumes sending a lone caller's commands
// on a connection of their own, when the client does that at all.
//
// A reply on the pipeline's connection, the one Redis tracks, comes after
// every invalidation Redis sent it before running the command, and those
// are processed first: a caller that reads its cache after a piped write
// sees every change committed before the write. A reply on another
// connection gives no such order. The engine needs it while it charges
// directory quotas after a change, which reads the cached ancestry of the
// changed directory, so it pauses direct calls while it knows of any.
func (c *Conn) PauseDirectCalls(pause bool) {
	if c == nil {
		return
	}
	if s, ok := c.Client.(*idleSync); ok {
		s.paused.Store(pause)
	}
}
