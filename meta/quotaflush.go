package meta

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

// quotaFlush is one call of a quota flush: the usage it adds to each quota,
// encoded once, with its replay marker. Its deltas left the pending counters
// when it was made; a call that failed is sent again, identical, at the next
// flush, so that it is applied exactly once however often its reply is
// lost, and its deltas are never sent twice.
//
// A directory quota's deltas are added only if the quota's count token
// (Keys.QuotaCounts) is still the one this client loaded when it charged
// them: a token that changed says the usage was stored since by a count
// under the quota fence (`quota set`, `quota check --repair`) or the quota
// deleted, and every such delta comes from a mutation committed before
// that count's fence was taken, so the count has it already (see
// quotafence.go). The call carries the tokens as conditions; refused, it
// was not applied (a refused call writes no marker), and the deltas whose
// token changed are dropped and the others sent in a new call.
type quotaFlush struct {
	call   txCall
	deltas []quotaDelta
	since  time.Time
	sent   bool // sent before without an answer: it may have been applied
}

type quotaDelta struct {
	q                    *quota
	limits, sp, in, name string // the quota's hashes and field
	space, inodes        int64
	// token is the directory quota's count token the deltas were charged
	// under ("" when it has none); fenced is false for user/group quotas.
	token  string
	fenced bool
}

// flushQuotas writes the pending quota usage of every quota in one atomic
// batch: HSETNX of unlimited limits (so that a quota another client just
// created is not overwritten) and HINCRBY of the usage. Calls that failed
// before are sent again first.
func (s *statsBatcher) flushQuotas(ctx context.Context) error {
	f := s.format()
	if !f.DirStats && !f.UserGroupQuota {
		return nil
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	calls := s.unsentQuota
	s.unsentQuota = nil
	if next := s.newQuotaFlush(); next != nil {
		calls = append(calls, *next)
	}
	var failed error
	for i := range calls {
		if err := s.sendQuotaFlush(ctx, &calls[i]); err != nil {
			failed = cmp.Or(failed, fmt.Errorf("%w: quota usage (%w); `quota check --repair` recomputes it", ErrStatsNotStored, err))
			if time.Since(calls[i].since) > replayWindow {
				s.e.log.Warn(fmt.Sprintf("flush quotas: %v; giving up after %v: quota usage may be off until `quota check --repair`", err, replayWindow))
				continue
			}
			s.e.log.Warn(fmt.Sprintf("flush quotas: %v; will send it again", err))
			calls[i].sent = true
			s.unsentQuota = append(s.unsentQuota, calls[i:]...)
			return failed
		}
	}
	return failed
}

// newQuotaFlush takes the pending usage of every quota into a new call; nil
// when nothing is pending. (The caller holds flushMu: the count tokens
// cannot change meanwhile.)
func (s *statsBatcher) newQuotaFlush() *quotaFlush {
	k := s.e.keys
	var deltas []quotaDelta
	collect := func(q *quota, limits, sp, in string, id uint64, fenced bool) {
		space, inodes := q.newSpace.Load(), q.newInodes.Load()
		if space == 0 && inodes == 0 {
			return
		}
		q.newSpace.Add(-space)
		q.newInodes.Add(-inodes)
		deltas = append(deltas, quotaDelta{q: q, limits: limits, sp: sp, in: in, name: strconv.FormatUint(id, 10),
			space: space, inodes: inodes, token: q.token, fenced: fenced})
	}
	s.quotaMu.RLock()
	for ino, q := range s.dirQ {
		collect(q, k.DirQuota(), k.DirQuotaUsedSpace(), k.DirQuotaUsedInodes(), uint64(ino), true)
	}
	for id, q := range s.userQ {
		collect(q, k.UserQuota(), k.UserQuotaUsedSpace(), k.UserQuotaUsedInodes(), uint64(id), false)
	}
	for id, q := range s.groupQ {
		collect(q, k.GroupQuota(), k.GroupQuotaUsedSpace(), k.GroupQuotaUsedInodes(), uint64(id), false)
	}
	s.quotaMu.RUnlock()
	return s.encodeQuotaFlush(deltas, time.Now())
}

// encodeQuotaFlush makes the call adding deltas (nil when there are none):
// for each directory quota the condition that its count token is the one
// its deltas were charged under, then the writes.
func (s *statsBatcher) encodeQuotaFlush(deltas []quotaDelta, since time.Time) *quotaFlush {
	if len(deltas) == 0 {
		return nil
	}
	counts := s.e.keys.QuotaCounts()
	unlimited := string(codec.UnlimitedQuota().Marshal())
	tx := &Tx{e: s.e}
	for _, d := range deltas {
		if d.fenced {
			tx.conds = append(tx.conds, cond{kind: condHGet, key: counts, field: d.name, present: d.token != "", value: d.token})
		}
		tx.Do("HSETNX", d.limits, d.name, unlimited)
		tx.HIncrBy(d.sp, d.name, d.space)
		tx.HIncrBy(d.in, d.name, d.inodes)
	}
	return &quotaFlush{call: encodeTx(tx, s.e.newMarker(), time.Now()), deltas: deltas, since: since}
}

// sendQuotaFlush sends one call; once it is applied (ErrNotReplicated
// included, with a warning) its deltas count as stored usage. A call
// refused because count tokens changed is replaced by one without the
// deltas of those quotas (dropped: the counts have them), and sent.
func (s *statsBatcher) sendQuotaFlush(ctx context.Context, f *quotaFlush) error {
	for {
		reply, err := s.e.execMutation(ctx, s.e.txnScript, f.call.keys, f.call.args, true, f.sent)
		if errors.Is(err, ErrNotReplicated) {
			s.e.log.Warn(fmt.Sprintf("flush quotas: %v", err))
			err = nil
		}
		if err != nil {
			return err
		}
		if len(reply) == 0 {
			return errors.New("transaction script: empty reply")
		}
		ok, err := reply[0].AsInt64()
		if err == nil && ok == 0 {
			next, err := s.withoutRecounted(f, reply[1:])
			if err != nil {
				return err
			}
			if next == nil {
				return nil
			}
			*f = *next
			continue
		}
		if err != nil || (ok != 1 && ok != 2) {
			return fmt.Errorf("transaction script: unexpected reply to a quota flush (%d, %v)", ok, err)
		}
		s.e.ackMarker(f.call.marker)
		for _, d := range f.deltas {
			d.q.usedSpace.Add(d.space)
			d.q.usedInodes.Add(d.inodes)
		}
		return nil
	}
}

// withoutRecounted returns the call that replaces f, refused with the
// conditions' state (present, value pairs in condition order): f's deltas
// but those of directory quotas whose count token changed; nil when none
// is left.
func (s *statsBatcher) withoutRecounted(f *quotaFlush, state []rueidis.RedisMessage) (*quotaFlush, error) {
	var keep []quotaDelta
	i := 0
	for _, d := range f.deltas {
		if !d.fenced {
			keep = append(keep, d)
			continue
		}
		if 2*i+1 >= len(state) {
			return nil, errors.New("transaction script: short state in the reply to a quota flush")
		}
		present, _ := state[2*i].ToString()
		value, _ := state[2*i+1].ToString()
		i++
		if (present == "1") == (d.token != "") && value == d.token {
			keep = append(keep, d)
			continue
		}
		s.e.log.Debug(fmt.Sprintf("flush quotas: directory quota %s was counted again since its usage (%d bytes, %d inodes) was charged: dropped", d.name, d.space, d.inodes))
	}
	if len(keep) == len(f.deltas) {
		return nil, errors.New("transaction script: a quota flush was refused with every count token unchanged")
	}
	return s.encodeQuotaFlush(keep, f.since), nil
}
