package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Failover tells writers of a Sentinel deployment when the master may be
// changing. From the first sign of a failover until the new master is known
// (or the failover was aborted) writes wait; a write whose reply came while a
// failover may have been under way cannot know whether the master that
// acknowledged it will survive, so it must be settled on the master that did.
//
// Reads need nothing from the caller either: one answered while a failover
// may have begun is sent again once the master is known, so that no read is
// answered by a master the sentinels have left (one that crashed and came
// back with old data, say).
//
// Writes other than scripts need nothing from the caller: the client sends
// them again itself (they are all harmless to repeat: DEL, ZREM, HDEL, SET,
// HSETNX, INCR and INCRBY, which at worst skip a range of identifiers). For
// scripts, which are not, the caller takes Gen before sending and, when
// Changed(gen) afterwards, sends the identical call again: the replay marker
// the call carries makes the new master answer what it already applied, or
// apply it now.
type Failover struct {
	mu   sync.Mutex
	held bool
	open chan struct{} // closed while writes may go
	gen  atomic.Uint64 // incremented whenever a hold begins
	// maxWait bounds how long a write waits for the new master.
	maxWait time.Duration
}

// ErrFailoverWait is returned (wrapped) by writes that waited longer than
// the failover wait for a new master: they were not sent.
var ErrFailoverWait = errors.New("a Sentinel failover is under way and no new master is known yet; the write was not sent")

// errMasterChanged is the error of a command cut off because the client left
// the master it was sent to: it may or may not have been applied there.
var errMasterChanged = errors.New("the master changed while the command was under way")

func newFailover(maxWait time.Duration) *Failover {
	f := &Failover{open: make(chan struct{}), maxWait: maxWait}
	close(f.open)
	return f
}

// Gen returns the current generation: take it before sending a write.
func (f *Failover) Gen() uint64 { return f.gen.Load() }

// Changed reports whether a failover may have begun since gen was taken.
func (f *Failover) Changed(gen uint64) bool { return f.gen.Load() != gen }

// Held reports whether writes are being held.
func (f *Failover) Held() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held
}

// hold stops writes until release.
func (f *Failover) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held {
		return
	}
	f.held = true
	f.open = make(chan struct{})
	f.gen.Add(1)
}

// release lets writes go again.
func (f *Failover) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held {
		f.held = false
		close(f.open)
	}
}

// wait returns once writes may go, the failover wait has passed, or ctx
// ends.
func (f *Failover) wait(ctx context.Context) error {
	f.mu.Lock()
	open := f.open
	f.mu.Unlock()
	select {
	case <-open:
		return nil
	default:
	}
	t := time.NewTimer(f.maxWait)
	defer t.Stop()
	select {
	case <-open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%w (waited %v)", ErrFailoverWait, f.maxWait)
	}
}

// masterClient is the rueidis client of one master.
type masterClient struct {
	rueidis.Client
	addr string
}

// failoverClient is a rueidis.Client that talks to the current master of a
// Sentinel deployment through a client of that master alone, replaced when
// the master changes (see sentinelMonitor), and that holds writes while a
// failover may be under way (see Failover).
type failoverClient struct {
	cur     atomic.Pointer[masterClient]
	fo      *Failover
	builder rueidis.Builder
	closed  atomic.Bool
	// suspect is called when a master answers as a replica (READONLY).
	suspect func()
	// stop ends the monitor; called once by Close.
	stop func()
}

var _ rueidis.Client = (*failoverClient)(nil)

func (c *failoverClient) current() *masterClient { return c.cur.Load() }

// swap makes m the current master client and closes the previous one, which
// releases every command still waiting on it (see retried).
func (c *failoverClient) swap(m *masterClient) {
	if old := c.cur.Swap(m); old != nil && old != m {
		old.Close()
	}
}

// retried tells whether a command that failed with err on client m should be
// sent again to the current master: m was replaced while the command was
// under way.
func (c *failoverClient) retried(m *masterClient, err error) bool {
	return err != nil && errors.Is(err, rueidis.ErrClosing) && !c.closed.Load() && c.current() != m
}

func (c *failoverClient) B() rueidis.Builder { return c.builder }

func isWrite(cmd rueidis.Completed) bool { return !cmd.IsReadOnly() }

func (c *failoverClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	write := isWrite(cmd)
	script := write && isScript(cmd)
	cmd = cmd.Pin() // may be sent again
	for {
		gen := c.fo.Gen()
		if err := c.fo.wait(ctx); err != nil {
			return rueidis.NewErrorResult(err)
		}
		m := c.current()
		r := m.Do(ctx, cmd)
		err := r.Error()
		if c.retried(m, err) {
			if script {
				return rueidis.NewErrorResult(fmt.Errorf("%w (%v)", errMasterChanged, err))
			}
			continue
		}
		c.noteReadOnly(err)
		if !script && c.fo.Changed(gen) && ctx.Err() == nil {
			continue // harmless to repeat: settle it on the master that stays
		}
		return r
	}
}

func (c *failoverClient) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	script := false
	for i, cmd := range multi {
		multi[i] = cmd.Pin()
		script = script || isWrite(cmd) && isScript(cmd)
	}
	for {
		gen := c.fo.Gen()
		if err := c.fo.wait(ctx); err != nil {
			return errorResults(len(multi), err)
		}
		m := c.current()
		res := m.DoMulti(ctx, multi...)
		retry := false
		for i, r := range res {
			err := r.Error()
			if c.retried(m, err) {
				if script {
					res[i] = rueidis.NewErrorResult(fmt.Errorf("%w (%v)", errMasterChanged, err))
				} else {
					retry = true
				}
			}
			c.noteReadOnly(err)
		}
		if retry || (!script && c.fo.Changed(gen) && ctx.Err() == nil) {
			continue
		}
		return res
	}
}

func errorResults(n int, err error) []rueidis.RedisResult {
	out := make([]rueidis.RedisResult, n)
	for i := range out {
		out[i] = rueidis.NewErrorResult(err)
	}
	return out
}

// noteReadOnly starts a new look at the sentinels when a master answered as
// a replica: it was demoted, and this client has not heard of it yet.
func (c *failoverClient) noteReadOnly(err error) {
	if rerr, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(rerr.Error(), "READONLY") && c.suspect != nil {
		c.suspect()
	}
}

func (c *failoverClient) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	cmd = cmd.Pin()
	for {
		gen := c.fo.Gen()
		if err := c.fo.wait(ctx); err != nil {
			return rueidis.NewErrorResult(err)
		}
		m := c.current()
		r := m.DoCache(ctx, cmd, ttl)
		if c.again(m, gen, ctx, r) {
			continue
		}
		return r
	}
}

func (c *failoverClient) DoMultiCache(ctx context.Context, multi ...rueidis.CacheableTTL) []rueidis.RedisResult {
	for i := range multi {
		multi[i].Cmd = multi[i].Cmd.Pin()
	}
	for {
		gen := c.fo.Gen()
		if err := c.fo.wait(ctx); err != nil {
			return errorResults(len(multi), err)
		}
		m := c.current()
		res := m.DoMultiCache(ctx, multi...)
		retry := false
		for _, r := range res {
			retry = retry || c.again(m, gen, ctx, r)
		}
		if !retry {
			return res
		}
	}
}

// again tells whether a read answered r on m should be sent again: m was
// left while it was under way, or a failover may have begun meanwhile.
func (c *failoverClient) again(m *masterClient, gen uint64, ctx context.Context, r rueidis.RedisResult) bool {
	err := r.Error()
	if c.retried(m, err) || errors.Is(err, rueidis.ErrDoCacheAborted) && c.current() != m {
		return true
	}
	return c.fo.Changed(gen) && ctx.Err() == nil
}

func (c *failoverClient) DoStream(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResultStream {
	return c.current().DoStream(ctx, cmd)
}

func (c *failoverClient) DoMultiStream(ctx context.Context, multi ...rueidis.Completed) rueidis.MultiRedisResultStream {
	return c.current().DoMultiStream(ctx, multi...)
}

func (c *failoverClient) Receive(ctx context.Context, subscribe rueidis.Completed, fn func(msg rueidis.PubSubMessage)) error {
	return c.current().Receive(ctx, subscribe, fn)
}

func (c *failoverClient) Dedicated(fn func(rueidis.DedicatedClient) error) error {
	return c.current().Dedicated(fn)
}

func (c *failoverClient) Dedicate() (rueidis.DedicatedClient, func()) {
	return c.current().Dedicate()
}

func (c *failoverClient) Nodes() map[string]rueidis.Client {
	m := c.current()
	return map[string]rueidis.Client{m.addr: m.Client}
}

func (c *failoverClient) Mode() rueidis.ClientMode { return rueidis.ClientModeStandalone }

func (c *failoverClient) Close() {
	if c.closed.Swap(true) {
		return
	}
	c.stop()
	c.current().Close()
}
