package fsck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
)

// Values that cannot be decoded. The snapshot does not stop at them: each
// is reported (KindCorrupt, naming its key and field) and the recount goes
// on without it. A value whose family the recount rebuilds (volume
// counters, directory statistics, quota usage, parent counts, slice
// reference counts of slices in use, id counters) is repaired with the
// recounted value; junk that names nothing (a field or member that is no
// inode, session or slice) is deleted. Attributes, entries, chunk lists,
// symlink targets and delSlices entries that cannot be decoded are only
// reported: what they held is lost, and a person must decide. While any of
// them stays, the recount is incomplete, and the repairs that store
// recounted values are not applied (dropUnsafeFixes).

// deletion is a delfiles member and the inode it names.
type deletion struct {
	ino    codec.Ino
	member string
}

// isWrongType reports a WRONGTYPE reply: the key holds another type than
// the command reading it expects.
func isWrongType(err error) bool {
	var re *rueidis.RedisError
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "WRONGTYPE")
}

// idOf is the inode number as an id the inode counter handed out (0 for
// the root and the trash inodes, which it never hands out).
func idOf(ino codec.Ino) uint64 {
	if ino <= codec.RootInode || ino == codec.TrashInode || ino.IsTrash() {
		return 0
	}
	return uint64(ino)
}

// addCorrupt records a corrupt value.
func (s *snapshot) addCorrupt(p Problem) {
	p.Kind = KindCorrupt
	s.corrupt = append(s.corrupt, p)
}

// dropField records a hash field whose name names nothing: the repair
// deletes it.
func (s *snapshot) dropField(key, field, value, why string) {
	s.addCorrupt(Problem{Key: key + " " + fmt.Sprintf("%q", field),
		Detail: fmt.Sprintf("field %q %s (value %q; repair: delete the field)", field, why, value),
		Fix:    &Fix{Action: FixDropField, Key: key, Name: field, Value: value}})
}

// dropMember records a set member that names nothing: the repair removes
// it.
func (s *snapshot) dropMember(key, member, why string) {
	s.addCorrupt(Problem{Key: key + " " + fmt.Sprintf("%q", member),
		Detail: fmt.Sprintf("member %q %s (repair: remove it)", member, why),
		Fix:    &Fix{Action: FixDropMember, Key: key, Name: member}})
}

// wrongType records a key holding another Redis type than the volume
// stores there, and what the recount misses because of it.
func (s *snapshot) wrongType(ctx context.Context, c rueidis.Client, key string) {
	typ, err := c.Do(ctx, c.B().Type().Key(key).Build()).ToString()
	if err != nil {
		typ = "value of another type"
	}
	k := s.keys
	want := "hash"
	if ino, ok := k.ParseInodeKey(key); ok {
		want = "string"
		s.badAttrs[ino] = true
		s.incompleteTree++
	} else if ino, ok := k.ParseSymlinkKey(key); ok {
		want = "string"
		s.badSymlinks[ino] = true
	} else if _, _, ok := k.ParseChunkKey(key); ok {
		want = "list"
		s.incompleteSlices++
	} else if _, ok := k.ParseSustainedKey(key); ok {
		want = "set"
	} else if _, ok := k.ParseEntriesKey(key); ok {
		s.incompleteTree++
	} else if _, ok := k.ParseParentsKey(key); ok {
		s.incompleteTree++
	} else {
		switch key {
		case k.SliceRef(), k.DelSlices():
			s.incompleteSlices++
		case k.UsedSpace(), k.TotalInodes(), k.NextInode(), k.NextChunk():
			want = "string"
		case k.DelFiles(), k.DetachedNodes(), k.AllSessions():
			want = "sorted set"
		}
	}
	s.addCorrupt(Problem{Key: key, Detail: fmt.Sprintf("holds a %s, where the volume keeps a %s; remove or restore it by hand", typ, want)})
}

// checkCorruption reports the corrupt values, the id counters behind ids
// in use, and files queued for deletion that are live.
func (s *snapshot) checkCorruption(rep *Report) {
	rep.Problems = append(rep.Problems, s.corrupt...)
	k := s.keys
	next := func(key string, stored int64, inUse uint64, action FixAction) {
		switch {
		case stored < 0:
			rep.addFix(Fix{Action: action, Values: [3]int64{int64(inUse)}}, KindCorrupt, key,
				"the id counter is not an integer (repair: set it to %d, the highest id in use)", inUse)
		case uint64(stored) < inUse:
			rep.addFix(Fix{Action: action, Values: [3]int64{int64(inUse)}}, KindNextID, key,
				"is %d, but id %d is in use: new nodes or slices would get ids in use (repair: set it to %d)", stored, inUse, inUse)
		}
	}
	next(k.NextInode(), s.nextInode, s.maxIno, FixNextInode)
	next(k.NextChunk(), s.nextChunk, s.maxSlice, FixNextSlice)
	for _, d := range s.deletingMembers {
		if _, live := s.attrs[d.ino]; live || s.badAttrs[d.ino] {
			rep.addFix(Fix{Action: FixDropLiveDeletion, Ino: d.ino, Name: d.member}, KindDeletingLive,
				k.DelFiles()+" "+fmt.Sprintf("%q", d.member),
				"inode %d is queued for the deletion of its data, but it exists (repair: unqueue it; its data is kept)", d.ino)
		}
	}
}

// dropUnsafeFixes takes their repair from the problems whose recounted
// value is incomplete because of corrupt values the recount could not read.
func (s *snapshot) dropUnsafeFixes(rep *Report) {
	if s.incompleteTree == 0 && s.incompleteSlices == 0 {
		return
	}
	for i := range rep.Problems {
		p := &rep.Problems[i]
		if p.Kind == KindLeakedInode && s.incompleteTree > 0 {
			p.Detail += " (or it is named by an entry that cannot be decoded)"
		}
		if p.Fix == nil {
			continue
		}
		unsafe := false
		switch p.Fix.Action {
		case FixDropField, FixDropMember, FixDropLiveDeletion, FixNextInode, FixNextSlice:
		case FixSliceRef:
			unsafe = s.incompleteSlices > 0
		default:
			unsafe = s.incompleteTree > 0
		}
		if unsafe {
			p.Fix = nil
			p.Detail += "; not repaired: the recount misses values it could not decode (the corrupt problems) or overflows"
		}
	}
}
