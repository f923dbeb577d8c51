package chunk

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rueidisfs/rueidisfs/internal/datatest"
)

// TestMetrics: the block cache and staging metrics count what happens,
// under JuiceFS's names.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	conf := writebackConf(t.TempDir(), time.Hour)
	conf.Metrics = reg
	s := newStore(t, datatest.NewDir(t), conf)
	writeSlice(t, s, 1, randomBytes(1, 5000))
	if _, err := readSlice(s, 1, 5000, 0, 5000); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP blockcache_hit_bytes bytes read from the block cache
# TYPE blockcache_hit_bytes counter
blockcache_hit_bytes 5000
# HELP staging_block_bytes bytes of the blocks waiting in the staging area
# TYPE staging_block_bytes gauge
staging_block_bytes 5000
# HELP staging_blocks blocks in the staging area waiting for their upload
# TYPE staging_blocks gauge
staging_blocks 1
# HELP staging_write_bytes bytes written to the staging area
# TYPE staging_write_bytes counter
staging_write_bytes 5000
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "blockcache_hit_bytes", "staging_blocks", "staging_block_bytes", "staging_write_bytes"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(s.metrics.cacheMiss); n != 0 {
		t.Fatalf("%v misses", n)
	}
}
