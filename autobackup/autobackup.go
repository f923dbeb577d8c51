// Package autobackup backs a volume's metadata up into its object storage
// at regular intervals, as a JuiceFS mount does (--backup-meta): a gzipped
// JSON dump named meta/dump-YYYY-MM-DD-HHMMSS.json.gz (UTC) in the
// volume's storage, which `juicefs load` and `rueidisfs load` restore. One
// client of a volume makes each backup (they elect it through the root's
// "lastBackup" attribute), large volumes are skipped at short intervals,
// and old backups are thinned out.
package autobackup

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
)

// Defaults and limits, as JuiceFS's.
const (
	// DefaultInterval is the default of --backup-meta.
	DefaultInterval = time.Hour
	// MinInterval is the shortest interval a mount accepts.
	MinInterval = 5 * time.Minute
	// maxInodesHourly: a volume with more inodes is not backed up when the
	// interval is an hour or shorter.
	maxInodesHourly = 1_000_000
	// logStartAbove: the start of a backup of more inodes is logged.
	logStartAbove = 100_000
	// lastBackupAttr is the root attribute holding the time of the last
	// backup of the volume (RFC 3339), by whichever client.
	lastBackupAttr = "lastBackup"
	// Prefix is where the backups are, in the volume's storage.
	Prefix = "meta/"
)

// CheckInterval tells whether a --backup-meta interval is acceptable: 0
// (no backups) or at least MinInterval.
func CheckInterval(d time.Duration) error {
	if d != 0 && d < MinInterval {
		return fmt.Errorf("--backup-meta %s is too short: use 0 (no backups) or %s or more", d, MinInterval)
	}
	return nil
}

// Options tune the backups.
type Options struct {
	// Interval between backups of the volume (by any client); 0 disables.
	Interval time.Duration
	// SkipTrash leaves the trash out of the backups (--backup-skip-trash).
	SkipTrash bool
	// Logger receives what JuiceFS logs about backups; nil discards it.
	Logger *slog.Logger
	// Done, when set, is told of every backup made: when it started, how
	// long it took, and its error (for metrics).
	Done func(started time.Time, took time.Duration, err error)
	// now is the clock (tests).
	now func() time.Time
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
}

// Run backs the volume up until ctx ends: every tenth of the interval (with
// some jitter) it checks when the last backup of the volume was made, and
// when it is an interval ago, claims the next one and makes it. A mount
// runs it in its own goroutine, unless it is read-only or runs no
// background jobs.
func Run(ctx context.Context, e *meta.Engine, store objstore.Store, opts Options) {
	opts.defaults()
	if opts.Interval <= 0 {
		return
	}
	for {
		tick := opts.Interval / 10
		tick += time.Duration(rand.Int64N(int64(tick)/5+1)) - tick/10 // ±10%
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
		if _, err := Try(ctx, e, store, opts); err != nil && ctx.Err() == nil {
			opts.Logger.Warn(fmt.Sprintf("backup metadata failed: %v", err))
		}
	}
}

// Try makes a backup if the volume's last one is an interval old and this
// client wins the claim for the next one. It returns the path of the
// backup made ("" when none was due, or another client made it).
func Try(ctx context.Context, e *meta.Engine, store objstore.Store, opts Options) (string, error) {
	opts.defaults()
	last, raw, err := lastBackup(ctx, e)
	if err != nil {
		return "", err
	}
	now := opts.now()
	if now.Sub(last) < opts.Interval {
		return "", nil
	}
	inodes := e.StatFS(ctx, meta.RootInode).UsedInodes
	if opts.Interval <= time.Hour && inodes > maxInodesHourly {
		opts.Logger.Warn(fmt.Sprintf("backup metadata skipped because of too many inodes: %d %s; you may increase `--backup-meta` to enable it again",
			inodes, opts.Interval))
		return "", nil
	}
	won, err := e.ClaimRootXattr(ctx, lastBackupAttr, raw, now.Format(time.RFC3339))
	if err != nil || !won {
		return "", err
	}
	if inodes >= logStartAbove {
		opts.Logger.Info(fmt.Sprintf("backup metadata started, inodes=%d", inodes))
	}
	path, err := Backup(ctx, e, store, now, opts.SkipTrash)
	took := opts.now().Sub(now)
	if opts.Done != nil {
		opts.Done(now, took, err)
	}
	if err != nil {
		return "", err
	}
	opts.Logger.Info(fmt.Sprintf("backup metadata succeed, fast mode: %v, path: %q, used %s", inodes < logStartAbove, path, took))
	Rotate(context.WithoutCancel(ctx), store, now, opts.Logger)
	return path, nil
}

// lastBackup reads the time of the volume's last backup (zero: none) and
// the attribute's raw value.
func lastBackup(ctx context.Context, e *meta.Engine) (time.Time, string, error) {
	v, err := e.GetXattr(ctx, meta.RootInode, lastBackupAttr)
	if errors.Is(err, syscall.ENODATA) {
		return time.Time{}, "", nil
	}
	if err != nil {
		return time.Time{}, "", fmt.Errorf("read the root attribute %s: %w", lastBackupAttr, err)
	}
	t, err := time.Parse(time.RFC3339, string(v))
	if err != nil {
		return time.Time{}, "", fmt.Errorf("the root attribute %s holds %q, not a time", lastBackupAttr, v)
	}
	return t, string(v), nil
}

// Name is the object name of a backup made at t, below the volume's
// prefix: meta/dump-YYYY-MM-DD-HHMMSS.json.gz in UTC.
func Name(t time.Time) string {
	return Prefix + "dump-" + t.UTC().Format(nameLayout) + ".json.gz"
}

const nameLayout = "2006-01-02-150405"

// Backup dumps the whole volume (the trash too unless skipTrash) as
// gzipped JSON into the object meta/dump-...json.gz of store, and returns
// its location as juicefs logs it.
func Backup(ctx context.Context, e *meta.Engine, store objstore.Store, t time.Time, skipTrash bool) (string, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return "", err
	}
	if err := dump.Dump(ctx, e, zw, dump.DumpOptions{Threads: 2, SkipTrash: skipTrash}); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	name := Name(t)
	if err := store.Put(ctx, name, buf.Bytes()); err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	return store.String() + name, nil
}
