package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestConfigShow(t *testing.T) {
	url, _, _ := newDB(t)
	f := formatVolume(t, url, "show-me", "--secret-key", "sk")
	r := run(t, "config", url).ok(t)
	if r.stdout != formatJSON(f)+"\n" {
		t.Fatalf("config output:\n%s\nwant\n%s", r.stdout, formatJSON(f))
	}
	var shown codec.Format
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.SecretKey != "removed" || shown.UUID != f.UUID {
		t.Fatalf("shown: %+v", shown)
	}
	if r := run(t, "config", url, "--trash-days", "1"); r.ok(t).stdout != "Nothing changed.\n" {
		t.Fatalf("unchanged setting: %q", r.stdout)
	}
	if r := run(t, "config", url, "--yes"); r.ok(t).stdout != "Nothing changed.\n" {
		t.Fatalf("--yes alone: %q", r.stdout)
	}
}

func TestConfigChangesPersist(t *testing.T) {
	url, _, _ := newDB(t)
	orig := formatVolume(t, url, "changes")
	bucket := t.TempDir()
	r := run(t, "config", url, "--capacity", "10", "--inodes", "1000000", "--trash-days", "3",
		"--upload-limit", "1.5G", "--download-limit", "100", "--changelog", "--changelog-max-lines", "500",
		"--bucket", bucket, "--access-key", "ak", "--storage-class", "COLD").ok(t)
	want := []string{
		"access-key:  -> ak",
		"    bucket: " + orig.Bucket + " -> " + bucket + "/",
		"  capacity: 0 B -> 10 GiB",
		" changelog: false -> true",
		"changelog-max-age: 0s -> 2h0m0s (default)",
		"changelog-max-lines: 0 -> 500",
		"download-limit: 0.0 Mbps -> 100.0 Mbps",
		"    inodes: 0 -> 1,000,000",
		"storage-class:  -> COLD",
		"trash-days: 1 -> 3",
		"upload-limit: 0.0 Mbps -> 1.5 Gbps",
	}
	if got := strings.TrimRight(r.stdout, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("printed changes:\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	f := storedFormat(t, url)
	if f.Capacity != 10<<30 || f.Inodes != 1e6 || f.TrashDays != 3 || f.UploadLimit != 1500 || f.DownloadLimit != 100 ||
		!f.ChangeLog || f.ChangeLogMaxAge != 7200 || f.ChangeLogMaxLines != 500 || f.Bucket != bucket+"/" ||
		f.AccessKey != "ak" || f.Tiers[0].StorageClass != "COLD" || f.UUID != orig.UUID || f.BlockSize != orig.BlockSize {
		t.Fatalf("stored: %+v", f)
	}
	st := statusOf(t, url).Stat
	if st.AvailableSpace != 10<<30 || st.AvailableInodes != 1e6 {
		t.Fatalf("status does not reflect the new quota: %+v", st)
	}

	run(t, "config", url, "--dir-stats=false", "--user-group-quota", "--changelog-max-age", "30m").ok(t)
	if f := storedFormat(t, url); f.DirStats || !f.UserGroupQuota || f.ChangeLogMaxAge != 1800 {
		t.Fatalf("stored: %+v", f)
	}
	run(t, "config", url, "--dir-stats").ok(t)
	if f := storedFormat(t, url); !f.DirStats {
		t.Fatal("dir stats not re-enabled")
	}
	run(t, "config", url, "--tag", "novalue").fails(t, `invalid --tag "novalue"`)
	run(t, "config", url, "--trash-days", "-2").fails(t, "invalid --trash-days -2")
	run(t, "config", url, "--capacity", "lots").fails(t, `invalid value "lots" for --capacity`)
}

func TestConfigClientVersions(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "versions")

	run(t, "config", url, "--min-client-version", "1.0.0").fails(t, "cannot lower min-client-version from 1.1.0-A to 1.0.0")
	run(t, "config", url, "--min-client-version", "not-a-version").fails(t, "invalid --min-client-version")
	r := run(t, "config", url, "--min-client-version", "1.1.0").ok(t)
	if r.stdout != "min-client-version: 1.1.0-A -> 1.1.0\n" {
		t.Fatalf("stdout %q", r.stdout)
	}

	r = run(t, "config", url, "--enable-acl").ok(t)
	if r.stdout != "enable-acl: false -> true\nmin-client-version: 1.1.0 -> 1.2.0-A\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	if f := storedFormat(t, url); !f.EnableACL || f.MinClientVersion != "1.2.0-A" {
		t.Fatalf("stored: %+v", f)
	}
	run(t, "config", url, "--enable-acl=false").fails(t, "cannot disable ACL")
	run(t, "config", url, "--min-client-version", "1.1.5").fails(t, "cannot lower min-client-version from 1.2.0-A to 1.1.5")

	// A limit that rejects a connected client asks first.
	mount(t, url)
	run(t, "config", url, "--max-client-version", "1.3.0").fails(t, "confirmation needed, but standard input is not a terminal; add --yes")
	r = session{interactive: true, stdin: "maybe\nno\n"}.run(t, "config", url, "--max-client-version", "1.3.0")
	r.fails(t, "aborted")
	if !strings.Contains(r.stdout, "client version error: allowed maximum version: 1.3.0") ||
		!strings.Contains(r.stdout, "Please input y(yes) or n(no)") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	if f := storedFormat(t, url); f.MaxClientVersion != "" {
		t.Fatalf("refused change stored: %+v", f)
	}
	run(t, "config", url, "--max-client-version", "1.3.0", "--yes").ok(t)
	if f := storedFormat(t, url); f.MaxClientVersion != "1.3.0" {
		t.Fatalf("stored: %+v", f)
	}
	run(t, "config", url, "--max-client-version", "", "--force").ok(t)
}

func TestConfigConfirmations(t *testing.T) {
	url, srv, db := newDB(t)
	formatVolume(t, url, "confirm")

	// Emptying the trash.
	run(t, "config", url, "--trash-days", "0").fails(t, "add --yes to proceed")
	session{interactive: true, stdin: "n\n"}.run(t, "config", url, "--trash-days", "0").fails(t, "aborted")
	if f := storedFormat(t, url); f.TrashDays != 1 {
		t.Fatalf("trash-days changed without confirmation: %d", f.TrashDays)
	}
	r := session{interactive: true, stdin: "y\n"}.run(t, "config", url, "--trash-days", "0").ok(t)
	if !strings.Contains(r.stdout, "WARNING: The current trash will be emptied") || !strings.Contains(r.stdout, "Proceed anyway? [y/N]: ") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	if f := storedFormat(t, url); f.TrashDays != 0 {
		t.Fatalf("trash-days %d", f.TrashDays)
	}

	// A quota below the current usage (5 GiB, 10 inodes).
	srv.Do(t, db, "SET", "usedSpace", "5368709120")
	srv.Do(t, db, "SET", "totalInodes", "10")
	run(t, "config", url, "--capacity", "1").fails(t, "add --yes to proceed")
	run(t, "config", url, "--inodes", "5").fails(t, "add --yes to proceed")
	run(t, "config", url, "--capacity", "6", "--inodes", "11").ok(t)
	r = run(t, "config", url, "--capacity", "1", "--yes").ok(t)
	if !strings.Contains(r.stdout, "New quota is too small (used / quota): 5368709120 / 1073741824 bytes, 10 / 11 inodes.") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}
	if f := storedFormat(t, url); f.Capacity != 1<<30 {
		t.Fatalf("capacity %d", f.Capacity)
	}
	srv.Do(t, db, "DEL", "usedSpace", "totalInodes")

	// Directory statistics cannot be disabled while a directory quota exists.
	srv.Do(t, db, "HSET", "dirQuota", "1", string(codec.QuotaLimits{MaxSpace: 1 << 30, MaxInodes: 100}.Marshal()))
	run(t, "config", url, "--dir-stats=false").fails(t, "cannot disable dir stats when there are still 1 dir quotas: [/]")
	if f := storedFormat(t, url); !f.DirStats {
		t.Fatal("dir stats disabled despite the quota")
	}
	run(t, "config", url, "--dir-stats=false", "--force").ok(t)
	srv.Do(t, db, "DEL", "dirQuota")
}

func TestConfigSecrets(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "secrets", "--secret-key", "old-sk", "--session-token", "tok")
	r := run(t, "config", url, "--secret-key", "new-sk").ok(t)
	if r.stdout != "secret-key: updated\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	f := storedFormat(t, url)
	if !f.KeyEncrypted || f.SecretKey == "new-sk" {
		t.Fatalf("the new secret is not encrypted: %+v", f)
	}
	if err := f.DecryptSecrets(); err != nil || f.SecretKey != "new-sk" || f.SessionToken != "tok" {
		t.Fatalf("decrypt: %v %+v", err, f)
	}

	// A volume with plain secrets stays plain unless --encrypt-secret.
	url2, _, _ := newDB(t)
	formatVolume(t, url2, "plain")
	run(t, "config", url2, "--secret-key", "plain-sk").ok(t)
	if f := storedFormat(t, url2); f.KeyEncrypted || f.SecretKey != "plain-sk" {
		t.Fatalf("stored: %+v", f)
	}
	run(t, "config", url2, "--session-token", "t2", "--encrypt-secret").ok(t)
	g := storedFormat(t, url2)
	if !g.KeyEncrypted {
		t.Fatal("--encrypt-secret did not encrypt")
	}
	if err := g.DecryptSecrets(); err != nil || g.SecretKey != "plain-sk" || g.SessionToken != "t2" {
		t.Fatalf("decrypt: %v %+v", err, g)
	}
}

func TestConfigChangelogAge(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "changelog")
	run(t, "config", url, "--changelog", "--changelog-max-age", "10m").ok(t)
	if f := storedFormat(t, url); !f.ChangeLog || time.Duration(f.ChangeLogMaxAge)*time.Second != 10*time.Minute {
		t.Fatalf("stored: %+v", f)
	}
	run(t, "config", url, "--changelog-max-age", "-1s").fails(t, "invalid --changelog-max-age")
}

// TestConfigUserGroupQuotaScans: enabling user/group quotas on a volume that
// already has files counts their usage.
func TestConfigUserGroupQuotaScans(t *testing.T) {
	url, srv, db := newDB(t)
	formatVolume(t, url, "ugq")
	e := mount(t, url)
	ctx := meta.WithCaller(context.Background(), meta.Caller{Uid: 1000, Gids: []uint32{100}})
	pub, _, err := e.Mkdir(context.Background(), meta.RootInode, "pub", 0o777, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		ino, _, err := e.Create(ctx, pub, n, 0o644, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		e.Release(ctx, ino)
	}
	e.Sync(context.Background())
	run(t, "config", url, "--user-group-quota", "--yes").ok(t)
	if n, err := srv.Do(t, db, "HGET", "userQuotaUsedInodes", "1000").AsInt64(); err != nil || n != 2 {
		t.Fatalf("uid 1000 inodes %d %v", n, err)
	}
	if n, err := srv.Do(t, db, "HGET", "groupQuotaUsedSpace", "100").AsInt64(); err != nil || n != 8192 {
		t.Fatalf("gid 100 space %d %v", n, err)
	}
}
