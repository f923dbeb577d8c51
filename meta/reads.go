package meta

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/cachestore"
)

// The helpers below are the only way the engine reads keys that client-side
// caching covers. With caching on they go through rueidis' DoCache and
// DoMultiCache, so a repeated read costs no round trip and Redis tells us
// when the value changes. They are marked ToStaticTTL: our keys never expire
// on the server, so rueidis need not ask for their PTTL in a MULTI with every
// cached read.
//
// With caching off they are sent as plain commands (Do, DoMulti), not as
// cacheables to a client without a cache: in a Cluster (rueidis v1.0.79) a
// cacheable answered ASK while the volume's slot migrates is sent again with
// the cache protocol regardless: marked static-TTL, the connection's reader
// dereferenced the cache the connection does not have and crashed the
// process; unmarked, it went out as MULTI, PTTL, the read, EXEC, which needs
// a privilege our ACL users do not have (TestCluster/ask-redirect).

//
// A cancelled context is checked before a cached read is handed to rueidis:
// a read abandoned after it was queued leaves the cache store unable to match
// replies with reads for that command until they are all answered (see
// cachestore.Store.Cancel), so the engine does not start reads it already
// knows nobody waits for. A reader that had joined such a read gets
// cachestore.ErrRetry and reads again; the commands are pinned so that they
// can be sent again.

// readCached sends one cacheable read.
func (e *Engine) readCached(ctx context.Context, c rueidis.Cacheable) rueidis.RedisResult {
	if e.conn.Cache == nil {
		return e.rdb.Do(ctx, rueidis.Completed(c))
	}
	c = c.Pin().ToStaticTTL()
	for {
		if err := ctx.Err(); err != nil {
			return rueidis.NewErrorResult(err)
		}
		r := e.rdb.DoCache(ctx, c, e.cacheTTL)
		if !errors.Is(r.Error(), cachestore.ErrRetry) {
			return r
		}
	}
}

// readCachedMulti sends several cacheable reads in one round trip (none for
// those already cached).
func (e *Engine) readCachedMulti(ctx context.Context, cs ...rueidis.Cacheable) []rueidis.RedisResult {
	if e.conn.Cache == nil {
		cmds := make(rueidis.Commands, len(cs))
		for i, c := range cs {
			cmds[i] = rueidis.Completed(c)
		}
		return e.rdb.DoMulti(ctx, cmds...)
	}
	if err := ctx.Err(); err != nil {
		out := make([]rueidis.RedisResult, len(cs))
		for i := range out {
			out[i] = rueidis.NewErrorResult(err)
		}
		return out
	}
	cts := make([]rueidis.CacheableTTL, len(cs))
	for i, c := range cs {
		cs[i] = c.Pin().ToStaticTTL()
		cts[i] = rueidis.CT(cs[i], e.cacheTTL)
	}
	out := e.rdb.DoMultiCache(ctx, cts...)
	for i, r := range out {
		if errors.Is(r.Error(), cachestore.ErrRetry) {
			out[i] = e.readCached(ctx, cs[i])
		}
	}
	return out
}

// The commands the engine caches, by the words rueidis names a cached reply
// with besides the key. rueidis joins a command's words without a separator,
// so two different reads of one key could share a name: "HGET d ALL" and
// "HGETALL d" are both "HGETALL", and a file named ALL broke its directory
// (the entry read was answered with the whole listing, and the other way
// round). So the engine caches only these shapes, chosen so that no name can
// be spelled two ways: a field of a hash is read with a one-field HMGET, and
// no shape's words begin with another's (TestCachedCommandNames). A new
// cached read must use one of them, or extend the list under the same rule.
const (
	cmdGet     = "GET"
	cmdField   = "HMGET" // followed by one field
	cmdHLen    = "HLEN"
	cmdHGetAll = "HGETALL"
	cmdHKeys   = "HKEYS"
	cmdLRange  = "LRANGE" // followed by lrangeAllArg only
)

// cachedCommandNames lists the shapes above: the fixed words of each, and
// whether an argument of any value follows them.
var cachedCommandNames = []struct {
	fixed    string
	variable bool
}{
	{cmdGet, false}, {cmdField, true}, {cmdHLen, false}, {cmdHGetAll, false},
	{cmdHKeys, false}, {cmdLRange + lrangeAllArg, false},
}

// cacheHit returns what the client-side cache holds for key and the command
// cmd+arg (rueidis' cache key, e.g. cmdField+field), without building the
// command: the hot read paths (lookup, getattr, access) are mostly hits,
// and building a rueidis command and asking the clock twice cost more than
// the hit itself.
func (e *Engine) cacheHit(key, cmd, arg string) (rueidis.RedisResult, bool) {
	c := e.cachedCell(key, cmd, arg)
	if c == nil {
		return rueidis.RedisResult{}, false
	}
	return rueidis.NewResult(c.Message(), nil), true
}

// cachedCell returns the client-side cache's cell of key and cmd+arg (see
// cacheHit), or nil when it holds none. What a reader decodes from the
// value is kept with the cell (cachestore.Cell.Memo), so that the hot
// reads decode each value once.
func (e *Engine) cachedCell(key, cmd, arg string) *cachestore.Cell {
	if e.conn.Cache == nil {
		return nil
	}
	return e.cache.Cell(key, cmd, arg)
}

// cachedCellOfKey is cachedCell with the key in a buffer (see
// cachestore.Registry.CellOfKey).
func (e *Engine) cachedCellOfKey(key []byte, cmd, arg string) *cachestore.Cell {
	if e.conn.Cache == nil {
		return nil
	}
	return e.cache.CellOfKey(key, cmd, arg)
}

// readCachedKey reads one cacheable command of key: from the cache when it
// holds cmd+arg (see cacheHit), else through rueidis with the command build
// returns.
func (e *Engine) readCachedKey(ctx context.Context, key, cmd, arg string, build func() rueidis.Cacheable) rueidis.RedisResult {
	if r, ok := e.cacheHit(key, cmd, arg); ok {
		return r
	}
	return e.readCached(ctx, build())
}

// lrangeAll reads a whole list (LRANGE key 0 -1); lrangeAllArg is the part
// of rueidis' cache key after the command name.
func (e *Engine) lrangeAll(key string) rueidis.Cacheable {
	return e.rdb.B().Lrange().Key(key).Start(0).Stop(-1).Cache()
}

const lrangeAllArg = "0-1"

// readCachedKeys reads the same command (cmd+arg as a cache key, built by
// build) of several keys: the cached ones from the cache, the others in one
// round trip.
func (e *Engine) readCachedKeys(ctx context.Context, keys []string, cmd, arg string, build func(key string) rueidis.Cacheable) []rueidis.RedisResult {
	out := make([]rueidis.RedisResult, len(keys))
	var missing []int
	for i, k := range keys {
		r, ok := e.cacheHit(k, cmd, arg)
		if ok {
			out[i] = r
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return out
	}
	cmds := make([]rueidis.Cacheable, len(missing))
	for j, i := range missing {
		cmds[j] = build(keys[i])
	}
	for j, r := range e.readCachedMulti(ctx, cmds...) {
		out[missing[j]] = r
	}
	return out
}

// cachedGet returns the value of a string key and whether it exists.
func (e *Engine) cachedGet(ctx context.Context, key string) (string, bool, error) {
	r := e.readCachedKey(ctx, key, cmdGet, "", func() rueidis.Cacheable { return e.getRead(key) })
	return stringReply(e, "GET", key, r)
}

// getRead is the cacheable GET of key.
func (e *Engine) getRead(key string) rueidis.Cacheable { return e.rdb.B().Get().Key(key).Cache() }

// fieldRead is the cacheable read of one hash field (see cmdField).
func (e *Engine) fieldRead(key, field string) rueidis.Cacheable {
	return e.rdb.B().Hmget().Key(key).Field(field).Cache()
}

// cachedHGet returns one hash field and whether it exists.
func (e *Engine) cachedHGet(ctx context.Context, key, field string) (string, bool, error) {
	r := e.readCachedKey(ctx, key, cmdField, field, func() rueidis.Cacheable { return e.fieldRead(key, field) })
	return fieldReply(e, key, r)
}

// fieldReply decodes the reply of fieldRead: the value, or absent.
func fieldReply(e *Engine, key string, r rueidis.RedisResult) (string, bool, error) {
	vals, err := r.ToArray()
	if err != nil {
		return "", false, e.redisErr("HMGET "+key, err)
	}
	if len(vals) != 1 {
		return "", false, e.redisErr("HMGET "+key, fmt.Errorf("%d values for one field", len(vals)))
	}
	return stringReply(e, "HMGET", key, rueidis.NewResult(vals[0], nil))
}

// cachedExists reports whether a hash key exists (EXISTS is not cacheable;
// HLEN is, and a hash exists exactly when it has fields).
func (e *Engine) cachedExists(ctx context.Context, key string) (bool, error) {
	n, err := e.cachedHLen(ctx, key)
	return n > 0, err
}

// cachedHLen returns the number of fields of a hash.
func (e *Engine) cachedHLen(ctx context.Context, key string) (int64, error) {
	n, err := e.readCachedKey(ctx, key, cmdHLen, "", func() rueidis.Cacheable { return e.rdb.B().Hlen().Key(key).Cache() }).AsInt64()
	if err != nil {
		return 0, e.redisErr("HLEN "+key, err)
	}
	return n, nil
}

// cachedMGet reads several string keys at once: cached ones cost nothing, the
// others share one round trip.
func (e *Engine) cachedMGet(ctx context.Context, keys []string) ([]string, []bool, error) {
	vals := make([]string, len(keys))
	present := make([]bool, len(keys))
	if len(keys) == 0 {
		return vals, present, nil
	}
	for i, r := range e.readCachedKeys(ctx, keys, cmdGet, "", e.getRead) {
		v, ok, err := stringReply(e, "GET", keys[i], r)
		if err != nil {
			return nil, nil, err
		}
		vals[i], present[i] = v, ok
	}
	return vals, present, nil
}

// cachedHGetAll returns a whole hash (small hashes only: directories are read
// this way only below a size limit, see readdir).
func (e *Engine) cachedHGetAll(ctx context.Context, key string) (map[string]string, error) {
	m, err := e.readCachedKey(ctx, key, cmdHGetAll, "", func() rueidis.Cacheable { return e.rdb.B().Hgetall().Key(key).Cache() }).AsStrMap()
	if err != nil {
		return nil, e.redisErr("HGETALL "+key, err)
	}
	return m, nil
}

// cachedLRange returns a whole list.
func (e *Engine) cachedLRange(ctx context.Context, key string) ([]string, error) {
	l, err := e.readCachedKey(ctx, key, cmdLRange, lrangeAllArg, func() rueidis.Cacheable { return e.lrangeAll(key) }).AsStrSlice()
	if err != nil {
		return nil, e.redisErr("LRANGE "+key, err)
	}
	return l, nil
}

// stringReply decodes the reply of a GET or HGET of key: the value, or
// absent; an error names the command and the key.
func stringReply(e *Engine, cmd, key string, r rueidis.RedisResult) (string, bool, error) {
	v, err := r.ToString()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return "", false, nil
		}
		return "", false, e.redisErr(cmd+" "+key, err)
	}
	return v, true, nil
}
