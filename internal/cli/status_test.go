package cli

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/meta"
)

// TestStatusOfFixtures: on a database loaded with a volume captured from
// the official client, status prints exactly what `juicefs status` printed.
func TestStatusOfFixtures(t *testing.T) {
	for _, vol := range fixtures.Volumes() {
		t.Run(vol, func(t *testing.T) {
			url, srv, db := newDB(t)
			if _, err := fixtures.LoadVolume(context.Background(), srv.Client(t, db), vol, ""); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(fixtures.Path(vol, "status.json"))
			if err != nil {
				t.Fatal(err)
			}
			r := run(t, "status", url).ok(t)
			if r.stdout != string(want) {
				t.Fatalf("status of %s:\n%s\nwant (juicefs 1.4.1):\n%s", vol, r.stdout, want)
			}
		})
	}
}

func TestStatusSessions(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "sessions")
	e := mount(t, url)
	sid := e.SID()

	st := statusOf(t, url)
	if len(st.Sessions) != 1 {
		t.Fatalf("sessions: %+v", st.Sessions)
	}
	s := st.Sessions[0]
	host, _ := os.Hostname()
	if s.Sid != sid || s.MountPoint != "/mnt/test" || s.HostName != host || s.ProcessID != os.Getpid() || s.Version != meta.Version {
		t.Fatalf("session %+v", s)
	}
	r := run(t, "status", url).ok(t)
	for _, field := range []string{`"Sid": `, `"Expire": "`, `"Version": "`, `"HostName": "`, `"MountPoint": "/mnt/test"`, `"MountTime": "`, `"ProcessID": `} {
		if !strings.Contains(r.stdout, field) {
			t.Errorf("status output lacks %s", field)
		}
	}

	// One session, with its details.
	r = run(t, "status", url, "--session", strconv.FormatUint(sid, 10)).ok(t)
	var one meta.Session
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if one.Sid != sid || one.MountPoint != "/mnt/test" {
		t.Fatalf("--session: %+v", one)
	}
	run(t, "status", url, "-s", "999").fails(t, "get session: session not found: 999")
}

// TestStatusMore counts what the basic fixture keeps for deleted files and
// compares it with an independent count from its keyspace.
func TestStatusMore(t *testing.T) {
	url, srv, db := newDB(t)
	ks, err := fixtures.LoadVolume(context.Background(), srv.Client(t, db), "basic", "")
	if err != nil {
		t.Fatal(err)
	}
	// Trash files: the directory statistics of the hour directories.
	var wantFiles, wantFileSize int64
	for name, v := range ks.Lookup("d" + meta.TrashInode.String()).Hash {
		if _, ok := codec.ParseTrashHourName(name); !ok {
			continue
		}
		e, err := codec.UnmarshalEntry(v)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(string(ks.Lookup("dirUsedInodes").Hash[e.Inode.String()]), 10, 64)
		l, _ := strconv.ParseInt(string(ks.Lookup("dirDataLength").Hash[e.Inode.String()]), 10, 64)
		wantFiles += n
		wantFileSize += l
	}
	// Trash slices: the records of delSlices.
	var wantSlices, wantSliceSize int64
	for _, v := range ks.Lookup("delSlices").Hash {
		recs, err := codec.UnmarshalDelSliceRecords(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			wantSlices++
			wantSliceSize += int64(r.Size)
		}
	}
	if wantFiles == 0 || wantSlices == 0 {
		t.Fatalf("the basic fixture should have trash files and slices (%d, %d)", wantFiles, wantSlices)
	}

	plain := statusOf(t, url)
	if plain.Stat.TrashFileCount != 0 || plain.Stat.TrashSliceCount != 0 {
		t.Fatalf("status without --more counted deleted objects: %+v", plain.Stat)
	}
	st := statusOf(t, url, "--more").Stat
	want := *plain.Stat
	want.TrashFileCount, want.TrashFileSize = wantFiles, wantFileSize
	want.TrashSliceCount, want.TrashSliceSize = wantSlices, wantSliceSize
	if *st != want {
		t.Fatalf("status --more: %+v, want %+v", *st, want)
	}
	r := run(t, "status", url, "-m").ok(t)
	if !strings.Contains(r.stdout, `"TrashSliceCount": `+strconv.FormatInt(wantSlices, 10)) {
		t.Errorf("-m output lacks TrashSliceCount:\n%s", r.stdout)
	}

	// Files deleted while open and slices without references are pending.
	srv.Do(t, db, "ZADD", "delfiles", "1700000000", "5000:12345")
	srv.Do(t, db, "ZADD", "delfiles", "1700000001", "5000:99") // the same inode again
	srv.Do(t, db, "ZADD", "delfiles", "1700000002", "5001:100")
	srv.Do(t, db, "HSET", "sliceRef", "k90000_4096", "-1", "k90001_8192", "0")
	st = statusOf(t, url, "--more").Stat
	if st.PendingDeletedFileCount != 2 || st.PendingDeletedFileSize != 12445 ||
		st.PendingDeletedSliceCount != 1 || st.PendingDeletedSliceSize != 4096 {
		t.Fatalf("pending: %+v", st)
	}
}

func TestStatusNotFormatted(t *testing.T) {
	url, _, _ := newDB(t)
	run(t, "status", url).fails(t, "load setting: database is not formatted")
}

func TestStatusMoreWithoutTrash(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "no-trash", "--trash-days", "0")
	st := statusOf(t, url, "--more").Stat
	if *st != (statusStat{AvailableSpace: 1 << 50, AvailableInodes: 10 << 20}) {
		t.Fatalf("status --more of an empty volume without trash: %+v", st)
	}
}
