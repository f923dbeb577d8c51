package backup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/rueidis"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

// LoadOptions tune Load.
type LoadOptions struct {
	// Threads is the number of segments checked and written at a time
	// (default 10).
	Threads int
	// Progress, when set, is told of the records of every segment checked
	// (phase "check") and of the records written (phase "write").
	Progress func(phase string, t SegType, records int)
	// Logger receives informational messages; nil discards them.
	Logger *slog.Logger
}

// writeBatch is how many commands one pipeline of a load sends.
const writeBatch = 1000

// Load restores a binary backup of the given size into an empty database.
// The whole backup is checked first (see Check): a malformed, truncated
// or damaged one is refused with the byte offset and the reason, before
// anything is written. Then the segments are written in parallel, exactly
// as juicefs load --binary writes them, the volume's format last, so an
// interrupted load never looks like a volume. If writing fails, the keys
// written are deleted again (the error says whether that worked).
func Load(ctx context.Context, t Volume, r io.ReaderAt, size int64, opts LoadOptions) (*Summary, error) {
	if opts.Threads <= 0 {
		opts.Threads = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkEmpty(ctx, t); err != nil {
		return nil, err
	}
	var checked func(SegType, int)
	if opts.Progress != nil {
		checked = func(st SegType, n int) { opts.Progress("check", st, n) }
	}
	s, err := Check(ctx, r, size, opts.Threads, checked)
	if err != nil {
		return nil, err
	}
	if err := checkEmpty(ctx, t); err != nil {
		return nil, err
	}
	if n := s.Records[SegChangeLog]; n > 0 {
		opts.Logger.Info(fmt.Sprintf("the backup holds %d change-log entries; they are not loaded, as juicefs does not load them", n))
	}
	l := &loader{c: t.Client(), t: t, r: r, opts: opts}
	if err := l.write(ctx, s); err != nil {
		return nil, l.undo(ctx, s, err)
	}
	return s, nil
}

// checkEmpty refuses a database that holds keys (with a key prefix: keys
// that carry it).
func checkEmpty(ctx context.Context, t Volume) error {
	c, k := t.Client(), t.Keys()
	if k.Prefix() == "" {
		n, err := c.Do(ctx, c.B().Dbsize().Build()).AsInt64()
		if err != nil {
			return fmt.Errorf("load: redis DBSIZE: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("%w: it holds %d keys", ErrNotEmpty, n)
		}
		return nil
	}
	node, err := redisconn.ScanNode(ctx, c, k)
	if err != nil {
		return fmt.Errorf("load: find the node to scan: %w", err)
	}
	var cursor uint64
	for {
		e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(k.Pattern("*")).Count(smallBatch).Build()).AsScanEntry()
		if err != nil {
			return fmt.Errorf("load: redis SCAN: %w", err)
		}
		if len(e.Elements) > 0 {
			return fmt.Errorf("%w: it holds keys with the prefix %s, such as %s", ErrNotEmpty, k.Prefix(), e.Elements[0])
		}
		if e.Cursor == 0 {
			return nil
		}
		cursor = e.Cursor
	}
}

type loader struct {
	c    rueidis.Client
	t    Volume
	r    io.ReaderAt
	opts LoadOptions
}

// write writes every segment but the format, threads at a time, then the
// highest ACL id and the format.
func (l *loader) write(ctx context.Context, s *Summary) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.opts.Threads)
	for _, seg := range s.Segments {
		if seg.Type == SegFormat || seg.Type == SegChangeLog {
			continue
		}
		g.Go(func() error { return l.writeSegment(gctx, seg) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	keys := l.t.Keys()
	var last []rueidis.Completed
	if s.MaxACLID > 0 {
		last = append(last, l.c.B().Set().Key(keys.ACLMaxID()).Value(strconv.FormatUint(uint64(s.MaxACLID), 10)).Build())
	}
	last = append(last, l.c.B().Set().Key(keys.Setting()).Value(string(s.FormatData)).Build())
	return l.send(ctx, last)
}

// writeSegment writes the records of one segment in pipelines of grouped
// commands.
func (l *loader) writeSegment(ctx context.Context, seg Segment) error {
	rr := newRecordReader(l.r, seg)
	w := newGroupedWrites()
	n := 0
	flush := func() error {
		if err := l.send(ctx, w.commands(l.c.B())); err != nil {
			return err
		}
		if l.opts.Progress != nil && n > 0 {
			l.opts.Progress("write", seg.Type, n)
		}
		w.reset()
		n = 0
		return nil
	}
	err := rr.each(func(field protowire.Number, rec message, _ int64) error {
		l.queue(w, field, rec)
		n++
		if w.size >= writeBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// send sends commands in one pipeline and checks every reply.
func (l *loader) send(ctx context.Context, cmds []rueidis.Completed) error {
	if len(cmds) == 0 {
		return nil
	}
	// The commands are recycled once sent: keep their names for errors.
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Commands()[0]
	}
	for i, r := range l.c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("redis %s: %w", names[i], err)
		}
	}
	return nil
}

// queue adds the writes that store one record as juicefs load --binary
// stores it (strings SET, hash fields HSET, lists RPUSH, ...).
func (l *loader) queue(w *groupedWrites, field protowire.Number, rec message) {
	b, k := l.c.B(), l.t.Keys()
	switch r := rec.(type) {
	case *Counter:
		v := r.Value
		if r.Key == "nextInode" || r.Key == "nextChunk" {
			v-- // Redis keeps the last number handed out
		}
		w.set(k.Counter(r.Key), strconv.FormatInt(v, 10))
	case *Node:
		w.set(k.Inode(codec.Ino(r.Inode)), string(r.Data))
	case *Edge:
		ent := codec.Entry{Typ: codec.FileType(r.Type), Inode: codec.Ino(r.Inode)}
		w.hset(k.Entries(codec.Ino(r.Parent)), string(r.Name), string(ent.Marshal()))
	case *Chunk:
		elems := make([]string, 0, len(r.Slices)/codec.SliceRecordSize)
		for off := 0; off < len(r.Slices); off += codec.SliceRecordSize {
			elems = append(elems, string(r.Slices[off:off+codec.SliceRecordSize]))
		}
		w.cmd(b.Rpush().Key(k.Chunk(codec.Ino(r.Inode), r.Index)).Element(elems...).Build(), len(elems))
	case *Symlink:
		w.set(k.Symlink(codec.Ino(r.Inode)), string(r.Target))
	case *Sustained:
		members := make([]string, len(r.Inodes))
		for i, ino := range r.Inodes {
			members[i] = strconv.FormatUint(ino, 10)
		}
		w.cmd(b.Sadd().Key(k.Sustained(r.Sid)).Member(members...).Build(), len(members))
	case *DelFile:
		member := codec.DelFileMember(codec.Ino(r.Inode), r.Length)
		w.cmd(b.Zadd().Key(k.DelFiles()).ScoreMember().ScoreMember(float64(r.Expire), member).Build(), 1)
	case *SliceRef:
		w.hset(k.SliceRef(), k.SliceRefField(r.ID, r.Size), strconv.FormatInt(r.Refs-1, 10))
	case *ACL:
		w.hset(k.ACL(), strconv.FormatUint(uint64(r.ID), 10), string(r.Data))
	case *Xattr:
		w.hset(k.Xattrs(codec.Ino(r.Inode)), string(r.Name), string(r.Value))
	case *Quota:
		limits, space, inodes, _ := k.Quota(quotaType(field, r))
		id := strconv.FormatUint(r.Key, 10)
		q := codec.QuotaLimits{MaxSpace: r.MaxSpace, MaxInodes: r.MaxInodes}
		w.hset(limits, id, string(q.Marshal()))
		w.hset(inodes, id, strconv.FormatInt(r.UsedInodes, 10))
		w.hset(space, id, strconv.FormatInt(r.UsedSpace, 10))
	case *DirStat:
		ino := strconv.FormatUint(r.Inode, 10)
		w.hset(k.DirDataLength(), ino, strconv.FormatInt(r.DataLength, 10))
		w.hset(k.DirUsedInodes(), ino, strconv.FormatInt(r.UsedInodes, 10))
		w.hset(k.DirUsedSpace(), ino, strconv.FormatInt(r.UsedSpace, 10))
	case *Parent:
		w.cmd(b.Hincrby().Key(k.Parents(codec.Ino(r.Inode))).Field(strconv.FormatUint(r.Parent, 10)).Increment(r.Count).Build(), 1)
	}
	// change-log entries are not loaded, as in juicefs
}

// quotaType is the family of a quota record: its field for users and
// groups, its Type for the others.
func quotaType(field protowire.Number, q *Quota) codec.QuotaType {
	switch field {
	case fieldUserQuotas:
		return codec.QuotaUser
	case fieldGroupQuotas:
		return codec.QuotaGroup
	}
	return codec.QuotaType(q.Type)
}

// undo deletes what a failed load wrote and reports cause.
func (l *loader) undo(ctx context.Context, s *Summary, cause error) error {
	// The context may be what failed; the cleanup gets a moment of its own.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	deleted, err := l.deleteKeys(cctx, s)
	if err != nil {
		return fmt.Errorf("%w: %w; deleting the keys written so far failed too (%v): the database is partly loaded, "+
			"delete its keys (FLUSHDB, or every key of the volume's prefix) before loading again", ErrLoadFailed, cause, err)
	}
	return fmt.Errorf("%w: %w; the %d keys it may have written were deleted, the database is empty again", ErrLoadFailed, cause, deleted)
}

// deleteKeys deletes every key the backup's records store, and the format:
// the keys of one inode as they come, the keys many records share (hashes
// of the volume, directories) once at the end.
func (l *loader) deleteKeys(ctx context.Context, s *Summary) (int, error) {
	k := l.t.Keys()
	shared := map[string]bool{k.Setting(): true, k.ACLMaxID(): true}
	var batch []string
	deleted := 0
	del := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := l.c.Do(ctx, l.c.B().Del().Key(batch...).Build()).Error()
		deleted += len(batch)
		batch = batch[:0]
		return err
	}
	for _, seg := range s.Segments {
		if seg.Type == SegFormat {
			continue
		}
		rr := newRecordReader(l.r, seg)
		err := rr.each(func(field protowire.Number, rec message, _ int64) error {
			own, common := recordKeys(k, field, rec)
			for _, key := range common {
				shared[key] = true
			}
			if own == "" {
				return nil
			}
			batch = append(batch, own)
			if len(batch) >= cleanupBatch {
				return del()
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
	}
	if err := del(); err != nil {
		return deleted, err
	}
	for key := range shared {
		batch = append(batch, key)
		if len(batch) >= cleanupBatch {
			if err := del(); err != nil {
				return deleted, err
			}
		}
	}
	return deleted, del()
}

// cleanupBatch is how many keys one DEL removes when undoing a load.
const cleanupBatch = 500

// recordKeys names the keys a record is stored in: its own key (one record
// per key) and keys other records share.
func recordKeys(k keyspace.Keys, field protowire.Number, rec message) (own string, shared []string) {
	switch r := rec.(type) {
	case *Counter:
		return "", []string{k.Counter(r.Key)}
	case *Node:
		return k.Inode(codec.Ino(r.Inode)), nil
	case *Edge:
		return "", []string{k.Entries(codec.Ino(r.Parent))}
	case *Chunk:
		return k.Chunk(codec.Ino(r.Inode), r.Index), nil
	case *Symlink:
		return k.Symlink(codec.Ino(r.Inode)), nil
	case *Sustained:
		return k.Sustained(r.Sid), nil
	case *DelFile:
		return "", []string{k.DelFiles()}
	case *SliceRef:
		return "", []string{k.SliceRef()}
	case *ACL:
		return "", []string{k.ACL()}
	case *Xattr:
		return "", []string{k.Xattrs(codec.Ino(r.Inode))}
	case *Quota:
		limits, space, inodes, _ := k.Quota(quotaType(field, r))
		return "", []string{limits, space, inodes}
	case *DirStat:
		return "", []string{k.DirDataLength(), k.DirUsedInodes(), k.DirUsedSpace()}
	case *Parent:
		return "", []string{k.Parents(codec.Ino(r.Inode))}
	}
	return "", nil
}
