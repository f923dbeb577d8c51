package autobackup

import (
	"bytes"
	"compress/gzip"
	"context"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/dump"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/internal/redistest"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore"
	"github.com/rueidisfs/rueidisfs/objstore/mem"
)

func TestMain(m *testing.M) { redistest.Main(m) }

func open(t *testing.T, url string) *meta.Engine {
	t.Helper()
	e, err := meta.Open(context.Background(), url, meta.Options{NoBackgroundJobs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	if _, err := e.Load(context.Background(), false); err != nil && !strings.Contains(err.Error(), "not formatted") {
		t.Fatal(err)
	}
	return e
}

// fixture loads an official volume into a fresh database.
func fixture(t *testing.T) (string, *redistest.Server, int) {
	t.Helper()
	srv, db := redistest.NewDB(t)
	if _, err := fixtures.LoadVolume(context.Background(), srv.Client(t, db), "basic", ""); err != nil {
		t.Fatal(err)
	}
	return srv.URL("redis", db), srv, db
}

func jsonDump(t *testing.T, e *meta.Engine) string {
	t.Helper()
	var buf bytes.Buffer
	if err := dump.Dump(context.Background(), e, &buf, dump.DumpOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestBackupLoads: a backup is a gzipped JSON dump under meta/, named by
// its UTC time, which loads into a volume that dumps as the original.
func TestBackupLoads(t *testing.T) {
	url, _, _ := fixture(t)
	e := open(t, url)
	store := mem.New()
	at := time.Date(2026, 5, 10, 1, 2, 3, 0, time.FixedZone("x", 3600))
	opts := Options{Interval: time.Hour, now: func() time.Time { return at }}
	path, err := Try(context.Background(), e, store, opts)
	if err != nil || path != "mem://meta/dump-2026-05-10-000203.json.gz" {
		t.Fatalf("Try: %q, %v", path, err)
	}
	data, err := objstore.ReadAll(context.Background(), store, "meta/dump-2026-05-10-000203.json.gz", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	srv2, db2 := redistest.NewDB(t)
	e2 := open(t, srv2.URL("redis", db2))
	if err := dump.Load(context.Background(), e2, zr, dump.LoadOptions{}); err != nil {
		t.Fatalf("load the backup: %v", err)
	}
	if a, b := fixtures.WithoutIDCounters(jsonDump(t, e)), fixtures.WithoutIDCounters(jsonDump(t, e2)); a != b {
		t.Errorf("the backup loads into a different volume")
	}
	// Not due again within the interval.
	opts.now = func() time.Time { return at.Add(59 * time.Minute) }
	if path, err := Try(context.Background(), e, store, opts); path != "" || err != nil {
		t.Errorf("a second backup within the interval: %q, %v", path, err)
	}
}

// TestOneClientBacksUp: clients that find a backup due at the same time
// make one between them.
func TestOneClientBacksUp(t *testing.T) {
	url, _, _ := fixture(t)
	store := mem.New()
	at := time.Now()
	var wg sync.WaitGroup
	paths := make([]string, 4)
	for i := range paths {
		e := open(t, url)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := Try(context.Background(), e, store, Options{Interval: time.Hour, now: func() time.Time { return at }})
			if err != nil {
				t.Error(err)
			}
			paths[i] = p
		}()
	}
	wg.Wait()
	made := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == "" })
	if len(made) != 1 {
		t.Fatalf("%d clients made a backup: %q", len(made), paths)
	}
}

// TestSkipLargeVolumes: with an interval of an hour or less, a volume of
// more than a million inodes is not backed up (with a warning).
func TestSkipLargeVolumes(t *testing.T) {
	url, srv, db := fixture(t)
	e := open(t, url)
	srv.Do(t, db, "SET", e.Keys().TotalInodes(), "2000000")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	store := mem.New()
	p, err := Try(context.Background(), e, store, Options{Interval: time.Hour, Logger: log})
	if p != "" || err != nil || !strings.Contains(logs.String(), "backup metadata skipped because of too many inodes: 2000000 1h0m0s") {
		t.Fatalf("hourly backup of 2M inodes: %q, %v, %s", p, err, logs.String())
	}
	if p, err := Try(context.Background(), e, store, Options{Interval: 2 * time.Hour}); p == "" || err != nil {
		t.Fatalf("two-hourly backup of 2M inodes: %q, %v", p, err)
	}
}

func TestCheckInterval(t *testing.T) {
	for d, ok := range map[time.Duration]bool{0: true, time.Minute: false, 5 * time.Minute: true, time.Hour: true} {
		if err := CheckInterval(d); (err == nil) != ok {
			t.Errorf("CheckInterval(%s): %v", d, err)
		}
	}
}

// TestExpired: the rotation keeps every backup of the last two days, the
// oldest of each later day up to two weeks, of each week up to about two
// months, of each month up to two years.
func TestExpired(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var names []string
	for h := 0; h < 24*900; h += 6 { // every 6 hours for about 2½ years
		names = append(names, strings.TrimPrefix(Name(now.Add(-time.Duration(h)*time.Hour)), Prefix))
	}
	names = append(names, "not-a-backup.txt")
	log := slog.New(slog.DiscardHandler)
	gone := map[string]bool{}
	for _, n := range expired(names, now, log) {
		gone[n] = true
	}
	var kept []time.Time
	for _, n := range names {
		if t2, ok := backupTime(n); ok && !gone[n] {
			kept = append(kept, t2)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].After(kept[j]) })
	recent := 0
	for _, k := range kept {
		if now.Sub(k) < 48*time.Hour {
			recent++
		}
	}
	if recent != 8 {
		t.Errorf("%d backups of the last two days kept, want all 8", recent)
	}
	if gone["not-a-backup.txt"] {
		t.Error("an object that is no backup was deleted")
	}
	if oldest := kept[len(kept)-1]; now.Sub(oldest) > 2*366*24*time.Hour {
		t.Errorf("a backup of %s was kept, beyond two years", oldest)
	}
	// Beyond two days, at most one per day up to two weeks, per week up to
	// two months, per 30 days beyond.
	days := func(d int) time.Time { return now.AddDate(0, 0, -d) }
	count := func(from, to time.Time) int {
		n := 0
		for _, k := range kept {
			if !k.Before(from) && k.Before(to) {
				n++
			}
		}
		return n
	}
	if n := count(days(14), days(2)); n != 12 {
		t.Errorf("%d backups kept between 2 days and 2 weeks back, want one a day (12)", n)
	}
	if n := count(days(60), days(14)); n < 6 || n > 7 {
		t.Errorf("%d backups kept between 2 weeks and 2 months back, want one a week", n)
	}
	if n := len(kept); n < 8+12+6+20 || n > 8+12+7+25 {
		t.Errorf("%d backups kept in all", n)
	}
}
