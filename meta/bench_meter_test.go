package meta_test

import (
	"os"
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
// benchmark uses; on this machine, Redis' CPU time is that of its main
// thread, read from /proc. The setup of operations that need one each
// (unlink, rmdir, removexattr) is done in batches while the timer and the
// meter are paused (see batched).
type meter struct {
	b                *testing.B
	e                *meta.Engine
	client, clientAt time.Duration
	redis, redisAt   float64 // seconds
	script, scriptAt float64 // µs
	schedstat        string  // where Redis' CPU time is read (see redisCPU)
}

// startMeter resets the timer and starts it and the meter (in place of
// b.ResetTimer); done stops both and reports.
func startMeter(b *testing.B, e *meta.Engine) *meter {
	m := &meter{b: b, e: e}
	b.StopTimer() // running: the meter's readings would be timed
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

// batchSize is how many setups batched runs between two timed stretches.
const batchSize = 100

// batched runs b.N operations op(i), each after its own setup(i), the
// setups in batches while the timer and the meter are paused: pausing
// costs a few round trips (INFO) and a stop of the world (the timer reads
// the allocation statistics), which would weigh on every operation if it
// came between each setup and its operation.
func (m *meter) batched(setup, op func(i int)) {
	for i := 0; i < m.b.N; i += batchSize {
		n := min(batchSize, m.b.N-i)
		m.pause()
		for j := i; j < i+n; j++ {
			setup(j)
		}
		m.resume()
		for j := i; j < i+n; j++ {
			op(j)
		}
	}
}

// pause stops the timer and the meter for work that is not measured (in
// place of b.StopTimer).
func (m *meter) pause() {
	// The process's time is read before the timer stops: stopping it reads
	// the allocation statistics (a stop of the world).
	m.client += m.cpu() - m.clientAt
	m.b.StopTimer()
	m.redis += m.redisCPU() - m.redisAt
	m.script += m.scriptTime() - m.scriptAt
}

// resume restarts both (in place of b.StartTimer). Each reading is taken
// after the others on the way in and before them on the way out, so that
// the work of reading (INFO's round trip and its replies) stays outside.
func (m *meter) resume() {
	m.scriptAt = m.scriptTime()
	m.redisAt = m.redisCPU()
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

// redisCPU returns Redis' CPU seconds: of its main thread, read from
// /proc without disturbing it, when the server runs on this machine, else
// from INFO cpu.
func (m *meter) redisCPU() float64 {
	if m.schedstat == "" {
		m.schedstat = "-"
		m.info("server", func(name, v string) {
			if name == "process_id" {
				m.schedstat = "/proc/" + v + "/schedstat"
			}
		})
	}
	if b, err := os.ReadFile(m.schedstat); err == nil {
		if ns, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64); err == nil {
			return float64(ns) / 1e9
		}
	}
	var t float64
	m.info("cpu", func(name, v string) {
		if name == "used_cpu_user" || name == "used_cpu_sys" {
			f, _ := strconv.ParseFloat(v, 64)
			t += f
		}
	})
	return t
}

// scriptTime returns Redis' time in EVALSHA and EVAL so far, in µs.
func (m *meter) scriptTime() float64 {
	var t float64
	m.info("commandstats", func(name, v string) {
		if name != "cmdstat_evalsha" && name != "cmdstat_eval" {
			return
		}
		for _, kv := range strings.Split(v, ",") {
			if k, n, _ := strings.Cut(kv, "="); k == "usec" {
				f, _ := strconv.ParseFloat(n, 64)
				t += f
			}
		}
	})
	return t
}

// info reads one section of INFO and hands each name: value line to fn.
func (m *meter) info(section string, fn func(name, v string)) {
	c := m.e.Client()
	info, err := c.Do(bg, c.B().Info().Section(section).Build()).ToString()
	if err != nil {
		m.b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if name, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fn(name, v)
		}
	}
}
