package autobackup

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/rueidisfs/rueidisfs/objstore"
)

// Rotate thins out the backups in store after a backup made at now, as
// JuiceFS does: it keeps every backup of the last two days, then the
// oldest of each day up to two weeks back, of each week up to about two
// months, of each month up to two years, and deletes the others and
// anything older. Names that are not backups are left alone (with a
// warning).
func Rotate(ctx context.Context, store objstore.Store, now time.Time, log *slog.Logger) {
	var names []string
	for o, err := range store.List(ctx, Prefix, "") {
		if err != nil {
			log.Warn(fmt.Sprintf("list the metadata backups under %s: %v; no rotation", Prefix, err))
			return
		}
		names = append(names, strings.TrimPrefix(o.Key, Prefix))
	}
	for _, name := range expired(names, now, log) {
		if err := store.Delete(ctx, Prefix+name); err != nil {
			log.Warn(fmt.Sprintf("delete object %s: %v", Prefix+name, err))
		}
	}
}

// expired chooses the backups (names below meta/) that rotation deletes.
// Going back in time from two days before now, windows of a day, then of
// a week from two weeks back, then of 30 days from about two months back,
// each keep their oldest backup; beyond two years nothing is kept.
func expired(names []string, now time.Time, log *slog.Logger) []string {
	type dated struct {
		name string
		t    time.Time
	}
	var backups []dated
	for _, n := range names {
		t, ok := backupTime(n)
		if !ok {
			log.Warn(fmt.Sprintf("bad object for metadata backup %s", n))
			continue
		}
		backups = append(backups, dated{n, t})
	}
	sort.Slice(backups, func(i, j int) bool { return backups[i].t.After(backups[j].t) }) // newest first
	cutoff := now.UTC().AddDate(-2, 0, 0)
	w := newWindows(now)
	var out []string
	var keep *dated // oldest backup so far in the current window
	for i := range backups {
		b := backups[i]
		if b.t.Before(cutoff) {
			for _, old := range backups[i:] {
				out = append(out, old.name)
			}
			break
		}
		if !b.t.Before(w.edge) {
			if w.days > 2 { // in a window: an older one replaces it
				out = append(out, keep.name)
				keep = &backups[i]
			}
			continue
		}
		for b.t.Before(w.edge) {
			w.next()
		}
		keep = &backups[i]
	}
	return out
}

// windows walks back in time over the rotation windows: edge is the start
// of the current one, days how far it is from now.
type windows struct {
	edge time.Time
	days int
}

func newWindows(now time.Time) *windows {
	return &windows{edge: now.UTC().AddDate(0, 0, -2), days: 2}
}

func (w *windows) next() {
	step := 30
	switch {
	case w.days < 14:
		step = 1
	case w.days < 60:
		step = 7
	}
	w.days += step
	w.edge = w.edge.AddDate(0, 0, -step)
}

// backupTime reads the time in a backup's name, dump-YYYY-MM-DD-HHMMSS.json.gz.
func backupTime(name string) (time.Time, bool) {
	stamp, ok := strings.CutPrefix(name, "dump-")
	if !ok {
		return time.Time{}, false
	}
	if stamp, ok = strings.CutSuffix(stamp, ".json.gz"); !ok || len(stamp) != len(nameLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(nameLayout, stamp)
	return t, err == nil
}
