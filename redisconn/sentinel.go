package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/metaurl"
)

// Sentinel deployments.
//
// Sentinel promotes a replica without stopping the old master: for seconds
// the old master stays a writable master, some sentinels still name it, and
// a client that writes there loses everything when Sentinel finally turns it
// into a replica. rueidis' own Sentinel client asks the sentinels one at a
// time, listens to one of them and moves on +switch-master only, which
// leaves that window open. So the engine watches every sentinel itself:
//
//   - At connect it asks all of them and follows the newest configuration
//     (the highest config epoch) once a majority has answered; while any of
//     them reports a failover under way or the master objectively down, or
//     the newest configuration that answered is older than one it already
//     followed, writes wait. (A crashed master that restarts is a writable
//     master again until Sentinel converts it; sentinels that missed the
//     failover still name it: trusting them would write where everything is
//     about to be discarded.)
//   - It subscribes to every sentinel. The first sign of a failover from any
//     of them (+try-failover, +elected-leader, the failover-state events,
//     +selected-slave, +promoted-slave, +odown) holds writes; +switch-master
//     and a -failover-abort-* event end the hold once the sentinels agree
//     again and the master they name answers ROLE as a master.
//   - A master answering READONLY (demoted behind this client's back) and a
//     periodic look at the sentinels (sentinelRefresh) start the same check.
//
// Holding writes is Failover's job (failover.go); sentinelMonitor decides
// when, and replaces the master client.

const (
	// sentinelRefresh is how often the sentinels are asked even without
	// events: the backstop for a missed event or a lost subscription.
	sentinelRefresh = 2 * time.Second
	// sentinelRetry is the pause between two looks at the sentinels while a
	// failover is being settled.
	sentinelRetry = 100 * time.Millisecond
	// failoverMaxWait bounds how long a write waits for a new master.
	failoverMaxWait = 60 * time.Second
)

// holdEvents are the sentinel events after which the master may change.
var holdEvents = []string{
	"+try-failover", "+elected-leader", "+failover-state-select-slave", "+selected-slave",
	"+failover-state-send-slaveof-noone", "+failover-state-wait-promotion", "+promoted-slave",
	"+failover-state-reconf-slaves", "+failover-detected", "+odown", "+switch-master",
}

// sentinelView is what one sentinel says about the master.
type sentinelView struct {
	sentinel string
	master   string // host:port
	epoch    int64
	busy     bool // a failover under way, or the master objectively down
	err      error
}

// sentinelMonitor watches the sentinels of one master name for one client.
type sentinelMonitor struct {
	cfg  *metaurl.Config
	log  *slog.Logger
	opt  rueidis.ClientOption // of a sentinel connection
	dial func(addr string) (*masterClient, error)
	fc   *failoverClient

	mu        sync.Mutex
	epoch     int64                     // config epoch of the master followed now
	sentinels map[string]rueidis.Client // by address; nil while unreachable
	dialing   map[string]bool           // addresses being dialled in the background
	kick      chan struct{}             // asks the loop to settle the master now
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// dialSentinel connects to the master the sentinels of cfg agree on and
// returns a client that follows it (failoverClient) and the Failover writers
// consult. masterOpt is the option set of a master connection.
func dialSentinel(ctx context.Context, cfg *metaurl.Config, masterOpt rueidis.ClientOption, log *slog.Logger) (*failoverClient, *Failover, error) {
	sopt := rueidis.ClientOption{
		Username:          cfg.SentinelUsername,
		Password:          cfg.SentinelPassword,
		TLSConfig:         masterOpt.Sentinel.TLSConfig,
		Dialer:            masterOpt.Dialer,
		ConnWriteTimeout:  masterOpt.ConnWriteTimeout,
		DisableCache:      true,
		ForceSingleClient: true,
		DisableRetry:      true,
	}
	masterOpt.Sentinel = rueidis.SentinelOption{}
	masterOpt.ForceSingleClient = true
	fo := newFailover(failoverMaxWait)
	mctx, cancel := context.WithCancel(context.Background())
	m := &sentinelMonitor{cfg: cfg, log: log, opt: sopt, sentinels: map[string]rueidis.Client{}, dialing: map[string]bool{},
		kick: make(chan struct{}, 1), ctx: mctx, cancel: cancel}
	m.dial = func(addr string) (*masterClient, error) {
		o := masterOpt
		o.InitAddress = []string{addr}
		c, err := rueidis.NewClient(o)
		if err != nil {
			return nil, err
		}
		return &masterClient{Client: c, addr: addr}, nil
	}
	fc := &failoverClient{fo: fo, suspect: m.suspect, stop: m.close}
	m.fc = fc
	var errs []error
	for _, a := range cfg.Addrs {
		if err := m.addSentinel(a); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == len(cfg.Addrs) {
		m.close()
		return nil, nil, errors.Join(errs...)
	}
	first, err := m.settle(ctx, nil)
	if err != nil {
		m.close()
		return nil, nil, err
	}
	fc.cur.Store(first)
	fc.builder = first.B()
	fo.release()
	m.wg.Add(1)
	go m.loop()
	return fc, fo, nil
}

// addSentinel connects to a sentinel (once) and subscribes to its events.
// One that cannot be reached is remembered and tried again at every look at
// the sentinels.
func (m *sentinelMonitor) addSentinel(addr string) error {
	m.mu.Lock()
	known := m.sentinels[addr] != nil
	m.mu.Unlock()
	if known || m.ctx.Err() != nil {
		return nil
	}
	o := m.opt
	o.InitAddress = []string{addr}
	c, err := rueidis.NewClient(o) // dials: not under the lock
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err != nil:
		if _, known := m.sentinels[addr]; !known {
			m.sentinels[addr] = nil // remembered, tried again at every look
		}
		return fmt.Errorf("sentinel %s: %w", addr, err)
	case m.ctx.Err() != nil || m.sentinels[addr] != nil:
		c.Close() // closed meanwhile, or added by another goroutine
		return nil
	}
	m.sentinels[addr] = c
	m.wg.Add(1)
	go m.listen(addr, c)
	return nil
}

// addSentinelLater adds a sentinel in the background, as one of the
// monitor's goroutines (Close waits for it).
func (m *sentinelMonitor) addSentinelLater(addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil || m.dialing[addr] || m.sentinels[addr] != nil {
		return
	}
	m.dialing[addr] = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.dialing, addr)
			m.mu.Unlock()
		}()
		if err := m.addSentinel(addr); err != nil {
			m.log.Debug(fmt.Sprintf("Sentinel: %v (tried again at the next look)", err))
		}
	}()
}

// listen follows the events of one sentinel until the monitor closes.
func (m *sentinelMonitor) listen(addr string, c rueidis.Client) {
	defer m.wg.Done()
	for m.ctx.Err() == nil {
		err := c.Receive(m.ctx, c.B().Psubscribe().Pattern("*").Build(), func(msg rueidis.PubSubMessage) {
			m.event(msg.Channel, msg.Message)
		})
		if m.ctx.Err() != nil {
			return
		}
		m.log.Debug(fmt.Sprintf("sentinel %s: subscription ended (%v); subscribing again", addr, err))
		m.suspectQuietly() // events may have been missed
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(sentinelRetry):
		}
	}
}

// event handles one sentinel event.
func (m *sentinelMonitor) event(channel, msg string) {
	f := strings.Fields(msg)
	switch {
	case channel == "+sentinel":
		// sentinel <id> <ip> <port> @ <name> <ip> <port>
		if len(f) >= 6 && f[5] == m.cfg.MasterName {
			m.addSentinelLater(net.JoinHostPort(f[2], f[3]))
		}
	case strings.HasPrefix(channel, "-failover-abort") || channel == "-odown":
		if eventMaster(f) == m.cfg.MasterName {
			m.suspectQuietly()
		}
	case slices.Contains(holdEvents, channel):
		name := eventMaster(f)
		if channel == "+switch-master" && len(f) > 0 {
			name = f[0] // <name> <old ip> <old port> <new ip> <new port>
		}
		if name == m.cfg.MasterName {
			m.fc.fo.hold()
			m.poke()
		}
	}
}

// eventMaster returns the master name an event is about: "master <name> ..."
// for the master itself, "... @ <name> <ip> <port>" for the others.
func eventMaster(f []string) string {
	if len(f) >= 2 && f[0] == "master" {
		return f[1]
	}
	if i := slices.Index(f, "@"); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}

// suspect holds writes and settles the master again (a master answered
// READONLY).
func (m *sentinelMonitor) suspect() {
	m.fc.fo.hold()
	m.poke()
}

// suspectQuietly settles the master again without holding writes first:
// the check holds them if the sentinels report a failover.
func (m *sentinelMonitor) suspectQuietly() { m.poke() }

func (m *sentinelMonitor) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// loop settles the master when poked and every sentinelRefresh.
func (m *sentinelMonitor) loop() {
	defer m.wg.Done()
	t := time.NewTicker(sentinelRefresh)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.kick:
		case <-t.C:
		}
		cur := m.fc.current()
		next, err := m.settle(m.ctx, cur)
		if err != nil {
			if m.ctx.Err() == nil {
				m.log.Warn(fmt.Sprintf("Sentinel: %v", err))
			}
			continue
		}
		if next != cur {
			m.log.Info(fmt.Sprintf("Sentinel: master %s -> %s", cur.addr, next.addr))
			m.fc.swap(next)
		}
		m.fc.fo.release()
	}
}

// settle asks the sentinels until they agree on a master that answers as
// one and report no failover under way, holding writes while they do not;
// it returns the client of that master (cur when unchanged). It gives up
// after the failover wait.
func (m *sentinelMonitor) settle(ctx context.Context, cur *masterClient) (*masterClient, error) {
	deadline := time.Now().Add(failoverMaxWait)
	var last error
	for {
		addr, epoch, busy, err := m.ask(ctx)
		switch {
		case err != nil:
			last = err
		case busy:
			m.fc.fo.hold()
			last = errors.New("a failover is under way")
		default:
			next, err := m.masterAt(addr, cur)
			if err == nil {
				m.mu.Lock()
				m.epoch = max(m.epoch, epoch)
				m.mu.Unlock()
				return next, nil
			}
			m.fc.fo.hold() // the master the sentinels name is not one (yet)
			last = err
		}
		if cur == nil && (isAuthError(last) || isNotSentinel(last)) || time.Now().After(deadline) {
			return nil, last
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(sentinelRetry):
		}
	}
}

// masterAt returns a client of the master at addr, after checking that it
// answers ROLE as a master: cur when it is that master already.
func (m *sentinelMonitor) masterAt(addr string, cur *masterClient) (*masterClient, error) {
	c := cur
	if c == nil || c.addr != addr {
		var err error
		if c, err = m.dial(addr); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	role, err := c.Do(ctx, c.B().Role().Build()).ToArray()
	if err == nil && (len(role) == 0 || !isRole(role[0], "master")) {
		err = fmt.Errorf("%s is not a master (yet)", addr)
	}
	if err != nil {
		if c != cur {
			c.Close()
		}
		return nil, err
	}
	return c, nil
}

func isRole(m rueidis.RedisMessage, want string) bool {
	s, err := m.ToString()
	return err == nil && s == want
}

// ask asks every sentinel about the master and returns the address of the
// newest configuration (the highest config epoch), and whether it cannot be
// trusted yet: a sentinel reports a failover under way or the master
// objectively down, or the newest configuration is older than one this
// client has already followed (the sentinels that answered have not heard
// of the last failover: the one that made it did not answer). It fails
// unless a majority of the sentinels it knows answered. Sentinels it learns
// of are added.
func (m *sentinelMonitor) ask(ctx context.Context) (addr string, epoch int64, busy bool, err error) {
	m.mu.Lock()
	known := len(m.sentinels)
	clients := make(map[string]rueidis.Client, len(m.sentinels))
	var down []string
	for a, c := range m.sentinels {
		if c == nil {
			down = append(down, a)
		} else {
			clients[a] = c
		}
	}
	followed := m.epoch
	m.mu.Unlock()
	for _, a := range down {
		m.addSentinelLater(a)
	}
	views := make(chan sentinelView, len(clients))
	for a, c := range clients {
		go func() { views <- m.askOne(ctx, a, c) }()
	}
	var best *sentinelView
	var errs []error
	answered := 0
	for range clients {
		v := <-views
		if v.err != nil {
			errs = append(errs, v.err)
			continue
		}
		answered++
		busy = busy || v.busy
		if best == nil || v.epoch > best.epoch {
			best = &v
		}
	}
	if best == nil || 2*answered <= known {
		return "", 0, false, fmt.Errorf("%d of %d sentinels answered for master %q: %w", answered, known, m.cfg.MasterName, errors.Join(errs...))
	}
	return best.master, best.epoch, busy || best.epoch < followed, nil
}

// askOne asks one sentinel for the master and the other sentinels.
func (m *sentinelMonitor) askOne(ctx context.Context, addr string, c rueidis.Client) sentinelView {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v := sentinelView{sentinel: addr}
	res := c.DoMulti(ctx,
		c.B().Arbitrary("SENTINEL", "MASTER").Args(m.cfg.MasterName).Build(),
		c.B().SentinelSentinels().Master(m.cfg.MasterName).Build())
	info, err := res[0].AsStrMap()
	if err != nil {
		v.err = fmt.Errorf("sentinel %s: %w", addr, err)
		return v
	}
	v.master = net.JoinHostPort(info["ip"], info["port"])
	v.epoch, _ = strconv.ParseInt(info["config-epoch"], 10, 64)
	flags := strings.Split(info["flags"], ",")
	v.busy = slices.Contains(flags, "failover_in_progress") || slices.Contains(flags, "o_down")
	if others, err := res[1].ToArray(); err == nil {
		for _, o := range others {
			if s, err := o.AsStrMap(); err == nil {
				m.addSentinelLater(net.JoinHostPort(s["ip"], s["port"]))
			}
		}
	}
	return v
}

// close stops the monitor and its sentinel connections.
func (m *sentinelMonitor) close() {
	m.cancel()
	m.mu.Lock()
	for _, c := range m.sentinels {
		if c != nil {
			c.Close()
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
}
