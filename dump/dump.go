package dump

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
	"github.com/rueidisfs/rueidisfs/meta"
)

// DefaultThreads is the number of parallel readers of Dump when
// DumpOptions.Threads is 0, as `juicefs dump` defaults to.
const DefaultThreads = 10

// DumpOptions tune Dump. The zero value dumps the whole volume with the
// secrets removed, like `juicefs dump META-URL`.
type DumpOptions struct {
	// Subdir dumps only this directory (a slash-separated path from the
	// root): FSTree is that directory, which a later Load turns into the
	// root. Quotas still lists the whole volume's directory quotas;
	// UserQuotas, GroupQuotas and Trash are left out. Unlike juicefs, a
	// missing directory is an error rather than created.
	Subdir string
	// KeepSecretKey keeps SecretKey and SessionToken of the format; otherwise
	// they are replaced by "removed" (EncryptKey is always kept).
	KeepSecretKey bool
	// Threads is the number of parallel readers (0: DefaultThreads; below 0:
	// 1).
	Threads int
	// Fast is accepted for compatibility and ignored, as juicefs does for
	// Redis.
	Fast bool
	// SkipTrash leaves the trash out of the dump.
	SkipTrash bool
	// Progress, when set, is called from one goroutine as nodes are written:
	// done counts the nodes written so far, total is the expected number
	// (the volume's inode counter for a whole-volume dump, otherwise the
	// number of entries listed so far). It is called at most every
	// ProgressEvery nodes and once at the end.
	Progress func(done, total int64)
	// Logger receives warnings about corrupt values that are dumped anyway
	// (missing attributes or symlink targets, malformed chunk lists), as
	// juicefs logs them; nil discards them.
	Logger *slog.Logger
}

// ProgressEvery is how many nodes Dump writes between two Progress calls.
const ProgressEvery = 1000

// Keys of the dump's counters object, in JuiceFS's order.
type dumpedCounters struct {
	UsedSpace         int64 `json:"usedSpace"`
	UsedInodes        int64 `json:"usedInodes"`
	NextInode         int64 `json:"nextInodes"`
	NextChunk         int64 `json:"nextChunk"`
	NextSession       int64 `json:"nextSession"`
	NextTrash         int64 `json:"nextTrash"`
	NextCleanupSlices int64 `json:"nextCleanupSlices,omitempty"`
	LastChangelog     int64 `json:"lastChangelog,omitempty"`
}

type dumpedSustained struct {
	Sid    uint64   `json:"sid"`
	Inodes []uint64 `json:"inodes"`
}

type dumpedDelFile struct {
	Inode  uint64 `json:"inode"`
	Length uint64 `json:"length"`
	Expire int64  `json:"expire"`
}

type dumpedQuota struct {
	MaxSpace  int64 `json:"maxSpace"`
	MaxInodes int64 `json:"maxInodes"`
}

// Dump writes the JSON metadata dump of the volume opened by e to w, byte
// for byte what `juicefs dump` 1.4.1 writes for the same keyspace (see
// docs/dump.md for the format and the few documented differences).
//
// Like juicefs it is not a snapshot: the head is read first, then the tree
// directory by directory, so a volume modified meanwhile may give an
// inconsistent dump; stop the writers (or mount read-only) first. Memory
// stays bounded whatever the volume's size: nodes are written as soon as
// they are read, and only the entry names of the directories on the current
// path (sorted per directory) and a bounded window of prefetched nodes are
// held.
//
// Dump reads the volume's format itself (without the version check the CLI
// should make first). It does not write to the volume.
func Dump(ctx context.Context, e *meta.Engine, w io.Writer, opts DumpOptions) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case opts.Threads == 0:
		opts.Threads = DefaultThreads
	case opts.Threads < 0:
		opts.Threads = 1
	}
	f, err := e.Load(ctx, false)
	if err != nil {
		return fmt.Errorf("dump: read the volume format: %w", err)
	}
	root := meta.RootInode
	if strings.Trim(opts.Subdir, "/") != "" {
		ino, a, err := e.Resolve(ctx, meta.RootInode, opts.Subdir)
		if err != nil {
			return fmt.Errorf("dump: sub-directory %q: %w", opts.Subdir, err)
		}
		if a.Typ != codec.TypeDirectory {
			return fmt.Errorf("dump: sub-directory %q: %w", opts.Subdir, syscall.ENOTDIR)
		}
		root = ino
	}
	c, keys := e.Client(), e.Keys()
	bw := bufio.NewWriterSize(w, 64<<10)
	h := &headWriter{ctx: ctx, c: c, keys: keys, log: opts.Logger, bw: bw}
	usedInodes, err := h.write(f, root == meta.RootInode, opts.KeepSecretKey)
	if err != nil {
		return err
	}
	wk := newWalker(ctx, c, keys, bw, opts)
	wk.f.chunkIndexes = e.Inspect().ChunkIndexes
	defer wk.stop()
	if root == meta.RootInode && !opts.SkipTrash {
		wk.useTotal, wk.total = true, usedInodes
	}
	if err := wk.dumpRoot("FSTree", root); err != nil {
		return err
	}
	if root == meta.RootInode && !opts.SkipTrash {
		if _, err := bw.WriteString(","); err != nil {
			return err
		}
		if err := wk.dumpRoot("Trash", meta.TrashInode); err != nil {
			return err
		}
	}
	if _, err := bw.WriteString("\n}\n"); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	wk.report(true)
	return nil
}

// headWriter reads and writes everything before the tree.
type headWriter struct {
	ctx  context.Context
	c    rueidis.Client
	keys keyspace.Keys
	log  *slog.Logger
	bw   *bufio.Writer
	buf  []byte
}

func (h *headWriter) redisErr(what string, err error) error {
	return fmt.Errorf("dump: redis %s: %w", what, err)
}

// write writes the head, up to and including the comma after its last
// value, and returns the inode counter (for progress).
func (h *headWriter) write(f *codec.Format, wholeVolume, keepSecret bool) (int64, error) {
	setting := *f
	if !keepSecret {
		if setting.SecretKey != "" {
			setting.SecretKey = codec.RemovedSecret
			h.log.Warn("secret key is removed for the sake of safety")
		}
		if setting.SessionToken != "" {
			setting.SessionToken = codec.RemovedSecret
			h.log.Warn("session token is removed for the sake of safety")
		}
	}
	counters, err := h.counters(f)
	if err != nil {
		return 0, err
	}
	sustained, err := h.sustained()
	if err != nil {
		return 0, err
	}
	dirQuotas, err := h.quotas(h.keys.DirQuota())
	if err != nil {
		return 0, err
	}
	var userQuotas, groupQuotas map[uint64]dumpedQuota
	if wholeVolume {
		if userQuotas, err = h.quotas(h.keys.UserQuota()); err != nil {
			return 0, err
		}
		if groupQuotas, err = h.quotas(h.keys.GroupQuota()); err != nil {
			return 0, err
		}
	}

	h.buf = append(h.buf[:0], '{')
	if err := h.value("Setting", &setting); err != nil {
		return 0, err
	}
	h.buf = append(h.buf, ',')
	if err := h.value("Counters", counters); err != nil {
		return 0, err
	}
	h.buf = append(h.buf, ',')
	if err := h.value("Sustained", sustained); err != nil {
		return 0, err
	}
	h.buf = append(h.buf, ',')
	if err := h.delFiles(); err != nil {
		return 0, err
	}
	for _, q := range []struct {
		name string
		m    map[uint64]dumpedQuota
	}{{"Quotas", dirQuotas}, {"UserQuotas", userQuotas}, {"GroupQuotas", groupQuotas}} {
		if len(q.m) > 0 {
			h.buf = append(h.buf, ',')
			if err := h.value(q.name, q.m); err != nil {
				return 0, err
			}
		}
	}
	h.buf = append(h.buf, ',')
	if _, err := h.bw.Write(h.buf); err != nil {
		return 0, err
	}
	return counters.UsedInodes, nil
}

// value appends a top-level key and its indented value to the buffer.
func (h *headWriter) value(name string, v any) error {
	h.buf = append(h.buf, '\n')
	h.buf = appendIndent(h.buf, 1)
	h.buf = appendJSONString(h.buf, name)
	h.buf = append(h.buf, ':', ' ')
	var err error
	h.buf, err = appendIndented(h.buf, reflect.ValueOf(v), 1)
	return err
}

// parseCounter reads a counter the way juicefs does: a missing key is 0 and
// a malformed value whatever strconv.ParseInt makes of it.
func parseCounter(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

func (h *headWriter) counters(f *codec.Format) (*dumpedCounters, error) {
	k := h.keys
	names := []string{k.UsedSpace(), k.TotalInodes(), k.NextInode(), k.NextChunk(), k.NextSession(), k.NextTrash()}
	vals, err := h.c.Do(h.ctx, h.c.B().Mget().Key(names...).Build()).ToArray()
	if err != nil {
		return nil, h.redisErr("MGET counters", err)
	}
	cs := make([]int64, len(names))
	for i := range cs {
		if i < len(vals) {
			if s, err := vals[i].ToString(); err == nil {
				cs[i] = parseCounter(s)
			}
		}
	}
	d := &dumpedCounters{
		UsedSpace:   cs[0],
		UsedInodes:  cs[1],
		NextInode:   cs[2] + 1, // Redis keeps the last number handed out, dumps the next free one
		NextChunk:   cs[3] + 1,
		NextSession: cs[4],
		NextTrash:   cs[5],
	}
	if f.ChangeLog {
		s, err := h.c.Do(h.ctx, h.c.B().Get().Key(k.TxnLastLog()).Build()).ToString()
		if err == nil {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				d.LastChangelog = n
			}
		} else if !rueidis.IsRedisNil(err) {
			return nil, h.redisErr("GET "+k.TxnLastLog(), err)
		}
	}
	return d, nil
}

func (h *headWriter) sustained() ([]dumpedSustained, error) {
	sids, err := h.c.Do(h.ctx, h.c.B().Zrange().Key(h.keys.AllSessions()).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return nil, h.redisErr("ZRANGE "+h.keys.AllSessions(), err)
	}
	out := make([]dumpedSustained, 0)
	for _, s := range sids {
		sid, _ := strconv.ParseUint(s, 10, 64)
		key := h.keys.Sustained(sid)
		members, err := h.c.Do(h.ctx, h.c.B().Smembers().Key(key).Build()).AsStrSlice()
		if err != nil {
			return nil, h.redisErr("SMEMBERS "+key, err)
		}
		if len(members) == 0 {
			continue
		}
		inodes := make([]uint64, len(members))
		for i, m := range members {
			inodes[i], _ = strconv.ParseUint(m, 10, 64)
		}
		out = append(out, dumpedSustained{Sid: sid, Inodes: inodes})
	}
	return out, nil
}

// delFilesPage is how many delfiles members one ZRANGE reads.
const delFilesPage = 10000

// delFiles appends the DelFiles array, reading the zset in pages so that a
// long queue of deleted files does not have to fit in memory at once.
func (h *headWriter) delFiles() error {
	h.buf = append(h.buf, '\n')
	h.buf = appendIndent(h.buf, 1)
	h.buf = append(h.buf, `"DelFiles": [`...)
	key := h.keys.DelFiles()
	n := 0
	for start := int64(0); ; start += delFilesPage {
		cmd := h.c.B().Zrange().Key(key).Min(strconv.FormatInt(start, 10)).Max(strconv.FormatInt(start+delFilesPage-1, 10)).Withscores().Build()
		zs, err := h.c.Do(h.ctx, cmd).AsZScores()
		if err != nil {
			return h.redisErr("ZRANGE "+key, err)
		}
		for _, z := range zs {
			parts := strings.Split(z.Member, ":")
			if len(parts) != 2 {
				h.log.Warn("invalid delfile string", "member", z.Member)
				continue
			}
			ino, _ := strconv.ParseUint(parts[0], 10, 64)
			length, _ := strconv.ParseUint(parts[1], 10, 64)
			if n > 0 {
				h.buf = append(h.buf, ',')
			}
			n++
			h.buf = append(h.buf, '\n')
			h.buf = appendIndent(h.buf, 2)
			h.buf, err = appendIndented(h.buf, reflect.ValueOf(dumpedDelFile{Inode: ino, Length: length, Expire: int64(z.Score)}), 2)
			if err != nil {
				return err
			}
		}
		if len(h.buf) > 1<<20 {
			if _, err := h.bw.Write(h.buf); err != nil {
				return err
			}
			h.buf = h.buf[:0]
		}
		if len(zs) < delFilesPage {
			break
		}
	}
	if n > 0 {
		h.buf = append(h.buf, '\n')
		h.buf = appendIndent(h.buf, 1)
	}
	h.buf = append(h.buf, ']')
	return nil
}

// quotas reads a quota limits hash; entries that are malformed or unlimited
// on both counts are left out, as juicefs does.
func (h *headWriter) quotas(key string) (map[uint64]dumpedQuota, error) {
	m, err := h.c.Do(h.ctx, h.c.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		return nil, h.redisErr("HGETALL "+key, err)
	}
	out := make(map[uint64]dumpedQuota, len(m))
	for field, v := range m {
		id, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			h.log.Warn("quota with a malformed id is not dumped", "key", key, "field", field)
			continue
		}
		q, err := codec.UnmarshalQuota(v)
		if err != nil {
			h.log.Warn("malformed quota is not dumped", "key", key, "field", field, "error", err)
			continue
		}
		if q.MaxSpace == -1 && q.MaxInodes == -1 {
			continue
		}
		out[id] = dumpedQuota{MaxSpace: q.MaxSpace, MaxInodes: q.MaxInodes}
	}
	return out, nil
}
