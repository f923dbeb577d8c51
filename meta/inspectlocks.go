package meta

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Reads of the locks held on an inode and of the slices compactions keep
// for the trash (info, gc).

// FlockItem is a BSD lock on an inode: the session and owner holding it and
// its type, "R" or "W".
type FlockItem struct {
	Sid, Owner uint64
	Type       string
}

// PlockItem is one POSIX record lock on an inode.
type PlockItem struct {
	Sid, Owner uint64
	Lock       codec.PosixLock
}

// Locks returns the BSD and POSIX locks held on ino, sorted by session and
// owner (the official client returns them in hash order).
func (in Inspector) Locks(ctx context.Context, ino Ino) ([]FlockItem, []PlockItem, error) {
	e := in.e
	fkey, pkey := e.keys.Flock(ino), e.keys.Plock(ino)
	res := e.rdb.DoMulti(ctx, e.rdb.B().Hgetall().Key(fkey).Build(), e.rdb.B().Hgetall().Key(pkey).Build())
	fm, err := res[0].AsStrMap()
	if err != nil {
		return nil, nil, e.redisErr("HGETALL "+fkey, err)
	}
	pm, err := res[1].AsStrMap()
	if err != nil {
		return nil, nil, e.redisErr("HGETALL "+pkey, err)
	}
	var flocks []FlockItem
	for k, v := range fm {
		sid, owner, ok := codec.ParseLockOwnerKey(k)
		if !ok {
			return nil, nil, codec.CorruptField(fkey, k, fmt.Errorf("field is not <sid>_<owner>"))
		}
		flocks = append(flocks, FlockItem{Sid: sid, Owner: owner, Type: v})
	}
	var plocks []PlockItem
	for k, v := range pm {
		sid, owner, ok := codec.ParseLockOwnerKey(k)
		if !ok {
			return nil, nil, codec.CorruptField(pkey, k, fmt.Errorf("field is not <sid>_<owner>"))
		}
		recs, err := codec.UnmarshalPosixLocks(v)
		if err != nil {
			return nil, nil, codec.CorruptField(pkey, k, err)
		}
		for _, r := range recs {
			plocks = append(plocks, PlockItem{Sid: sid, Owner: owner, Lock: r})
		}
	}
	sort.Slice(flocks, func(i, j int) bool {
		a, b := flocks[i], flocks[j]
		return a.Sid < b.Sid || a.Sid == b.Sid && a.Owner < b.Owner
	})
	sort.SliceStable(plocks, func(i, j int) bool {
		a, b := plocks[i], plocks[j]
		return a.Sid < b.Sid || a.Sid == b.Sid && a.Owner < b.Owner
	})
	return flocks, plocks, nil
}

// DelayedSlices is one delSlices entry: the slices a compaction replaced,
// kept while the trash may still need them.
type DelayedSlices struct {
	Field  string    // the delSlices field, "<new slice id>_<unix time>"
	Time   time.Time // when the compaction happened
	Slices []SliceID
}

// DelayedSlices returns every delSlices entry, oldest first. Entries whose
// field or value cannot be decoded are skipped with a warning.
func (in Inspector) DelayedSlices(ctx context.Context) ([]DelayedSlices, error) {
	e := in.e
	key := e.keys.DelSlices()
	var out []DelayedSlices
	err := e.hscan(ctx, key, func(field, value string) error {
		_, ts, ok := codec.ParseDelSlicesField(field)
		if !ok {
			e.log.Warn(fmt.Sprintf("invalid field %q in %s", field, key))
			return nil
		}
		recs, err := codec.UnmarshalDelSliceRecords(value)
		if err != nil {
			e.log.Warn(codec.CorruptField(key, field, err).Error())
			return nil
		}
		d := DelayedSlices{Field: field, Time: time.Unix(ts, 0)}
		for _, r := range recs {
			d.Slices = append(d.Slices, SliceID{ID: r.ID, Size: r.Size})
		}
		out = append(out, d)
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Field < out[j].Field
	})
	return out, err
}
