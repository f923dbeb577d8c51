package backup

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
)

// Volume is what Dump and Load need of a volume: its Redis client and key
// names. *meta.Engine satisfies it.
type Volume interface {
	Client() rueidis.Client
	Keys() keyspace.Keys
}

// DumpOptions tune Dump.
type DumpOptions struct {
	// Threads is the number of batches read at a time (default 10).
	Threads int
	// KeepSecret keeps the object storage secret key, session token and
	// encryption key; otherwise they are written as "removed", as juicefs
	// dump --binary does.
	KeepSecret bool
	// Progress, when set, is told of every segment written.
	Progress func(t SegType, records int)
	// Logger receives warnings about damaged values left out; nil discards
	// them.
	Logger *slog.Logger
}

// Batch sizes, as JuiceFS reads them: keys per MGET of attributes and
// symlinks, directories and entries per edge batch, keys per pipeline of
// chunk lists, extended attributes and parents.
const (
	bigBatch   = 10000
	smallBatch = 1000
)

// Dump writes the metadata of a volume with format f as a binary backup
// to w: the format, the counters, then the nodes, entries, chunks,
// symlinks, extended attributes and parents found by one SCAN (read in
// parallel, written as they come), then the sustained inodes, the deleted
// files, the slice references, the ACL rules, the quotas and the directory
// statistics, then the footer. Sessions, locks, delayed slices, detached
// nodes, tokens and the change log are not part of a backup. Like juicefs,
// a dump is not a snapshot: keep the volume quiet for a consistent copy.
func Dump(ctx context.Context, v Volume, f *codec.Format, w io.Writer, opts DumpOptions) error {
	if opts.Threads <= 0 {
		opts.Threads = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	d := &dumper{c: v.Client(), keys: v.Keys(), opts: opts, sw: newSegmentWriter(bw, opts.Progress)}
	setting := f
	if !opts.KeepSecret {
		setting = f.WithoutSecrets()
	}
	data, err := setting.MarshalSetting()
	if err != nil {
		return fmt.Errorf("encode the format: %w", err)
	}
	if err := d.sw.write(SegFormat, (&FormatRecord{Data: data}).appendTo(nil), 1); err != nil {
		return err
	}
	steps := []func(context.Context) error{
		func(ctx context.Context) error { return d.counters(ctx, f) },
		d.mix, d.sustained, d.delFiles, d.sliceRefs, d.acls, d.quotas, d.dirStats,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	if err := d.sw.finish(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write the backup: %w", err)
	}
	return nil
}

type dumper struct {
	c    rueidis.Client
	keys keyspace.Keys
	opts DumpOptions
	sw   *segmentWriter
}

func redisErr(what string, err error) error { return fmt.Errorf("dump: redis %s: %w", what, err) }

// counters writes the counters segment. A malformed counter stops the
// dump, as in juicefs: the backup would restore a wrong value.
func (d *dumper) counters(ctx context.Context, f *codec.Format) error {
	names := []string{"usedSpace", "totalInodes", "nextInode", "nextChunk", "nextSession", "nextTrash"}
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = d.keys.Counter(n)
	}
	vals, err := d.c.Do(ctx, d.c.B().Mget().Key(keys...).Build()).ToArray()
	if err != nil {
		return redisErr("MGET counters", err)
	}
	b := newBatch(SegCounter, fieldCounters)
	for i, n := range names {
		var v int64
		if s, err := vals[i].ToString(); err == nil {
			if v, err = strconv.ParseInt(s, 10, 64); err != nil {
				return fmt.Errorf("dump: counter %s holds %q, not a number", keys[i], s)
			}
		}
		if n == "nextInode" || n == "nextChunk" {
			v++ // Redis keeps the last number handed out, a backup the next one
		}
		b.add(&Counter{Key: n, Value: v})
	}
	if f.ChangeLog {
		s, err := d.c.Do(ctx, d.c.B().Get().Key(d.keys.TxnLastLog()).Build()).ToString()
		if err == nil {
			if v, err := strconv.ParseInt(s, 10, 64); err == nil {
				b.add(&Counter{Key: "lastChangelog", Value: v})
			}
		} else if !rueidis.IsRedisNil(err) {
			return redisErr("GET "+d.keys.TxnLastLog(), err)
		}
	}
	return d.sw.writeBatch(b)
}
