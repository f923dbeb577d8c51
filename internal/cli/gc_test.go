package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

// gcSummary returns gc's "scanned ..." line.
func gcSummary(t *testing.T, stderr string) string {
	t.Helper()
	for _, m := range logMessages(stderr, "INFO") {
		if strings.HasPrefix(m, "scanned ") {
			return m
		}
	}
	t.Fatalf("no summary line in:\n%s", stderr)
	return ""
}

// TestGCLeaks injects leaked metadata and objects: gc reports them and
// gc --delete removes them, leaving valid data alone.
func TestGCLeaks(t *testing.T) {
	v := newDataVolume(t, "gcleaks", "--trash-days", "0")
	ctx := context.Background()
	k := v.e.Keys()
	raw := v.e.Client()
	do := func(args ...string) {
		t.Helper()
		if err := raw.Do(ctx, raw.B().Arbitrary(args...).Build()).Error(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	// A live file: 100 KiB in one slice, two blocks.
	live, liveBlocks := v.writeFile(t, meta.RootInode, "live", 100<<10)
	// A leaked inode (no entry names it, two hours old) with data, its
	// usage counted as the engine would have.
	const leakedIno = meta.Ino(100000)
	old := time.Now().Add(-2 * time.Hour).Unix()
	attr := codec.Attr{Typ: codec.TypeFile, Mode: 0o644, Nlink: 1, Length: 5000, Parent: meta.RootInode, Atime: old, Mtime: old, Ctime: old}
	do("SET", k.Inode(leakedIno), string(attr.Marshal()))
	do("INCRBY", k.UsedSpace(), "8192")
	do("INCRBY", k.TotalInodes(), "1")
	do("RPUSH", k.Chunk(leakedIno, 0), string(codec.SliceRecord{ID: 900, Size: 5000, Len: 5000}.Marshal()))
	inodeBlocks := v.writeBlocks(t, 900, 5000, 2*time.Hour)
	// A leaked chunk list: its inode is gone and not queued for deletion.
	do("RPUSH", k.Chunk(100001, 3), string(codec.SliceRecord{ID: 901, Size: 70 << 10, Len: 70 << 10}.Marshal()))
	chunkBlocks := v.writeBlocks(t, 901, 70<<10, 2*time.Hour)
	// A file deleted but not yet purged.
	do("ZADD", k.DelFiles(), strconv.FormatInt(old, 10), codec.DelFileMember(100002, 3000))
	do("RPUSH", k.Chunk(100002, 0), string(codec.SliceRecord{ID: 902, Size: 3000, Len: 3000}.Marshal()))
	delBlocks := v.writeBlocks(t, 902, 3000, 2*time.Hour)
	// Leaked objects: of no slice at all, and of a slice of another size;
	// and a young one, which is skipped.
	leakedObjs := v.writeBlocks(t, 12345, 1000, 2*time.Hour)
	liveID := liveSliceID(t, v, live)
	wrongSize := v.writeBlocks(t, liveID, 10, 2*time.Hour) // liveID_0_10: not a block of a 100 KiB slice
	young := v.writeBlocks(t, 12346, 10, 0)

	r := run(t, "gc", v.url).ok(t)
	for _, want := range []string{"found leaked inode 100000 (regular)", "found leaked chunk " + k.Chunk(100001, 3)} {
		if !hasLog(r.stderr, "INFO", want) {
			t.Errorf("gc does not report %q:\n%s", want, r.stderr)
		}
	}
	if !hasLog(r.stderr, "INFO", "found 1 leaked inodes, 1 leaked chunk lists, 1 pending deleted files (3000 bytes), 0 trash slices (0 bytes)") {
		t.Errorf("metadata summary:\n%s", r.stderr)
	}
	// Valid: the live file's two blocks, the leaked inode's and chunk's
	// (their slices are still referenced until deleted) and the pending
	// file's. Leaked: two. Skipped: the young one.
	want := "scanned 9 objects, 6 valid, 0 pending delete (0 bytes), 0 compacted (0 bytes), 2 leaked (1010 bytes), 0 delslices (0 bytes), 0 delfiles (0 bytes), 1 skipped (10 bytes)"
	if got := gcSummary(t, r.stderr); got != want {
		t.Errorf("gc:\n%s\nwant\n%s", got, want)
	}
	if !hasLog(r.stderr, "INFO", "Please add `--delete` to clean leaked objects") ||
		!hasLog(r.stderr, "WARNING", "size of slice "+strconv.FormatUint(liveID, 10)+" is 10, but expect 102400") {
		t.Errorf("gc hints:\n%s", r.stderr)
	}
	for _, p := range append(append(leakedObjs, wrongSize...), young...) {
		if !exists(p) {
			t.Fatalf("gc without --delete deleted %s", p)
		}
	}

	r = run(t, "gc", v.url, "--delete", "-p", "3").ok(t)
	// The blocks of the leaked inode, chunk and deleted file are gone before
	// the listing (their slices lost their last reference).
	want = "scanned 5 objects, 2 valid, 0 pending delete (0 bytes), 0 compacted (0 bytes), 2 leaked (1010 bytes), 0 delslices (0 bytes), 1 delfiles (3000 bytes), 1 skipped (10 bytes)"
	if got := gcSummary(t, r.stderr); got != want {
		t.Errorf("gc --delete:\n%s\nwant\n%s", got, want)
	}
	if !hasLog(r.stderr, "INFO", "Deleted 3 pending slices") {
		t.Errorf("pending slices:\n%s", r.stderr)
	}
	for _, p := range append(append(append(append(leakedObjs, wrongSize...), inodeBlocks...), chunkBlocks...), delBlocks...) {
		if exists(p) {
			t.Errorf("%s is still there after gc --delete", p)
		}
	}
	for _, p := range append(liveBlocks, young...) {
		if !exists(p) {
			t.Errorf("gc --delete deleted %s", p)
		}
	}
	for _, key := range []string{k.Inode(leakedIno), k.Chunk(leakedIno, 0), k.Chunk(100001, 3), k.Chunk(100002, 0)} {
		if n, _ := raw.Do(ctx, raw.B().Exists().Key(key).Build()).AsInt64(); n != 0 {
			t.Errorf("%s is still there", key)
		}
	}
	if del, _ := v.e.Inspect().DeletedFiles(ctx); len(del) != 0 {
		t.Errorf("delfiles left: %+v", del)
	}
	// Without the age limit, the young object is leaked too.
	s := session{env: map[string]string{"JFS_GC_SKIPPEDTIME": "0"}}
	r = s.run(t, "gc", v.url, "--delete").ok(t)
	want = "scanned 3 objects, 2 valid, 0 pending delete (0 bytes), 0 compacted (0 bytes), 1 leaked (10 bytes), 0 delslices (0 bytes), 0 delfiles (0 bytes), 0 skipped (0 bytes)"
	if got := gcSummary(t, r.stderr); got != want {
		t.Errorf("gc with JFS_GC_SKIPPEDTIME=0:\n%s\nwant\n%s", got, want)
	}
	if exists(young[0]) {
		t.Errorf("%s is still there", young[0])
	}
	if r := run(t, "fsck", v.url).ok(t); !hasLog(r.stderr, "INFO", "Found 2 blocks (102400 bytes)") {
		t.Errorf("fsck after gc:\n%s", r.stderr)
	}
}

// TestGCCorruptChunkList: one malformed element in a live file's chunk list
// makes gc --delete keep every object, print its report, name the key and
// exit 1 (before, it counted the file's blocks as leaked, deleted them and
// exited 0, as juicefs 1.4.1 does).
func TestGCCorruptChunkList(t *testing.T) {
	v := newDataVolume(t, "gccorrupt", "--trash-days", "0")
	ctx := context.Background()
	k := v.e.Keys()
	live, liveBlocks := v.writeFile(t, meta.RootInode, "live", 100<<10)
	raw := v.e.Client()
	if err := raw.Do(ctx, raw.B().Rpush().Key(k.Chunk(live, 0)).Element("garbage").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	leaked := v.writeBlocks(t, 12345, 1000, 2*time.Hour)
	r := run(t, "gc", v.url).fails(t, `corrupt value in key "`+k.Chunk(live, 0)+`"`)
	if hasLog(r.stderr, "INFO", "Please add `--delete` to clean leaked objects") {
		t.Errorf("gc suggests deleting what corrupt metadata may reference:\n%s", r.stderr)
	}
	r = run(t, "gc", v.url, "--delete").fails(t, `corrupt value in key "`+k.Chunk(live, 0)+`"`)
	if !hasLog(r.stderr, "WARNING", "the objects counted as leaked are not deleted: a value that could not be decoded may reference them") {
		t.Errorf("gc --delete does not say why it kept the objects:\n%s", r.stderr)
	}
	for _, p := range append(liveBlocks, leaked...) {
		if !exists(p) {
			t.Errorf("gc --delete deleted %s", p)
		}
	}
	if hasLog(r.stderr, "INFO", "Please add `--delete` to clean leaked objects") {
		t.Errorf("gc suggests deleting what corrupt metadata may reference:\n%s", r.stderr)
	}
	if err := raw.Do(ctx, raw.B().Lrem().Key(k.Chunk(live, 0)).Count(0).Element("garbage").Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

// liveSliceID returns the slice of a one-slice file.
func liveSliceID(t *testing.T, v *dataVolume, ino meta.Ino) uint64 {
	t.Helper()
	recs, err := v.e.Inspect().ChunkRecords(context.Background(), ino, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("chunk of %d: %v %v", ino, recs, err)
	}
	return recs[0].ID
}

// TestGCTrash: gc --delete expires the trash and the slices compactions
// kept for it.
func TestGCTrash(t *testing.T) {
	v := newDataVolume(t, "gctrash", "--trash-days", "1")
	ctx := context.Background()
	_, blocks := v.writeFile(t, meta.RootInode, "gone", 1000)
	if err := v.e.Unlink(ctx, meta.RootInode, "gone", false); err != nil {
		t.Fatal(err)
	}
	v.e.Sync(ctx)
	// Make the hour directory two days old.
	hours, err := v.e.Readdir(ctx, meta.TrashInode, false)
	if err != nil {
		t.Fatal(err)
	}
	k := v.e.Keys()
	raw := v.e.Client()
	for _, h := range hours {
		if h.Name == "." || h.Name == ".." {
			continue
		}
		oldName := time.Now().Add(-48 * time.Hour).UTC().Format("2006-01-02-15")
		v.e.Client().Do(ctx, raw.B().Hdel().Key(k.Entries(meta.TrashInode)).Field(h.Name).Build())
		v.e.Client().Do(ctx, raw.B().Hset().Key(k.Entries(meta.TrashInode)).FieldValue().
			FieldValue(oldName, string(codec.Entry{Typ: codec.TypeDirectory, Inode: h.Inode}.Marshal())).Build())
	}
	// A compaction two days ago kept slice 700 (and its block) for the trash.
	old := time.Now().Add(-48 * time.Hour).Unix()
	delayed := v.writeBlocks(t, 700, 500, 2*time.Hour)
	raw.Do(ctx, raw.B().Hset().Key(k.DelSlices()).FieldValue().FieldValue(codec.DelSlicesField(701, old),
		string(codec.MarshalDelSliceRecords([]codec.DelSliceRecord{{ID: 700, Size: 500}}))).Build())
	raw.Do(ctx, raw.B().Hset().Key(k.SliceRef()).FieldValue().FieldValue(k.SliceRefField(700, 500), "0").Build())

	r := run(t, "gc", v.url).ok(t)
	if got := gcSummary(t, r.stderr); !strings.HasPrefix(got, "scanned 2 objects, 1 valid, 0 pending delete (0 bytes), 1 compacted (500 bytes), 0 leaked") {
		t.Errorf("gc: %s", got)
	}
	if !hasLog(r.stderr, "INFO", "found 0 leaked inodes, 0 leaked chunk lists, 0 pending deleted files (0 bytes), 1 trash slices (500 bytes)") {
		t.Errorf("gc:\n%s", r.stderr)
	}
	r = run(t, "gc", v.url, "--delete").ok(t)
	if got := gcSummary(t, r.stderr); !strings.Contains(got, ", 1 delslices (500 bytes), ") {
		t.Errorf("gc --delete: %s", got)
	}
	for _, p := range append(blocks, delayed...) {
		if exists(p) {
			t.Errorf("%s is still there after gc --delete", p)
		}
	}
	if ents, _ := engine(t, v.url).Readdir(ctx, meta.TrashInode, false); len(ents) > 2 {
		t.Errorf("the trash still holds %d entries", len(ents)-2)
	}
}

func TestGCArguments(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "gcargs", "--storage", "gs", "--bucket", "gs://bucket")
	run(t, "gc", url, "--compact").fails(t, `storage "gs": object storage type not supported by rueidisfs`)
	run(t, "gc", url, "--delete", "-p", "0").fails(t, "threads should be greater than 0 to delete or compact objects")
	run(t, "gc", url, "extra").fails(t, "accept at most 1 arguments")
	r := run(t, "gc", url, "--delete").ok(t)
	if !strings.Contains(r.stderr, `storage "gs": object storage type not supported by rueidisfs (rueidisfs reaches file, s3, minio): leaked objects are not searched`) ||
		!hasLog(r.stderr, "INFO", "0 delslices (0 bytes), 0 delfiles (0 bytes) cleaned; objects not scanned") {
		t.Errorf("gc on gs:\n%s", r.stderr)
	}
	s := session{env: map[string]string{"JFS_GC_SKIPPEDTIME": "soon"}}
	if r := s.run(t, "gc", url); !strings.Contains(r.stderr, "parse JFS_GC_SKIPPEDTIME=soon") {
		t.Errorf("bad JFS_GC_SKIPPEDTIME:\n%s", r.stderr)
	}
}
