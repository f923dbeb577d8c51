package keyspace

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
)

// fixedKeys lists every key without a variable part with its JuiceFS name.
func fixedKeys(k Keys) map[string]string {
	return map[string]string{
		"setting":              k.Setting(),
		"nextinode":            k.NextInode(),
		"nextchunk":            k.NextChunk(),
		"nextsession":          k.NextSession(),
		"nextTrash":            k.NextTrash(),
		"usedSpace":            k.UsedSpace(),
		"totalInodes":          k.TotalInodes(),
		"aclMaxId":             k.ACLMaxID(),
		"krbTokenMaxId":        k.KrbTokenMaxID(),
		"lastCleanupSessions":  k.LastCleanupSessions(),
		"lastCleanupFiles":     k.LastCleanupFiles(),
		"nextCleanupSlices":    k.NextCleanupSlices(),
		"lastCleanupTrash":     k.LastCleanupTrash(),
		"lastCleanupChangelog": k.LastCleanupChangelog(),
		"sliceRef":             k.SliceRef(),
		"delSlices":            k.DelSlices(),
		"delfiles":             k.DelFiles(),
		"detachedNodes":        k.DetachedNodes(),
		"allSessions":          k.AllSessions(),
		"sessionInfos":         k.SessionInfos(),
		"dirDataLength":        k.DirDataLength(),
		"dirUsedSpace":         k.DirUsedSpace(),
		"dirUsedInodes":        k.DirUsedInodes(),
		"dirQuota":             k.DirQuota(),
		"dirQuotaUsedSpace":    k.DirQuotaUsedSpace(),
		"dirQuotaUsedInodes":   k.DirQuotaUsedInodes(),
		"userQuota":            k.UserQuota(),
		"userQuotaUsedSpace":   k.UserQuotaUsedSpace(),
		"userQuotaUsedInodes":  k.UserQuotaUsedInodes(),
		"groupQuota":           k.GroupQuota(),
		"groupQuotaUsedSpace":  k.GroupQuotaUsedSpace(),
		"groupQuotaUsedInodes": k.GroupQuotaUsedInodes(),
		"acl":                  k.ACL(),
		"krbToken":             k.KrbToken(),
		"txnLog":               k.TxnLog(),
		"txnLastLog":           k.TxnLastLog(),
		"lastChangelog":        k.LastChangelog(),
	}
}

func TestFixedNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    Keys
		p    string
	}{
		{"zero value", Keys{}, ""},
		{"standalone", New(""), ""},
		{"cluster", New(ClusterPrefix(10)), "{10}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.k.Prefix() != tc.p {
				t.Fatalf("Prefix = %q", tc.k.Prefix())
			}
			fixed := fixedKeys(tc.k)
			if len(fixed) != numFixed {
				t.Fatalf("%d fixed keys tested, %d defined", len(fixed), numFixed)
			}
			for base, got := range fixed {
				if got != tc.p+base {
					t.Errorf("%s: got %q, want %q", base, got, tc.p+base)
				}
			}
			if got := tc.k.LegacySessions(); got != "sessions" {
				t.Errorf("LegacySessions = %q, must never be prefixed", got)
			}
		})
	}
}

func TestNumberedNames(t *testing.T) {
	const big = codec.Ino(9223372032828243968)
	for _, p := range []string{"", "{0}", "{12345}"} {
		k := New(p)
		tests := []struct{ got, want string }{
			{k.Inode(1), "i1"},
			{k.Inode(big), "i9223372032828243968"},
			{k.Inode(0), "i0"},
			{k.Entries(4097), "d4097"},
			{k.Parents(25), "p25"},
			{k.Chunk(17, 1), "c17_1"},
			{k.Chunk(^codec.Ino(0), ^uint32(0)), "c18446744073709551615_4294967295"},
			{k.Symlink(3), "s3"},
			{k.Xattrs(5), "x5"},
			{k.Sustained(7), "session7"},
			{k.Locked(7), "locked7"},
			{k.Flock(9), "lockf9"},
			{k.Plock(9), "lockp9"},
			{k.LegacySliceRef(11, 200000), "k11_200000"},
			{k.Pattern("i*"), "i*"},
			{k.Counter("nextInode"), "nextinode"},
			{k.Counter("nextChunk"), "nextchunk"},
			{k.Counter("nextSession"), "nextsession"},
			{k.Counter("nextTrash"), "nextTrash"},
			{k.Counter("usedSpace"), "usedSpace"},
		}
		for _, tt := range tests {
			if tt.got != p+tt.want {
				t.Errorf("prefix %q: got %q, want %q", p, tt.got, p+tt.want)
			}
		}
		// Hash fields are never prefixed.
		if got := k.SliceRefField(11, 200000); got != "k11_200000" {
			t.Errorf("SliceRefField = %q", got)
		}
		for qt, names := range map[codec.QuotaType][3]string{
			codec.QuotaDir:   {"dirQuota", "dirQuotaUsedSpace", "dirQuotaUsedInodes"},
			codec.QuotaUser:  {"userQuota", "userQuotaUsedSpace", "userQuotaUsedInodes"},
			codec.QuotaGroup: {"groupQuota", "groupQuotaUsedSpace", "groupQuotaUsedInodes"},
		} {
			l, s, i, ok := k.Quota(qt)
			if !ok || l != p+names[0] || s != p+names[1] || i != p+names[2] {
				t.Errorf("Quota(%d) = %q %q %q %v", qt, l, s, i, ok)
			}
		}
		if _, _, _, ok := k.Quota(codec.QuotaAll); ok {
			t.Error("Quota(QuotaAll) ok")
		}
	}
	if got := New("{a-very-long-prefix-that-does-not-fit-in-the-stack-buffer-0123456789}").Chunk(1<<60, 5); got != "{a-very-long-prefix-that-does-not-fit-in-the-stack-buffer-0123456789}c1152921504606846976_5" {
		t.Errorf("long prefix: %q", got)
	}
}

func TestParse(t *testing.T) {
	for _, p := range []string{"", "{3}"} {
		k := New(p)
		if ino, ok := k.ParseInodeKey(p + "i4097"); !ok || ino != 4097 {
			t.Errorf("ParseInodeKey: %d %v", ino, ok)
		}
		if ino, ok := k.ParseEntriesKey(p + "d1"); !ok || ino != 1 {
			t.Errorf("ParseEntriesKey: %d %v", ino, ok)
		}
		if ino, ok := k.ParseParentsKey(p + "p25"); !ok || ino != 25 {
			t.Errorf("ParseParentsKey: %d %v", ino, ok)
		}
		if ino, ok := k.ParseSymlinkKey(p + "s0"); !ok || ino != 0 {
			t.Errorf("ParseSymlinkKey: %d %v", ino, ok)
		}
		if ino, ok := k.ParseXattrsKey(p + "x18446744073709551615"); !ok || ino != 18446744073709551615 {
			t.Errorf("ParseXattrsKey: %d %v", ino, ok)
		}
		if ino, ok := k.ParseFlockKey(p + "lockf8"); !ok || ino != 8 {
			t.Errorf("ParseFlockKey: %d %v", ino, ok)
		}
		if ino, ok := k.ParsePlockKey(p + "lockp8"); !ok || ino != 8 {
			t.Errorf("ParsePlockKey: %d %v", ino, ok)
		}
		if sid, ok := k.ParseSustainedKey(p + "session12"); !ok || sid != 12 {
			t.Errorf("ParseSustainedKey: %d %v", sid, ok)
		}
		if sid, ok := k.ParseLockedKey(p + "locked12"); !ok || sid != 12 {
			t.Errorf("ParseLockedKey: %d %v", sid, ok)
		}
		if ino, indx, ok := k.ParseChunkKey(p + "c17_1"); !ok || ino != 17 || indx != 1 {
			t.Errorf("ParseChunkKey: %d %d %v", ino, indx, ok)
		}
		if id, size, ok := k.ParseSliceRefField("k11_200000"); !ok || id != 11 || size != 200000 {
			t.Errorf("ParseSliceRefField: %d %d %v", id, size, ok)
		}
		if id, size, ok := k.ParseLegacySliceRefKey(p + "k11_200000"); !ok || id != 11 || size != 200000 {
			t.Errorf("ParseLegacySliceRefKey: %d %d %v", id, size, ok)
		}
		inoParsers := map[string]func(string) (codec.Ino, bool){
			"i": k.ParseInodeKey, "d": k.ParseEntriesKey, "p": k.ParseParentsKey, "s": k.ParseSymlinkKey,
			"x": k.ParseXattrsKey, "lockf": k.ParseFlockKey, "lockp": k.ParsePlockKey,
		}
		bad := []string{"", "01", "-1", "+1", " 1", "1 ", "1x", "0x10", "18446744073709551616", "1_2"}
		for tag, parse := range inoParsers {
			for _, b := range bad {
				if ino, ok := parse(p + tag + b); ok {
					t.Errorf("prefix %q: %s%s parsed as %d", p, tag, b, ino)
				}
			}
			if p != "" {
				if _, ok := parse(tag + "1"); ok {
					t.Errorf("%s1 without prefix accepted", tag)
				}
			}
		}
		for _, name := range []string{"session", "sessions", "sessionInfos", "session01", "setting", "sliceRef", "s", "delSlices", "dirQuota", "dirUsedSpace"} {
			if _, ok := k.ParseSustainedKey(p + name); ok && name != "session" {
				t.Errorf("ParseSustainedKey(%q) accepted", name)
			}
			if _, ok := k.ParseSymlinkKey(p + name); ok {
				t.Errorf("ParseSymlinkKey(%q) accepted", name)
			}
			if _, ok := k.ParseEntriesKey(p + name); ok {
				t.Errorf("ParseEntriesKey(%q) accepted", name)
			}
		}
		for _, name := range []string{"c1", "c1_", "c_1", "c01_1", "c1_01", "c1_4294967296", "c1_2_3", "cx_1", "c1__2"} {
			if _, _, ok := k.ParseChunkKey(p + name); ok {
				t.Errorf("ParseChunkKey(%q) accepted", name)
			}
		}
		for _, f := range []string{"k", "k1", "k1_", "k_1", "k1_4294967296", "x1_2", "k1_2_3", p + "k1_2"} {
			if _, _, ok := k.ParseSliceRefField(f); ok && f != "k1_2" {
				t.Errorf("ParseSliceRefField(%q) accepted", f)
			}
		}
		if _, ok := k.ParseLockedKey(p + "lockf1"); ok {
			t.Error("ParseLockedKey(lockf1) accepted")
		}
	}
}

// TestFixtureKeyNames classifies every key of the official client's
// keyspaces: each is a fixed name or parses as exactly one family, and
// rebuilding it from the parsed numbers gives the same name.
func TestFixtureKeyNames(t *testing.T) {
	k := New("")
	fixed := map[string]bool{}
	for _, name := range fixedKeys(k) {
		fixed[name] = true
	}
	for _, vol := range []string{"basic", "acl-quota", "empty"} {
		raw, err := os.ReadFile(filepath.Join("..", "testdata", "juicefs-1.4.1", vol, "keyspace.json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Keys []struct {
				Key   string          `json:"key"`
				Value json.RawMessage `json:"value"`
			} `json:"keys"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		for _, key := range doc.Keys {
			name := key.Key
			var rebuilt []string
			if ino, ok := k.ParseInodeKey(name); ok {
				rebuilt = append(rebuilt, k.Inode(ino))
			}
			if ino, ok := k.ParseEntriesKey(name); ok {
				rebuilt = append(rebuilt, k.Entries(ino))
			}
			if ino, ok := k.ParseParentsKey(name); ok {
				rebuilt = append(rebuilt, k.Parents(ino))
			}
			if ino, ok := k.ParseSymlinkKey(name); ok {
				rebuilt = append(rebuilt, k.Symlink(ino))
			}
			if ino, ok := k.ParseXattrsKey(name); ok {
				rebuilt = append(rebuilt, k.Xattrs(ino))
			}
			if ino, indx, ok := k.ParseChunkKey(name); ok {
				rebuilt = append(rebuilt, k.Chunk(ino, indx))
			}
			if fixed[name] {
				rebuilt = append(rebuilt, name)
			}
			if len(rebuilt) != 1 || rebuilt[0] != name {
				t.Errorf("%s: key %q classified as %q", vol, name, rebuilt)
			}
			if name == "sliceRef" {
				var fields map[string]string
				if err := json.Unmarshal(key.Value, &fields); err != nil {
					t.Fatal(err)
				}
				for f := range fields {
					id, size, ok := k.ParseSliceRefField(f)
					if !ok || k.SliceRefField(id, size) != f {
						t.Errorf("sliceRef field %q", f)
					}
				}
			}
		}
	}
}

func TestAllocations(t *testing.T) {
	for _, p := range []string{"", "{10}"} {
		k := New(p)
		if n := testing.AllocsPerRun(100, func() { _ = k.Inode(9223372032828243968) }); n > 1 {
			t.Errorf("prefix %q: Inode allocates %v times", p, n)
		}
		if n := testing.AllocsPerRun(100, func() { _ = k.Chunk(123456, 7) }); n > 1 {
			t.Errorf("prefix %q: Chunk allocates %v times", p, n)
		}
		if n := testing.AllocsPerRun(100, func() { _ = k.UsedSpace() }); n != 0 {
			t.Errorf("prefix %q: UsedSpace allocates %v times", p, n)
		}
		chunk := k.Chunk(123, 4)
		if n := testing.AllocsPerRun(100, func() { _, _, _ = k.ParseChunkKey(chunk) }); n != 0 {
			t.Errorf("prefix %q: ParseChunkKey allocates %v times", p, n)
		}
	}
}

func FuzzParseKeys(f *testing.F) {
	for _, s := range []string{"i1", "{1}i1", "c1_2", "{1}c17_0", "session3", "k1_2", "lockf9", "d01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, k := range []Keys{New(""), New("{1}")} {
			check := func(ok bool, rebuilt string) {
				if ok && rebuilt != name {
					t.Fatalf("%q parsed but rebuilds as %q", name, rebuilt)
				}
			}
			ino, ok := k.ParseInodeKey(name)
			check(ok, k.Inode(ino))
			ino, ok = k.ParseEntriesKey(name)
			check(ok, k.Entries(ino))
			ino, ok = k.ParseParentsKey(name)
			check(ok, k.Parents(ino))
			ino, ok = k.ParseSymlinkKey(name)
			check(ok, k.Symlink(ino))
			ino, ok = k.ParseXattrsKey(name)
			check(ok, k.Xattrs(ino))
			ino, ok = k.ParseFlockKey(name)
			check(ok, k.Flock(ino))
			ino, ok = k.ParsePlockKey(name)
			check(ok, k.Plock(ino))
			sid, ok := k.ParseSustainedKey(name)
			check(ok, k.Sustained(sid))
			sid, ok = k.ParseLockedKey(name)
			check(ok, k.Locked(sid))
			ino, indx, ok := k.ParseChunkKey(name)
			check(ok, k.Chunk(ino, indx))
			id, size, ok := k.ParseSliceRefField(name)
			check(ok, k.SliceRefField(id, size))
			id, size, ok = k.ParseLegacySliceRefKey(name)
			check(ok, k.LegacySliceRef(id, size))
		}
	})
}

func BenchmarkInode(b *testing.B) {
	for _, p := range []string{"", "{10}"} {
		k := New(p)
		b.Run("prefix="+p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = k.Inode(1234567)
			}
		})
	}
}

func BenchmarkChunk(b *testing.B) {
	k := New("{10}")
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Chunk(1234567, 3)
	}
}
