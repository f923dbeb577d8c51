// Package metrics exports an engine's counters as Prometheus metrics: the
// client-side cache (hits, misses, invalidations, evictions, entries) and
// the transactions (commits, conflicts, errors). Serve registers them and
// starts an HTTP listener for /metrics.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rueidisfs/rueidisfs/cachestore"
	"github.com/rueidisfs/rueidisfs/meta"
)

const namespace = "rueidisfs"

// Counters is what the metrics read of an engine; *meta.Engine has it.
type Counters interface {
	CacheStats() cachestore.Stats
	TxStats() meta.TxStats
}

var _ Counters = (*meta.Engine)(nil)

// Collector reads an engine's counters at every scrape.
type Collector struct {
	e      Counters
	labels prometheus.Labels
	descs  map[string]*prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector for e whose metrics carry the volume name
// as label "vol_name".
func NewCollector(e Counters, volume string) *Collector {
	c := &Collector{e: e, labels: prometheus.Labels{"vol_name": volume}, descs: map[string]*prometheus.Desc{}}
	for name, help := range map[string]string{
		"cache_hits_total":                "Reads answered from the client-side cache.",
		"cache_misses_total":              "Cacheable reads sent to Redis.",
		"cache_joined_total":              "Reads that waited for an identical read already in flight.",
		"cache_invalidations_total":       "Keys invalidated by Redis (another client, or a raw command, changed them).",
		"cache_flushes_total":             "Whole-cache invalidations (FLUSHDB, reconnects).",
		"cache_local_invalidations_total": "Keys invalidated locally after this client's own writes.",
		"cache_stale_replies_total":       "Replies not cached because a local write raced with them.",
		"cache_abandoned_total":           "Cached reads given up by their caller before the reply (nothing of that command cached until its reads are answered).",
		"cache_evictions_total":           "Entries evicted to respect client-cache-size.",
		"cache_entries":                   "Entries currently in the client-side cache.",
		"txn_commits_total":               "Metadata transactions applied.",
		"txn_conflicts_total":             "Transaction attempts re-run because a checked value had changed.",
		"txn_errors_total":                "Transactions that failed with a Redis error.",
	} {
		c.descs[name] = prometheus.NewDesc(prometheus.BuildFQName(namespace, "meta", name), help, nil, c.labels)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	cs := c.e.CacheStats()
	ts := c.e.TxStats()
	counter := func(name string, v uint64) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v))
	}
	counter("cache_hits_total", cs.Hits)
	counter("cache_misses_total", cs.Misses)
	counter("cache_joined_total", cs.Joined)
	counter("cache_invalidations_total", cs.Invalidations)
	counter("cache_flushes_total", cs.Flushes)
	counter("cache_local_invalidations_total", cs.LocalInvalidations)
	counter("cache_stale_replies_total", cs.StaleReplies)
	counter("cache_abandoned_total", cs.Abandoned)
	counter("cache_evictions_total", cs.Evictions)
	ch <- prometheus.MustNewConstMetric(c.descs["cache_entries"], prometheus.GaugeValue, float64(cs.Entries))
	counter("txn_commits_total", ts.Commits)
	counter("txn_conflicts_total", ts.Conflicts)
	counter("txn_errors_total", ts.Errors)
}

// Server serves /metrics until Close.
type Server struct {
	srv *http.Server
	lis net.Listener
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// Serve registers the engine's metrics (and the Go runtime's) in a new
// registry and serves them at http://addr/metrics.
func Serve(addr string, e Counters, volume string) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(e, volume), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return ServeGatherer(addr, reg)
}

// ServeGatherer serves the metrics of g at http://addr/metrics.
func ServeGatherer(addr string, g prometheus.Gatherer) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	// Go's profiles, for `go tool pprof http://ADDR/debug/pprof/profile`.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, lis: lis}
	go func() {
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under us; nothing else to do
		}
	}()
	return s, nil
}
