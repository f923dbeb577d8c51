// Package benchclock measures benchmarks that alternate, item by item, a
// physical limit and rueidisfs's code doing the same work, in wall-clock
// time and in the CPU time of the benchmark's thread: other work on a
// shared machine inflates the first, hardly the second.
package benchclock

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Clock is a wall-clock time and the CPU time (user and system) of the
// calling thread, which the caller locks (runtime.LockOSThread).
type Clock struct{ Wall, CPU time.Duration }

// origin makes wall-clock readings monotonic: time.Since uses the
// monotonic clock, a setting of the system clock does not move it.
var origin = time.Now()

// Now reads both clocks. The thread's CPU time comes from
// CLOCK_THREAD_CPUTIME_ID, exact to the nanosecond; getrusage's
// RUSAGE_THREAD advances only at scheduler ticks (milliseconds), too
// coarse for items of a few hundred microseconds.
func Now() Clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return Clock{Wall: time.Since(origin), CPU: time.Duration(ts.Nano())}
}

// Add adds the time from a to b.
func (c Clock) Add(a, b Clock) Clock {
	return Clock{Wall: c.Wall + b.Wall - a.Wall, CPU: c.CPU + b.CPU - a.CPU}
}

// Report gives the totals per item (b.N items) of the limit and of ours,
// and our overhead over the limit, in both clocks, as the metrics
// limit-µs/block, ours-µs/block, overhead-%, limit-cpu-µs/block,
// ours-cpu-µs/block and cpu-overhead-%.
func Report(b *testing.B, limit, ours Clock) {
	n := float64(b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(limit.Wall.Microseconds())/n, "limit-µs/block")
	b.ReportMetric(float64(ours.Wall.Microseconds())/n, "ours-µs/block")
	b.ReportMetric((float64(ours.Wall)/float64(limit.Wall)-1)*100, "overhead-%")
	b.ReportMetric(float64(limit.CPU.Microseconds())/n, "limit-cpu-µs/block")
	b.ReportMetric(float64(ours.CPU.Microseconds())/n, "ours-cpu-µs/block")
	b.ReportMetric((float64(ours.CPU)/float64(limit.CPU)-1)*100, "cpu-overhead-%")
}

// Alternate runs limit and ours one after the other for each of b.N
// items (i counts them from 0) on a locked thread, and reports their
// times (see Report).
func Alternate(b *testing.B, limit, ours func(i int)) {
	runtime.LockOSThread() // for the thread's CPU time
	defer runtime.UnlockOSThread()
	var tl, to Clock
	i := 0
	for b.Loop() {
		t0 := Now()
		limit(i)
		t1 := Now()
		ours(i)
		t2 := Now()
		tl, to = tl.Add(t0, t1), to.Add(t1, t2)
		i++
	}
	Report(b, tl, to)
}
