package meta

import (
	"context"

	"github.com/redis/rueidis"
)

// The helpers below are the only way the engine reads keys that client-side
// caching covers. They go through rueidis' DoCache/DoMultiCache, so with
// caching on a repeated read costs no round trip and Redis tells us when the
// value changes; with caching off rueidis sends them as plain commands.
// ToStaticTTL: our keys never expire on the server, so rueidis need not ask for
// their PTTL in a MULTI with every cached read.

func (e *Engine) cacheable(c rueidis.Cacheable) rueidis.Cacheable { return c.ToStaticTTL() }

// cachedGet returns the value of a string key and whether it exists.
func (e *Engine) cachedGet(ctx context.Context, key string) (string, bool, error) {
	r := e.rdb.DoCache(ctx, e.cacheable(e.rdb.B().Get().Key(key).Cache()), e.cacheTTL)
	return stringReply(e, "GET "+key, r)
}

// cachedHGet returns one hash field and whether it exists.
func (e *Engine) cachedHGet(ctx context.Context, key, field string) (string, bool, error) {
	r := e.rdb.DoCache(ctx, e.cacheable(e.rdb.B().Hget().Key(key).Field(field).Cache()), e.cacheTTL)
	return stringReply(e, "HGET "+key, r)
}

// cachedExists reports whether a hash key exists (EXISTS is not cacheable;
// HLEN is, and a hash exists exactly when it has fields).
func (e *Engine) cachedExists(ctx context.Context, key string) (bool, error) {
	n, err := e.cachedHLen(ctx, key)
	return n > 0, err
}

// cachedHLen returns the number of fields of a hash.
func (e *Engine) cachedHLen(ctx context.Context, key string) (int64, error) {
	n, err := e.rdb.DoCache(ctx, e.cacheable(e.rdb.B().Hlen().Key(key).Cache()), e.cacheTTL).AsInt64()
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
	cmds := make([]rueidis.CacheableTTL, len(keys))
	for i, k := range keys {
		cmds[i] = rueidis.CT(e.cacheable(e.rdb.B().Get().Key(k).Cache()), e.cacheTTL)
	}
	for i, r := range e.rdb.DoMultiCache(ctx, cmds...) {
		v, ok, err := stringReply(e, "GET "+keys[i], r)
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
	m, err := e.rdb.DoCache(ctx, e.cacheable(e.rdb.B().Hgetall().Key(key).Cache()), e.cacheTTL).AsStrMap()
	if err != nil {
		return nil, e.redisErr("HGETALL "+key, err)
	}
	return m, nil
}

// cachedHKeys returns the field names of a hash.
//
//lint:ignore U1000 kept for operations still being written on other branches; remove this line once staticcheck reports that it matches nothing
func (e *Engine) cachedHKeys(ctx context.Context, key string) ([]string, error) {
	l, err := e.rdb.DoCache(ctx, e.cacheable(e.rdb.B().Hkeys().Key(key).Cache()), e.cacheTTL).AsStrSlice()
	if err != nil {
		return nil, e.redisErr("HKEYS "+key, err)
	}
	return l, nil
}

// cachedLRange returns a whole list.
//
//lint:ignore U1000 kept for operations still being written on other branches; remove this line once staticcheck reports that it matches nothing
func (e *Engine) cachedLRange(ctx context.Context, key string) ([]string, error) {
	l, err := e.rdb.DoCache(ctx, e.cacheable(e.rdb.B().Lrange().Key(key).Start(0).Stop(-1).Cache()), e.cacheTTL).AsStrSlice()
	if err != nil {
		return nil, e.redisErr("LRANGE "+key, err)
	}
	return l, nil
}

func stringReply(e *Engine, what string, r rueidis.RedisResult) (string, bool, error) {
	v, err := r.ToString()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return "", false, nil
		}
		return "", false, e.redisErr(what, err)
	}
	return v, true, nil
}
