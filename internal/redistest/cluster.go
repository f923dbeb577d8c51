package redistest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

const (
	// clusterSlots is the number of hash slots of Redis Cluster.
	clusterSlots = 16384
	// clusterWait bounds cluster creation, convergence and failover.
	clusterWait = 30 * time.Second
)

// Cluster is a Redis Cluster of redis-server processes on 127.0.0.1.
type Cluster struct {
	// Nodes are all nodes, masters and replicas, in start order. Roles
	// change on failover; use MasterOfSlot or Masters for the current ones.
	// A node killed by Failover stays in the list (not running).
	Nodes []*Server
	// Password is the default user's password, empty without WithPassword.
	Password string

	tls      *tlsFiles
	replicas int
}

// StartCluster starts masters*(1+replicas) cluster-enabled servers, creates
// the cluster (with redis-cli --cluster create when masters >= 3, which is
// redis-cli's minimum, and with CLUSTER ADDSLOTSRANGE/MEET/REPLICATE
// otherwise) and waits until every node reports cluster_state:ok, all nodes
// agree on the topology and every replica is in sync. opts apply to every
// node.
func StartCluster(t testing.TB, masters, replicas int, opts ...Option) *Cluster {
	t.Helper()
	if masters < 1 || replicas < 0 {
		t.Fatalf("redistest: StartCluster(%d masters, %d replicas): need at least one master", masters, replicas)
	}
	cfg := newConfig(opts)
	cfg.cluster, cfg.busPort = true, true
	if cfg.tls {
		tf, err := generateTLS(t.TempDir())
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		cfg.tlsFiles = tf
	}
	c := &Cluster{Password: cfg.password, tls: cfg.tlsFiles, replicas: replicas}
	for range masters * (1 + replicas) {
		c.Nodes = append(c.Nodes, startTB(t, cfg.clone()))
	}
	var err error
	if masters >= 3 {
		err = c.createWithCLI(masters, replicas)
	} else {
		err = c.createByHand(masters)
	}
	if err == nil {
		err = waitFor(clusterWait, 20*time.Millisecond, c.healthy)
	}
	if err == nil && replicas > 0 {
		for _, m := range c.Masters(t) {
			if err = streaming(m, replicas); err != nil {
				break
			}
		}
	}
	if err != nil {
		t.Fatalf("redistest: create cluster: %v\n%s", err, c.logTails())
	}
	return c
}

// streaming waits until replicas replicas of master have everything it
// holds (see Server.WaitReplicas). A replica that has just loaded its
// initial copy already reports master_link_status:up, but with diskless
// replication the master sends it nothing until the replica's first
// acknowledgement, up to a second later: a master killed in that second
// leaves the replica, and the failover, with the initial copy only.
func streaming(master *Server, replicas int) error {
	// With min-replicas-to-write, the write is refused (NOREPLICAS) until
	// that first acknowledgement.
	return waitFor(clusterWait, 50*time.Millisecond, func() error { return master.waitReplicas(replicas, clusterWait) })
}

// createWithCLI runs redis-cli --cluster create.
func (c *Cluster) createWithCLI(masters, replicas int) error {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return errors.New("redis-cli not found in PATH; install it with: apt-get install -y redis-server")
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if c.Password != "" {
		args = append(args, "-a", c.Password, "--no-auth-warning")
	}
	if c.tls != nil {
		args = append(args, "--tls", "--cacert", c.tls.CA, "--cert", c.tls.ClientCert, "--key", c.tls.ClientKey)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-cli --cluster create (%d masters, %d replicas): %v\n%s", masters, replicas, err, out)
	}
	return nil
}

// createByHand builds a cluster of one or two masters, which redis-cli
// refuses to create: the first masters nodes get the slots, the others
// replicate them in turn.
func (c *Cluster) createByHand(masters int) error {
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		id, err := n.callString("CLUSTER", "MYID")
		if err != nil {
			return fmt.Errorf("CLUSTER MYID on %s: %w", n.Addr, err)
		}
		ids[i] = id
	}
	for i := range masters {
		n := c.Nodes[i]
		lo, hi := i*clusterSlots/masters, (i+1)*clusterSlots/masters-1
		if _, err := n.call("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			return fmt.Errorf("CLUSTER ADDSLOTSRANGE on %s: %w", n.Addr, err)
		}
		if _, err := n.call("CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return fmt.Errorf("CLUSTER SET-CONFIG-EPOCH on %s: %w", n.Addr, err)
		}
	}
	first := c.Nodes[0]
	for _, n := range c.Nodes[1:] {
		if _, err := n.call("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(first.Port())); err != nil {
			return fmt.Errorf("CLUSTER MEET on %s: %w", n.Addr, err)
		}
	}
	err := waitFor(clusterWait, 20*time.Millisecond, func() error {
		for _, n := range c.Nodes {
			info, err := n.callString("CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if k := infoField(info, "cluster_known_nodes"); k != strconv.Itoa(len(c.Nodes)) {
				return fmt.Errorf("%s knows %s of %d nodes", n.Addr, k, len(c.Nodes))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := masters; i < len(c.Nodes); i++ {
		n, master := c.Nodes[i], ids[(i-masters)%masters]
		if _, err := n.call("CLUSTER", "REPLICATE", master); err != nil {
			return fmt.Errorf("CLUSTER REPLICATE on %s: %w", n.Addr, err)
		}
	}
	return nil
}

// nodeView is one line of CLUSTER NODES.
type nodeView struct {
	id, addr, flags, master, link string
	slots                         []string
}

func (v nodeView) has(flag string) bool {
	for _, f := range strings.Split(v.flags, ",") {
		if f == flag {
			return true
		}
	}
	return false
}

// servesSlot reports whether the line lists slot (ranges "a-b" or single
// slots; migration markers "[...]" are ignored).
func (v nodeView) servesSlot(slot int) bool {
	for _, r := range v.slots {
		if strings.HasPrefix(r, "[") {
			continue
		}
		lo, hi, isRange := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 == nil && err2 == nil && a <= slot && slot <= b {
			return true
		}
	}
	return false
}

func parseNodes(text string) ([]nodeView, error) {
	var out []nodeView
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("bad CLUSTER NODES line %q", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		out = append(out, nodeView{id: f[0], addr: addr, flags: f[2], master: f[3], link: f[7], slots: f[8:]})
	}
	return out, nil
}

// signature is the topology as seen by one node, comparable across nodes.
func signature(views []nodeView) string {
	lines := make([]string, 0, len(views))
	for _, v := range views {
		var flags []string
		for _, f := range strings.Split(v.flags, ",") {
			if f != "myself" {
				flags = append(flags, f)
			}
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %s %s", v.id, v.addr, strings.Join(flags, ","), v.master, strings.Join(v.slots, " ")))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// live returns the running nodes.
func (c *Cluster) live() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

func (c *Cluster) byAddr(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// healthy checks that every running node reports cluster_state:ok and the
// same topology, that every running node is seen as healthy and connected
// by every other one, and that every running replica is in sync.
func (c *Cluster) healthy() error {
	var ref string
	var refNode *Server
	for _, n := range c.live() {
		info, err := n.callString("CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("CLUSTER INFO on %s: %w", n.Addr, err)
		}
		if st := infoField(info, "cluster_state"); st != "ok" {
			return fmt.Errorf("%s: cluster_state:%s", n.Addr, st)
		}
		text, err := n.callString("CLUSTER", "NODES")
		if err != nil {
			return fmt.Errorf("CLUSTER NODES on %s: %w", n.Addr, err)
		}
		views, err := parseNodes(text)
		if err != nil {
			return err
		}
		if len(views) != len(c.Nodes) {
			return fmt.Errorf("%s knows %d of %d nodes", n.Addr, len(views), len(c.Nodes))
		}
		for _, v := range views {
			peer := c.byAddr(v.addr)
			if peer == nil {
				return fmt.Errorf("%s lists unknown node %s", n.Addr, v.addr)
			}
			if !peer.Running() {
				continue
			}
			if v.has("fail") || v.has("fail?") || v.has("handshake") || v.has("noaddr") || v.link != "connected" {
				return fmt.Errorf("%s sees %s as %s (%s)", n.Addr, v.addr, v.flags, v.link)
			}
			if v.has("myself") && v.has("slave") {
				if st := infoField(mustInfo(n), "master_link_status"); st != "up" {
					return fmt.Errorf("replica %s: master_link_status:%s", n.Addr, st)
				}
			}
		}
		sig := signature(views)
		if refNode == nil {
			ref, refNode = sig, n
		} else if sig != ref {
			return fmt.Errorf("%s and %s disagree on the topology:\n%s\n---\n%s", refNode.Addr, n.Addr, ref, sig)
		}
	}
	if refNode == nil {
		return errors.New("no node is running")
	}
	return nil
}

// mustInfo returns INFO replication, or "" when it cannot be read (the
// caller then sees an empty field and keeps waiting).
func mustInfo(n *Server) string {
	s, _ := n.callString("INFO", "replication")
	return s
}

// views returns CLUSTER NODES as seen by the first running node.
func (c *Cluster) views() ([]nodeView, error) {
	var lastErr error = errors.New("no node is running")
	for _, n := range c.live() {
		text, err := n.callString("CLUSTER", "NODES")
		if err != nil {
			lastErr = err
			continue
		}
		return parseNodes(text)
	}
	return nil, lastErr
}

// masterOfSlot returns the node a running node names as the slot's master.
func (c *Cluster) masterOfSlot(slot int) (*Server, error) {
	views, err := c.views()
	if err != nil {
		return nil, err
	}
	for _, v := range views {
		if v.has("master") && v.servesSlot(slot) {
			if n := c.byAddr(v.addr); n != nil {
				return n, nil
			}
			return nil, fmt.Errorf("slot %d is served by unknown node %s", slot, v.addr)
		}
	}
	return nil, fmt.Errorf("no master serves slot %d", slot)
}

// MasterOfSlot returns the node that currently serves slot (0..16383).
func (c *Cluster) MasterOfSlot(t testing.TB, slot int) *Server {
	t.Helper()
	n, err := c.masterOfSlot(slot)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return n
}

// Masters returns the running nodes that currently are masters with slots.
func (c *Cluster) Masters(t testing.TB) []*Server {
	t.Helper()
	views, err := c.views()
	if err != nil {
		t.Fatalf("redistest: CLUSTER NODES: %v", err)
	}
	var out []*Server
	for _, v := range views {
		if n := c.byAddr(v.addr); n != nil && n.Running() && v.has("master") && len(v.slots) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// OtherMaster returns a running master, serving slots, other than m: the
// target of a slot migration away from m.
func (c *Cluster) OtherMaster(t testing.TB, m *Server) *Server {
	t.Helper()
	for _, o := range c.Masters(t) {
		if o != m {
			return o
		}
	}
	t.Fatalf("redistest: no master other than %s", m.Addr)
	return nil
}

// Failover kills (SIGKILL) the master serving slot and waits until one of
// its replicas has been promoted and the cluster is healthy again (see
// StartCluster); it returns the new master. The killed node stays in Nodes;
// Restart brings it back as a replica.
func (c *Cluster) Failover(t testing.TB, slot int) *Server {
	t.Helper()
	if c.replicas == 0 {
		t.Fatal("redistest: Failover needs a cluster with replicas")
	}
	old := c.MasterOfSlot(t, slot)
	old.Kill(t)
	var promoted *Server
	err := waitFor(clusterWait, 50*time.Millisecond, func() error {
		n, err := c.masterOfSlot(slot)
		if err != nil {
			return err
		}
		if n == old {
			return fmt.Errorf("slot %d is still served by the killed node %s", slot, old.Addr)
		}
		if err := c.healthy(); err != nil {
			return err
		}
		promoted = n
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: cluster failover of slot %d (killed %s): %v\n%s", slot, old.Addr, err, c.logTails())
	}
	return promoted
}

// Addrs returns the addresses of all nodes.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// URL returns a meta URL with every node as a seed:
// "scheme://[:pw@]127.0.0.1:p1,127.0.0.1:p2,.../db", with the TLS files in
// the query when the cluster uses TLS.
func (c *Cluster) URL(scheme string, db int) string {
	return buildURL(scheme, "", c.Password, strings.Join(c.Addrs(), ","), db, c.tls)
}

// TLSFiles returns the CA certificate and the client certificate and key
// shared by all nodes; all empty without TLS.
func (c *Cluster) TLSFiles() (ca, cert, key string) {
	if c.tls == nil {
		return "", "", ""
	}
	return c.tls.CA, c.tls.ClientCert, c.tls.ClientKey
}

// ClientOption returns the options of a cluster-aware raw client (caching
// disabled) seeded with the running nodes.
func (c *Cluster) ClientOption() rueidis.ClientOption {
	var addrs []string
	for _, n := range c.live() {
		addrs = append(addrs, n.Addr)
	}
	opt := rueidis.ClientOption{
		InitAddress:      addrs,
		Password:         c.Password,
		DisableCache:     true,
		ShuffleInit:      true,
		ConnWriteTimeout: cmdTimeout,
	}
	if c.tls != nil {
		opt.TLSConfig = c.tls.config()
	}
	return opt
}

// Client returns a new cluster-aware raw client, closed when t ends.
func (c *Cluster) Client(t testing.TB) rueidis.Client {
	t.Helper()
	cl, err := rueidis.NewClient(c.ClientOption())
	if err != nil {
		t.Fatalf("redistest: connect to cluster %s: %v", strings.Join(c.Addrs(), ","), err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// logTails returns the last log lines of every node, for failure messages.
func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "--- %s (%s):\n%s\n", n.Addr, n.LogPath(), tail(n.LogPath(), 8))
	}
	return b.String()
}

// MigrateSlot moves slot to the master to while clients keep using it, the
// way redis-cli --cluster reshard moves a slot: CLUSTER SETSLOT IMPORTING on
// the target and MIGRATING on the source, then MIGRATE of the slot's keys in
// batches of batch keys with pause between batches (so that clients run
// into ASK redirections and TRYAGAIN replies), and finally CLUSTER SETSLOT
// NODE on every master. It returns once every running node agrees that to
// serves the slot and the cluster is healthy.
func (c *Cluster) MigrateSlot(t testing.TB, slot int, to *Server, batch int, pause time.Duration) {
	t.Helper()
	m := c.BeginMigration(t, slot, to)
	if batch < 1 {
		batch = 10
	}
	for m.moveBatch(batch) {
		time.Sleep(pause)
	}
	m.Finish()
}

// Migration is a slot half way between two masters: the target imports it,
// the source migrates it, and keys not yet moved stay on the source, so
// clients asking for a moved key are redirected with ASK.
type Migration struct {
	t        testing.TB
	c        *Cluster
	slot     string
	from, to *Server
	toID     string
}

// BeginMigration marks slot as importing on to and migrating on its current
// master, and moves no key yet. Finish completes it.
func (c *Cluster) BeginMigration(t testing.TB, slot int, to *Server) *Migration {
	t.Helper()
	from := c.MasterOfSlot(t, slot)
	if from == to {
		t.Fatalf("redistest: migrate slot %d: %s already serves it", slot, to.Addr)
	}
	id := func(n *Server) string {
		v, err := n.callString("CLUSTER", "MYID")
		if err != nil {
			t.Fatalf("redistest: CLUSTER MYID on %s: %v", n.Addr, err)
		}
		return v
	}
	m := &Migration{t: t, c: c, slot: strconv.Itoa(slot), from: from, to: to, toID: id(to)}
	m.must(to, "CLUSTER", "SETSLOT", m.slot, "IMPORTING", id(from))
	m.must(from, "CLUSTER", "SETSLOT", m.slot, "MIGRATING", m.toID)
	return m
}

// Source returns the master the slot is leaving.
func (m *Migration) Source() *Server { return m.from }

func (m *Migration) must(n *Server, args ...string) rueidis.RedisResult {
	m.t.Helper()
	r, err := n.call(args...)
	if err != nil {
		m.t.Fatalf("redistest: %s on %s: %v\n%s", strings.Join(args, " "), n.Addr, err, m.c.logTails())
	}
	return r
}

// Move migrates the given keys of the slot to the target now.
func (m *Migration) Move(keys ...string) {
	m.t.Helper()
	args := []string{"MIGRATE", "127.0.0.1", strconv.Itoa(m.to.Port()), "", "0", "10000"}
	if m.c.Password != "" {
		args = append(args, "AUTH", m.c.Password)
	}
	args = append(args, "KEYS")
	m.must(m.from, append(args, keys...)...)
}

// moveBatch moves up to batch keys still on the source and reports whether
// there were any.
func (m *Migration) moveBatch(batch int) bool {
	m.t.Helper()
	keys, err := m.must(m.from, "CLUSTER", "GETKEYSINSLOT", m.slot, strconv.Itoa(batch)).AsStrSlice()
	if err != nil {
		m.t.Fatalf("redistest: CLUSTER GETKEYSINSLOT on %s: %v", m.from.Addr, err)
	}
	if len(keys) == 0 {
		return false
	}
	m.Move(keys...)
	return true
}

// Finish moves the keys left on the source and gives the slot to the target
// on every master. It returns once every running node agrees that the
// target serves the slot and the cluster is healthy.
func (m *Migration) Finish() {
	m.t.Helper()
	for m.moveBatch(100) {
	}
	// The target first, then the source, then everyone else, as redis-cli
	// does, so that the slot is never left without an owner.
	m.must(m.to, "CLUSTER", "SETSLOT", m.slot, "NODE", m.toID)
	m.must(m.from, "CLUSTER", "SETSLOT", m.slot, "NODE", m.toID)
	for _, n := range m.c.Masters(m.t) {
		if n != m.to && n != m.from {
			m.must(n, "CLUSTER", "SETSLOT", m.slot, "NODE", m.toID)
		}
	}
	slot, _ := strconv.Atoi(m.slot)
	err := waitFor(clusterWait, 20*time.Millisecond, func() error {
		n, err := m.c.masterOfSlot(slot)
		if err != nil {
			return err
		}
		if n != m.to {
			return fmt.Errorf("slot %d is still served by %s", slot, n.Addr)
		}
		return m.c.healthy()
	})
	if err != nil {
		m.t.Fatalf("redistest: migrate slot %d from %s to %s: %v\n%s", slot, m.from.Addr, m.to.Addr, err, m.c.logTails())
	}
}

// Slot returns the hash slot of key (CLUSTER KEYSLOT).
func (c *Cluster) Slot(t testing.TB, key string) int {
	t.Helper()
	for _, n := range c.live() {
		r, err := n.call("CLUSTER", "KEYSLOT", key)
		if err != nil {
			continue
		}
		slot, err := r.AsInt64()
		if err == nil {
			return int(slot)
		}
	}
	t.Fatalf("redistest: CLUSTER KEYSLOT %s: no running node answered", key)
	return 0
}
