package cli

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/rueidisfs/rueidisfs/meta"
)

// TestQuotaOfFixtures: quota list, get and check print the tables juicefs
// printed (quota.txt), and check logs the same verdict.
func TestQuotaOfFixtures(t *testing.T) {
	replayOfficial(t, "quota.txt", false, func(t *testing.T, fv *fixtureVolume, cmd, want string) {
		args := strings.Fields(cmd)
		for i, a := range args {
			if strings.HasPrefix(a, "redis://") {
				args[i] = fv.url
			}
		}
		r := run(t, args...).ok(t)
		if strings.TrimLeft(want, "\n") == "" {
			want = ""
		}
		if r.stdout != want {
			t.Errorf("rueidisfs %s printed:\n%s\njuicefs printed:\n%s", cmd, r.stdout, want)
		}
		if args[1] == "check" && !hasLog(r.stderr, "INFO", "quota of "+args[4]+" is consistent") {
			t.Errorf("check does not say the quota is consistent:\n%s", r.stderr)
		}
	})
}

func TestQuotaRoundTrip(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "quotas")
	e := engine(t, url)
	ctx := context.Background()

	// set creates the directory with --create and prints what was asked.
	r := run(t, "quota", "set", url, "--path", "/q/a", "--capacity", "1", "--inodes", "3", "--create").ok(t)
	want := `+------+---------+------+------+--------+-------+-------+
| Path |   Size  | Used | Use% | Inodes | IUsed | IUse% |
+------+---------+------+------+--------+-------+-------+
| /q/a | 1.0 GiB |  0 B |   0% |      3 |     0 |    0% |
+------+---------+------+------+--------+-------+-------+
`
	if r.stdout != want {
		t.Errorf("quota set printed:\n%s", r.stdout)
	}
	// Only the inodes change; the capacity stays.
	r = run(t, "quota", "set", url, "--path", "/q/a", "--inodes", "2").ok(t)
	if !strings.Contains(r.stdout, "| /q/a | unchanged |  0 B |      |      2 |     0 |    0% |") {
		t.Errorf("quota set --inodes printed:\n%s", r.stdout)
	}
	q, _, err := e.Lookup(ctx, meta.RootInode, "q")
	if err != nil {
		t.Fatal(err)
	}
	qa, _, err := e.Lookup(ctx, q, "a")
	if err != nil {
		t.Fatal(err)
	}
	// The limit is enforced for a client that loads the quotas.
	e2 := engine(t, url)
	for _, name := range []string{"f1", "f2"} {
		if _, _, err := e2.Create(ctx, qa, name, 0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e2.Create(ctx, qa, "f3", 0o644, 0, 0); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("third file in a directory with a quota of 2 inodes: %v, want EDQUOT", err)
	}
	e2.Sync(ctx)
	r = run(t, "quota", "get", url, "--path", "/q/a").ok(t)
	// Each empty file is charged 4 KiB, as with juicefs.
	if !strings.Contains(r.stdout, "| /q/a | 1.0 GiB | 8.0 KiB |   0% |      2 |     2 |  100% |") {
		t.Errorf("quota get printed:\n%s", r.stdout)
	}
	run(t, "quota", "set", url, "--uid", "1000", "--capacity", "10M").ok(t)
	run(t, "quota", "set", url, "--gid", "100", "--inodes", "1000").ok(t)
	r = run(t, "quota", "ls", url).ok(t)
	want = `+----------+-----------+---------+------+-----------+-------+-------+
|  Path/ID |    Size   |   Used  | Use% |   Inodes  | IUsed | IUse% |
+----------+-----------+---------+------+-----------+-------+-------+
| /q/a     |   1.0 GiB | 8.0 KiB |   0% |         2 |     2 |  100% |
| gid:100  | unchanged |     0 B |      |     1,000 |     0 |    0% |
| uid:1000 |    10 MiB |     0 B |   0% | unchanged |     0 |       |
+----------+-----------+---------+------+-----------+-------+-------+
`
	if r.stdout != want {
		t.Errorf("quota list printed:\n%s\nwant\n%s", r.stdout, want)
	}
	r = run(t, "quota", "get", url, "--uid", "1000").ok(t)
	if !strings.HasPrefix(r.stdout, "+---------+") || !strings.Contains(r.stdout, "| User ID |") || !strings.Contains(r.stdout, "| 1000    |") {
		t.Errorf("quota get --uid printed:\n%s", r.stdout)
	}
	// check: consistent, then damaged, reported, repaired.
	r = run(t, "quota", "check", url, "--path", "/q/a", "--strict").ok(t)
	if !hasLog(r.stderr, "INFO", "quota of /q/a is consistent") {
		t.Errorf("check:\n%s", r.stderr)
	}
	raw := e.Client()
	if err := raw.Do(ctx, raw.B().Hset().Key(e.Keys().DirQuotaUsedInodes()).FieldValue().FieldValue(qa.String(), "7").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	r = run(t, "quota", "check", url, "--path", "/q/a").fails(t, "quota of /q/a is inconsistent, please repair it with --repair flag")
	if !hasLog(r.stderr, "WARNING", "/q/a: quota(7, 8.0 KiB) != summary(2, 8.0 KiB)") {
		t.Errorf("check of a damaged quota:\n%s", r.stderr)
	}
	r = run(t, "quota", "check", url, "--path", "/q/a", "--repair").ok(t)
	if !hasLog(r.stderr, "INFO", "repairing...") || !strings.Contains(r.stdout, "|      2 |     2 |  100% |") {
		t.Errorf("check --repair:\n%s\n%s", r.stdout, r.stderr)
	}
	// User and group quotas are checked against a scan of the volume.
	r = run(t, "quota", "check", url).ok(t)
	if !strings.Contains(r.stdout, "| User/Group ID |") || !strings.Contains(r.stdout, "| uid:0 ") || !strings.Contains(r.stdout, "| gid:0 ") {
		t.Errorf("check of users and groups:\n%s\n%s", r.stdout, r.stderr)
	}
	// delete prints nothing; get of a missing quota prints nothing.
	if r := run(t, "quota", "delete", url, "--path", "/q/a").ok(t); r.stdout != "" {
		t.Errorf("delete printed %q", r.stdout)
	}
	if r := run(t, "quota", "get", url, "--path", "/q/a").ok(t); r.stdout != "" {
		t.Errorf("get of a deleted quota printed %q", r.stdout)
	}
	run(t, "quota", "del", url, "--uid", "1000").ok(t)
	run(t, "quota", "delete", url, "--gid", "100").ok(t)
	if r := run(t, "quota", "list", url).ok(t); r.stdout != "" {
		t.Errorf("list after deleting everything:\n%s", r.stdout)
	}
}

func TestQuotaNegativeUsage(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "negative")
	run(t, "quota", "set", url, "--path", "/d", "--inodes", "10", "--create").ok(t)
	e := engine(t, url)
	ctx := context.Background()
	d, _, err := e.Lookup(ctx, meta.RootInode, "d")
	if err != nil {
		t.Fatal(err)
	}
	raw := e.Client()
	set := func(v string) {
		if err := raw.Do(ctx, raw.B().Hset().Key(e.Keys().DirQuotaUsedSpace()).FieldValue().FieldValue(d.String(), v).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	set("-8192")
	r := run(t, "quota", "get", url, "--path", "/d").ok(t)
	if !strings.Contains(r.stdout, "| /d   | unchanged |  0 B |") ||
		!hasLog(r.stderr, "WARNING", "Used space of /d is negative (-8192), please run `rueidisfs quota check` to fix it") {
		t.Errorf("negative usage:\n%s\n%s", r.stdout, r.stderr)
	}
	set("0")
}

func TestQuotaArguments(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "quotaargs")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"quota", "get", url}, "please specify the directory with `--path <dir>` option or specify user/group with `--uid <uid>`/`--gid <gid>` option"},
		{[]string{"quota", "set", url, "--uid", "0", "--inodes", "1"}, "invalid --uid: 0 is not allowed"},
		{[]string{"quota", "set", url, "--uid", "1", "--gid", "1"}, "cannot specify both --uid and --gid at the same time"},
		{[]string{"quota", "set", url, "--uid", "1", "--path", "/"}, "cannot specify both --uid and --path at the same time"},
		{[]string{"quota", "get", url, "--gid", "1", "--path", "/"}, "cannot specify both --gid and --path at the same time"},
		{[]string{"quota", "get", url, "--gid", "4294967296"}, "invalid --gid: 4294967296 exceeds maximum value 4294967295"},
		{[]string{"quota", "set", url, "--path", "/x", "--capacity", "1Q"}, `invalid value "1Q" for --capacity`},
		{[]string{"quota", "get", url, "--path", "/nowhere"}, "resolve dir /nowhere: no such file or directory"},
		{[]string{"quota", "check", url, "--path", "/"}, "no quota for inode 1 path /"},
		{[]string{"quota", "set", url, "--path", "/.trash", "--inodes", "1"}, "no quota for any trash directory"},
		{[]string{"quota", "get"}, "ERROR: This command requires at least 1 arguments\nUSAGE:\n   rueidisfs quota get [command options] META-URL"},
		{[]string{"quota", "bogus", url}, `unknown quota command "bogus": use set, get, delete, list or check`},
		{[]string{"quota", "set", url, "--bogus"}, "ERROR: flag provided but not defined: -bogus\nUSAGE:\n   rueidisfs quota set [command options] META-URL"},
	} {
		run(t, tc.args...).fails(t, tc.want)
	}
	if r := run(t, "quota").ok(t); !strings.Contains(r.stdout, "set") || !strings.Contains(r.stdout, "check") {
		t.Errorf("quota alone does not list the sub-commands:\n%s", r.stdout)
	}
}
