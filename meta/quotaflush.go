package meta

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// quotaFlush is one call of a quota flush: the usage it adds to each quota,
// encoded once, with its replay marker. Its deltas left the pending counters
// when it was made; a call that failed is sent again, identical, at the next
// flush, so that it is applied exactly once however often its reply is
// lost, and its deltas are never sent twice.
type quotaFlush struct {
	call   txCall
	deltas []quotaDelta
	since  time.Time
	sent   bool // sent before without an answer: it may have been applied
}

type quotaDelta struct {
	q             *quota
	space, inodes int64
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
// when nothing is pending.
func (s *statsBatcher) newQuotaFlush() *quotaFlush {
	k := s.e.keys
	tx := &Tx{e: s.e}
	var deltas []quotaDelta
	unlimited := string(codec.UnlimitedQuota().Marshal())
	collect := func(q *quota, limits, sp, in, field string) {
		space, inodes := q.newSpace.Load(), q.newInodes.Load()
		if space == 0 && inodes == 0 {
			return
		}
		q.newSpace.Add(-space)
		q.newInodes.Add(-inodes)
		deltas = append(deltas, quotaDelta{q, space, inodes})
		tx.Do("HSETNX", limits, field, unlimited)
		tx.HIncrBy(sp, field, space)
		tx.HIncrBy(in, field, inodes)
	}
	s.quotaMu.RLock()
	for ino, q := range s.dirQ {
		collect(q, k.DirQuota(), k.DirQuotaUsedSpace(), k.DirQuotaUsedInodes(), strconv.FormatUint(uint64(ino), 10))
	}
	for id, q := range s.userQ {
		collect(q, k.UserQuota(), k.UserQuotaUsedSpace(), k.UserQuotaUsedInodes(), strconv.FormatUint(uint64(id), 10))
	}
	for id, q := range s.groupQ {
		collect(q, k.GroupQuota(), k.GroupQuotaUsedSpace(), k.GroupQuotaUsedInodes(), strconv.FormatUint(uint64(id), 10))
	}
	s.quotaMu.RUnlock()
	if len(deltas) == 0 {
		return nil
	}
	return &quotaFlush{call: encodeTx(tx, s.e.newMarker(), time.Now()), deltas: deltas, since: time.Now()}
}

// sendQuotaFlush sends one call; once it is applied (ErrNotReplicated
// included, with a warning) its deltas count as stored usage.
func (s *statsBatcher) sendQuotaFlush(ctx context.Context, f *quotaFlush) error {
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
	if ok, err := reply[0].AsInt64(); err != nil || (ok != 1 && ok != 2) {
		return fmt.Errorf("transaction script: unexpected reply to a quota flush (%d, %v)", ok, err)
	}
	s.e.ackMarker(f.call.marker)
	for _, d := range f.deltas {
		d.q.usedSpace.Add(d.space)
		d.q.usedInodes.Add(d.inodes)
	}
	return nil
}
