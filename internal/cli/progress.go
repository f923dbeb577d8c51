package cli

import (
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress draws progress bars of long operations on stderr when it is a
// terminal; elsewhere (pipes, CI logs) it draws nothing, so that output stays
// machine-readable, and the commands print their summary lines instead.
type progress struct {
	p   *mpb.Progress
	bar *mpb.Bar
}

func (a *app) newProgress() *progress {
	if !a.progressTerm {
		return &progress{}
	}
	// WithAutoRefresh: draw even when stderr is not what mpb recognises as
	// a terminal (tests that ask for bars).
	return &progress{p: mpb.New(mpb.WithOutput(a.stderr), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithWidth(40), mpb.WithAutoRefresh())}
}

// Start begins a bar named name counting to total (0: unknown total).
func (p *progress) Start(name string, total int) {
	if p.p == nil {
		return
	}
	p.Done()
	p.bar = p.p.AddBar(int64(total),
		mpb.PrependDecorators(decor.Name(name+" ", decor.WCSyncSpaceR), decor.CountersNoUnit("%d/%d")),
		mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.AverageSpeed(0, " %.0f/s")),
	)
}

// Increment counts one item.
func (p *progress) Increment() {
	if p.bar != nil {
		p.bar.Increment()
	}
}

// Set moves the bar to done out of total (total 0 keeps the current total).
func (p *progress) Set(done, total int64) {
	if p.bar == nil {
		return
	}
	if total > 0 {
		p.bar.SetTotal(total, false)
	}
	p.bar.SetCurrent(done)
}

// Add counts n items.
func (p *progress) Add(n int) {
	if p.bar != nil {
		p.bar.IncrBy(n)
	}
}

// Done completes the current bar.
func (p *progress) Done() {
	if p.bar != nil {
		p.bar.SetTotal(-1, true)
		p.bar.Wait()
		p.bar = nil
	}
}

// Wait finishes drawing; call it once at the end.
func (p *progress) Wait() {
	p.Done()
	if p.p != nil {
		p.p.Wait()
	}
}
