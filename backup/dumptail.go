package backup

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rueidisfs/rueidisfs/codec"
)

// The segments after the per-inode keys. Each is written even when empty,
// as juicefs writes them, but for the quotas, written only when there are
// some.

// sustained writes the deleted but open inodes of every session.
func (d *dumper) sustained(ctx context.Context) error {
	sids, err := d.c.Do(ctx, d.c.B().Zrange().Key(d.keys.AllSessions()).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return redisErr("ZRANGE "+d.keys.AllSessions(), err)
	}
	b := newBatch(SegSustained, fieldSustained)
	for _, s := range sids {
		sid, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			continue
		}
		members, err := d.c.Do(ctx, d.c.B().Smembers().Key(d.keys.Sustained(sid)).Build()).AsStrSlice()
		if err != nil {
			return redisErr("SMEMBERS "+d.keys.Sustained(sid), err)
		}
		rec := &Sustained{Sid: sid}
		for _, m := range members {
			if ino, err := strconv.ParseUint(m, 10, 64); err == nil && ino > 0 {
				rec.Inodes = append(rec.Inodes, ino)
			}
		}
		if len(rec.Inodes) > 0 {
			b.add(rec)
		}
	}
	return d.sw.writeBatch(b)
}

// delFiles writes the files waiting for the deletion of their data, a page
// of the sorted set at a time.
func (d *dumper) delFiles(ctx context.Context) error {
	key := d.keys.DelFiles()
	b := newBatch(SegDelFile, fieldDelFiles)
	for start := int64(0); ; start += bigBatch {
		cmd := d.c.B().Zrange().Key(key).Min(strconv.FormatInt(start, 10)).Max(strconv.FormatInt(start+bigBatch-1, 10)).Withscores().Build()
		zs, err := d.c.Do(ctx, cmd).AsZScores()
		if err != nil {
			return redisErr("ZRANGE "+key, err)
		}
		for _, z := range zs {
			ino, length, ok := codec.ParseDelFileMember(z.Member)
			if !ok {
				d.opts.Logger.Warn(fmt.Sprintf("dump: deleted file %q is malformed; left out", z.Member))
				continue
			}
			b.add(&DelFile{Inode: uint64(ino), Length: length, Expire: int64(z.Score)})
			if b.n >= bigBatch {
				if err := d.sw.writeBatch(b); err != nil {
					return err
				}
				b = newBatch(SegDelFile, fieldDelFiles)
			}
		}
		if len(zs) < bigBatch {
			break
		}
	}
	return d.sw.writeBatch(b)
}

// sliceRefs writes the slices referenced more than once (the hash keeps
// the count minus one; a slice referenced once has no field or 0).
func (d *dumper) sliceRefs(ctx context.Context) error {
	key := d.keys.SliceRef()
	b := newBatch(SegSliceRef, fieldSliceRefs)
	err := d.hscan(ctx, key, func(field, value string) error {
		id, size, ok := d.keys.ParseSliceRefField(field)
		v, err := strconv.ParseInt(value, 10, 64)
		if !ok || err != nil {
			d.opts.Logger.Warn(fmt.Sprintf("dump: slice reference %q -> %q is malformed; left out", field, value))
			return nil
		}
		if v < 1 {
			return nil
		}
		b.add(&SliceRef{ID: id, Size: size, Refs: v + 1})
		if b.n >= bigBatch {
			if err := d.sw.writeBatch(b); err != nil {
				return err
			}
			b = newBatch(SegSliceRef, fieldSliceRefs)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return d.sw.writeBatch(b)
}

// hscan calls fn with every field of a hash, a page at a time.
func (d *dumper) hscan(ctx context.Context, key string, fn func(field, value string) error) error {
	var cursor uint64
	for {
		e, err := d.c.Do(ctx, d.c.B().Hscan().Key(key).Cursor(cursor).Count(bigBatch).Build()).AsScanEntry()
		if err != nil {
			return redisErr("HSCAN "+key, err)
		}
		for i := 0; i+1 < len(e.Elements); i += 2 {
			if err := fn(e.Elements[i], e.Elements[i+1]); err != nil {
				return err
			}
		}
		if e.Cursor == 0 {
			return nil
		}
		cursor = e.Cursor
	}
}

// acls writes the ACL rules.
func (d *dumper) acls(ctx context.Context) error {
	m, err := d.c.Do(ctx, d.c.B().Hgetall().Key(d.keys.ACL()).Build()).AsStrMap()
	if err != nil {
		return redisErr("HGETALL "+d.keys.ACL(), err)
	}
	b := newBatch(SegACL, fieldACLs)
	for field, v := range m {
		id, err := strconv.ParseUint(field, 10, 32)
		if err != nil || id == 0 {
			d.opts.Logger.Warn(fmt.Sprintf("dump: ACL rule %q is malformed; left out", field))
			continue
		}
		b.add(&ACL{ID: uint32(id), Data: []byte(v)})
	}
	return d.sw.writeBatch(b)
}

// quotas writes the directory, user and group quotas with their usage:
// every id with usage (limits -1 when it has none, as juicefs writes
// them), then every id with limits only.
func (d *dumper) quotas(ctx context.Context) error {
	b := newBatch(SegQuota, fieldQuotas)
	for _, fam := range []struct {
		typ   codec.QuotaType
		field protowire.Number
	}{{codec.QuotaDir, fieldQuotas}, {codec.QuotaUser, fieldUserQuotas}, {codec.QuotaGroup, fieldGroupQuotas}} {
		if err := d.quotaFamily(ctx, b, fam.typ, fam.field); err != nil {
			return err
		}
	}
	if b.n == 0 {
		return nil
	}
	return d.sw.writeBatch(b)
}

func (d *dumper) quotaFamily(ctx context.Context, b *batch, typ codec.QuotaType, field protowire.Number) error {
	limitsKey, spaceKey, inodesKey, _ := d.keys.Quota(typ)
	hashes := make([]map[string]string, 3)
	for i, key := range []string{limitsKey, spaceKey, inodesKey} {
		m, err := d.c.Do(ctx, d.c.B().Hgetall().Key(key).Build()).AsStrMap()
		if err != nil {
			return redisErr("HGETALL "+key, err)
		}
		hashes[i] = m
	}
	limits, space, inodes := hashes[0], hashes[1], hashes[2]
	add := func(id, limit string, usedSpace, usedInodes int64) {
		key, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			d.opts.Logger.Warn(fmt.Sprintf("dump: quota %q of %s is malformed; left out", id, limitsKey))
			return
		}
		q := &Quota{Key: key, MaxSpace: -1, MaxInodes: -1, UsedSpace: usedSpace, UsedInodes: usedInodes, Type: uint32(typ)}
		if limit != "" {
			l, err := codec.UnmarshalQuota(limit)
			if err != nil {
				d.opts.Logger.Warn(fmt.Sprintf("dump: quota %s of %s: %v; left out", id, limitsKey, err))
				return
			}
			q.MaxSpace, q.MaxInodes = l.MaxSpace, l.MaxInodes
		}
		b.addTo(field, q)
	}
	for _, id := range sortedKeys(inodes) {
		usedInodes, err1 := strconv.ParseInt(inodes[id], 10, 64)
		usedSpace, err2 := parseOptional(space[id])
		if err1 != nil || err2 != nil {
			d.opts.Logger.Warn(fmt.Sprintf("dump: usage of quota %s of %s is malformed; left out", id, limitsKey))
			continue
		}
		add(id, limits[id], usedSpace, usedInodes)
	}
	for _, id := range sortedKeys(limits) {
		if _, done := inodes[id]; !done {
			add(id, limits[id], 0, 0)
		}
	}
	return nil
}

// parseOptional parses a counter that may be missing (0).
func parseOptional(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dirStats writes the statistics of every directory that has a data
// length, a page of directories at a time.
func (d *dumper) dirStats(ctx context.Context) error {
	b := newBatch(SegStat, fieldDirStats)
	var fields, lengths []string
	flush := func() error {
		if len(fields) == 0 {
			return nil
		}
		res := d.c.DoMulti(ctx,
			d.c.B().Hmget().Key(d.keys.DirUsedInodes()).Field(fields...).Build(),
			d.c.B().Hmget().Key(d.keys.DirUsedSpace()).Field(fields...).Build())
		inodes, err := res[0].ToArray()
		if err != nil {
			return redisErr("HMGET "+d.keys.DirUsedInodes(), err)
		}
		space, err := res[1].ToArray()
		if err != nil {
			return redisErr("HMGET "+d.keys.DirUsedSpace(), err)
		}
		for i, f := range fields {
			ino, err := strconv.ParseUint(f, 10, 64)
			if err != nil || ino == 0 {
				continue
			}
			st := &DirStat{Inode: ino}
			st.DataLength, _ = strconv.ParseInt(lengths[i], 10, 64)
			if s, err := inodes[i].ToString(); err == nil {
				st.UsedInodes, _ = strconv.ParseInt(s, 10, 64)
			}
			if s, err := space[i].ToString(); err == nil {
				st.UsedSpace, _ = strconv.ParseInt(s, 10, 64)
			}
			b.add(st)
		}
		fields, lengths = fields[:0], lengths[:0]
		if b.n < bigBatch {
			return nil
		}
		err = d.sw.writeBatch(b)
		b = newBatch(SegStat, fieldDirStats)
		return err
	}
	err := d.hscan(ctx, d.keys.DirDataLength(), func(field, value string) error {
		fields, lengths = append(fields, field), append(lengths, value)
		if len(fields) >= smallBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	return d.sw.writeBatch(b)
}
