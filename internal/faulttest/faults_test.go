//go:build faults

package faulttest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestRestartAOF kills redis-server (SIGKILL) in the middle of a workload
// and starts it again from its append-only file (appendfsync always).
// Operations under way fail cleanly or succeed; mutations whose reply was
// lost are sent again and, when they had been applied, recognised by their
// replay marker; the workload resumes; nothing acknowledged is lost.
func TestRestartAOF(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	url := srv.URL("redis", 1)
	e := format(t, url)
	w := start(t, e)
	srv.Kill(t)
	time.Sleep(time.Second)
	srv.Restart(t)
	resumed(t, w, time.Now())
	finish(t, w, e, url, false)
}

// TestClientKill closes every client connection again and again while the
// workload runs (the server stays up): the replies of mutations already
// applied are lost, which is exactly the case the replay markers are for.
func TestClientKill(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL("redis", 1)
	e := format(t, url)
	w := start(t, e)
	replays := e.TxStats().Replays
	for i := 0; i < 40; i++ {
		time.Sleep(25 * time.Millisecond)
		if err := srv.Do(t, 0, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Error(); err != nil {
			t.Fatal(err)
		}
	}
	resumed(t, w, time.Now())
	finish(t, w, e, url, false)
	t.Logf("%d transactions found already applied by their marker", e.TxStats().Replays-replays)
}

// TestStall stops redis-server (SIGSTOP) for 3 s with read-timeout=1s:
// operations under way time out instead of hanging (the connection is
// declared dead after about read-timeout), are sent again once the server
// is back, and the workload resumes after SIGCONT.
func TestStall(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL("redis", 1) + "?read-timeout=1s&write-timeout=1s"
	e := format(t, url)
	w := start(t, e)
	srv.Pause(t)
	paused := time.Now()
	time.Sleep(3 * time.Second)
	srv.Resume(t)
	resumed(t, w, time.Now())
	t.Logf("stall of %v", time.Since(paused).Round(time.Millisecond))
	finish(t, w, e, url, false)
}

// TestStallTimeout stops redis-server for longer than the engine retries:
// operations fail with an error within the bound that read-timeout,
// io-retries and max-retry-backoff give, none hangs, and the workload
// resumes after SIGCONT.
func TestStallTimeout(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL("redis", 1) + "?read-timeout=500ms&write-timeout=500ms&io-retries=2&max-retry-backoff=100ms"
	e := format(t, url)
	w := start(t, e)
	failed := w.Failed()
	srv.Pause(t)
	time.Sleep(8 * time.Second)
	if w.Failed() == failed {
		t.Error("no operation failed during an 8 s stall with io-retries=2 and read-timeout=500ms")
	}
	srv.Resume(t)
	resumed(t, w, time.Now())
	finishWith(t, w, e, url, false, true)
}

// TestScriptFlush flushes the server's script cache again and again: every
// script call that meets NOSCRIPT is re-sent with EVAL by rueidis, and no
// operation fails.
func TestScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL("redis", 1)
	e := format(t, url)
	w := start(t, e)
	failed := w.Failed()
	for i := 0; i < 20; i++ {
		time.Sleep(20 * time.Millisecond)
		if err := srv.Do(t, 0, "SCRIPT", "FLUSH").Error(); err != nil {
			t.Fatal(err)
		}
	}
	resumed(t, w, time.Now())
	if n := w.Failed() - failed; n > 0 {
		t.Errorf("%d operations failed across SCRIPT FLUSH: %v", n, w.Errors())
	}
	finish(t, w, e, url, false)
}

// TestSentinelFailover kills the master of a Sentinel group (SIGKILL)
// during the workload, twice, with default settings; each killed master is
// brought back and turned into a replica by the sentinels. The engine holds
// its writes from the first sign of the failover until the new master is
// known. Replication is asynchronous: Redis writes a reply, then forwards
// the write to its replica in the same instant, and a master killed between
// the two loses an acknowledged operation. Each worker has one operation
// under way, so at most one per worker (and per late client) can be lost by
// a kill; the test holds the engine to that bound and logs what it lost
// (none in the runs so far).
func TestSentinelFailover(t *testing.T) {
	sentinelFailovers(t, failovers(), true)
}

// TestSentinelManualFailover: SENTINEL FAILOVER during the workload, twice,
// with default settings, Sentinel failing over as it does: the old master is
// left a writable master for seconds until the sentinels turn it into a
// replica, and some sentinels name it for a while after the promotion.
// Clients keep starting during the failovers. Nothing acknowledged may be
// lost, by the running clients or by those that started in the window.
func TestSentinelManualFailover(t *testing.T) {
	sentinelFailovers(t, failovers(), false)
}

// failovers is how many failovers the Sentinel tests run: 2, or
// RUEIDISFS_FAILOVERS (make test-failovers runs 10).
func failovers() int {
	if n, err := strconv.Atoi(os.Getenv("RUEIDISFS_FAILOVERS")); err == nil && n > 0 {
		return n
	}
	return 2
}

// sentinelFailovers runs n failovers (manual, or by killing the master)
// under the workload and under clients starting all along, then checks
// that every acknowledged operation is there.
func sentinelFailovers(t *testing.T, n int, kill bool) {
	g := redistest.StartSentinel(t)
	url := g.URL("redis", 1)
	e := format(t, url)
	w := start(t, e)
	late := startLateClients(t, e, url)
	for i := 0; i < n; i++ {
		begin := time.Now()
		if kill {
			g.FailoverKill(t)
			t.Logf("failover %d: replica promoted %v after the kill", i+1, time.Since(begin).Round(time.Millisecond))
			g.Replica.Restart(t)
		} else {
			g.Failover(t)
			t.Logf("failover %d: SENTINEL FAILOVER done in %v", i+1, time.Since(begin).Round(time.Millisecond))
		}
		if !w.WaitProgress(200, 60*time.Second) {
			t.Fatalf("failover %d: the workload did not resume: %d failed, errors %v\n%s", i+1, w.Failed(), w.Errors(), g.LogTails())
		}
		t.Logf("failover %d: the workload resumed %v after the failover began", i+1, time.Since(begin).Round(time.Millisecond))
		// What the old master took since is gone now, and it has caught up:
		// the next failover may come.
		g.AwaitConverted(t)
		t.Logf("failover %d: old master converted %v after the failover began", i+1, time.Since(begin).Round(time.Millisecond))
	}
	late.check(t, url, kill)
	if !kill {
		finish(t, w, e, url, false)
		return
	}
	rep := finish(t, w, e, url, true)
	if len(rep.Lost) > workers*n {
		t.Errorf("%d acknowledged operations lost in %d kills: more than the %d operations that can be under way", len(rep.Lost), n, workers*n)
	}
}

// lateClients opens a new client of the volume again and again while
// failovers run; each creates one file and closes. A client that starts
// while Sentinel is switching masters must not work on the old one.
type lateClients struct {
	dir   meta.Ino
	stop  chan struct{}
	done  chan struct{}
	acked []string
	errs  map[string]int
}

func startLateClients(t *testing.T, e *meta.Engine, url string) *lateClients {
	t.Helper()
	ctx := context.Background()
	dir, _, err := e.Mkdir(ctx, meta.RootInode, "late", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	l := &lateClients{dir: dir, stop: make(chan struct{}), done: make(chan struct{}), errs: map[string]int{}}
	go func() {
		defer close(l.done)
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			name := "c" + strconv.Itoa(i)
			err := func() error {
				c, err := meta.Open(ctx, url, meta.Options{NoBackgroundJobs: true})
				if err != nil {
					return err
				}
				defer c.Close(ctx)
				if err := c.NewSession(ctx, false); err != nil {
					return err
				}
				_, _, err = c.Mknod(ctx, dir, name, 1, 0o644, 0, 0)
				return err
			}()
			if err != nil {
				l.errs[firstLine(err.Error())]++
				continue
			}
			l.acked = append(l.acked, name)
		}
	}()
	t.Cleanup(l.end)
	return l
}

func (l *lateClients) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// check stops the clients and looks up every file whose creation returned
// success; with lossy (failovers by killing the master), one per failover
// may be missing (see TestSentinelFailover).
func (l *lateClients) check(t *testing.T, url string, lossy bool) {
	t.Helper()
	l.end()
	c := open(t, url)
	var lost []string
	for _, name := range l.acked {
		if _, _, err := c.Lookup(context.Background(), l.dir, name); err != nil {
			lost = append(lost, name+": "+err.Error())
		}
	}
	t.Logf("clients started during the failovers: %d files acknowledged, errors %v", len(l.acked), l.errs)
	if len(l.acked) == 0 {
		t.Error("no client that started during the failovers could create its file")
	}
	switch {
	case lossy && len(lost) <= 2:
		if len(lost) > 0 {
			t.Logf("lost by a kill: %s", strings.Join(lost, "; "))
		}
	case len(lost) > 0:
		t.Errorf("files acknowledged by clients that started during the failovers are lost: %s", strings.Join(first(lost, 20), "; "))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestSentinelManualFailoverWait: SENTINEL FAILOVER during the workload
// with wait-replicas=1: nothing acknowledged is lost.
func TestSentinelManualFailoverWait(t *testing.T) {
	g := redistest.StartSentinel(t)
	url := g.URL("redis", 1) + "?wait-replicas=1&wait-timeout=5s&max-retry-backoff=1s&io-retries=30"
	e := format(t, url)
	w := start(t, e)
	begin := time.Now()
	g.Failover(t)
	t.Logf("SENTINEL FAILOVER done in %v", time.Since(begin).Round(time.Millisecond))
	g.AwaitConverted(t) // until then the new master has no replica to confirm anything
	t.Logf("old master converted %v after the failover began", time.Since(begin).Round(time.Millisecond))
	resumed(t, w, begin)
	rep := finish(t, w, e, url, true)
	if len(rep.Lost) > 0 {
		t.Errorf("acknowledged operations lost with wait-replicas=1: %s", strings.Join(first(rep.Lost, 20), "; "))
	}
	exactIfNoFailure(t, w, e)
}

// exactIfNoFailure checks the whole volume, directory statistics included,
// when no operation failed: nothing was lost, so nothing may be off.
func exactIfNoFailure(t *testing.T, w *Workload, e *meta.Engine) {
	t.Helper()
	if w.Failed() == 0 {
		recount(t, e, fsck.Options{})
	}
}

// laggingFailover makes the replica lag, kills the master and lets the
// sentinels promote the replica: whatever the master acknowledged while the
// replica lagged exists nowhere else. To lag, the replica is stopped
// (SIGSTOP) and the master writes 64 MiB elsewhere, more than the kernel's
// socket buffers hold, so that what the workload writes next stays in the
// master's replication buffer; the master is killed 600 ms later, the
// replica resumed and promoted, and the old master brought back as its
// replica (which wait-replicas=1 needs to acknowledge anything again).
func laggingFailover(t *testing.T, query string) (Report, *Workload, *meta.Engine) {
	g := redistest.StartSentinel(t)
	url := g.URL("redis", 1) + query
	e := format(t, url)
	w := start(t, e)
	g.Replica.Pause(t)
	if err := g.Master.Do(t, 15, "SET", "ballast", strings.Repeat("x", 64<<20)).Error(); err != nil {
		t.Fatal(err)
	}
	before := w.Succeeded()
	time.Sleep(600 * time.Millisecond)
	acked := w.Succeeded() - before
	g.Master.Kill(t)
	g.Replica.Resume(t)
	killed := time.Now()
	g.FailoverKill(t) // the master is dead already: this waits for the promotion
	t.Logf("%d operations acknowledged while the replica lagged; replica promoted %v after the kill", acked, time.Since(killed).Round(time.Millisecond))
	old := g.Replica
	old.Restart(t)
	if err := old.Do(t, 0, "REPLICAOF", "127.0.0.1", strconv.Itoa(g.Master.Port())).Error(); err != nil {
		t.Fatal(err)
	}
	resumed(t, w, killed)
	return finish(t, w, e, url, true), w, e
}

// TestSentinelFailoverLagging measures the loss of asynchronous
// replication: the operations acknowledged while the replica lagged are
// lost when it is promoted (this is what docs/deployments.md warns about).
func TestSentinelFailoverLagging(t *testing.T) {
	rep, _, _ := laggingFailover(t, "?max-retry-backoff=1s&io-retries=30")
	if len(rep.Lost) == 0 {
		t.Error("no acknowledged operation was lost although the replica was stopped while they were acknowledged")
	}
	t.Logf("lost: %d of %d acknowledged states", len(rep.Lost), rep.Checked)
}

// TestSentinelFailoverWait: the same with wait-replicas=1. A mutation is
// acknowledged only once the replica has it, so while the replica is
// stopped nothing is acknowledged, and nothing acknowledged is lost.
func TestSentinelFailoverWait(t *testing.T) {
	rep, w, e := laggingFailover(t, "?wait-replicas=1&wait-timeout=5s&max-retry-backoff=1s&io-retries=30")
	if len(rep.Lost) > 0 {
		t.Errorf("acknowledged operations lost with wait-replicas=1: %s", strings.Join(first(rep.Lost, 20), "; "))
	}
	exactIfNoFailure(t, w, e)
}

// TestClusterFailover kills the master serving the volume's slot during
// the workload; the replica is promoted and the engine follows it. Losses
// as for Sentinel.
func TestClusterFailover(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	url := c.URL("redis", 1) + "?max-retry-backoff=1s&io-retries=30"
	slot := c.Slot(t, "{1}setting")
	e := format(t, url)
	w := start(t, e)
	killed := time.Now()
	promoted := c.Failover(t, slot)
	t.Logf("%s serves slot %d %v after the kill", promoted.Addr, slot, time.Since(killed).Round(time.Millisecond))
	resumed(t, w, killed)
	rep := finish(t, w, e, url, true)
	t.Logf("lost on failover: %d of %d acknowledged states", len(rep.Lost), rep.Checked)
}

// TestClusterReshard migrates the volume's slot back and forth while the
// workload runs.
func TestClusterReshard(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	url := c.URL("redis", 1)
	slot := c.Slot(t, "{1}setting")
	e := format(t, url)
	w := start(t, e)
	for i := 0; i < 3; i++ {
		from := c.MasterOfSlot(t, slot)
		to := c.OtherMaster(t, from)
		begin := time.Now()
		c.MigrateSlot(t, slot, to, 5, time.Millisecond)
		keys, _ := to.Do(t, 0, "CLUSTER", "COUNTKEYSINSLOT", strconv.Itoa(slot)).AsInt64()
		t.Logf("slot %d: %s -> %s, %d keys, in %v", slot, from.Addr, to.Addr, keys, time.Since(begin).Round(time.Millisecond))
		resumed(t, w, time.Now())
	}
	finish(t, w, e, url, false)
	if n := len(w.Errors()); n > 0 {
		t.Errorf("operations failed during the migrations: %v", w.Errors())
	}
}
