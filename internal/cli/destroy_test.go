package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/internal/redistest"
)

func TestDestroy(t *testing.T) {
	url, srv, db := newDB(t)
	f := formatVolume(t, url, "doomed")
	dbsize := func() int64 {
		n, err := srv.Do(t, db, "DBSIZE").AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	keys := dbsize()

	run(t, "destroy", url, "00000000-0000-0000-0000-000000000000").fails(t,
		`UUID "00000000-0000-0000-0000-000000000000" != expected "`+f.UUID+`"`)
	run(t, "destroy", url, f.UUID).fails(t, "add --yes to proceed")
	r := session{interactive: true, stdin: "no\n"}.run(t, "destroy", url, f.UUID).fails(t, "aborted")
	for _, want := range []string{" volume name: doomed\n", " volume UUID: " + f.UUID + "\n", "data storage: file://" + f.Bucket + "doomed/\n",
		"  used bytes: 0\n", " used inodes: 0\n", "WARNING: The target volume will be permanently destroyed",
		"WARNING: 1. ALL objects in the data storage: file://" + f.Bucket + "doomed/\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("destroy stdout lacks %q", want)
		}
	}

	// An active client blocks it.
	e := mount(t, url)
	r = run(t, "destroy", url, f.UUID, "--yes")
	r.fails(t, "1 session is active, please disconnect them first:")
	host, _ := os.Hostname()
	sid := strconv.FormatUint(e.SID(), 10)
	for _, want := range []string{"| SID | HostName", "| MountPoint |", " " + sid + " | ", host + " | ", " /mnt/test |"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("session table lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := dbsize(); n < keys {
		t.Fatalf("refused destroy deleted keys: %d left of %d", n, keys)
	}

	// --force skips the checks. The objects go first (juicefs_uuid and
	// leftovers in a directory), with their directories, then the keys.
	vol := filepath.Join(f.Bucket, "doomed")
	for _, p := range []string{"chunks/0/0/1_0_10", "chunks/0/0/2_0_10", ".jfs.x.tmp.1"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(vol, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(vol, p), []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r = run(t, "destroy", url, f.UUID, "--force").ok(t)
	if !strings.Contains(r.stderr, "The volume has been destroyed!") || !hasLog(r.stderr, "INFO", "Deleted 4 objects") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	if entries, err := os.ReadDir(f.Bucket); err != nil || len(entries) != 0 {
		t.Errorf("the bucket holds %v (%v) after destroy", entries, err)
	}
	if n := dbsize(); n != 0 {
		t.Fatalf("%d keys left after destroy", n)
	}
	run(t, "status", url).fails(t, "database is not formatted")
}

func TestDestroyConfirmed(t *testing.T) {
	url, srv, db := newDB(t)
	f := formatVolume(t, url, "doomed")
	srv.Do(t, db, "SET", "nextinode", "100")
	// A session whose heartbeat expired is cleaned up, not counted.
	srv.Do(t, db, "ZADD", "allSessions", "1000", "7")
	srv.Do(t, db, "HSET", "sessionInfos", "7", `{"Version":"1.4.1+unknown","HostName":"gone","MountPoint":"/mnt/old"}`)

	session{interactive: true, stdin: "y\n"}.run(t, "destroy", url, f.UUID).ok(t)
	if n, _ := srv.Do(t, db, "DBSIZE").AsInt64(); n != 0 {
		t.Fatalf("%d keys left after destroy", n)
	}
}

func TestDestroyOnlyItsDatabase(t *testing.T) {
	url, srv, db := newDB(t)
	f := formatVolume(t, url, "doomed")
	other, srv2, db2 := newDB(t)
	formatVolume(t, other, "survivor")
	if srv2 != srv {
		t.Fatal("the two databases should share the server")
	}
	run(t, "destroy", url, f.UUID, "-y").ok(t)
	if n, _ := srv.Do(t, db, "DBSIZE").AsInt64(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
	if n, _ := srv.Do(t, db2, "DBSIZE").AsInt64(); n == 0 {
		t.Fatal("destroy emptied another database")
	}
}

// TestDestroyCluster: in a Redis Cluster several volumes share database 0,
// told apart by their {DB} key prefix; destroy deletes only its own keys.
func TestDestroyCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	url, other := c.URL("redis", 3), c.URL("redis", 4)
	f := formatVolume(t, url, "doomed")
	formatVolume(t, other, "survivor")
	count := func(pattern string) int {
		n := 0
		for _, node := range c.Nodes {
			keys, err := node.Do(t, 0, "KEYS", pattern).AsStrSlice()
			if err != nil {
				t.Fatal(err)
			}
			n += len(keys)
		}
		return n
	}
	if count("{3}*") == 0 || count("{4}*") == 0 {
		t.Fatal("format in cluster mode should write keys with the {DB} prefix")
	}
	run(t, "destroy", url, f.UUID, "--yes").ok(t)
	if n := count("{3}*"); n != 0 {
		t.Fatalf("%d keys of the destroyed volume left", n)
	}
	if count("{4}*") == 0 {
		t.Fatal("destroy deleted the keys of another volume")
	}
	statusOf(t, other)
}
