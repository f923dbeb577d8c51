package cli

import (
	"fmt"
	"sync/atomic"

	"github.com/rueidisfs/rueidisfs/gc"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// spinner is a progress line for work of unknown size (listing a volume,
// removing a tree): a spinner and the items (and bytes) counted so far. A
// nil spinner (no terminal) ignores everything.
type spinner struct {
	bar   *mpb.Bar
	n, b  atomic.Int64
	bytes bool
}

// Spin adds a spinner line named name; withBytes also shows a byte count.
func (p *progress) Spin(name string, withBytes bool) *spinner {
	if p.p == nil {
		return nil
	}
	s := &spinner{bytes: withBytes}
	s.bar = p.p.New(0, mpb.SpinnerStyle(),
		mpb.PrependDecorators(decor.Name(name+": ", decor.WCSyncSpaceR), decor.Any(func(decor.Statistics) string {
			if s.bytes {
				return fmt.Sprintf("%d (%s)", s.n.Load(), formatIBytes(uint64(max(s.b.Load(), 0))))
			}
			return fmt.Sprintf("%d", s.n.Load())
		})),
	)
	return s
}

// Add counts n more items of b bytes.
func (s *spinner) Add(n, b int64) {
	if s == nil {
		return
	}
	s.n.Add(n)
	s.b.Add(b)
	s.bar.IncrInt64(n)
}

// Set shows n items of b bytes.
func (s *spinner) Set(n, b int64) {
	if s == nil {
		return
	}
	s.n.Store(n)
	s.b.Store(b)
	s.bar.SetCurrent(n)
}

// Done stops the spinner, leaving its last counts on the screen.
func (s *spinner) Done() {
	if s == nil {
		return
	}
	s.bar.SetTotal(-1, true)
	s.bar.Wait()
}

// Stage is Spin for the libraries that report their steps (gc.Progress).
func (p *progress) Stage(name string, withBytes bool) gc.Counter { return p.Spin(name, withBytes) }
