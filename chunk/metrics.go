package chunk

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// storeMetrics are the chunk store's metrics, named as JuiceFS names them
// (without the "juicefs_" prefix the caller's registerer adds), so that
// `stats`, `bench` and dashboards made for JuiceFS read them.
type storeMetrics struct {
	cacheHits, cacheMiss          prometheus.Counter
	cacheHitBytes, cacheMissBytes prometheus.Counter
	cacheReadHist                 prometheus.Histogram
	cacheWrites, cacheWriteBytes  prometheus.Counter
	cacheDrops, cacheEvicts       prometheus.Counter
	cacheWriteHist                prometheus.Histogram
	stageWriteBytes, stageErrors  prometheus.Counter
	stageDelay                    prometheus.Counter
}

func newStoreMetrics() *storeMetrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: prometheus.ExponentialBuckets(0.00001, 2, 20)})
	}
	return &storeMetrics{
		cacheHits:       counter("blockcache_hits", "reads served by the block cache"),
		cacheMiss:       counter("blockcache_miss", "reads the block cache could not serve"),
		cacheHitBytes:   counter("blockcache_hit_bytes", "bytes read from the block cache"),
		cacheMissBytes:  counter("blockcache_miss_bytes", "bytes the block cache could not serve"),
		cacheReadHist:   hist("blockcache_read_hist_seconds", "latency of reads from the block cache"),
		cacheWrites:     counter("blockcache_writes", "blocks written to the disk cache"),
		cacheWriteBytes: counter("blockcache_write_bytes", "bytes written to the disk cache"),
		cacheDrops:      counter("blockcache_drops", "blocks not cached (queue full, disk full or failing)"),
		cacheEvicts:     counter("blockcache_evicts", "blocks evicted from the disk cache"),
		cacheWriteHist:  hist("blockcache_write_hist_seconds", "latency of writes to the disk cache"),
		stageWriteBytes: counter("staging_write_bytes", "bytes written to the staging area"),
		stageErrors:     counter("staging_block_errors", "blocks that could not be staged and were uploaded directly"),
		stageDelay:      counter("staging_block_delay_seconds", "total seconds staged blocks waited for their upload"),
	}
}

// register adds the metrics of s to reg.
func (m *storeMetrics) register(reg prometheus.Registerer, s *Store) {
	for _, c := range []prometheus.Collector{m.cacheHits, m.cacheMiss, m.cacheHitBytes, m.cacheMissBytes, m.cacheReadHist,
		m.cacheWrites, m.cacheWriteBytes, m.cacheDrops, m.cacheEvicts, m.cacheWriteHist, m.stageWriteBytes, m.stageErrors, m.stageDelay} {
		reg.MustRegister(c)
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("blockcache_blocks", "blocks in the disk cache", func() float64 { n, _ := s.cacheUsage(); return float64(n) })
	gauge("blockcache_bytes", "bytes charged by the disk cache", func() float64 { _, b := s.cacheUsage(); return float64(b) })
	gauge("staging_blocks", "blocks in the staging area waiting for their upload", func() float64 { n, _ := s.Staging(); return float64(n) })
	gauge("staging_block_bytes", "bytes of the blocks waiting in the staging area", func() float64 { _, b := s.Staging(); return float64(b) })
	gauge("staging_writing_blocks", "blocks being written to the staging area", func() float64 {
		if s.wb == nil {
			return 0
		}
		return float64(s.wb.writes.Load())
	})
	gauge("object_request_uploading", "uploads in flight", func() float64 { return float64(len(s.uploads)) })
}

// hit counts n bytes served by the cache since start.
func (m *storeMetrics) hit(n int, start time.Time) {
	m.cacheHits.Inc()
	m.cacheHitBytes.Add(float64(n))
	m.cacheReadHist.Observe(time.Since(start).Seconds())
}

func (m *storeMetrics) miss(n int) {
	m.cacheMiss.Inc()
	m.cacheMissBytes.Add(float64(n))
}

// cacheUsage returns the blocks in the disk cache and the bytes they are
// charged.
func (s *Store) cacheUsage() (blocks int, bytes int64) {
	if s.disk == nil {
		return 0, 0
	}
	for _, d := range s.disk.dirs {
		d.mu.Lock()
		blocks += d.index.len() + len(d.index.staged)
		bytes += d.index.used
		d.mu.Unlock()
	}
	return blocks, bytes
}
