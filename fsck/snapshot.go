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

// quotaUse is the stored usage of a quota; bad, when set, says which of
// its values is not an integer.
type quotaUse struct {
	usedSpace, usedInodes int64
	bad                   string
}

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
	// deletingMembers are the delfiles members, with their inode.
	deletingMembers []deletion

	usedSpace, totalInodes int64
	dirStats               map[codec.Ino]dirStat
	dirQuotas              map[codec.Ino]quotaUse
	userQuotas             map[uint64]quotaUse
	groupQuotas            map[uint64]quotaUse

	// Values that could not be decoded (see corruption.go).
	corrupt []Problem
	// badAttrs are inodes whose attribute exists but cannot be decoded.
	badAttrs map[codec.Ino]bool
	// badSymlinks are symlink targets stored as something else than a
	// string.
	badSymlinks map[codec.Ino]bool
	// badRefs holds the sliceRef values that are not integers.
	badRefs map[sliceKey]string
	// badParentCounts holds the p{ino} values that are not integers.
	badParentCounts map[codec.Ino]map[codec.Ino]string
	// usedSpaceBad and totalInodesBad hold volume counters that are not
	// integers.
	usedSpaceBad, totalInodesBad string
	// incompleteTree counts corrupt attributes and entries (and a used
	// space that overflows), and
	// incompleteSlices corrupt chunk lists and delSlices entries: what the
	// recount computes from them is incomplete, and the repairs that store
	// recounted values are not applied (see dropUnsafeFixes).
	incompleteTree, incompleteSlices int
	// nextInode and nextChunk are the id counters (-1: not an integer);
	// maxIno and maxSlice the highest ids in use.
	nextInode, nextChunk int64
	maxIno, maxSlice     uint64
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

		badAttrs:        map[codec.Ino]bool{},
		badSymlinks:     map[codec.Ino]bool{},
		badRefs:         map[sliceKey]string{},
		badParentCounts: map[codec.Ino]map[codec.Ino]string{},
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
			if !isWrongType(err) {
				return nil, err
			}
			s.wrongType(ctx, c, name)
		}
	}
	if err := s.loadCounters(ctx, c); err != nil {
		return nil, err
	}
	if err := s.loadStats(ctx, c); err != nil {
		return nil, err
	}
	if err := s.loadSets(ctx, c); err != nil {
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
		s.maxIno = max(s.maxIno, idOf(ino))
		var a codec.Attr
		if err := codec.UnmarshalAttr(v, &a); err != nil {
			s.badAttrs[ino] = true
			s.incompleteTree++
			s.addCorrupt(Problem{Key: name, Detail: codec.Corrupt(name, err).Error() +
				"; remove the node (or restore its attribute) by hand: its type and size are unknown"})
			return nil
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
				s.incompleteTree++
				s.addCorrupt(Problem{Key: name + " " + strconv.Quote(f), Detail: codec.CorruptField(name, f, err).Error() +
					"; the node it named is unknown: delete the entry by hand once the node is found (or known lost)"})
				continue
			}
			s.maxIno = max(s.maxIno, idOf(e.Inode))
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
			p, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				s.dropField(name, f, v, "is no inode number")
				continue
			}
			n, err := codec.ParseInt(name, f, v)
			if err != nil {
				// The recount of the parent counts replaces it.
				if s.badParentCounts[ino] == nil {
					s.badParentCounts[ino] = map[codec.Ino]string{}
				}
				s.badParentCounts[ino][codec.Ino(p)] = v
				n = -1
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
		// Only its type is checked: values are arbitrary bytes.
		if err := c.Do(ctx, c.B().Hlen().Key(name).Build()).Error(); err != nil {
			return fmt.Errorf("HLEN %s: %w", name, err)
		}
		s.xattrs[ino] = true
		return nil
	}
	if ino, indx, ok := k.ParseChunkKey(name); ok {
		s.chunkIndexes[ino] = append(s.chunkIndexes[ino], indx)
		recs, err := c.Do(ctx, c.B().Lrange().Key(name).Start(0).Stop(-1).Build()).AsStrSlice()
		if err != nil {
			return fmt.Errorf("LRANGE %s: %w", name, err)
		}
		s.maxIno = max(s.maxIno, idOf(ino))
		for i, r := range recs {
			rec, err := codec.UnmarshalSliceRecord(r)
			if err != nil {
				s.incompleteSlices++
				s.addCorrupt(Problem{Key: name, Detail: codec.Corrupt(name, fmt.Errorf("element %d: %w", i, err)).Error() +
					"; the slices the file uses are unknown: gc deletes no object while it stays"})
				continue
			}
			if rec.ID != 0 {
				s.sliceUses[sliceKey{rec.ID, rec.Size}]++
				s.maxSlice = max(s.maxSlice, rec.ID)
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
			} else {
				s.dropMember(name, m, "is no inode number")
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
		if isWrongType(err) {
			s.wrongType(ctx, c, h)
			continue
		}
		if err != nil {
			return fmt.Errorf("HGETALL %s: %w", h, err)
		}
		maps[i] = m
	}
	// Fields named by an inode (or user, group) number: any other name is
	// junk, deleted by the repair.
	ids := func(i int) map[uint64]string {
		out := make(map[uint64]string, len(maps[i]))
		for f, v := range maps[i] {
			if id, err := strconv.ParseUint(f, 10, 64); err == nil {
				out[id] = v
			} else {
				s.dropField(hashes[i], f, v, "is no inode, user or group number")
			}
		}
		return out
	}
	// num parses a stored integer; a value that is not one is noted in bad
	// (the repair of the value's family replaces it).
	num := func(i int, id uint64, v string, bad *string) int64 {
		n, err := codec.ParseInt(hashes[i], strconv.FormatUint(id, 10), v)
		if err != nil {
			if *bad != "" {
				*bad += ", "
			}
			*bad += err.Error()
		}
		return n
	}
	// Directory statistics: a directory has statistics when dirUsedSpace
	// has its field (that is what clients test).
	lengths, spaces, inodes := ids(0), ids(1), ids(2)
	for id, sp := range spaces {
		var st dirStat
		st.space = num(1, id, sp, &st.bad)
		if v, ok := lengths[id]; ok {
			st.length = num(0, id, v, &st.bad)
		}
		if v, ok := inodes[id]; ok {
			st.inodes = num(2, id, v, &st.bad)
		}
		s.dirStats[codec.Ino(id)] = st
	}
	quotas := func(spaceIdx, inodesIdx int, put func(id uint64, q quotaUse)) {
		spaces := ids(spaceIdx)
		for id, in := range ids(inodesIdx) {
			var q quotaUse
			q.usedInodes = num(inodesIdx, id, in, &q.bad)
			if v, ok := spaces[id]; ok {
				q.usedSpace = num(spaceIdx, id, v, &q.bad)
			}
			put(id, q)
		}
	}
	quotas(3, 4, func(id uint64, q quotaUse) { s.dirQuotas[codec.Ino(id)] = q })
	quotas(5, 6, func(id uint64, q quotaUse) { s.userQuotas[id] = q })
	quotas(7, 8, func(id uint64, q quotaUse) { s.groupQuotas[id] = q })
	for f, v := range maps[9] {
		id, size, ok := k.ParseSliceRefField(f)
		if !ok {
			s.dropField(hashes[9], f, v, "names no slice")
			continue
		}
		s.maxSlice = max(s.maxSlice, id)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.badRefs[sliceKey{id, size}] = v
		}
		s.sliceRefs[sliceKey{id, size}] = n
	}
	for f, v := range maps[10] {
		if id, _, ok := codec.ParseDelSlicesField(f); ok {
			s.maxSlice = max(s.maxSlice, id)
		}
		recs, err := codec.UnmarshalDelSliceRecords(v)
		if err != nil {
			s.incompleteSlices++
			s.addCorrupt(Problem{Key: hashes[10] + " " + strconv.Quote(f), Detail: codec.CorruptField(hashes[10], f, err).Error() +
				"; the slices a compaction kept for the trash are unknown: gc deletes no object while it stays"})
			continue
		}
		for _, r := range recs {
			s.sliceUses[sliceKey{r.ID, r.Size}]++
			s.maxSlice = max(s.maxSlice, r.ID)
		}
	}
	return nil
}

// loadCounters reads the volume counters and the id counters.
func (s *snapshot) loadCounters(ctx context.Context, c rueidis.Client) error {
	k := s.keys
	read := func(key string, bad *string) (int64, error) {
		v, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
		switch {
		case rueidis.IsRedisNil(err):
			return 0, nil
		case isWrongType(err):
			*bad = "a value of another type"
			return -1, nil
		case err != nil:
			return 0, fmt.Errorf("GET %s: %w", key, err)
		}
		n, err := codec.ParseInt(key, "", v)
		if err != nil {
			*bad = v
			return -1, nil
		}
		return n, nil
	}
	var err error
	var ignored string // a bad id counter reads as -1
	if s.usedSpace, err = read(k.UsedSpace(), &s.usedSpaceBad); err != nil {
		return err
	}
	if s.totalInodes, err = read(k.TotalInodes(), &s.totalInodesBad); err != nil {
		return err
	}
	if s.nextInode, err = read(k.NextInode(), &ignored); err != nil {
		return err
	}
	s.nextChunk, err = read(k.NextChunk(), &ignored)
	return err
}

// loadSets reads the sorted sets of inodes and sessions: files waiting for
// their data to be deleted, detached clone trees, sessions.
func (s *snapshot) loadSets(ctx context.Context, c rueidis.Client) error {
	k := s.keys
	read := func(key string) ([]string, error) {
		m, err := c.Do(ctx, c.B().Zrange().Key(key).Min("0").Max("-1").Build()).AsStrSlice()
		if isWrongType(err) {
			s.wrongType(ctx, c, key)
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("ZRANGE %s: %w", key, err)
		}
		return m, nil
	}
	del, err := read(k.DelFiles())
	if err != nil {
		return err
	}
	for _, m := range del {
		ino, _, ok := codec.ParseDelFileMember(m)
		if !ok {
			ino, _, ok = codec.ParseLegacyDelFileMember(m)
		}
		if !ok {
			s.dropMember(k.DelFiles(), m, "names no inode")
			continue
		}
		s.deleting[ino] = true
		s.deletingMembers = append(s.deletingMembers, deletion{ino, m})
		s.maxIno = max(s.maxIno, idOf(ino))
	}
	det, err := read(k.DetachedNodes())
	if err != nil {
		return err
	}
	for _, m := range det {
		if ino, err := strconv.ParseUint(m, 10, 64); err == nil {
			s.detached[codec.Ino(ino)] = true
		} else {
			s.dropMember(k.DetachedNodes(), m, "is no inode number")
		}
	}
	sessions, err := read(k.AllSessions())
	if err != nil {
		return err
	}
	for _, m := range sessions {
		if _, err := strconv.ParseUint(m, 10, 64); err != nil {
			s.dropMember(k.AllSessions(), m, "is no session id")
		}
	}
	return nil
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
