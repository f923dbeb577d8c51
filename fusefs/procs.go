package fusefs

import (
	"runtime"
	"sync"
)

// While a goroutine waits in a system call, the Go runtime leaves the
// call's processor (P) with it until the runtime's monitor thread takes it
// back, 20 µs to 10 ms later. go-fuse serves requests from goroutines that
// wait for the next one in read(2) on /dev/fuse, up to one more than its
// reader limit at a time. With GOMAXPROCS at the number of cores, on a
// small machine those reads held every P most of the time, and the
// goroutines that Redis replies woke waited for the monitor instead of
// running: four threads creating files kept the mount's two Ps busy less
// than half the time, none running while one to five were ready. Each
// mount therefore adds a P per reader that may be waiting in the kernel, so
// the Ps for the work stay as many as the cores.

// procsForReaders is what the mounts of this process added to GOMAXPROCS.
var procsForReaders struct {
	sync.Mutex
	base  int // GOMAXPROCS before the first mount added to it
	added int
}

// fuseReaders is how many goroutines of a go-fuse server created with
// GOMAXPROCS at procs may wait in read(2) at once: its reader limit (procs
// within 2 and 16) plus the one that may start past it.
func fuseReaders(procs int) int {
	return min(max(procs, 2), 16) + 1
}

// reserveReaderProcs adds readers Ps to GOMAXPROCS; release takes them away
// again once the mount stopped serving.
func reserveReaderProcs(readers int) (release func()) {
	p := &procsForReaders
	p.Lock()
	defer p.Unlock()
	if p.added == 0 {
		p.base = runtime.GOMAXPROCS(0)
	}
	p.added += readers
	runtime.GOMAXPROCS(p.base + p.added)
	return func() {
		p.Lock()
		defer p.Unlock()
		p.added -= readers
		runtime.GOMAXPROCS(p.base + p.added)
	}
}
