package meta

import (
	"context"
	"slices"
)

// SentCall is a mutation script call as it was sent.
type SentCall struct {
	script     *mutationScript
	keys, args []string
}

// RecordSentForTest makes e hand every mutation call that got a reply to
// record.
func (e *Engine) RecordSentForTest(record func(SentCall)) {
	e.sentHook = func(s *mutationScript, keys, args []string) {
		record(SentCall{s, slices.Clone(keys), slices.Clone(args)})
	}
}

// ResendForTest sends call again exactly as execMutation does after a lost
// reply, and returns the reply's flag (the first element of txn.lua's
// reply; dirstat.lua has none, so -1) and its length.
func (e *Engine) ResendForTest(ctx context.Context, call SentCall) (flag int64, n int, err error) {
	args := slices.Clone(call.args)
	args[len(args)-1] = markerResent
	reply, err := call.script.exec(ctx, e, call.keys, args)
	if err != nil {
		return 0, 0, err
	}
	if !call.script.txn {
		return -1, len(reply), nil
	}
	flag, err = reply[0].AsInt64()
	return flag, len(reply), err
}

// IsTxnForTest reports whether call is a txn.lua call.
func (e *Engine) IsTxnForTest(call SentCall) bool { return call.script.txn }

// Keys returns the keys of call.
func (c SentCall) Keys() []string { return c.keys }

// RecountWaitingForTest reports whether a directory recount is waiting for
// this client's transactions between commit and accounting to finish.
func (e *Engine) RecountWaitingForTest() bool {
	if e.stats.accounting.TryRLock() {
		e.stats.accounting.RUnlock()
		return false
	}
	return true
}

// MarkerFaultForTest does what a fault of a mutation does to the marker
// hash in use: the next transactions give it its expiry if it has none.
func (e *Engine) MarkerFaultForTest() { e.markerFault() }

// FlushMarkersForTest deletes the markers of every acknowledged
// transaction now, as closing does.
func (e *Engine) FlushMarkersForTest() { e.flushMarkers() }
