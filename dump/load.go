package dump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
	"github.com/rueidisfs/rueidisfs/meta"
)

// LoadOptions tune Load. The zero value is ready to use.
type LoadOptions struct {
	// TempDir holds the spool, a temporary file with every command of the
	// load (about the size of the loaded keys), removed at the end. Default:
	// os.TempDir().
	TempDir string
	// MaxDepth rejects trees deeper than this (default 4096 levels).
	MaxDepth int
	// Progress, when set, is called from one goroutine: in phase "parse"
	// with the nodes read so far and the node count the dump announces, in
	// phase "write" with the commands written and their total.
	Progress func(phase string, done, total int64)
	// Logger receives what juicefs logs while loading (dumped and recomputed
	// counters, what is not restored, quotas dropped); nil discards it.
	Logger *slog.Logger
}

// Load restores a JSON metadata dump (made by Dump or by `juicefs dump`)
// into the empty database of e, as `juicefs load` does; see docs/dump.md
// for the few deliberate differences.
//
// The database must be empty (with a Cluster prefix: hold no key of it),
// otherwise ErrNotEmpty. The document is first read entirely and checked
// (types, ranges, inode numbers, names, hard links, the tree's shape) while
// the commands that load it are written to a temporary spool; a document
// that is malformed, truncated or inconsistent is rejected with a
// *FormatError (byte offset, JSON path, reason) and nothing is written.
// The spool is then sent in MULTI/EXEC batches; if a batch fails, the keys
// written so far are deleted again and the error wraps ErrLoadFailed.
//
// Counters, link counts, parents of hard links, directory statistics, slice
// reference counts, ACL rule IDs and quota usage are recomputed from the
// tree. Sessions, sustained inodes, locks and the change log are not
// restored.
func Load(ctx context.Context, e *meta.Engine, r io.Reader, opts LoadOptions) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkEmpty(ctx, e); err != nil {
		return err
	}
	sp, done, err := tempSpool(opts.TempDir)
	if err != nil {
		return err
	}
	defer done()
	plan, err := prepare(r, e, sp, opts)
	if err != nil {
		return err
	}
	// Someone may have started using the database while the dump was read.
	if err := checkEmpty(ctx, e); err != nil {
		return err
	}
	err = apply(ctx, e.Client(), sp, plan, opts)
	// The keys were written behind the engine's back: drop what it cached
	// (the absent setting, first of all).
	e.InvalidateCache()
	return err
}

// prepare reads and checks the document, filling the spool.
func prepare(r io.Reader, e *meta.Engine, sp *spool, opts LoadOptions) (*loadPlan, error) {
	p := newParser(r, e.Keys(), sp, opts.Logger, opts.MaxDepth)
	if opts.Progress != nil {
		p.progress = func(done, total int64) { opts.Progress("parse", done, total) }
	}
	if err := p.parse(); err != nil {
		return nil, err
	}
	plan, err := p.finish(time.Now())
	if err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress("parse", p.nodes, p.nodes)
	}
	return plan, nil
}

// Validate reads and checks a dump document with the checks of Load, without
// a database and without writing anything but the temporary spool.
func Validate(r io.Reader, opts LoadOptions) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	sp, done, err := tempSpool(opts.TempDir)
	if err != nil {
		return err
	}
	defer done()
	p := newParser(r, keyspace.New(""), sp, opts.Logger, opts.MaxDepth)
	if err := p.parse(); err != nil {
		return err
	}
	_, err = p.finish(time.Now())
	return err
}

// tempSpool creates a spool in a temporary file, removed by done. The
// file's name is removed at once where the system allows it (the spool
// only uses the open file): a load that is killed leaves no spool behind.
func tempSpool(dir string) (sp *spool, done func(), err error) {
	f, err := os.CreateTemp(dir, "rueidisfs-load-*.spool")
	if err != nil {
		return nil, nil, fmt.Errorf("load: create the spool: %w", err)
	}
	_ = os.Remove(f.Name())
	return newSpool(f, 64<<10), func() {
		f.Close()
		os.Remove(f.Name())
	}, nil
}

func checkEmpty(ctx context.Context, e *meta.Engine) error {
	n, err := e.Inspect().KeyCount(ctx)
	if err != nil {
		return fmt.Errorf("load: count the keys of the database: %w", err)
	}
	if n > 0 {
		if p := e.Keys().Prefix(); p != "" {
			return fmt.Errorf("%w: %s holds %d keys with prefix %s", ErrNotEmpty, e.URL().Redacted(), n, p)
		}
		return fmt.Errorf("%w: database %s holds %d keys", ErrNotEmpty, e.URL().Redacted(), n)
	}
	return nil
}

// Batches sent to Redis: at most this many commands or bytes per MULTI.
const (
	writeBatchCommands = 1000
	writeBatchBytes    = 4 << 20
)

// apply sends the spool to Redis in MULTI/EXEC batches. On failure it
// deletes every key the batches sent so far (the failed one included) may
// have written.
func apply(ctx context.Context, c rueidis.Client, sp *spool, plan *loadPlan, opts LoadOptions) error {
	rd, err := sp.reader()
	if err != nil {
		return err
	}
	var (
		rec   spoolRecord
		batch = make(rueidis.Commands, 0, writeBatchCommands+2)
		size  int
		sent  int64 // records in batches sent, the failing one included
		done  int64
	)
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		n := int64(len(batch))
		sent += n
		err := execBatch(ctx, c, batch)
		batch, size = batch[:0], 0
		if err != nil {
			return err
		}
		done += n
		if opts.Progress != nil {
			opts.Progress("write", done, sp.records)
		}
		return nil
	}
	for {
		err := rd.next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			batch = append(batch, buildCommand(c, &rec, plan))
			for _, a := range rec.args {
				size += len(a)
			}
			if len(batch) >= writeBatchCommands || size >= writeBatchBytes {
				err = send()
			}
		}
		if err != nil {
			return cleanup(ctx, c, sp, sent, err)
		}
	}
	if err := send(); err != nil {
		return cleanup(ctx, c, sp, sent, err)
	}
	return nil
}

// buildCommand makes the Redis command of a record, giving hard-linked
// inodes their link count and Parent 0.
func buildCommand(c rueidis.Client, rec *spoolRecord, plan *loadPlan) rueidis.Completed {
	args := rec.args
	if rec.kind == kindAttr {
		if n, ok := plan.links[rec.ino]; ok {
			var a codec.Attr
			if codec.UnmarshalAttr(args[2], &a) == nil {
				a.Nlink, a.Parent = n, 0
				args = []string{args[0], args[1], string(a.Marshal())}
			}
		}
	}
	return c.B().Arbitrary(args[0]).Keys(args[1]).Args(args[2:]...).Build()
}

// execBatch runs cmds in one MULTI/EXEC.
func execBatch(ctx context.Context, c rueidis.Client, cmds rueidis.Commands) error {
	all := make(rueidis.Commands, 0, len(cmds)+2)
	all = append(all, c.B().Multi().Build())
	all = append(all, cmds...)
	all = append(all, c.B().Exec().Build())
	res := c.DoMulti(ctx, all...)
	for i, r := range res[:len(res)-1] {
		if err := r.Error(); err != nil {
			return fmt.Errorf("redis MULTI command %d: %w", i, err)
		}
	}
	replies, err := res[len(res)-1].ToArray()
	if err != nil {
		return fmt.Errorf("redis EXEC: %w", err)
	}
	for i, r := range replies {
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			return fmt.Errorf("redis EXEC command %d (%s): %w", i, cmds[i].Commands()[0], err)
		}
	}
	return nil
}

// cleanupBatch is how many keys one DEL removes when undoing a load.
const cleanupBatch = 500

// cleanup deletes the keys of the first n spooled records after a failed
// write, and reports cause.
func cleanup(ctx context.Context, c rueidis.Client, sp *spool, n int64, cause error) error {
	// The context may be what failed; the cleanup gets a moment of its own.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	deleted, err := deleteSpooledKeys(cctx, c, sp, n)
	if err != nil {
		return fmt.Errorf("%w: %w; deleting the keys written so far failed too (%v): the database is partly loaded, "+
			"delete its keys (FLUSHDB, or every key of the volume's prefix) before loading again", ErrLoadFailed, cause, err)
	}
	return fmt.Errorf("%w: %w; the %d keys written so far were deleted, the database is empty again", ErrLoadFailed, cause, deleted)
}

func deleteSpooledKeys(ctx context.Context, c rueidis.Client, sp *spool, n int64) (int, error) {
	rd, err := sp.reader()
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	var keys []string
	total := 0
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		removed, err := c.Do(ctx, c.B().Del().Key(keys...).Build()).AsInt64()
		if err != nil {
			return fmt.Errorf("redis DEL: %w", err)
		}
		total += int(removed)
		keys = keys[:0]
		if len(seen) > 100*cleanupBatch {
			clear(seen)
		}
		return nil
	}
	var rec spoolRecord
	for i := int64(0); i < n; i++ {
		if err := rd.next(&rec); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return total, err
		}
		if k := rec.args[1]; !seen[k] {
			seen[k] = true
			keys = append(keys, k)
			if len(keys) >= cleanupBatch {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
	}
	return total, flush()
}
