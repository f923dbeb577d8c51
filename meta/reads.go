package meta

import (
	"context"

	"github.com/redis/rueidis"
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

// readCached sends one cacheable read.
func (e *Engine) readCached(ctx context.Context, c rueidis.Cacheable) rueidis.RedisResult {
	if e.conn.Cache == nil {
		return e.rdb.Do(ctx, rueidis.Completed(c))
	}
	return e.rdb.DoCache(ctx, c.ToStaticTTL(), e.cacheTTL)
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
	cts := make([]rueidis.CacheableTTL, len(cs))
	for i, c := range cs {
		cts[i] = rueidis.CT(c.ToStaticTTL(), e.cacheTTL)
	}
	return e.rdb.DoMultiCache(ctx, cts...)
}

// cacheHit returns what the client-side cache holds for key and the command
// cmd+arg (rueidis' cache key, e.g. "HGET"+field), without building the
// command: the hot read paths (lookup, getattr, access) are mostly hits,
// and building a rueidis command and asking the clock twice cost more than
// the hit itself.
func (e *Engine) cacheHit(key, cmd, arg string) (rueidis.RedisResult, bool) {
	if e.conn.Cache == nil {
		return rueidis.RedisResult{}, false
	}
	m, ok := e.cache.Get(key, cmd, arg)
	if !ok {
		return rueidis.RedisResult{}, false
	}
	return rueidis.NewResult(m, nil), true
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
	r := e.readCachedKey(ctx, key, "GET", "", func() rueidis.Cacheable { return e.rdb.B().Get().Key(key).Cache() })
	return stringReply(e, "GET", key, r)
}

// cachedHGet returns one hash field and whether it exists.
func (e *Engine) cachedHGet(ctx context.Context, key, field string) (string, bool, error) {
	r := e.readCachedKey(ctx, key, "HGET", field, func() rueidis.Cacheable { return e.rdb.B().Hget().Key(key).Field(field).Cache() })
	return stringReply(e, "HGET", key, r)
}

// cachedExists reports whether a hash key exists (EXISTS is not cacheable;
// HLEN is, and a hash exists exactly when it has fields).
func (e *Engine) cachedExists(ctx context.Context, key string) (bool, error) {
	n, err := e.cachedHLen(ctx, key)
	return n > 0, err
}

// cachedHLen returns the number of fields of a hash.
func (e *Engine) cachedHLen(ctx context.Context, key string) (int64, error) {
	n, err := e.readCachedKey(ctx, key, "HLEN", "", func() rueidis.Cacheable { return e.rdb.B().Hlen().Key(key).Cache() }).AsInt64()
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
	build := func(k string) rueidis.Cacheable { return e.rdb.B().Get().Key(k).Cache() }
	for i, r := range e.readCachedKeys(ctx, keys, "GET", "", build) {
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
	m, err := e.readCachedKey(ctx, key, "HGETALL", "", func() rueidis.Cacheable { return e.rdb.B().Hgetall().Key(key).Cache() }).AsStrMap()
	if err != nil {
		return nil, e.redisErr("HGETALL "+key, err)
	}
	return m, nil
}

// cachedLRange returns a whole list.
func (e *Engine) cachedLRange(ctx context.Context, key string) ([]string, error) {
	l, err := e.readCachedKey(ctx, key, "LRANGE", lrangeAllArg, func() rueidis.Cacheable { return e.lrangeAll(key) }).AsStrSlice()
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
