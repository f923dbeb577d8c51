package fsck

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/keyspace"
	"github.com/rueidisfs/rueidisfs/redisconn"
)

type sliceKey struct {
	id   uint64
	size uint32
}

type quotaUse struct{ usedSpace, usedInodes int64 }

// snapshot is the part of a volume the recount needs, read key family by
// key family (not atomically: the volume must be quiescent).
type snapshot struct {
	keys   keyspace.Keys
	format *codec.Format

	attrs        map[codec.Ino]codec.Attr
	dirs         map[codec.Ino]map[string]codec.Entry
	parents      map[codec.Ino]map[codec.Ino]int64
	symlinks     map[codec.Ino]string
	xattrs       map[codec.Ino]bool
	chunkIndexes map[codec.Ino][]uint32
	sliceUses    map[sliceKey]int
	sliceRefs    map[sliceKey]int64
	sustained    map[codec.Ino]bool
	detached     map[codec.Ino]bool
	deleting     map[codec.Ino]bool

	usedSpace, totalInodes int64
	dirStats               map[codec.Ino]dirStat
	dirQuotas              map[codec.Ino]quotaUse
	userQuotas             map[uint64]quotaUse
	groupQuotas            map[uint64]quotaUse
}

func loadSnapshot(ctx context.Context, c rueidis.Client, k keyspace.Keys) (*snapshot, error) {
	s := &snapshot{
		keys:         k,
		attrs:        map[codec.Ino]codec.Attr{},
		dirs:         map[codec.Ino]map[string]codec.Entry{},
		parents:      map[codec.Ino]map[codec.Ino]int64{},
		symlinks:     map[codec.Ino]string{},
		xattrs:       map[codec.Ino]bool{},
		chunkIndexes: map[codec.Ino][]uint32{},
		sliceUses:    map[sliceKey]int{},
		sliceRefs:    map[sliceKey]int64{},
		sustained:    map[codec.Ino]bool{},
		detached:     map[codec.Ino]bool{},
		deleting:     map[codec.Ino]bool{},
		dirStats:     map[codec.Ino]dirStat{},
		dirQuotas:    map[codec.Ino]quotaUse{},
		userQuotas:   map[uint64]quotaUse{},
		groupQuotas:  map[uint64]quotaUse{},
	}
	setting, err := c.Do(ctx, c.B().Get().Key(k.Setting()).Build()).ToString()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", k.Setting(), err)
	}
	if s.format, err = codec.ParseSetting(setting); err != nil {
		return nil, codec.Corrupt(k.Setting(), err)
	}
	keys, err := scanAll(ctx, c, k)
	if err != nil {
		return nil, err
	}
	for _, name := range keys {
		if err := s.loadKey(ctx, c, name); err != nil {
			return nil, err
		}
	}
	if s.usedSpace, err = counter(ctx, c, k.UsedSpace()); err != nil {
		return nil, err
	}
	if s.totalInodes, err = counter(ctx, c, k.TotalInodes()); err != nil {
		return nil, err
	}
	if err := s.loadStats(ctx, c); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *snapshot) loadKey(ctx context.Context, c rueidis.Client, name string) error {
	k := s.keys
	if ino, ok := k.ParseInodeKey(name); ok {
		v, err := c.Do(ctx, c.B().Get().Key(name).Build()).ToString()
		if err != nil {
			return fmt.Errorf("GET %s: %w", name, err)
		}
		var a codec.Attr
		if err := codec.UnmarshalAttr(v, &a); err != nil {
			return codec.Corrupt(name, err)
		}
		s.attrs[ino] = a
		return nil
	}
	if ino, ok := k.ParseEntriesKey(name); ok {
		m, err := c.Do(ctx, c.B().Hgetall().Key(name).Build()).AsStrMap()
		if err != nil {
			return fmt.Errorf("HGETALL %s: %w", name, err)
		}
		ents := make(map[string]codec.Entry, len(m))
		for f, v := range m {
			e, err := codec.UnmarshalEntry(v)
			if err != nil {
				return codec.CorruptField(name, f, err)
			}
			ents[f] = e
		}
		s.dirs[ino] = ents
		return nil
	}
	if ino, ok := k.ParseParentsKey(name); ok {
		m, err := c.Do(ctx, c.B().Hgetall().Key(name).Build()).AsStrMap()
		if err != nil {
			return fmt.Errorf("HGETALL %s: %w", name, err)
		}
		pm := map[codec.Ino]int64{}
		for f, v := range m {
			p, err1 := strconv.ParseUint(f, 10, 64)
			n, err2 := strconv.ParseInt(v, 10, 64)
			if err1 != nil || err2 != nil {
				return codec.CorruptField(name, f, fmt.Errorf("not a parent count: %q", v))
			}
			pm[codec.Ino(p)] = n
		}
		s.parents[ino] = pm
		return nil
	}
	if ino, ok := k.ParseSymlinkKey(name); ok {
		v, err := c.Do(ctx, c.B().Get().Key(name).Build()).ToString()
		if err != nil {
			return fmt.Errorf("GET %s: %w", name, err)
		}
		s.symlinks[ino] = v
		return nil
	}
	if ino, ok := k.ParseXattrsKey(name); ok {
		s.xattrs[ino] = true
		return nil
	}
	if ino, indx, ok := k.ParseChunkKey(name); ok {
		s.chunkIndexes[ino] = append(s.chunkIndexes[ino], indx)
		recs, err := c.Do(ctx, c.B().Lrange().Key(name).Start(0).Stop(-1).Build()).AsStrSlice()
		if err != nil {
			return fmt.Errorf("LRANGE %s: %w", name, err)
		}
		for i, r := range recs {
			rec, err := codec.UnmarshalSliceRecord(r)
			if err != nil {
				return codec.Corrupt(name, fmt.Errorf("element %d: %w", i, err))
			}
			if rec.ID != 0 {
				s.sliceUses[sliceKey{rec.ID, rec.Size}]++
			}
		}
		return nil
	}
	if sid, ok := k.ParseSustainedKey(name); ok {
		members, err := c.Do(ctx, c.B().Smembers().Key(name).Build()).AsStrSlice()
		if err != nil {
			return fmt.Errorf("SMEMBERS %s: %w", name, err)
		}
		if sid == 0 {
			return nil
		}
		for _, m := range members {
			if ino, err := strconv.ParseUint(m, 10, 64); err == nil {
				s.sustained[codec.Ino(ino)] = true
			}
		}
	}
	return nil
}

func (s *snapshot) loadStats(ctx context.Context, c rueidis.Client) error {
	k := s.keys
	hashes := []string{k.DirDataLength(), k.DirUsedSpace(), k.DirUsedInodes(),
		k.DirQuotaUsedSpace(), k.DirQuotaUsedInodes(),
		k.UserQuotaUsedSpace(), k.UserQuotaUsedInodes(), k.GroupQuotaUsedSpace(), k.GroupQuotaUsedInodes(),
		k.SliceRef(), k.DelSlices()}
	maps := make([]map[string]string, len(hashes))
	for i, h := range hashes {
		m, err := c.Do(ctx, c.B().Hgetall().Key(h).Build()).AsStrMap()
		if err != nil {
			return fmt.Errorf("HGETALL %s: %w", h, err)
		}
		maps[i] = m
	}
	num := codec.ParseInt
	// Directory statistics: a directory has statistics when dirUsedSpace
	// has its field (that is what clients test).
	for f, sp := range maps[1] {
		ino, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			continue
		}
		var st dirStat
		if st.space, err = num(hashes[1], f, sp); err != nil {
			return err
		}
		if v, ok := maps[0][f]; ok {
			if st.length, err = num(hashes[0], f, v); err != nil {
				return err
			}
		}
		if v, ok := maps[2][f]; ok {
			if st.inodes, err = num(hashes[2], f, v); err != nil {
				return err
			}
		}
		s.dirStats[codec.Ino(ino)] = st
	}
	quotas := func(spaceIdx, inodesIdx int, put func(id uint64, q quotaUse)) error {
		for f, in := range maps[inodesIdx] {
			id, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				continue
			}
			var q quotaUse
			if q.usedInodes, err = num(hashes[inodesIdx], f, in); err != nil {
				return err
			}
			if v, ok := maps[spaceIdx][f]; ok {
				if q.usedSpace, err = num(hashes[spaceIdx], f, v); err != nil {
					return err
				}
			}
			put(id, q)
		}
		return nil
	}
	if err := quotas(3, 4, func(id uint64, q quotaUse) { s.dirQuotas[codec.Ino(id)] = q }); err != nil {
		return err
	}
	if err := quotas(5, 6, func(id uint64, q quotaUse) { s.userQuotas[id] = q }); err != nil {
		return err
	}
	if err := quotas(7, 8, func(id uint64, q quotaUse) { s.groupQuotas[id] = q }); err != nil {
		return err
	}
	for f, v := range maps[9] {
		id, size, ok := k.ParseSliceRefField(f)
		if !ok {
			continue
		}
		n, err := num(hashes[9], f, v)
		if err != nil {
			return err
		}
		s.sliceRefs[sliceKey{id, size}] = n
	}
	for f, v := range maps[10] {
		recs, err := codec.UnmarshalDelSliceRecords(v)
		if err != nil {
			return codec.CorruptField(hashes[10], f, err)
		}
		for _, r := range recs {
			s.sliceUses[sliceKey{r.ID, r.Size}]++
		}
	}
	del, err := c.Do(ctx, c.B().Zrange().Key(k.DelFiles()).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return fmt.Errorf("ZRANGE %s: %w", k.DelFiles(), err)
	}
	for _, m := range del {
		if ino, _, ok := codec.ParseDelFileMember(m); ok {
			s.deleting[ino] = true
		}
	}
	det, err := c.Do(ctx, c.B().Zrange().Key(k.DetachedNodes()).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return fmt.Errorf("ZRANGE %s: %w", k.DetachedNodes(), err)
	}
	for _, m := range det {
		if ino, err := strconv.ParseUint(m, 10, 64); err == nil {
			s.detached[codec.Ino(ino)] = true
		}
	}
	return nil
}

func counter(ctx context.Context, c rueidis.Client, key string) (int64, error) {
	v, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", key, err)
	}
	return codec.ParseInt(key, "", v)
}

// scanAll lists every key of the volume (in Cluster mode: every key carrying
// its prefix, on the node that owns the prefix's slot).
func scanAll(ctx context.Context, c rueidis.Client, k keyspace.Keys) ([]string, error) {
	node, err := redisconn.ScanNode(ctx, c, k)
	if err != nil {
		return nil, err
	}
	var out []string
	var cursor uint64
	for {
		e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(k.Prefix()+"*").Count(10000).Build()).AsScanEntry()
		if err != nil {
			return nil, fmt.Errorf("SCAN: %w", err)
		}
		out = append(out, e.Elements...)
		if e.Cursor == 0 {
			return dedupe(out), nil
		}
		cursor = e.Cursor
	}
}

// dedupe drops repeated names: SCAN may return a key more than once.
func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
