package dump_test

import (
	"testing"

	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
)

// TestDumpFixtures is the key acceptance test: each volume captured from the
// official client, loaded into a database, dumps to exactly the bytes
// `juicefs dump` wrote for it.
func TestDumpFixtures(t *testing.T) {
	for _, vol := range fixtures.Volumes() {
		t.Run(vol, func(t *testing.T) {
			t.Parallel()
			e := openFixture(t, vol)
			for _, threads := range []int{1, 0, 3} {
				got := dumpOf(t, e, dump.DumpOptions{Threads: threads})
				checkSame(t, "dump of "+vol, fixtureDump(t, vol), got)
				t.Logf("threads %d: %d bytes identical", threads, len(got))
			}
		})
	}
}
