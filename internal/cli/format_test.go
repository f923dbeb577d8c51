package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rueidisfs/rueidisfs/codec"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
	"github.com/rueidisfs/rueidisfs/meta"
)

func TestFormatStatusRoundTrip(t *testing.T) {
	url, srv, db := newDB(t)
	bucket := t.TempDir()
	r := run(t, "format", url, "round-trip", "--bucket", bucket).ok(t)
	for _, want := range []string{
		"<INFO>: Meta address: " + srv.URL("redis", db),
		"<INFO>: Data use file://" + bucket + "/round-trip/",
		"<INFO>: Volume is formatted as {\n  \"Name\": \"round-trip\",",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("format log lacks %q", want)
		}
	}
	if r.stdout != "" {
		t.Errorf("format printed on stdout: %q", r.stdout)
	}
	logged := regexp.MustCompile(`"UUID": "([^"]+)"`).FindStringSubmatch(r.stderr)
	if logged == nil {
		t.Fatal("the formatted volume's UUID is not logged")
	}
	// The storage was tested (nothing left of it) and holds the UUID.
	if b, err := os.ReadFile(filepath.Join(bucket, "round-trip", "juicefs_uuid")); err != nil || string(b) != logged[1] {
		t.Errorf("juicefs_uuid: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(bucket, "round-trip")); len(entries) != 1 {
		t.Errorf("the volume's directory holds %v", entries)
	}
	if _, err := uuid.Parse(logged[1]); err != nil {
		t.Errorf("UUID %q: %v", logged[1], err)
	}

	st := statusOf(t, url)
	f := st.Setting
	want := codec.Format{
		Name: "round-trip", UUID: logged[1], Storage: "file", Tiers: map[uint8]codec.Tier{0: {}},
		Bucket: bucket + "/", BlockSize: 4096, Compression: "none", EncryptAlgo: "aes256gcm-rsa",
		TrashDays: 1, MetaVersion: 1, MinClientVersion: "1.1.0-A", DirStats: true,
	}
	if formatJSON(f) != formatJSON(&want) {
		t.Errorf("status Setting:\n%s\nwant\n%s", formatJSON(f), formatJSON(&want))
	}
	if len(st.Sessions) != 0 {
		t.Errorf("sessions: %+v", st.Sessions)
	}
	wantStat := statusStat{AvailableSpace: 1 << 50, AvailableInodes: 10 << 20}
	if *st.Stat != wantStat {
		t.Errorf("Stat %+v, want %+v", *st.Stat, wantStat)
	}
}

// TestFormatExistingVolume: the juicefs habit of calling format every time
// (scripts, provisioning): on an existing volume format succeeds and applies
// the flags given, keeping the UUID; changes that would strand the stored
// objects are refused, even with --force.
func TestFormatExistingVolume(t *testing.T) {
	url, _, _ := newDB(t)
	orig := formatVolume(t, url, "vol-one")

	r := run(t, "format", url, "vol-one").ok(t)
	if !strings.Contains(r.stderr, "Volume is formatted as {") {
		t.Errorf("format of an existing volume does not show the format, as juicefs does")
	}
	if f := storedFormat(t, url); formatJSON(f) != formatJSON(orig) {
		t.Fatalf("format without flags changed the volume:\n%s\nwas\n%s", formatJSON(f), formatJSON(orig))
	}
	run(t, "format", url, "vol-one", "--no-update", "--trash-days", "9").ok(t)
	if f := storedFormat(t, url); f.TrashDays != 1 {
		t.Fatalf("--no-update changed the trash days to %d", f.TrashDays)
	}

	run(t, "format", url, "vol-one", "--block-size", "1M").fails(t, "cannot update volume block size from 4096 to 1024")
	run(t, "format", url, "vol-two").fails(t, "cannot update volume name from vol-one to vol-two")
	run(t, "format", url, "vol-one", "--force", "--compress", "lz4").fails(t,
		"cannot update volume compression from none to lz4 (rueidisfs never changes it, even with --force")
	if f := storedFormat(t, url); f.TrashDays != 1 || f.BlockSize != 4096 || f.Compression != "none" {
		t.Fatalf("refused updates changed the format: %+v", f)
	}

	r = run(t, "format", url, "vol-one", "--trash-days", "7", "--capacity", "2", "--secret-key", "sk", "--encrypt-algo", "chacha20-rsa").ok(t)
	if !strings.Contains(r.stderr, "--encrypt-algo is ignored for an existing volume") {
		t.Errorf("no warning that --encrypt-algo cannot change")
	}
	f := storedFormat(t, url)
	if f.UUID != orig.UUID || f.TrashDays != 7 || f.Capacity != 2<<30 || f.BlockSize != 4096 || f.Bucket != orig.Bucket || f.EncryptAlgo != orig.EncryptAlgo {
		t.Fatalf("after the update: %+v", f)
	}
	// The original format had no secret, so it stays unencrypted, as in juicefs.
	if f.KeyEncrypted || f.SecretKey != "sk" {
		t.Fatalf("secret after update: %q encrypted=%v", f.SecretKey, f.KeyEncrypted)
	}
	run(t, "format", url, "vol-one", "--force", "--inodes", "1000").ok(t)
	if f := storedFormat(t, url); f.Inodes != 1000 || f.TrashDays != 7 {
		t.Fatalf("after --force --inodes: %+v", f)
	}
}

func TestFormatNonEmptyDatabase(t *testing.T) {
	url, srv, db := newDB(t)
	srv.Do(t, db, "SET", "unrelated", "1")
	run(t, "format", url, "myvol", "--bucket", t.TempDir()).fails(t,
		"holds 1 key but no volume: rueidisfs does not format over unrelated data (the volume's keys would mix with them, and destroy would delete them too); use an empty database, or add --force to format it anyway")
	srv.Do(t, db, "SET", "other", "2")
	run(t, "format", url, "myvol", "--bucket", t.TempDir()).fails(t, "holds 2 keys but no volume")
	if n, _ := srv.Do(t, db, "DBSIZE").AsInt64(); n != 2 {
		t.Fatalf("a refused format wrote keys: DBSIZE %d", n)
	}
	run(t, "format", url, "myvol", "--bucket", t.TempDir(), "--force").ok(t)
	if f := storedFormat(t, url); f.Name != "myvol" {
		t.Fatalf("format: %+v", f)
	}
}

func TestFormatOptions(t *testing.T) {
	dir := t.TempDir()
	kerb := filepath.Join(dir, "krb5.conf")
	shards := filepath.Join(dir, "jfs-%d")
	if err := os.WriteFile(kerb, []byte("[libdefaults]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		check func(f *codec.Format) bool
	}{
		{"bare block size is KiB, rounded down", []string{"--block-size", "3000"}, func(f *codec.Format) bool { return f.BlockSize == 2048 }},
		{"small block size", []string{"--block-size", "10K"}, func(f *codec.Format) bool { return f.BlockSize == 64 }},
		{"large block size", []string{"--block-size", "64M"}, func(f *codec.Format) bool { return f.BlockSize == 16384 }},
		{"capacity in GiB and inodes", []string{"--capacity", "1.5", "--inodes", "1000"}, func(f *codec.Format) bool {
			return f.Capacity == 3<<29 && f.Inodes == 1000
		}},
		{"capacity with a unit", []string{"--capacity", "512M"}, func(f *codec.Format) bool { return f.Capacity == 512<<20 }},
		{"acl", []string{"--enable-acl"}, func(f *codec.Format) bool { return f.EnableACL && f.MinClientVersion == "1.2.0-A" }},
		{"ranger", []string{"--enable-acl", "--ranger-rest-url", "http://r:6080", "--ranger-service", "jfs"}, func(f *codec.Format) bool {
			return f.RangerRestURL == "http://r:6080" && f.RangerService == "jfs" && f.MinClientVersion == "1.3.0-A"
		}},
		{"kerberos", []string{"--kerberos-config-file", kerb}, func(f *codec.Format) bool {
			return f.KerbConf == "[libdefaults]\n" && f.MinClientVersion == "1.4.0-A"
		}},
		{"data format", []string{"--compress", "zstd", "--shards", "4", "--hash-prefix", "--trash-days", "0", "--bucket", shards}, func(f *codec.Format) bool {
			return f.Compression == "zstd" && f.Shards == 4 && f.HashPrefix && f.TrashDays == 0 && f.Bucket == shards+"/"
		}},
		// Not checked: the bucket would be reached.
		{"storage class", []string{"--storage", "s3", "--bucket", "https://b.s3.amazonaws.com", "--storage-class", "STANDARD_IA", "--access-key", "ak"}, func(f *codec.Format) bool {
			return f.Storage == "s3" && f.Bucket == "https://b.s3.amazonaws.com" && f.StorageClass == "STANDARD_IA" &&
				f.Tiers[0] == codec.Tier{StorageClass: "STANDARD_IA"} && f.AccessKey == "ak" && !f.KeyEncrypted
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _, _ := newDB(t)
			s := session{env: map[string]string{"JFS_NO_CHECK_OBJECT_STORAGE": "1"}}
			if f := formatVolumeIn(t, s, url, "opts", tc.flags...); !tc.check(f) {
				t.Fatalf("%v gave %+v", tc.flags, f)
			}
		})
	}

	url, _, db := newDB(t)
	run(t, "format", url, "x").fails(t, `invalid volume name "x"`)
	run(t, "format", url, "Upper-Case").fails(t, "invalid volume name")
	run(t, "format", url, "ok-name", "--compress", "gzip").fails(t, `unsupported --compress "gzip"`)
	run(t, "format", url, "ok-name", "--trash-days", "-1").fails(t, "invalid --trash-days -1")
	run(t, "format", url, "ok-name", "--shards", "300").fails(t, "invalid --shards 300")
	run(t, "format", url, "ok-name", "--block-size", "4Q").fails(t, `invalid value "4Q" for --block-size`)
	run(t, "format", url, "ok-name", "--encrypt-rsa-key", kerb).fails(t, "holds no PEM private key")
	// Endless files: refused at once (they were read until 23 GB).
	run(t, "format", url, "ok-name", "--encrypt-rsa-key", "/dev/zero").fails(t, "/dev/zero holds more than")
	run(t, "format", url, "ok-name", "--kerberos-config-file", "/dev/zero").fails(t, "/dev/zero holds more than")
	if f := run(t, "status", url); f.code == 0 {
		t.Fatalf("refused formats created a volume in db %d", db)
	}
}

func TestFormatSecrets(t *testing.T) {
	url, srv, db := newDB(t)
	key := filepath.Join(t.TempDir(), "key.pem")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	r := session{env: map[string]string{"SESSION_TOKEN": "tok-from-env", "ACCESS_KEY": "ak-from-env"}}.run(t,
		"format", url, "secret", "--bucket", t.TempDir(), "--secret-key", "sk-plain", "--encrypt-rsa-key", key).ok(t)
	for _, secret := range []string{"sk-plain", "tok-from-env", string(keyPEM[40:80]), "PRIVATE KEY"} {
		if strings.Contains(r.stderr, secret) {
			t.Errorf("format logged the secret %q", secret)
		}
	}
	if !strings.Contains(r.stderr, `"SecretKey": "removed"`) || !strings.Contains(r.stderr, `"KeyEncrypted": true`) {
		t.Errorf("format log should show removed secrets and KeyEncrypted")
	}
	raw, err := srv.Do(t, db, "GET", "setting").ToString()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "sk-plain") || strings.Contains(raw, "tok-from-env") {
		t.Fatalf("a secret is stored in plain text:\n%s", raw)
	}
	f, err := codec.ParseSetting(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !f.KeyEncrypted || f.AccessKey != "ak-from-env" {
		t.Fatalf("stored: %+v", f)
	}
	if err := f.DecryptSecrets(); err != nil {
		t.Fatal(err)
	}
	if f.SecretKey != "sk-plain" || f.SessionToken != "tok-from-env" || f.EncryptKey != string(keyPEM) {
		t.Fatalf("decrypted secrets: %q %q %q", f.SecretKey, f.SessionToken, f.EncryptKey)
	}
	st := statusOf(t, url)
	if st.Setting.SecretKey != "removed" || st.Setting.SessionToken != "removed" || st.Setting.EncryptKey != "removed" {
		t.Fatalf("status shows secrets: %+v", st.Setting)
	}

	// Updating a secret of an encrypted volume keeps everything encrypted.
	run(t, "format", url, "secret", "--force", "--secret-key", "sk-new").ok(t)
	g := storedFormat(t, url)
	if !g.KeyEncrypted {
		t.Fatal("secrets stored in plain text after the update")
	}
	if err := g.DecryptSecrets(); err != nil || g.SecretKey != "sk-new" || g.SessionToken != "tok-from-env" {
		t.Fatalf("after update: %v %q %q", err, g.SecretKey, g.SessionToken)
	}
	checkVolume(t, url)
}

// TestFormatKeyspaceMatchesFixture compares, key by key and byte by byte,
// what format writes with what the official client's format wrote for the
// "empty" fixture. That volume was also mounted once: the mount created
// nextsession and the root's directory statistics (zeros). juicefs format
// writes exactly setting, i1 and the trash root; ours writes the root's
// statistics too (see meta's Init), so they are compared with the mount's.
func TestFormatKeyspaceMatchesFixture(t *testing.T) {
	url, srv, db := newDB(t)
	bucket := t.TempDir()
	before := time.Now().Unix()
	run(t, "format", url, "fixture-empty", "--storage", "file", "--bucket", bucket).ok(t)
	after := time.Now().Unix()

	want, err := fixtures.ReadKeyspace(fixtures.Path("empty", "keyspace.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := fixtures.Export(context.Background(), srv.Client(t, db), "")
	if err != nil {
		t.Fatal(err)
	}
	written := func(name string) bool {
		switch name {
		case "nextsession":
			return false // written by the mount, not by format
		}
		return true
	}
	var wantNames, gotNames []string
	for _, k := range want.Keys {
		if written(string(k.Name)) {
			wantNames = append(wantNames, string(k.Name))
		}
	}
	for _, k := range got.Keys {
		gotNames = append(gotNames, string(k.Name))
	}
	sort.Strings(wantNames)
	if strings.Join(gotNames, " ") != strings.Join(wantNames, " ") {
		t.Fatalf("format wrote keys %q, the official format %q", gotNames, wantNames)
	}
	for _, name := range gotNames {
		g, w := got.Lookup(name), want.Lookup(name)
		if g.Type != w.Type || g.TTLms != w.TTLms {
			t.Errorf("%s: type %s ttl %d, want %s ttl %d", name, g.Type, g.TTLms, w.Type, w.TTLms)
			continue
		}
		switch name {
		case "dirDataLength", "dirUsedInodes", "dirUsedSpace":
			if !maps.EqualFunc(g.Hash, w.Hash, bytes.Equal) {
				t.Errorf("%s: %q, want %q", name, g.Hash, w.Hash)
			}
		case "setting":
			// Only the UUID (random) and the bucket (a path of the machine)
			// may differ.
			f, err := codec.ParseSetting(g.String)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := uuid.Parse(f.UUID); err != nil || f.Bucket != bucket+"/" {
				t.Errorf("setting: UUID %q (%v), bucket %q", f.UUID, err, f.Bucket)
			}
			wf, _ := codec.ParseSetting(w.String)
			f.UUID, f.Bucket = wf.UUID, wf.Bucket
			b, _ := f.MarshalSetting()
			if !bytes.Equal(b, w.String) {
				t.Errorf("setting differs:\n%s\nwant\n%s", b, w.String)
			}
		default:
			// Attributes of the root and trash root: only the times (now,
			// whole seconds, all three equal) differ.
			var ga, wa codec.Attr
			if err := codec.UnmarshalAttr(g.String, &ga); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := codec.UnmarshalAttr(w.String, &wa); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if ga.Atime < before || ga.Atime > after || ga.Mtime != ga.Atime || ga.Ctime != ga.Atime ||
				ga.Atimensec != 0 || ga.Mtimensec != 0 || ga.Ctimensec != 0 {
				t.Errorf("%s: times %+v, want %d..%d in whole seconds", name, ga, before, after)
			}
			ga.Atime, ga.Mtime, ga.Ctime = wa.Atime, wa.Mtime, wa.Ctime
			if b := ga.Marshal(); !bytes.Equal(b, w.String) {
				t.Errorf("%s: %x, want %x", name, b, w.String)
			}
		}
	}
	if name := "i" + meta.TrashInode.String(); got.Lookup(name) == nil {
		t.Errorf("the trash root %s is missing", name)
	}
}
