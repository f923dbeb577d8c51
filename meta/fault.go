package meta

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/redisconn"
)

// Mutations under faults.
//
// Every mutation is one script call. When the call fails, what matters is
// whether the script ran:
//
//   - Redis refused it before running it (TRYAGAIN while the volume's Cluster
//     slot migrates, CLUSTERDOWN and MASTERDOWN during a failover, LOADING
//     after a restart, READONLY from a master just demoted, NOREPLICAS,
//     BUSY, MISCONF, a full client table) or the connection could not even
//     be made: it did not run, and sending it again is safe.
//   - The connection failed while the call was under way (reset, EOF, a read
//     timeout): the script may have run and only its reply been lost. Each
//     transaction therefore carries a random id; the script, having applied
//     the writes, stores their results under the id in a marker hash
//     (keyspace.TxnMarker, kept markerTTL; see marker.go), and a transaction sent again
//     whose marker exists returns the stored results without applying
//     anything. Sending it again is then safe as well, within markerTTL of
//     the first sending; the engine stops well before.
//   - Anything else (a script error, OOM, NOPERM, WRONGTYPE, a cancelled or
//     expired context) is final and returned at once.
//
// Sending again follows the meta URL's io-retries, min-retry-backoff and
// max-retry-backoff, like the retries rueidis makes for reads. A caller
// whose context ends while a mutation is under way gets its context's error
// (context.Canceled or DeadlineExceeded, EINTR or ETIMEDOUT for ToErrno),
// and the mutation may or may not have been applied: that is the one case
// the engine cannot settle.

// markerTTL is how long a transaction's replay marker lives at least (see
// marker.go). Markers are deleted as soon as their transaction is
// acknowledged (see ackMarker); the TTL only bounds what a client that dies
// leaves behind.
const markerTTL = 10 * time.Minute

// replayWindow is how long after its first sending a mutation may be sent
// again: half the marker's life, so that a marker cannot expire before a
// resending that should find it.
const replayWindow = markerTTL / 2

// markerAckBatch is how many acknowledged markers are deleted at once.
const markerAckBatch = 256

type faultKind int

const (
	faultFinal   faultKind = iota // an answer: return it
	faultNotRun                   // the script did not run: send again
	faultUnknown                  // the script may have run: send again, guarded by the marker
)

// classifyFault tells how a failed script call may be retried.
func classifyFault(ctx context.Context, err error) faultKind {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, rueidis.ErrClosing) {
		return faultFinal
	}
	if rerr, ok := rueidis.IsRedisErr(err); ok {
		msg := rerr.Error()
		word, _, _ := strings.Cut(msg, " ")
		switch word {
		case "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY", "NOREPLICAS", "BUSY", "MISCONF", "MOVED", "ASK":
			return faultNotRun
		case "UNBLOCKED": // a WAIT after the mutation, cut short by a failover
			return faultUnknown
		}
		if strings.Contains(msg, "max number of clients reached") {
			return faultNotRun
		}
		return faultFinal
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, rueidis.ErrNoSlot) {
		return faultNotRun
	}
	return faultUnknown
}

// mutationScript is a script the engine changes the volume with: rueidis'
// Lua for the usual call, and the source and SHA-1 for the call followed by
// WAIT (wait-replicas), which must be sent as one pipeline on one
// connection: WAIT waits for the writes of its own connection.
type mutationScript struct {
	lua      *rueidis.Lua
	src, sha string
	txn      bool // txn.lua or a transaction compiled from its shape (same replies)
}

func newMutationScript(src string) *mutationScript {
	sum := sha1.Sum([]byte(src))
	return &mutationScript{lua: rueidis.NewLuaScript(src), src: src, sha: hex.EncodeToString(sum[:])}
}

// scriptReply is a script's reply as a list: an integer reply (a
// transaction answered with its status alone, see Tx.replyKind: Redis
// returns a number for less work than a table) is the list of that one
// value.
func scriptReply(res rueidis.RedisResult) ([]rueidis.RedisMessage, error) {
	msg, err := res.ToMessage()
	if err != nil {
		return nil, err
	}
	if msg.IsInt64() {
		return []rueidis.RedisMessage{msg}, nil
	}
	return msg.ToArray()
}

// exec sends the script once. With wait-replicas it is followed by WAIT; a
// shortfall returns the script's reply with ErrNotReplicated.
func (s *mutationScript) exec(ctx context.Context, e *Engine, keys, args []string) ([]rueidis.RedisMessage, error) {
	n := e.url.WaitReplicas
	if n == 0 {
		return scriptReply(s.lua.Exec(ctx, e.rdb, keys, args))
	}
	c := e.rdb
	call := func(noScript bool) []rueidis.RedisResult {
		var cmd rueidis.Completed
		if noScript {
			cmd = c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
		} else {
			cmd = c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
		}
		wait := c.B().Wait().Numreplicas(int64(n)).Timeout(e.url.WaitTimeout.Milliseconds()).Build()
		if e.keys.Prefix() != "" {
			wait = wait.SetSlot(keys[0]) // to the node the script runs on
		}
		return c.DoMulti(ctx, cmd, wait)
	}
	res := call(false)
	if rerr, ok := rueidis.IsRedisErr(res[0].Error()); ok && rerr.IsNoScript() {
		res = call(true)
	}
	reply, err := scriptReply(res[0])
	if err != nil {
		return nil, err
	}
	acked, err := res[1].AsInt64()
	if err != nil {
		// The master's role changed under WAIT (UNBLOCKED) or the connection
		// broke: the outcome is unknown, and sending the same call again (to
		// the new master) settles it.
		return nil, fmt.Errorf("WAIT after the mutation: %w", err)
	}
	if acked < int64(n) {
		return reply, fmt.Errorf("%w: %d of %d replicas within %v", ErrNotReplicated, acked, n, e.url.WaitTimeout)
	}
	return reply, nil
}

// execMutation runs a mutation script and sends it again after faults, as
// described above. guarded says that the script honours the replay marker
// passed among its keys; without it a call whose outcome is unknown is not
// sent again. resent says that this very call (same marker) may have been
// sent before, by an earlier execMutation that gave up. With wait-replicas,
// a reply is returned together with ErrNotReplicated when the replicas did
// not confirm it.
//
// A guarded script gets one more, last argument, its marker flag (see
// markerFlag): "1" when the call may have been sent before, "2" or "0" the
// first time. Only a call sent again can find its marker (the marker's name
// is new), so the first send skips looking for it, which saves the script a
// read on every mutation.
//
// Once an attempt may have been applied (its reply lost), the outcome stays
// unknown until an attempt is answered: giving up, even on an error that
// proves the last attempt did not run, returns ErrOutcomeUnknown.
func (e *Engine) execMutation(ctx context.Context, script *mutationScript, keys, args []string, guarded, resent bool) ([]rueidis.RedisMessage, error) {
	if err := e.probePrivileges(ctx); err != nil {
		return nil, err
	}
	first := monoNow()
	if guarded {
		args = append(args, e.markerFlag(script.txn, keys, resent))
	}
	unknown := false // an earlier attempt may have been applied
	for attempt := 0; ; attempt++ {
		if guarded && attempt > 0 {
			args[len(args)-1] = markerResent
		}
		fo := e.conn.Failover
		var gen uint64
		if fo != nil {
			gen = fo.Gen()
		}
		reply, err := script.exec(ctx, e, keys, args)
		if c := scriptCorruption(err); c != nil {
			return nil, c // a script's guard: nothing was written
		}
		if fo != nil && guarded && fo.Changed(gen) && (err == nil || errors.Is(err, ErrNotReplicated) || classifyFault(ctx, err) != faultFinal) {
			// A Sentinel failover may have begun while the call was under
			// way: the master that answered may not be the one that stays.
			// The identical call, sent again once the new master is known,
			// is settled there by its replay marker.
			err = fmt.Errorf("%w (%v)", errFailoverUnderWay, err)
		}
		if err == nil || errors.Is(err, ErrNotReplicated) {
			if e.sentHook != nil {
				e.sentHook(script, keys, args)
			}
			return reply, err
		}
		kind := classifyFault(ctx, err)
		unknown = unknown || kind == faultUnknown
		if kind != faultFinal {
			// Sent again or given up on, the fault may have lost the
			// marker hash (a restart, a failover): look again.
			e.markerFault()
		}
		if kind == faultFinal {
			// An answer of Redis to a call sent again means its marker was
			// not there: nothing was applied. Anything else (a cancelled
			// context, a closing client) settles nothing.
			if _, answered := rueidis.IsRedisErr(err); unknown && !answered {
				return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
			}
			return nil, err
		}
		giveUp := attempt >= e.url.IORetries || monoNow()-first > replayWindow ||
			(kind == faultUnknown && !guarded)
		if giveUp {
			if unknown {
				return nil, fmt.Errorf("%w (%d attempts): %w", ErrOutcomeUnknown, attempt+1, err)
			}
			return nil, err
		}
		e.txStats.retries.Add(1)
		e.log.Debug(fmt.Sprintf("mutation failed (%v); sending it again", err))
		t := time.NewTimer(redisconn.Backoff(e.url, attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			if unknown {
				return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
			}
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
