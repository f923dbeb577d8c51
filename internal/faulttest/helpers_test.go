//go:build faults

package faulttest

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/internal/voltest"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// workers is the number of goroutines of every fault workload.
const workers = 6

// format formats a volume at url and returns its engine, closed when the
// test ends.
func format(t *testing.T, url string) *meta.Engine {
	t.Helper()
	return voltest.At(t, url, voltest.Options{Format: func(f *codec.Format) { f.Name = "faults" }})
}

// open opens another client of the volume at url, without background jobs
// and with a session that does not register.
func open(t *testing.T, url string) *meta.Engine {
	t.Helper()
	e := voltest.Dial(t, url, meta.Options{NoBackgroundJobs: true})
	if err := e.NewSession(context.Background(), false); err != nil {
		t.Fatalf("session: %v", err)
	}
	return e
}

// start starts the workload and waits until it runs.
func start(t *testing.T, e *meta.Engine) *Workload {
	t.Helper()
	w, err := Start(context.Background(), e, "work", workers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if !w.WaitProgress(200, 30*time.Second) {
		t.Fatalf("the workload does not run: %v", w.Errors())
	}
	return w
}

// resumed waits until the workload has made progress after the fault.
func resumed(t *testing.T, w *Workload, since time.Time) {
	t.Helper()
	if !w.WaitProgress(200, 60*time.Second) {
		t.Fatalf("the workload did not resume: %d failed, errors %v", w.Failed(), w.Errors())
	}
	t.Logf("the workload resumed %v after the fault ended", time.Since(since).Round(time.Millisecond))
}

// finish stops the workload and runs the checks every fault test ends
// with: no operation hung; a fresh client finds every name as its last
// acknowledged operation left it; the workers' own reads never contradicted
// their acknowledged operations; the volume is consistent.
//
// lossy is for asynchronous failovers, which may lose what the replica had
// not received (docs/deployments.md): lost operations, the reads that
// noticed them, and the directory statistics that still count them (this
// client had flushed their deltas to the new master) are then logged, not
// failed on; the rest of the recount must still be clean. It returns the
// report.
func finish(t *testing.T, w *Workload, e *meta.Engine, url string, lossy bool) Report {
	t.Helper()
	return finishWith(t, w, e, url, lossy, false)
}

// finishWith is finish; with unknownOutcomes, operations that failed with
// ErrOutcomeUnknown may have been applied without the directory statistics
// counting them (docs/deployments.md): those statistics are then only
// logged, like in the lossy case.
func finishWith(t *testing.T, w *Workload, e *meta.Engine, url string, lossy, unknownOutcomes bool) Report {
	t.Helper()
	w.Stop()
	ctx := context.Background()
	st := e.TxStats()
	t.Logf("workload: %d operations succeeded, %d failed; transactions: %d commits, %d sent again, %d found applied by their marker",
		w.Succeeded(), w.Failed(), st.Commits, st.Retries, st.Replays)
	logErrors(t, w.Errors())
	slowest, slowestFailed := w.Slowest()
	t.Logf("longest operation %v, longest failed operation %v", slowest.Round(time.Millisecond), slowestFailed.Round(time.Millisecond))
	v := w.Violations()
	for _, msg := range v {
		if strings.Contains(msg, "hung") {
			t.Errorf("%s", msg)
		}
	}
	rep, err := w.Check(ctx, open(t, url))
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	t.Logf("%d names checked, %d of unknown outcome, %d acknowledged states lost", rep.Checked, rep.Unknown, len(rep.Lost))
	if !lossy {
		if len(v) > 0 {
			t.Errorf("%d reads contradicted acknowledged operations: %s", len(v), strings.Join(first(v, 10), "; "))
		}
		if len(rep.Lost) > 0 {
			t.Errorf("acknowledged operations lost: %s", strings.Join(first(rep.Lost, 20), "; "))
		}
		if !unknownOutcomes {
			recount(t, e, fsck.Options{})
			return rep
		}
	}
	if lossy {
		if len(rep.Lost) > 0 {
			t.Logf("lost: %s", strings.Join(first(rep.Lost, 5), "; "))
			t.Logf("%d reads noticed the losses: %s", len(v), strings.Join(first(v, 3), "; "))
		} else if len(v) > 0 {
			t.Errorf("%d reads contradicted acknowledged operations although none was lost: %s", len(v), strings.Join(first(v, 10), "; "))
		}
	}
	if lossy {
		// A failover that lost acknowledged writes may have lost the
		// increments of the id counters too, while clients kept handing
		// out the ids they had reserved: fsck --repair raises them.
		lossyRecount(t, e)
	} else {
		recount(t, e, fsck.Options{SkipDirStats: true})
	}
	e.Sync(ctx)
	if full, err := fsck.Recount(ctx, e.Client(), e.Keys(), fsck.Options{}); err == nil && !full.OK() {
		t.Logf("directory statistics off by lost or unconfirmed operations (fsck repairs them): %d problems", len(full.Problems))
	}
	return rep
}

func recount(t *testing.T, e *meta.Engine, opts fsck.Options) {
	t.Helper()
	ctx := context.Background()
	e.Sync(ctx)
	rep, err := fsck.Recount(ctx, e.Client(), e.Keys(), opts)
	if err != nil {
		t.Fatalf("recount: %v", err)
	}
	if !rep.OK() {
		t.Errorf("volume inconsistent:\n%s", rep)
	}
}

// lossyRecount is recount with directory statistics skipped and id
// counters behind the ids in use only logged.
func lossyRecount(t *testing.T, e *meta.Engine) {
	t.Helper()
	ctx := context.Background()
	e.Sync(ctx)
	rep, err := fsck.Recount(ctx, e.Client(), e.Keys(), fsck.Options{SkipDirStats: true})
	if err != nil {
		t.Fatalf("recount: %v", err)
	}
	for _, p := range rep.Problems {
		if p.Kind == fsck.KindNextID {
			t.Logf("after the lost writes: %s", p)
		} else {
			t.Errorf("volume inconsistent: %s", p)
		}
	}
}

func logErrors(t *testing.T, errs map[string]int) {
	t.Helper()
	var lines []string
	for msg, n := range errs {
		lines = append(lines, msg+" ×"+strconv.Itoa(n))
	}
	sort.Strings(lines)
	for _, l := range first(lines, 10) {
		t.Logf("error: %s", l)
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}
