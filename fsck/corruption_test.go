package fsck_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/keyspace"
	"github.com/rueidisfs/rueidisfs/meta"
)

// corruptionCase is one kind of damage to one key type or field, made with
// plain Redis commands: the whole-volume check reports it as kind, naming
// key; with repair it is repaired (undo nil) or left alone (the case then
// undoes it, and a repair must make the volume clean again).
type corruptionCase struct {
	name, kind string
	key        func(v *volume, tr *tree) string
	damage     func(v *volume, tr *tree) (undo func())
}

func corruptionCases() []corruptionCase {
	k := func(v *volume) keyspace.Keys { return v.e.Keys() }
	restore := func(v *volume, key string) func() { // undo by putting back the value as it was
		old := v.do("DUMP", key)
		b, err := old.ToString()
		return func() {
			v.do("DEL", key)
			if err == nil {
				v.do("RESTORE", key, "0", b)
			}
		}
	}
	sliceOf := func(v *volume, tr *tree) string {
		recs, err := v.e.Inspect().ChunkRecords(context.Background(), tr.f, 0)
		if err != nil || len(recs) != 1 {
			v.t.Fatalf("chunk of f: %v %v", recs, err)
		}
		return k(v).SliceRefField(recs[0].ID, recs[0].Size)
	}
	return []corruptionCase{
		// Reported only: what they held is lost.
		{"attribute too short", "corrupt", func(v *volume, tr *tree) string { return k(v).Inode(tr.g) },
			func(v *volume, tr *tree) func() {
				u := restore(v, k(v).Inode(tr.g))
				v.do("SET", k(v).Inode(tr.g), "short")
				return u
			}},
		{"attribute of another type", "corrupt", func(v *volume, tr *tree) string { return k(v).Inode(tr.g) },
			func(v *volume, tr *tree) func() {
				u := restore(v, k(v).Inode(tr.g))
				v.do("DEL", k(v).Inode(tr.g))
				v.do("RPUSH", k(v).Inode(tr.g), "x")
				return u
			}},
		{"entry not decodable", "corrupt", func(v *volume, tr *tree) string { return k(v).Entries(tr.d) + ` "g"` },
			func(v *volume, tr *tree) func() {
				v.do("HSET", k(v).Entries(tr.d), "g", "garbage")
				return func() { v.do("HSET", k(v).Entries(tr.d), "g", entryOf(codec.TypeFile, tr.g)) }
			}},
		{"entries of another type", "corrupt", func(v *volume, tr *tree) string { return k(v).Entries(tr.sub) },
			func(v *volume, tr *tree) func() {
				v.do("SET", k(v).Entries(tr.sub), "x")
				return func() { v.do("DEL", k(v).Entries(tr.sub)) }
			}},
		{"chunk-list element not decodable", "corrupt", func(v *volume, tr *tree) string { return k(v).Chunk(tr.f, 0) },
			func(v *volume, tr *tree) func() {
				v.do("RPUSH", k(v).Chunk(tr.f, 0), "garbage")
				return func() { v.do("RPOP", k(v).Chunk(tr.f, 0)) }
			}},
		{"symlink target of another type", "corrupt", func(v *volume, tr *tree) string { return k(v).Symlink(tr.sym) },
			func(v *volume, tr *tree) func() {
				u := restore(v, k(v).Symlink(tr.sym))
				v.do("DEL", k(v).Symlink(tr.sym))
				v.do("HSET", k(v).Symlink(tr.sym), "a", "b")
				return u
			}},
		{"xattrs of another type", "corrupt", func(v *volume, tr *tree) string { return k(v).Xattrs(tr.g) },
			func(v *volume, tr *tree) func() {
				v.do("SET", k(v).Xattrs(tr.g), "x")
				return func() { v.do("DEL", k(v).Xattrs(tr.g)) }
			}},
		{"delSlices entry not decodable", "corrupt", func(v *volume, tr *tree) string { return k(v).DelSlices() },
			func(v *volume, tr *tree) func() {
				v.do("HSET", k(v).DelSlices(), "5_1000", "garbage")
				return func() { v.do("HDEL", k(v).DelSlices(), "5_1000") }
			}},
		{"statistics hash of another type", "corrupt", func(v *volume, tr *tree) string { return k(v).DirUsedInodes() },
			func(v *volume, tr *tree) func() {
				u := restore(v, k(v).DirUsedInodes())
				v.do("DEL", k(v).DirUsedInodes())
				v.do("SET", k(v).DirUsedInodes(), "x")
				return u
			}},
		{"lengths adding up past 2^63", "usedSpace", func(v *volume, tr *tree) string { return k(v).UsedSpace() },
			func(v *volume, tr *tree) func() {
				a := v.attrOf(tr.g)
				a.Length = codec.MaxFileLength - 1
				for i := range 64 {
					ino := meta.Ino(700000 + i)
					v.putAttr(ino, a)
					v.do("HSET", k(v).Entries(tr.sub), "huge"+strconv.Itoa(i), entryOf(codec.TypeFile, ino))
				}
				return func() {
					for i := range 64 {
						v.do("DEL", k(v).Inode(meta.Ino(700000+i)))
					}
					v.do("DEL", k(v).Entries(tr.sub))
				}
			}},
		// Repaired with the recounted value.
		{"used space not an integer", "corrupt", func(v *volume, tr *tree) string { return k(v).UsedSpace() },
			func(v *volume, tr *tree) func() { v.do("SET", k(v).UsedSpace(), "abc"); return nil }},
		{"used space of another type", "corrupt", func(v *volume, tr *tree) string { return k(v).UsedSpace() },
			func(v *volume, tr *tree) func() {
				v.do("DEL", k(v).UsedSpace())
				v.do("HSET", k(v).UsedSpace(), "a", "1")
				return nil
			}},
		{"inode count not an integer", "corrupt", func(v *volume, tr *tree) string { return k(v).TotalInodes() },
			func(v *volume, tr *tree) func() { v.do("SET", k(v).TotalInodes(), "1.5"); return nil }},
		{"inode counter not an integer", "corrupt", func(v *volume, tr *tree) string { return k(v).NextInode() },
			func(v *volume, tr *tree) func() { v.do("SET", k(v).NextInode(), "abc"); return nil }},
		{"inode counter of another type", "corrupt", func(v *volume, tr *tree) string { return k(v).NextInode() },
			func(v *volume, tr *tree) func() {
				v.do("DEL", k(v).NextInode())
				v.do("SADD", k(v).NextInode(), "1")
				return nil
			}},
		{"inode counter behind the inodes in use", "next-id", func(v *volume, tr *tree) string { return k(v).NextInode() },
			func(v *volume, tr *tree) func() { v.do("SET", k(v).NextInode(), "2"); return nil }},
		{"slice counter behind the slices in use", "next-id", func(v *volume, tr *tree) string { return k(v).NextChunk() },
			func(v *volume, tr *tree) func() { v.do("SET", k(v).NextChunk(), "0"); return nil }},
		{"directory statistics not an integer", "corrupt", func(v *volume, tr *tree) string { return k(v).DirUsedSpace() + " " + tr.d.String() },
			func(v *volume, tr *tree) func() { v.do("HSET", k(v).DirUsedSpace(), tr.d.String(), "x"); return nil }},
		{"directory statistics of no inode", "corrupt", func(v *volume, tr *tree) string { return k(v).DirDataLength() + ` "zz"` },
			func(v *volume, tr *tree) func() { v.do("HSET", k(v).DirDataLength(), "zz", "1"); return nil }},
		{"directory quota usage not an integer", "corrupt", func(v *volume, tr *tree) string { return k(v).DirQuotaUsedSpace() + " " + tr.d.String() },
			func(v *volume, tr *tree) func() {
				v.do("HSET", k(v).DirQuotaUsedSpace(), tr.d.String(), "-")
				return nil
			}},
		{"user quota usage not an integer", "corrupt", func(v *volume, tr *tree) string { return k(v).UserQuotaUsedSpace() + " 0" },
			func(v *volume, tr *tree) func() { v.do("HSET", k(v).UserQuotaUsedInodes(), "0", "many"); return nil }},
		{"parent count not an integer", "corrupt", func(v *volume, tr *tree) string { return k(v).Parents(tr.f) + " " + tr.d.String() },
			func(v *volume, tr *tree) func() { v.do("HSET", k(v).Parents(tr.f), tr.d.String(), "x"); return nil }},
		{"parent count of no inode", "corrupt", func(v *volume, tr *tree) string { return k(v).Parents(tr.f) + ` "zz"` },
			func(v *volume, tr *tree) func() { v.do("HSET", k(v).Parents(tr.f), "zz", "1"); return nil }},
		{"slice reference not an integer", "corrupt", func(v *volume, tr *tree) string { return k(v).SliceRef() + " " + sliceOf(v, tr) },
			func(v *volume, tr *tree) func() { v.do("HSET", k(v).SliceRef(), sliceOf(v, tr), "-x"); return nil }},
		{"slice reference of no slice", "corrupt", func(v *volume, tr *tree) string { return k(v).SliceRef() + ` "zz"` },
			func(v *volume, tr *tree) func() { v.do("HSET", k(v).SliceRef(), "zz", "1"); return nil }},
		// Junk members, removed.
		{"delfiles member naming no inode", "corrupt", func(v *volume, tr *tree) string { return k(v).DelFiles() + ` "junk"` },
			func(v *volume, tr *tree) func() { v.do("ZADD", k(v).DelFiles(), "1", "junk"); return nil }},
		{"delfiles member naming a live file", "deleting-live", func(v *volume, tr *tree) string { return k(v).DelFiles() },
			func(v *volume, tr *tree) func() {
				v.do("ZADD", k(v).DelFiles(), "1", codec.DelFileMember(tr.g, 0))
				return nil
			}},
		{"detached member naming no inode", "corrupt", func(v *volume, tr *tree) string { return k(v).DetachedNodes() + ` "junk"` },
			func(v *volume, tr *tree) func() { v.do("ZADD", k(v).DetachedNodes(), "1", "junk"); return nil }},
		{"session member naming no session", "corrupt", func(v *volume, tr *tree) string { return k(v).AllSessions() + ` "junk"` },
			func(v *volume, tr *tree) func() { v.do("ZADD", k(v).AllSessions(), "1", "junk"); return nil }},
		{"sustained member naming no inode", "corrupt", func(v *volume, tr *tree) string { return k(v).Sustained(tr.sid) + ` "junk"` },
			func(v *volume, tr *tree) func() { v.do("SADD", k(v).Sustained(tr.sid), "junk"); return nil }},
	}
}

// TestVolumeCorruption: every kind of corrupt value is reported by the
// whole-volume check, naming its key (and field), instead of stopping the
// check; the repair repairs exactly what it says it does, applies no
// repair computed from a recount that misses a value it could not read,
// and leaves the volume clean once the damage it cannot repair is undone.
func TestVolumeCorruption(t *testing.T) {
	for _, c := range corruptionCases() {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			v := newVolume(t, 0, true)
			tr := buildTree(t, v)
			key := c.key(v, tr)
			undo := c.damage(v, tr)
			rep, err := fsck.Volume(ctx, v.fresh(), false)
			if err != nil && !errors.Is(err, fsck.ErrProblems) {
				t.Fatalf("the check stopped: %v", err)
			}
			match := func(p fsck.Problem) bool { return p.Kind == c.kind && strings.HasPrefix(p.Key, key) }
			if !slices.ContainsFunc(rep.Problems, match) {
				t.Fatalf("not reported as %s naming %s:\n%s", c.kind, key, rep)
			}
			rep, _ = fsck.Volume(ctx, v.fresh(), true)
			for _, p := range rep.Problems {
				if match(p) && p.Repaired != (undo == nil) {
					t.Fatalf("%s: repaired %v, want %v\n%s", p, p.Repaired, undo == nil, rep)
				}
				if p.Repaired && undo != nil && p.Kind != fsck.KindCorrupt {
					// Damage left in place makes the recount incomplete:
					// nothing computed from it may be stored.
					switch p.Fix.Action {
					case fsck.FixDropField, fsck.FixDropMember, fsck.FixDropLiveDeletion, fsck.FixNextInode, fsck.FixNextSlice, fsck.FixSliceRef:
					default:
						t.Errorf("%s repaired from an incomplete recount", p)
					}
				}
			}
			if undo != nil {
				undo()
				fsck.Volume(ctx, v.fresh(), true)
			}
			if rep, err := fsck.Volume(ctx, v.fresh(), false); err != nil {
				t.Fatalf("not clean at the end: %v\n%s", err, rep)
			}
			// Nothing the volume holds was lost on the way.
			e := v.fresh()
			for _, p := range []string{"/d/f", "/d/g", "/hl", "/sym", "/d/sub"} {
				if _, _, err := e.Resolve(ctx, meta.RootInode, p); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
		})
	}
}
