package meta_test

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/meta"
)

// meter splits the time of a benchmarked operation between the client and
// the server: besides ns/op, a sub-benchmark of BenchmarkMetaOps reports
// the CPU time of this process per operation (client-µs/op: building the
// call, encoding, the cache's bookkeeping, rueidis' goroutines, the
// garbage collector), the CPU time of the Redis server per operation
// (redis-µs/op: parsing, the script, replies, invalidation messages) and,
// of that, the time Redis spent in scripts (script-µs/op, from INFO
// commandstats). The Redis figures assume a server that only the
// benchmark uses. Work done while the meter is paused (the setup of each
// iteration of unlink, rmdir, removexattr) is left out of all three.
type meter struct {
	b                *testing.B
	e                *meta.Engine
	client, clientAt time.Duration
	redis, redisAt   float64 // seconds
	script, scriptAt float64 // µs
}

// startMeter resets the timer and starts it and the meter (in place of
// b.ResetTimer); done stops both and reports.
func startMeter(b *testing.B, e *meta.Engine) *meter {
	m := &meter{b: b, e: e}
	b.ResetTimer()
	m.resume()
	return m
}

// done stops the timer and the meter and reports the figures.
func (m *meter) done() {
	m.pause()
	n := float64(m.b.N)
	m.b.ReportMetric(float64(m.client.Microseconds())/n, "client-µs/op")
	m.b.ReportMetric(m.redis*1e6/n, "redis-µs/op")
	m.b.ReportMetric(m.script/n, "script-µs/op")
}

// pause stops the timer and the meter for work that is not measured (in
// place of b.StopTimer).
func (m *meter) pause() {
	m.b.StopTimer()
	m.client += m.cpu() - m.clientAt
	r, s := m.server()
	m.redis += r - m.redisAt
	m.script += s - m.scriptAt
}

// resume restarts both (in place of b.StartTimer). The process's time is
// read last on the way in and first on the way out, so that INFO's round
// trip stays outside.
func (m *meter) resume() {
	m.redisAt, m.scriptAt = m.server()
	m.clientAt = m.cpu()
	m.b.StartTimer()
}

// cpu returns this process's CPU time (user and system, every thread).
func (m *meter) cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		m.b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// server returns Redis' CPU seconds and its time in EVALSHA and EVAL in µs.
func (m *meter) server() (float64, float64) {
	c := m.e.Client()
	info, err := c.Do(bg, c.B().Info().Section("cpu", "commandstats").Build()).ToString()
	if err != nil {
		m.b.Fatal(err)
	}
	var redis, script float64
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "used_cpu_user", "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			redis += f
		case "cmdstat_evalsha", "cmdstat_eval":
			for _, kv := range strings.Split(v, ",") {
				if k, n, _ := strings.Cut(kv, "="); k == "usec" {
					f, _ := strconv.ParseFloat(n, 64)
					script += f
				}
			}
		}
	}
	return redis, script
}
