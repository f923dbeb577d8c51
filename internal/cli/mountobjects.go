package cli

import (
	"context"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// meteredStore counts a mount's object requests in the metrics JuiceFS's
// tools read (`juicefs stats`, `bench`): durations per method and bytes.
type meteredStore struct {
	objstore.Store
	durations *prometheus.HistogramVec
	bytes     *prometheus.CounterVec
}

func newMeteredStore(st objstore.Store, reg prometheus.Registerer) *meteredStore {
	m := &meteredStore{
		Store: st,
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "object_request_durations_histogram_seconds",
			Help: "Object requests latency distributions.", Buckets: prometheus.ExponentialBuckets(0.01, 1.5, 25)}, []string{"method"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "object_request_data_bytes",
			Help: "Object requests size in bytes."}, []string{"method"}),
	}
	reg.MustRegister(m.durations, m.bytes)
	return m
}

func (m *meteredStore) observe(method string, start time.Time, n int) {
	m.durations.WithLabelValues(method).Observe(time.Since(start).Seconds())
	m.bytes.WithLabelValues(method).Add(float64(n))
}

// Get counts the request once its body is read and closed.
func (m *meteredStore) Get(ctx context.Context, key string, off, limit int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := m.Store.Get(ctx, key, off, limit)
	if err != nil {
		m.observe("GET", start, 0)
		return nil, err
	}
	return &meteredBody{ReadCloser: rc, m: m, start: start}, nil
}

// Put counts the request.
func (m *meteredStore) Put(ctx context.Context, key string, data []byte) error {
	start := time.Now()
	err := m.Store.Put(ctx, key, data)
	m.observe("PUT", start, len(data))
	return err
}

// Delete counts the request.
func (m *meteredStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := m.Store.Delete(ctx, key)
	m.observe("DELETE", start, 0)
	return err
}

type meteredBody struct {
	io.ReadCloser
	m     *meteredStore
	start time.Time
	n     int
	done  bool
}

func (b *meteredBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += n
	return n, err
}

func (b *meteredBody) Close() error {
	if !b.done {
		b.done = true
		b.m.observe("GET", b.start, b.n)
	}
	return b.ReadCloser.Close()
}
