package meta

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/rueidis"
)

// leastPrivileges are the Redis ACL rules the engine needs, command by
// command, with key patterns on top (~* for a single server or Sentinel,
// ~{DB}* ~sessions in a Cluster). docs/deployments.md shows them
// (TestPrivilegesDocumented); TestACLUser runs every operation family as a
// user holding exactly these and checks that Redis denied nothing, and
// TestEachPrivilegeUsed that each is used.
var leastPrivileges = []string{
	"-@all",
	// Connection set-up (rueidis; HELLO and AUTH need no grant) and the
	// server checks; CLUSTER INFO tells a Cluster node given as a single
	// address (JuiceFS's rule).
	"+ping", "+select", "+info", "+client|tracking", "+client|caching", "+cluster|info",
	// Cluster only: topology, replica reads (route-read), and the ASKING
	// that precedes a command sent after an ASK redirection while the
	// volume's slot is being migrated.
	"+cluster|slots", "+readonly", "+asking",
	// Every mutation is a script; read-only path resolution is one too.
	"+evalsha", "+eval", "+evalsha_ro", "+eval_ro",
	// Reads (TYPE: the write guards of transactions, see txnguard.go).
	"+get", "+mget", "+exists", "+hget", "+hmget", "+hgetall", "+hkeys", "+hlen", "+hscan",
	"+lrange", "+llen", "+smembers", "+zrange", "+zrangebyscore", "+zscore", "+scan", "+dbsize", "+type",
	// Writes, inside scripts and outside them (counters, format, cleanup).
	"+set", "+del", "+incr", "+incrby", "+decrby", "+hset", "+hsetnx", "+hdel", "+hincrby",
	"+pttl", "+pexpire", // the replay markers' hashes (see marker.go)
	"+rpush", "+rpushx", "+lpush", "+ltrim", "+sadd", "+srem", "+zadd", "+zrem", "+multi", "+exec",
}

// LeastPrivileges returns the Redis ACL rules the engine's user needs,
// command by command (key patterns come on top).
func LeastPrivileges() []string { return slices.Clone(leastPrivileges) }

// The commands the mutation scripts run, probed before the first mutation
// (probePrivileges): Redis stops a script at a command the user may not
// run and keeps the writes before it, so a missing grant found half-way
// would leave a transaction half applied. Each is run on a key of the
// volume's own (the user's key patterns are checked too), in one round
// trip, and the key is deleted again.
const probeKey = "rueidisfs-privilege-probe"

func probeCommands(b rueidis.Builder, key string) rueidis.Commands {
	return rueidis.Commands{
		b.Set().Key(key).Value("1").Build(),
		b.Incr().Key(key).Build(),
		b.Incrby().Key(key).Increment(1).Build(),
		b.Decrby().Key(key).Decrement(1).Build(),
		b.Get().Key(key).Build(),
		b.Exists().Key(key).Build(),
		b.Type().Key(key).Build(),
		b.Del().Key(key).Build(),
		b.Hset().Key(key).FieldValue().FieldValue("f", "1").Build(),
		b.Pttl().Key(key).Build(),
		b.Pexpire().Key(key).Milliseconds(60000).Build(),
		b.Hsetnx().Key(key).Field("g").Value("1").Build(),
		b.Hincrby().Key(key).Field("f").Increment(1).Build(),
		b.Hget().Key(key).Field("f").Build(),
		b.Hdel().Key(key).Field("f", "g").Build(),
		b.Rpush().Key(key).Element("x").Build(),
		b.Rpushx().Key(key).Element("y").Build(),
		b.Lrange().Key(key).Start(0).Stop(-1).Build(),
		b.Lpush().Key(key).Element("z").Build(), // compaction
		b.Ltrim().Key(key).Start(1).Stop(-1).Build(),
		b.Del().Key(key).Build(),
		b.Sadd().Key(key).Member("x").Build(),
		b.Srem().Key(key).Member("x").Build(),
		b.Zadd().Key(key).ScoreMember().ScoreMember(1, "x").Build(),
		b.Zrem().Key(key).Member("x").Build(),
		b.Del().Key(key).Build(),
	}
}

// probePrivileges checks, once per engine (again after a failure or a
// probe left unanswered), that
// the Redis user may run every command of the mutation scripts: a denied
// one is an error naming each command to grant, before anything was
// written.
func (e *Engine) probePrivileges(ctx context.Context) error {
	if e.privilegesProbed.Load() {
		return nil
	}
	key := e.keys.Prefix() + probeKey
	cmds := probeCommands(e.rdb.B(), key)
	names := make([]string, len(cmds)) // rueidis recycles commands once sent
	for i, c := range cmds {
		names[i] = c.Commands()[0]
	}
	var denied []string
	for i, r := range e.rdb.DoMulti(ctx, cmds...) {
		err := r.Error()
		if err == nil || rueidis.IsRedisNil(err) {
			continue
		}
		if _, answered := rueidis.IsRedisErr(err); !answered {
			return nil // no answer (a broken connection): probed again before the next mutation
		}
		if !strings.Contains(err.Error(), "NOPERM") {
			continue // not a permission: the mutation will say what it is
		}
		name := strings.ToLower(names[i])
		if strings.Contains(err.Error(), "key") {
			return e.redisErr(fmt.Sprintf("%s %s", strings.ToUpper(name), key), err)
		}
		if !slices.Contains(denied, name) {
			denied = append(denied, name)
		}
	}
	if len(denied) > 0 {
		grants := make([]string, len(denied))
		for i, d := range denied {
			grants[i] = "+" + d
		}
		return fmt.Errorf("the Redis user may not run %s, which transactions run (grant %s; docs/deployments.md lists what the engine needs): nothing was written",
			strings.ToUpper(strings.Join(denied, ", ")), strings.Join(grants, " "))
	}
	e.privilegesProbed.Store(true)
	return nil
}
