package meta_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/fsck"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestFixtureVolumeWrite modifies a volume written by the official client
// and checks the raw keys our changes leave against the layouts of the
// keyspace specification, byte by byte, and the accounting against a
// recount.
func TestFixtureVolumeWrite(t *testing.T) {
	e, srv, db := loadFixture(t, "basic")
	if err := e.NewSession(bg, true); err != nil {
		t.Fatal(err)
	}
	raw := srv.Client(t, db)
	get := func(key string) []byte {
		t.Helper()
		v, err := raw.Do(bg, raw.B().Get().Key(key).Build()).AsBytes()
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		return v
	}
	hget := func(key, field string) []byte {
		t.Helper()
		v, err := raw.Do(bg, raw.B().Hget().Key(key).Field(field).Build()).AsBytes()
		if err != nil {
			t.Fatalf("HGET %s %s: %v", key, field, err)
		}
		return v
	}
	usedBefore, inodesBefore, _ := e.Counters(bg)

	docs, _, err := e.Resolve(bg, meta.RootInode, "docs")
	if err != nil {
		t.Fatal(err)
	}
	ctx := meta.WithCaller(bg, meta.Caller{Uid: 1001, Gids: []uint32{1002}})
	// docs is 0755 root: create as root, then hand the file over.
	ino, _, err := e.Create(bg, docs, "new.txt", 0o644, 0o022, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Inode numbers come from the shared counter: beyond every existing one.
	if next, _ := raw.Do(bg, raw.B().Get().Key("nextinode").Build()).AsInt64(); int64(ino) > next || ino < 380 {
		t.Fatalf("new inode %d, nextinode %d", ino, next)
	}
	id, err := e.NewSlice(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(bg, ino, 0, 7, codec.Slice{ID: id, Size: 4 << 20, Off: 10, Len: 20}, time.Unix(1800000000, 5)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetAttr(bg, ino, codec.SetAttrMode|codec.SetAttrUID|codec.SetAttrGID, &meta.Attr{Mode: 0o640, Uid: 1001, Gid: 1002}); err != nil {
		t.Fatal(err)
	}
	if err := e.SetXattr(ctx, ino, "user.k", []byte{0, 1, 2}, 0); err != nil {
		t.Fatal(err)
	}
	e.Release(bg, ino)

	// i{ino}: 72 bytes, the spec's layout, trailing zero byte.
	attr := get("i" + ino.String())
	if len(attr) != 72 || attr[71] != 0 {
		t.Fatalf("attribute has %d bytes, last %x", len(attr), attr[len(attr)-1])
	}
	be16, be32, be64 := binary.BigEndian.Uint16, binary.BigEndian.Uint32, binary.BigEndian.Uint64
	if attr[0] != 0 || be16(attr[1:]) != 0x1000|0o640 || be32(attr[3:]) != 1001 || be32(attr[7:]) != 1002 ||
		be64(attr[23:]) != 1800000000 || be32(attr[31:]) != 5 || be32(attr[47:]) != 1 ||
		be64(attr[51:]) != 27 || be32(attr[59:]) != 0 || be64(attr[63:]) != uint64(docs) {
		t.Fatalf("attribute bytes % x", attr)
	}
	// d{docs} entry: type byte + inode.
	ent := hget("d"+docs.String(), "new.txt")
	if !bytes.Equal(ent, append([]byte{1}, binary.BigEndian.AppendUint64(nil, uint64(ino))...)) {
		t.Fatalf("entry % x", ent)
	}
	// c{ino}_0: one 24-byte record pos, id, size, off, len.
	recs, err := raw.Do(bg, raw.B().Lrange().Key("c"+ino.String()+"_0").Start(0).Stop(-1).Build()).AsStrSlice()
	if err != nil || len(recs) != 1 {
		t.Fatalf("chunk list %v %v", recs, err)
	}
	want := binary.BigEndian.AppendUint32(nil, 7)
	want = binary.BigEndian.AppendUint64(want, id)
	want = binary.BigEndian.AppendUint32(want, 4<<20)
	want = binary.BigEndian.AppendUint32(want, 10)
	want = binary.BigEndian.AppendUint32(want, 20)
	if recs[0] != string(want) {
		t.Fatalf("slice record % x, want % x", recs[0], want)
	}
	if v := hget("x"+ino.String(), "user.k"); !bytes.Equal(v, []byte{0, 1, 2}) {
		t.Fatalf("xattr % x", v)
	}

	// Rename across directories, then unlink into the trash (TrashDays 1).
	data, _, err := e.Resolve(bg, meta.RootInode, "data")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Rename(bg, docs, "new.txt", data, "moved.txt", 0); err != nil {
		t.Fatal(err)
	}
	if err := e.Unlink(bg, data, "moved.txt", false); err != nil {
		t.Fatal(err)
	}
	hour := codec.TrashHourName(time.Now())
	hent := hget("d"+meta.TrashInode.String(), hour)
	if len(hent) != 9 || hent[0] != 2 {
		t.Fatalf("hour directory entry % x", hent)
	}
	hourIno := meta.Ino(binary.BigEndian.Uint64(hent[1:]))
	if next, _ := raw.Do(bg, raw.B().Get().Key("nextTrash").Build()).AsInt64(); hourIno != meta.TrashInode+meta.Ino(next) {
		t.Fatalf("hour directory inode %d, nextTrash %d", hourIno, next)
	}
	trashName := data.String() + "-" + ino.String() + "-moved.txt"
	if v := hget("d"+hourIno.String(), trashName); !bytes.Equal(v, ent) {
		t.Fatalf("trash entry % x", v)
	}
	if p := be64(get("i" + ino.String())[63:]); p != uint64(hourIno) {
		t.Fatalf("trashed inode's parent %d, want the hour directory %d", p, hourIno)
	}
	// Counters: one file of 27 bytes (4 KiB) and possibly the new hour
	// directory; the trash keeps everything counted.
	e.Sync(bg)
	usedAfter, inodesAfter, _ := e.Counters(bg)
	newHour := int64(0)
	if !strings.HasPrefix(hour, "2026-11-27-11") {
		newHour = 1 // the fixture's hour directory is for another hour
	}
	if usedAfter != usedBefore+4096*(1+newHour) || inodesAfter != inodesBefore+1+newHour {
		t.Fatalf("counters %d/%d -> %d/%d", usedBefore, inodesBefore, usedAfter, inodesAfter)
	}
	rep, err := fsck.Recount(bg, e.Client(), e.Keys(), fsck.Options{})
	if err != nil || !rep.OK() {
		t.Fatalf("recount after our changes: %v\n%s", err, rep)
	}
	_ = rueidis.Nil
}
