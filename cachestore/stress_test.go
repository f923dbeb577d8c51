package cachestore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/cachestore"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
)

// TestStoreStress drives a Registry the way rueidis and the engine do, from
// many goroutines at once, against a model of Redis with client tracking:
// readers (some of which give up at random moments, before or after their
// read was sent), a writer of this client (which invalidates locally after
// each acknowledged write), another client's writer (whose changes arrive
// as invalidation pushes), whole-cache flushes and reconnects. It checks
// what the engine relies on:
//
//   - read-your-writes: a read that starts after this client's write of a
//     key returned sees that write or a later one;
//   - no reader whose context is alive gets a context error;
//   - every value returned was the key's value at some moment;
//   - once everything is quiet and every push delivered, every read returns
//     the current value.
//
// The model is a connection as rueidis implements it: reads go out in the
// order they are queued, replies and invalidation pushes come back in the
// order Redis produced them, the store sees a reply (Update) before its
// sender does, and a sender that stops waiting reports its context error to
// the store (Cancel) whether or not its read was already sent.
func TestStoreStress(t *testing.T) {
	ops := 40000
	if testing.Short() {
		ops = 8000
	}
	m := newModel(t, 4, 2, ops)
	defer m.stop()

	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(ops))
	errc := make(chan error, 16)
	for g := 0; g < 8; g++ {
		impatient := g%2 == 0 // these readers give up at random moments
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			for left.Add(-1) >= 0 {
				var err error
				switch p := rng.IntN(1000); {
				case p < 150:
					m.write(m.randKey(rng), true)
				case p < 250:
					m.write(m.randKey(rng), false)
				case p < 253:
					m.flushAll()
				case p < 256:
					m.reconnect(rng.IntN(len(m.conns)))
				default:
					err = m.checkedRead(rng, impatient)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}(uint64(g))
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}

	// Quiescence: every push delivered, so every key reads its current value.
	m.drain()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, key := range m.keys {
		for i := 0; i < 2*len(m.conns); i++ {
			v, err := m.read(context.Background(), rng, key)
			if err != nil {
				t.Fatalf("quiet read of %s: %v", key, err)
			}
			if cur := m.current(key); v != cur {
				t.Fatalf("quiet read of %s returned version %d, current is %d", key, v, cur)
			}
		}
	}
	st := m.reg.Stats()
	t.Logf("stats: %+v; writes %d, reconnects %d", st, m.writes.Load(), m.reconnects.Load())
	if st.Hits == 0 || st.Abandoned == 0 || st.StaleReplies == 0 || st.Joined == 0 {
		t.Fatalf("the run did not exercise the store: %+v", st)
	}
}

// model is Redis with client tracking plus the connections of one client.
type model struct {
	reg     *cachestore.Registry
	keys    []string
	keyMsgs []rueidis.RedisMessage // the keys' names, as in a push
	vals    []rueidis.RedisMessage // the reply "v" for version v

	mu      sync.Mutex // the server: versions, tracking, connection set
	version map[string]int
	conns   []*simConn

	localAcked sync.Map // key -> *atomic.Int64: newest version of this client's acknowledged writes
	writes     atomic.Int64
	reconnects atomic.Int64
	done       sync.WaitGroup
}

func newModel(t *testing.T, nkeys, nconns, nversions int) *model {
	m := &model{reg: cachestore.NewRegistry(1 << 10), vals: versions(t, nversions), version: map[string]int{}}
	for i := 0; i < nkeys; i++ {
		k := "k" + strconv.Itoa(i)
		m.keys = append(m.keys, k)
		m.localAcked.Store(k, new(atomic.Int64))
	}
	m.keyMsgs = values(t, m.keys...)
	for i := 0; i < nconns; i++ {
		m.conns = append(m.conns, m.dial())
	}
	return m
}

// versions returns real replies "0" .. "n-1" of a real server.
func versions(t *testing.T, n int) []rueidis.RedisMessage {
	t.Helper()
	server, db := redistest.NewDB(t)
	srv := server.Client(t, db)
	kv := make([]string, 0, n)
	mset := srv.B().Mset().KeyValue()
	for i := 0; i < n; i++ {
		k := "v" + strconv.Itoa(i)
		kv = append(kv, k)
		mset = mset.KeyValue(k, strconv.Itoa(i))
	}
	if err := srv.Do(ctx, mset.Build()).Error(); err != nil {
		t.Fatal(err)
	}
	arr, err := srv.Do(ctx, srv.B().Mget().Key(kv...).Build()).ToArray()
	if err != nil || len(arr) != n {
		t.Fatalf("MGET: %v (%d values)", err, len(arr))
	}
	return arr
}

func (m *model) randKey(rng *rand.Rand) string { return m.keys[rng.IntN(len(m.keys))] }

func (m *model) current(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version[key]
}

func (m *model) acked(key string) *atomic.Int64 {
	v, _ := m.localAcked.Load(key)
	return v.(*atomic.Int64)
}

// write changes key on the server. Redis pushes the invalidation to every
// connection tracking the key; a write of this client is then also
// invalidated locally, as the engine does once the write is acknowledged.
func (m *model) write(key string, local bool) {
	m.mu.Lock()
	v := m.version[key] + 1
	if v >= len(m.vals) {
		m.mu.Unlock()
		return
	}
	m.version[key] = v
	for _, c := range m.conns {
		if c.tracking[key] {
			delete(c.tracking, key)
			c.push(event{invalidate: []string{key}})
		}
	}
	m.mu.Unlock()
	m.writes.Add(1)
	if local {
		m.reg.Invalidate(key)
		a := m.acked(key)
		for cur := a.Load(); cur < int64(v) && !a.CompareAndSwap(cur, int64(v)); cur = a.Load() {
		}
	}
}

// flushAll is a FLUSHDB's "invalidate everything" push (values stay: the
// model only needs the push).
func (m *model) flushAll() {
	m.mu.Lock()
	for _, c := range m.conns {
		clear(c.tracking)
		c.push(event{flush: true})
	}
	m.mu.Unlock()
}

// reconnect breaks connection i and dials a new one in its place.
func (m *model) reconnect(i int) {
	m.mu.Lock()
	old := m.conns[i]
	m.conns[i] = m.dial()
	old.push(event{closed: true})
	m.mu.Unlock()
	m.reconnects.Add(1)
}

// drain waits until every connection has delivered everything queued so far.
func (m *model) drain() {
	m.mu.Lock()
	var marks []chan struct{}
	for _, c := range m.conns {
		mark := make(chan struct{})
		c.push(event{mark: mark})
		marks = append(marks, mark)
	}
	m.mu.Unlock()
	for _, mark := range marks {
		<-mark
	}
}

func (m *model) stop() {
	m.mu.Lock()
	for _, c := range m.conns {
		c.push(event{closed: true})
	}
	m.mu.Unlock()
	m.done.Wait()
}

// checkedRead reads a random key and checks the result against the model.
func (m *model) checkedRead(rng *rand.Rand, impatient bool) error {
	key := m.randKey(rng)
	need := m.acked(key).Load()
	ctx := context.Background()
	var cancel context.CancelFunc = func() {}
	if impatient {
		switch rng.IntN(4) {
		case 0: // gave up before the read could be sent
			ctx, cancel = context.WithCancel(ctx)
			cancel()
		case 1, 2:
			ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(300))*time.Microsecond)
		}
	}
	defer cancel()
	v, err := m.read(ctx, rng, key)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			if ctx.Err() == nil {
				return fmt.Errorf("read of %s with a live context got %v", key, err)
			}
			return nil
		}
		return fmt.Errorf("read of %s: %v", key, err)
	}
	if int64(v) < need {
		return fmt.Errorf("read-your-writes: read of %s returned version %d after this client's write of version %d", key, v, need)
	}
	if cur := m.current(key); v > cur {
		return fmt.Errorf("read of %s returned version %d, newer than the server's %d", key, v, cur)
	}
	return nil
}

// read is the engine's cached read: the direct cache hit first, then a read
// through one of the connections, again when the store says so
// (ErrRetry) or the connection broke.
func (m *model) read(ctx context.Context, rng *rand.Rand, key string) (int, error) {
	for {
		if v, ok := m.reg.Get(key, "GET", ""); ok {
			return m.decode(v)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		m.mu.Lock()
		c := m.conns[rng.IntN(len(m.conns))]
		m.mu.Unlock()
		msg, err := c.doCache(ctx, key)
		if errors.Is(err, cachestore.ErrRetry) || errors.Is(err, errConnClosed) || errors.Is(err, cachestore.ErrClosed) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return m.decode(msg)
	}
}

func (m *model) decode(msg rueidis.RedisMessage) (int, error) {
	s, err := msg.ToString()
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

var errConnClosed = errors.New("model: connection closed")

// simConn is one connection: a queue of what the server sent (replies and
// pushes, in the server's order) delivered by one goroutine, like rueidis'
// reading goroutine.
type simConn struct {
	m        *model
	store    rueidis.CacheStore
	tracking map[string]bool // server side, under m.mu

	qmu    sync.Mutex
	qcond  *sync.Cond
	queue  []event
	closed bool
}

type event struct {
	reply      *request
	invalidate []string
	flush      bool
	closed     bool
	mark       chan struct{}
}

type request struct {
	key   string
	val   rueidis.RedisMessage
	reply chan result
}

type result struct {
	val rueidis.RedisMessage
	err error
}

func (m *model) dial() *simConn {
	c := &simConn{m: m, store: m.reg.NewStoreFn()(rueidis.CacheStoreOption{}), tracking: map[string]bool{}}
	c.qcond = sync.NewCond(&c.qmu)
	m.done.Add(1)
	go c.deliver()
	return c
}

func (c *simConn) push(ev event) {
	c.qmu.Lock()
	c.queue = append(c.queue, ev)
	c.qmu.Unlock()
	c.qcond.Signal()
}

// send is the read reaching the server: it is answered with the key's
// current version, and the connection starts tracking the key.
func (c *simConn) send(req *request) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.qmu.Lock()
	closed := c.closed
	c.qmu.Unlock()
	if closed || !c.live() {
		return errConnClosed
	}
	req.val = c.m.vals[c.m.version[req.key]]
	c.tracking[req.key] = true
	c.push(event{reply: req})
	return nil
}

// live reports whether c is still one of the model's connections (m.mu held).
func (c *simConn) live() bool {
	for _, o := range c.m.conns {
		if o == c {
			return true
		}
	}
	return false
}

// deliver is the connection's reading goroutine.
func (c *simConn) deliver() {
	defer c.m.done.Done()
	for {
		c.qmu.Lock()
		for len(c.queue) == 0 {
			c.qcond.Wait()
		}
		ev := c.queue[0]
		c.queue = c.queue[1:]
		if ev.closed && !c.closed {
			c.closed = true
		}
		closed := c.closed
		c.qmu.Unlock()
		switch {
		case ev.mark != nil:
			close(ev.mark)
		case ev.closed:
			c.store.Close(errConnClosed)
			c.failPending()
			return
		case closed:
		case ev.reply != nil:
			c.store.Update(ev.reply.key, "GET", ev.reply.val)
			ev.reply.reply <- result{val: ev.reply.val}
		case ev.flush:
			c.store.Delete(nil)
		default:
			names := make([]rueidis.RedisMessage, len(ev.invalidate))
			for i, k := range ev.invalidate {
				names[i] = c.m.keyMsg(k)
			}
			c.store.Delete(names)
		}
	}
}

// failPending answers every read still queued with the connection's error.
func (c *simConn) failPending() {
	c.qmu.Lock()
	rest := c.queue
	c.queue = nil
	c.qmu.Unlock()
	for _, ev := range rest {
		switch {
		case ev.reply != nil:
			ev.reply.reply <- result{err: errConnClosed}
		case ev.mark != nil:
			close(ev.mark)
		}
	}
}

// keyMsg returns a message holding the key's name, as in a push.
func (m *model) keyMsg(key string) rueidis.RedisMessage {
	i, _ := strconv.Atoi(key[1:])
	return m.keyMsgs[i]
}

// doCache is rueidis' DoCache on a static-TTL read, as the store sees it.
func (c *simConn) doCache(ctx context.Context, key string) (rueidis.RedisMessage, error) {
	v, entry := c.store.Flight(key, "GET", time.Minute, time.Now())
	if v.IsString() {
		return v, nil
	}
	if entry != nil {
		return entry.Wait(ctx)
	}
	if err := ctx.Err(); err != nil { // rueidis looks at the context before queueing
		c.store.Cancel(key, "GET", err)
		return rueidis.RedisMessage{}, err
	}
	req := &request{key: key, reply: make(chan result, 1)}
	if err := c.send(req); err != nil {
		c.store.Cancel(key, "GET", err)
		return rueidis.RedisMessage{}, err
	}
	select {
	case r := <-req.reply:
		return r.val, r.err
	case <-ctx.Done():
		c.store.Cancel(key, "GET", ctx.Err())
		return rueidis.RedisMessage{}, ctx.Err()
	}
}
