package fusefs

import (
	"runtime"
	"testing"
)

func TestReserveReaderProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	releaseA := reserveReaderProcs(3)
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Fatalf("GOMAXPROCS %d after reserving 3, want %d", got, before+3)
	}
	releaseB := reserveReaderProcs(fuseReaders(2))
	if got := runtime.GOMAXPROCS(0); got != before+6 {
		t.Fatalf("GOMAXPROCS %d after reserving 3 more, want %d", got, before+6)
	}
	releaseA()
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Fatalf("GOMAXPROCS %d after the first release, want %d", got, before+3)
	}
	releaseB()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Fatalf("GOMAXPROCS %d after both releases, want %d as before", got, before)
	}
}
