package vfs

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The metrics of kernel requests, named as JuiceFS names them (the caller's
// registerer adds the "juicefs_" prefix), so that `juicefs stats` and
// `juicefs bench` read a rueidisfs mount's .stats too.
type metrics struct {
	hist       prometheus.Histogram
	ops        *prometheus.CounterVec
	durations  *prometheus.CounterVec
	errors     *prometheus.CounterVec
	readSize   prometheus.Histogram
	writeSize  prometheus.Histogram
	byOp       sync.Map // op -> *opCounters
	registered bool
}

type opCounters struct{ total, seconds prometheus.Counter }

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		hist: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fuse_ops_durations_histogram_seconds",
			Help: "Operations latency distributions.", Buckets: prometheus.ExponentialBuckets(0.00001, 1.8, 29)}),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fuse_ops_total",
			Help: "Total number of operations."}, []string{"method"}),
		durations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fuse_ops_durations_seconds",
			Help: "Operations latency in seconds."}, []string{"method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fuse_ops_io_errors",
			Help: "Number of IO errors."}, []string{"errno"}),
		readSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fuse_read_size_bytes",
			Help: "Size of read distributions.", Buckets: prometheus.LinearBuckets(4096, 4096, 32)}),
		writeSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fuse_written_size_bytes",
			Help: "Size of write distributions.", Buckets: prometheus.LinearBuckets(4096, 4096, 32)}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.hist, m.ops, m.durations, m.errors, m.readSize, m.writeSize} {
			if err := reg.Register(c); err == nil {
				m.registered = true
			}
		}
	}
	return m
}

func (m *metrics) observe(op string, st syscall.Errno, used time.Duration) {
	c, ok := m.byOp.Load(op)
	if !ok {
		c, _ = m.byOp.LoadOrStore(op, &opCounters{m.ops.WithLabelValues(op), m.durations.WithLabelValues(op)})
	}
	oc := c.(*opCounters)
	secs := used.Seconds()
	m.hist.Observe(secs)
	oc.total.Inc()
	oc.seconds.Add(secs)
	if st != 0 && st != syscall.ENOENT && st != syscall.EAGAIN && st != syscall.ENODATA {
		m.errors.WithLabelValues(errnoName(st)).Inc()
	}
}

// ObserveIO records the size of a read or a write.
func (v *VFS) ObserveIO(write bool, n int) {
	if write {
		v.metrics.writeSize.Observe(float64(n))
	} else {
		v.metrics.readSize.Observe(float64(n))
	}
}

func errnoName(st syscall.Errno) string {
	switch st {
	case syscall.EIO:
		return "EIO"
	case syscall.EINTR:
		return "EINTR"
	case syscall.ENOSPC:
		return "ENOSPC"
	case syscall.EDQUOT:
		return "EDQUOT"
	case syscall.EBADF:
		return "EBADF"
	}
	return "errno" + strconv.Itoa(int(st))
}

// StatsText renders the metrics of g as .stats holds them: one "name value"
// line per metric, the value of a "method" or "errno" label appended to the
// name, histograms as name_total (count) and name_sum.
func StatsText(g prometheus.Gatherer) []byte {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return nil
	}
	var w bytes.Buffer
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			name := mf.GetName()
			for _, l := range m.Label {
				if l.GetName() == "method" || l.GetName() == "errno" {
					name += "_" + l.GetValue()
				}
			}
			switch mf.GetType() {
			case dto.MetricType_GAUGE:
				fmt.Fprintf(&w, "%s %s\n", name, num(m.GetGauge().GetValue()))
			case dto.MetricType_COUNTER:
				fmt.Fprintf(&w, "%s %s\n", name, num(m.GetCounter().GetValue()))
			case dto.MetricType_HISTOGRAM:
				fmt.Fprintf(&w, "%s_total %d\n", name, m.GetHistogram().GetSampleCount())
				fmt.Fprintf(&w, "%s_sum %s\n", name, num(m.GetHistogram().GetSampleSum()))
			}
		}
	}
	return w.Bytes()
}

func (v *VFS) statsText() []byte {
	if v.conf.Stats == nil {
		return nil
	}
	return v.conf.Stats()
}
