package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/rueidisfs/rueidisfs/autobackup"
	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// The automatic metadata backups of a mount (--backup-meta,
// --backup-skip-trash), as a JuiceFS mount makes them.

// backupInterval reads --backup-meta: 0 disables the backups; an interval
// under 5 minutes is refused, unless SKIP_BACKUP_META_CHECK=true (as with
// juicefs).
func (a *app) backupInterval(c *cli.Context) (time.Duration, error) {
	d, err := parseSeconds("backup-meta", c.String("backup-meta"))
	if err != nil {
		return 0, err
	}
	if a.getenv("SKIP_BACKUP_META_CHECK") == "true" {
		return d, nil
	}
	return d, autobackup.CheckInterval(d)
}

// startBackups starts the metadata backups of a mount of e's volume with
// format f, unless the mount is read-only, runs no background jobs or
// backups are disabled. The gauges last_successful_backup and
// last_backup_duration go to reg. The returned function stops them.
func (a *app) startBackups(c *cli.Context, e *meta.Engine, f *codec.Format, interval time.Duration, readOnly bool, reg prometheus.Registerer) func() {
	if readOnly || c.Bool("no-bgjob") || interval <= 0 {
		a.log.Warn("Metadata backup is disabled")
		return func() {}
	}
	store, err := a.openObjects(f)
	if err != nil {
		a.log.Warn(fmt.Sprintf("Metadata backup is disabled: object storage: %v", err))
		return func() {}
	}
	last := prometheus.NewGauge(prometheus.GaugeOpts{Name: "last_successful_backup", Help: "Last successful backup."})
	took := prometheus.NewGauge(prometheus.GaugeOpts{Name: "last_backup_duration", Help: "Last backup duration."})
	reg.MustRegister(last, took)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		autobackup.Run(ctx, e, store, autobackup.Options{
			Interval: interval, SkipTrash: c.Bool("backup-skip-trash"), Logger: a.log,
			Done: func(started time.Time, d time.Duration, err error) {
				if err == nil {
					last.Set(float64(started.UnixNano()) / 1e9)
				}
				took.Set(d.Seconds())
			},
		})
	}()
	return func() {
		cancel()
		<-done
	}
}
