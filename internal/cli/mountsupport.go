package cli

import (
	"encoding/json"
	"io"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/chunk"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/metaurl"
	"github.com/rueidisfs/rueidisfs/metrics"
)

// What a running mount tells about itself: its metrics (served on
// --metrics and read from .stats) and its configuration (.config).

// registerMountMetrics adds the process and engine metrics to reg, with the
// names JuiceFS's tools read from .stats (uptime, cpu_usage, memory, the Go
// runtime's) and rueidisfs's own engine metrics.
func (a *app) registerMountMetrics(reg *prometheus.Registry, e *meta.Engine) {
	start := time.Now()
	jfs := prometheus.WrapRegistererWithPrefix("juicefs_", reg)
	jfs.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "uptime", Help: "Total running time in seconds."},
			func() float64 { return time.Since(start).Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "cpu_usage", Help: "Accumulated CPU usage in seconds."},
			cpuSeconds),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "memory", Help: "Used memory in bytes."}, residentBytes),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "timestamp", Help: "Current time in seconds since the epoch."},
			func() float64 { return float64(time.Now().UnixNano()) / 1e9 }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "transaction_restart", Help: "Transaction attempts re-run after a conflict."},
			func() float64 { return float64(e.TxStats().Conflicts) }),

		collectors.NewGoCollector(),
	)
	reg.MustRegister(metrics.NewCollector(e, e.Format().Name))
}

// txnHistogram registers the histogram of metadata transaction durations
// and returns the function observing them.
func txnHistogram(reg prometheus.Registerer) func(time.Duration) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "transaction_durations_histogram_seconds",
		Help: "Transactions latency distributions.", Buckets: prometheus.ExponentialBuckets(0.0001, 1.5, 30)})
	reg.MustRegister(h)
	return func(d time.Duration) { h.Observe(d.Seconds()) }
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// residentBytes is the process's resident memory (from /proc/self/statm).
func residentBytes() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, rss uint64
	for i, n := 0, 0; i < len(b) && n < 2; i++ {
		switch c := b[i]; {
		case c >= '0' && c <= '9' && n == 0:
			size = size*10 + uint64(c-'0')
		case c >= '0' && c <= '9':
			rss = rss*10 + uint64(c-'0')
		case c == ' ':
			n++
		}
	}
	return float64(rss) * float64(os.Getpagesize())
}

// serveMetrics serves reg on --metrics; when the default address is busy a
// free port is picked, as juicefs does. It returns the function stopping it.
func (a *app) serveMetrics(c *cli.Context, reg *prometheus.Registry) func() {
	addr := c.String("metrics")
	if !c.IsSet("metrics") {
		addr = "127.0.0.1:9567"
	}
	srv, err := metrics.ServeGatherer(addr, reg)
	if err != nil && !c.IsSet("metrics") {
		srv, err = metrics.ServeGatherer("127.0.0.1:0", reg)
	}
	if err != nil {
		a.log.Warn(err.Error())
		return func() {}
	}
	a.log.Info("Prometheus metrics listening on " + srv.Addr())
	return func() { _ = srv.Close() }
}

// mountConfig returns the content of .config: the running mount's settings
// in the shape of JuiceFS's, which its tools read (Pid, Meta.Sid,
// Chunk.CacheDir, Format.Name, Mountpoint).
func (a *app) mountConfig(c *cli.Context, s *mountSettings, e *meta.Engine, f *codec.Format, store *chunk.Store) func() []byte {
	// As juicefs tells it (umount --flush reads it): the directories with
	// the volume's UUID, "memory" without a disk cache.
	cacheDir := strings.Join(store.CacheDirs(), string(os.PathListSeparator))
	if cacheDir == "" {
		cacheDir = "memory"
	}
	bufferSize, _ := parseBytes("buffer-size", c.String("buffer-size"), 'M') // bytes, a number as juicefs writes it
	return func() []byte {
		conf := map[string]any{
			"Meta": map[string]any{"Heartbeat": s.engine.Heartbeat, "MountPoint": s.mountpoint,
				"Subdir": c.String("subdir"), "ReadOnly": s.readOnly, "NoBGJob": c.Bool("no-bgjob"), "Sid": e.SID(),
				"AtimeMode": s.engine.AtimeMode, "SkipDirMtime": s.engine.SkipDirMtime},
			"Format":          f.WithoutSecrets(),
			"Chunk":           map[string]any{"CacheDir": cacheDir, "BufferSize": bufferSize, "Writeback": store.Writeback()},
			"Version":         meta.Version,
			"AttrTimeout":     s.vfs.AttrTimeout,
			"DirEntryTimeout": s.vfs.DirEntryTimeout,
			"EntryTimeout":    s.vfs.EntryTimeout,
			"NegEntryTimeout": s.vfs.NegEntryTimeout,
			"PrefixInternal":  s.vfs.PrefixInternal,
			"HideInternal":    s.vfs.HideInternal,
			"Pid":             os.Getpid(),
			"PPid":            os.Getppid(),
			"Mountpoint":      s.mountpoint,
			"MetaURL":         metaURLWithoutPassword(c.Args().First(), a.getenv),
			"FuseOpts":        s.fuseOpts,
		}
		b, _ := json.MarshalIndent(conf, "", " ")
		return b
	}
}

// logWriter adapts the command's logger for libraries that print lines
// (go-fuse): each line becomes a warning.
func (a *app) logWriter() io.Writer { return logLines{a} }

type logLines struct{ a *app }

func (l logLines) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line != "" {
			l.a.log.Warn(line)
		}
	}
	return len(p), nil
}

// metaURLWithoutPassword is the META-URL of the mount as .config tells it to
// the tools: the password left out (they read META_PASSWORD for it).
func metaURLWithoutPassword(raw string, getenv func(string) string) string {
	cfg, _, err := metaurl.Parse(raw, getenv)
	if err != nil {
		return ""
	}
	u, err := url.Parse(cfg.Redacted())
	if err != nil {
		return ""
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
		if u.User.Username() == "" {
			u.User = nil
		}
	}
	return u.String()
}
