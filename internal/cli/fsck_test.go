package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/meta"
)

// foundUsed returns the "Found ..." and "Used by ..." messages of a fsck
// run's log.
func foundUsed(stderr string) []string {
	var out []string
	for _, m := range logMessages(stderr, "INFO") {
		if strings.HasPrefix(m, "Found ") || strings.HasPrefix(m, "Used by ") {
			out = append(out, m)
		}
	}
	return out
}

// TestFsckFixtures: with their objects unpacked, the fixtures are clean,
// and fsck counts the blocks and slices juicefs fsck counted, both for the
// whole volume and for --path / --recursive.
func TestFsckFixtures(t *testing.T) {
	for _, vol := range fixtures.Volumes() {
		t.Run(vol, func(t *testing.T) {
			fv := loadFixture(t, vol, true)
			b, err := os.ReadFile(fixtures.Path(vol, "fsck.txt"))
			if err != nil {
				t.Fatal(err)
			}
			// juicefs's log of both runs, in order.
			want := foundUsed(string(b))
			if len(want) != 4 {
				t.Fatalf("fsck.txt has %q", want)
			}
			r := run(t, "fsck", fv.url).ok(t)
			if got := foundUsed(r.stderr); strings.Join(got, "|") != strings.Join(want[:2], "|") {
				t.Errorf("fsck: %q, juicefs: %q", got, want[:2])
			}
			if !hasLog(r.stderr, "INFO", "Data use file://"+filepath.Join(fv.bucket, storedFormat(t, fv.url).Name)+"/") {
				t.Errorf("no Data use line:\n%s", r.stderr)
			}
			r = run(t, "fsck", fv.url, "--path", "/", "--recursive").ok(t)
			if got := foundUsed(r.stderr); strings.Join(got, "|") != strings.Join(want[2:], "|") {
				t.Errorf("fsck --path / --recursive: %q, juicefs: %q", got, want[2:])
			}
			// juicefs logs how many nodes it walked; so do we.
			checked := ""
			for _, m := range logMessages(string(b), "INFO") {
				if strings.HasPrefix(m, "Checked ") {
					checked = m
				}
			}
			if !hasLog(r.stderr, "INFO", checked) {
				t.Errorf("want %q in:\n%s", checked, r.stderr)
			}
		})
	}
}

// TestFsckLostBlock: a block missing from the bucket makes fsck fail and
// name the file.
func TestFsckLostBlock(t *testing.T) {
	fv := loadFixture(t, "basic", true)
	// data/big.bin is slice 7: three blocks of 1 MiB, 1 MiB, 525522 bytes.
	block := filepath.Join(fv.bucket, "fixture-basic", "chunks", "0", "0", "7_1_1048576")
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	const lost = "1 objects are lost (1048576 bytes), 1 broken files:\n        INODE: PATH\n           16: /data/big.bin"
	r := run(t, "fsck", fv.url).fails(t, "1 objects are lost (1048576 bytes), 1 broken files:")
	if !strings.Contains(r.stderr, lost+"\n") {
		t.Errorf("the broken files are not listed:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "<ERROR>: can't find block 0/0/7_1_1048576 for file /data/big.bin: ") {
		t.Errorf("the lost block is not logged:\n%s", r.stderr)
	}
	if got := foundUsed(r.stderr); len(got) != 2 || got[0] != "Found 59 blocks (2243826 bytes)" || got[1] != "Used by 62 slices (3672402 bytes)" {
		t.Errorf("counts %q", got)
	}
	if r := run(t, "fsck", fv.url, "--path", "/data", "-r"); r.code != 1 || !strings.Contains(r.stderr, lost) {
		t.Errorf("fsck --path /data -r does not find the lost block")
	}
	run(t, "fsck", fv.url, "--path", "/docs", "-r").ok(t)
	// A block of the wrong size is as good as lost.
	if err := os.WriteFile(block, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, "fsck", fv.url).fails(t, "1 objects are lost (1048576 bytes), 1 broken files:")
	if !strings.Contains(r.stderr, "stored with 5 bytes, want 1048576") {
		t.Errorf("wrong size not explained:\n%s", r.stderr)
	}
}

// TestFsckRepairs injects damage with raw Redis commands: fsck reports it,
// fsck --path / --recursive --repair --sync-dir-stat repairs it.
func TestFsckRepairs(t *testing.T) {
	url, srv, db := newDB(t)
	formatVolume(t, url, "repairs", "--trash-days", "0")
	e := engine(t, url)
	ctx := context.Background()
	a, _, err := e.Mkdir(ctx, meta.RootInode, "a", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := e.Mkdir(ctx, a, "b", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"f1", "f2"} {
		if _, _, err := e.Create(ctx, b, name, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	lost, _, err := e.Mkdir(ctx, meta.RootInode, "lost", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.Sync(ctx)
	k := e.Keys()
	attr, err := e.GetAttr(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	attr.Nlink = 7
	for _, cmd := range [][]string{
		{"SET", k.Inode(a), string(attr.Marshal())},     // wrong link count
		{"HSET", k.DirUsedInodes(), b.String(), "9"},    // wrong statistics
		{"HSET", k.DirUsedSpace(), a.String(), "-4096"}, // broken statistics
		{"INCRBY", k.UsedSpace(), "12345"},              // wrong counters
		{"INCRBY", k.TotalInodes(), "3"},                //
		{"DEL", k.Inode(lost)},                          // missing directory attribute
		{"HSET", k.DirUsedInodes(), lost.String(), "0"}, // (its statistics stay)
		{"HSET", k.DirUsedSpace(), lost.String(), "0"},  //
		{"HSET", k.DirDataLength(), lost.String(), "0"}, //
	} {
		if err := srv.Do(t, db, cmd...).Error(); err != nil {
			t.Fatal(err)
		}
	}
	// Five problems; the statistics of /a/b are merely wrong, which is
	// tolerated (and reported).
	r := run(t, "fsck", url)
	r.fails(t, "5 problems found in the metadata")
	for _, want := range []string{"nlink i" + a.String(), "usedSpace usedSpace: stored", "totalInodes totalInodes: stored", "dangling-entry",
		"dirUsedSpace " + a.String() + ": stored length/space/inodes 0/-4096/1",
		"(directory statistics are approximate; `fsck --path /a/b --repair --sync-dir-stat` refreshes them)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("fsck does not report %q:\n%s", want, r.stderr)
		}
	}
	r = run(t, "fsck", url, "--path", "/", "--recursive")
	r.fails(t, "check: some errors occurred, please check the log of fsck")
	for _, want := range []string{"nlink should be 3, but got 7", "attribute of the directory is missing", "usage stat is missing or broken"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("fsck --path / does not report %q:\n%s", want, r.stderr)
		}
	}
	r = run(t, "fsck", url, "--path", "/", "--recursive", "--repair", "--sync-dir-stat", "--repair-dir-mode", "0700").ok(t)
	if !strings.Contains(r.stderr, "[repaired]") || !strings.Contains(r.stderr, "Volume usage rebuilt") {
		t.Errorf("repair log:\n%s", r.stderr)
	}
	run(t, "fsck", url).ok(t)
	run(t, "fsck", url, "--path", "/", "-r", "--sync-dir-stat").ok(t)
	a2, ok, err := engine(t, url).Inspect().Attr(ctx, lost)
	if err != nil || !ok || a2.Mode != 0o700 || a2.Typ != codec.TypeDirectory {
		t.Errorf("rebuilt attribute %+v %v %v", a2, ok, err)
	}
}

func TestFsckArguments(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "fsckargs", "--storage", "gs", "--bucket", "gs://bucket")
	run(t, "fsck", url, "--path", "relative").fails(t, `file path "relative" should be the absolute path within the volume`)
	run(t, "fsck", url, "--path", "/", "--repair-dir-mode", "999").fails(t, `invalid --repair-dir-mode "999"`)
	run(t, "fsck", url, "--path", "/nowhere").fails(t, "lookup parent 1 name nowhere")
	run(t, "fsck").fails(t, "This command requires at least 1 arguments")
	// Another storage: the metadata alone is checked, and it says so.
	r := run(t, "fsck", url).ok(t)
	if !strings.Contains(r.stderr, `storage "gs": object storage type not supported by rueidisfs (rueidisfs reaches file, s3, minio): objects are not verified, only the metadata`) {
		t.Errorf("no word about the objects:\n%s", r.stderr)
	}
}

// TestFsckRepairWholeVolume: fsck --repair without --path repairs what the
// whole-volume check says it repairs — here damage the --path repair leaves
// alone: a file's link count of 0, a parent count and a slice reference
// that are not integers, statistics that are not integers, junk in
// delfiles — and fsck is clean afterwards.
func TestFsckRepairWholeVolume(t *testing.T) {
	v := newDataVolume(t, "repairall", "--trash-days", "0")
	url, e := v.url, v.e
	ctx := context.Background()
	d, _, err := e.Mkdir(ctx, meta.RootInode, "d", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := e.Create(ctx, d, "f", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Link(ctx, f, meta.RootInode, "hl"); err != nil {
		t.Fatal(err)
	}
	g, _ := v.writeFile(t, d, "g", 10)
	id := liveSliceID(t, v, g)
	e.Sync(ctx)
	k := e.Keys()
	ga, err := e.GetAttr(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	ga.Nlink = 0
	raw := e.Client()
	for _, cmd := range [][]string{
		{"SET", k.Inode(g), string(ga.Marshal())},               // a named file with nlink 0
		{"HSET", k.Parents(f), d.String(), "x"},                 // a parent count that is not an integer
		{"HSET", k.SliceRef(), k.SliceRefField(id, 10), "-x"},   // a slice reference that is not an integer
		{"HSET", k.DirUsedSpace(), d.String(), "lots"},          // statistics that are not integers
		{"ZADD", k.DelFiles(), "1", "junk"},                     // a member naming nothing
		{"ZADD", k.DelFiles(), "1", codec.DelFileMember(g, 10)}, // a live file queued for deletion
	} {
		if err := raw.Do(ctx, raw.B().Arbitrary(cmd...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	marked := func(stderr, level, mark string) int {
		n := 0
		for _, m := range logMessages(stderr, level) {
			if strings.HasSuffix(m, mark) {
				n++
			}
		}
		return n
	}
	r := run(t, "fsck", url)
	r.fails(t, "6 problems found in the metadata")
	if n := marked(r.stderr, "WARNING", "[fsck --repair]"); n != 6 {
		t.Errorf("%d problems marked as repaired by fsck --repair, want 6:\n%s", n, r.stderr)
	}
	r = run(t, "fsck", url, "--repair").ok(t)
	if n := marked(r.stderr, "INFO", "[repaired]"); n != 6 {
		t.Errorf("%d problems repaired, want 6:\n%s", n, r.stderr)
	}
	run(t, "fsck", url).ok(t)
	if a, err := engine(t, url).GetAttr(ctx, g); err != nil || a.Nlink != 1 {
		t.Errorf("link count of g %v %v", a.Nlink, err)
	}
}
