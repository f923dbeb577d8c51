package meta_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

// lostReplies opens a client of v through a proxy that can lose the reply
// of a call (lose: hold the replies of the connection that sends args, run
// call, then break every connection and refuse new ones, so that the engine
// gives up after its few retries) and let the client reach Redis again.
func lostReplies(t *testing.T, v *volume) (*meta.Engine, func(call func(), args ...string), func()) {
	t.Helper()
	e, p := proxiedClient(t, v)
	lose := func(call func(), args ...string) {
		t.Helper()
		loseReply(t, p, call, args...)
	}
	return e, lose, func() { p.Resume(t) }
}

// loseReply runs call with the replies of the connection that sends args
// held, then breaks every connection of p and refuses new ones until
// p.Resume: the call reached Redis, its reply is lost.
func loseReply(t *testing.T, p *redistest.Proxy, call func(), args ...string) {
	t.Helper()
	release := p.HoldReplies(args...)
	defer release()
	done := make(chan struct{})
	go func() { defer close(done); call() }()
	voltest.Eventually(t, 10*time.Second, "the call's reply is held", voltest.Holds(func() bool { return p.Held() > 0 }))
	p.Break()
	<-done
}

// proxiedClient opens a client of v (with a session) through a proxy; it
// gives up a call after a few quick retries.
func proxiedClient(t *testing.T, v *volume) (*meta.Engine, *redistest.Proxy) {
	t.Helper()
	p := redistest.StartProxy(t, v.srv)
	e, err := meta.Open(bg, p.URL("redis", v.db)+"?io-retries=2&min-retry-backoff=5ms&max-retry-backoff=10ms", meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.NewSession(bg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(bg) })
	return e, p
}

// TestLostReplyOutcome: a mutation applied by Redis whose reply is lost, and
// whose resends cannot reach Redis, may have been applied: it must say so
// (ErrOutcomeUnknown), not report the last resend's connection error as if
// nothing had happened.
func TestLostReplyOutcome(t *testing.T) {
	v := newVolumeWith(t, volumeOpts{noCheck: true})
	a, lose, resume := lostReplies(t, v)
	d := mustMkdir(t, a, bg, meta.RootInode, "d", 0o777)
	// The same mknod once first, so that Redis holds its script: on a
	// fresh server the held reply would be NOSCRIPT, nothing applied.
	if _, _, err := a.Mknod(bg, d, "warm", codec.TypeFile, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	var err error
	lose(func() { _, _, err = a.Mknod(bg, d, "f", codec.TypeFile, 0o644, 0, 0) }, "EVALSHA")
	if !errors.Is(err, meta.ErrOutcomeUnknown) {
		t.Errorf("mknod whose reply was lost: %v, want ErrOutcomeUnknown", err)
	}
	resume()
	if _, _, err := v.e.Lookup(bg, d, "f"); err != nil {
		t.Fatalf("the mknod was applied, yet: %v", err)
	}
	// The directory statistics cannot count an operation of unknown
	// outcome (docs/deployments.md); everything else must be exact.
	voltest.RecountWith(t, fsck.Options{SkipDirStats: true}, v.e, a)
}

// TestLostDirStatFlush: a directory-statistics flush whose reply is lost and
// whose resends fail is sent again at the next flush; it was applied the
// first time, so it must not be applied again (its replay marker says so).
func TestLostDirStatFlush(t *testing.T) {
	v := newVolume(t, 0)
	a, lose, resume := lostReplies(t, v)
	d := mustMkdir(t, a, bg, meta.RootInode, "d", 0o777)
	a.FlushStats(bg) // d's statistics exist from now on
	for i := 0; i < 10; i++ {
		mustCreate(t, a, bg, d, fmt.Sprintf("f%d", i), 0o644)
	}
	lose(func() { a.FlushStats(bg) }, a.Keys().DirUsedInodes())
	resume()
	a.FlushStats(bg)
	st, err := v.e.GetDirStat(bg, d)
	if err != nil {
		t.Fatal(err)
	}
	if st.Inodes != 10 {
		t.Errorf("directory statistics count %d inodes for 10 entries", st.Inodes)
	}
	v.check(a)
}

// TestLostQuotaFlush: a quota flush whose reply is lost, and whose resends
// fail, is sent again at the next flush: applied the first time, it must not
// be applied again, and its usage must not be sent a second time as new.
func TestLostQuotaFlush(t *testing.T) {
	v := newVolume(t, 0)
	a, lose, resume := lostReplies(t, v)
	d := mustMkdir(t, a, bg, meta.RootInode, "q", 0o777)
	if _, err := a.Quotas().Set(bg, meta.QuotaDir, "/q", -1, 100, false, false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		mustCreate(t, a, bg, d, fmt.Sprintf("f%d", i), 0o644)
	}
	a.FlushStats(bg) // the directory statistics go first, then
	for i := 10; i < 20; i++ {
		mustCreate(t, a, bg, d, fmt.Sprintf("f%d", i), 0o644)
	}
	lose(func() { a.FlushStats(bg) }, a.Keys().DirQuotaUsedInodes())
	resume()
	a.FlushStats(bg)
	q, err := v.e.Quotas().Get(bg, meta.QuotaDir, "/q")
	if err != nil || q == nil {
		t.Fatalf("quota: %v %v", q, err)
	}
	if q.UsedInodes != 20 {
		t.Errorf("the quota counts %d inodes for 20 files", q.UsedInodes)
	}
	v.check(a)
}

// TestNotReplicatedAccounting: with wait-replicas and no replica to confirm
// anything, every mutation is applied but fails with ErrNotReplicated. This
// client's own accounting (directory statistics, quotas, volume usage) must
// still follow what was applied, or it under-counts until fsck.
func TestNotReplicatedAccounting(t *testing.T) {
	v := newVolume(t, 0)
	e, err := meta.Open(bg, v.url+"?wait-replicas=1&wait-timeout=10ms", meta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(bg)
	if err := e.NewSession(bg, true); err != nil && !errors.Is(err, meta.ErrNotReplicated) {
		t.Fatal(err)
	}
	d := mustMkdir(t, v.e, bg, meta.RootInode, "d", 0o777)
	if _, err := v.e.Quotas().Set(bg, meta.QuotaDir, "/d", -1, 1000, false, false); err != nil {
		t.Fatal(err)
	}
	e.LoadQuotasForTest(bg)
	notRep := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, meta.ErrNotReplicated) {
			t.Fatalf("%s: %v, want ErrNotReplicated", what, err)
		}
	}
	f, _, err := e.Mknod(bg, d, "f", codec.TypeFile, 0o644, 0, 0)
	notRep("mknod", err)
	_, _, err = e.Mkdir(bg, d, "sub", 0o755, 0)
	notRep("mkdir", err)
	_, err = e.Link(bg, f, d, "g")
	notRep("link", err)
	_, err = e.Truncate(bg, f, 0, 100000, true)
	notRep("truncate", err)
	_, err = e.Fallocate(bg, f, 0, 0, 200000)
	notRep("fallocate", err)
	_, _, err = e.Rename(bg, d, "g", d, "h", 0)
	notRep("rename", err)
	notRep("unlink", e.Unlink(bg, d, "h", true))
	notRep("rmdir", e.Rmdir(bg, d, "sub", true))
	g, _, err := e.Mknod(bg, d, "g", codec.TypeFile, 0o644, 0, 0)
	notRep("mknod", err)
	_, _, err = e.CopyFileRange(bg, f, 0, g, 0, 100000, 0)
	notRep("copy_file_range", err)
	// A new directory quota is stored under the fence: applied, and said
	// to be unconfirmed (it was reported stored as if confirmed).
	mustMkdir(t, v.e, bg, meta.RootInode, "q", 0o777)
	_, err = e.Quotas().Set(bg, meta.QuotaDir, "/q", -1, 1000, false, false)
	notRep("quota set", err)
	v.check(e)
}

// TestNewRootStatsTwoClients: on a new volume, two clients grow files in
// the root before either has flushed its statistics. The root's statistics
// must count each change once (the first flush used to find them missing
// and recompute them from the entries, which the second client's pending
// delta was then added to again).
func TestNewRootStatsTwoClients(t *testing.T) {
	v := newVolume(t, 0)
	b := v.e
	a := v.open(meta.Options{})
	fa := mustCreate(t, a, bg, meta.RootInode, "a", 0o644)
	fb := mustCreate(t, b, bg, meta.RootInode, "b", 0o644)
	if _, err := a.Truncate(bg, fa, 0, 1000, true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Truncate(bg, fb, 0, 3000, true); err != nil {
		t.Fatal(err)
	}
	v.check(a)
}
