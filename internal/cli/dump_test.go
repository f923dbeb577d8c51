package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rueidisfs/rueidisfs/autobackup"
	"github.com/rueidisfs/rueidisfs/meta"
	"github.com/rueidisfs/rueidisfs/objstore/encrypt"
	"github.com/rueidisfs/rueidisfs/objstore/volstore"

	"github.com/rueidisfs/rueidisfs/internal/fixtures"
)

// TestDumpFixtures: `dump` of a volume captured from the official client
// prints exactly what `juicefs dump` wrote.
func TestDumpFixtures(t *testing.T) {
	for _, vol := range fixtures.Volumes() {
		t.Run(vol, func(t *testing.T) {
			url, srv, db := newDB(t)
			if _, err := fixtures.LoadVolume(context.Background(), srv.Client(t, db), vol, ""); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(fixtures.Path(vol, "dump.json"))
			if err != nil {
				t.Fatal(err)
			}
			r := run(t, "dump", url).ok(t)
			if r.stdout != string(want) {
				t.Fatalf("dump of %s differs from juicefs's", vol)
			}
			if !strings.Contains(r.stderr, `Dump metadata into "STDOUT" succeed`) {
				t.Fatalf("no success line: %s", r.stderr)
			}
		})
	}
}

// TestDumpLoadRoundTrip: a gzipped dump file loads into another database,
// whose dump equals the first; loading into a used database, a bad dump and
// unsupported flags are refused with one clear line.
func TestDumpLoadRoundTrip(t *testing.T) {
	url, srv, db := newDB(t)
	if _, err := fixtures.LoadVolume(context.Background(), srv.Client(t, db), "basic", ""); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "meta.json.gz")
	run(t, "dump", url, file, "--threads", "3").ok(t)
	url2, _, _ := newDB(t)
	run(t, "load", url2, file).ok(t)
	checkVolume(t, url2)
	first := run(t, "dump", url, "--skip-trash").ok(t).stdout
	second := run(t, "dump", url2, "--skip-trash").ok(t).stdout
	// Load recomputes the id counters; everything else is equal.
	if fixtures.WithoutIDCounters(first) != fixtures.WithoutIDCounters(second) {
		t.Fatal("dump after load differs")
	}
	run(t, "load", url2, file).fails(t, "is used by volume fixture-basic")

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"Setting": {"Name": "x"}, "Counters": {"usedSpace": "many"}}`), 0o644)
	url3, srv3, db3 := newDB(t)
	run(t, "load", url3, bad).fails(t, "at byte")
	if n, _ := srv3.Do(t, db3, "DBSIZE").AsInt64(); n != 0 {
		t.Fatalf("a rejected load left %d keys", n)
	}
	run(t, "load", url3, bad, "--encrypt-rsa-key", "k.pem").fails(t, "load the RSA key: open k.pem: no such file or directory")
}

// TestLoadFromStdin reads the dump from standard input.
func TestLoadFromStdin(t *testing.T) {
	want, err := os.ReadFile(fixtures.Path("empty", "dump.json"))
	if err != nil {
		t.Fatal(err)
	}
	url, _, _ := newDB(t)
	session{stdin: string(want)}.run(t, "load", url).ok(t)
	if got := run(t, "status", url).ok(t).stdout; !strings.Contains(got, `"Name": "fixture-empty"`) {
		t.Fatalf("status after load: %s", got)
	}
}

// TestLoadJuicefsFlags: juicefs load's flags are accepted; --threads has no
// effect on a JSON dump and says so; a missing file is reported before
// connecting.
func TestLoadJuicefsFlags(t *testing.T) {
	dumpFile := fixtures.Path("empty", "dump.json")
	url, _, _ := newDB(t)
	r := run(t, "load", url, dumpFile, "--threads", "4").ok(t)
	if !strings.Contains(r.stderr, "--threads has no effect on a JSON dump") {
		t.Errorf("--threads is not said to be without effect")
	}
	// A JSON dump is no binary backup: refused, with where and why.
	url2, _, _ := newDB(t)
	for _, flags := range [][]string{{"--binary"}, {"--binary", "--stat"}, {"--binary", "--stat", "--offset", "-1"}} {
		run(t, append([]string{"load", url2, dumpFile}, flags...)...).fails(t, "invalid binary backup: at byte ")
	}
	r = run(t, "load", "redis://127.0.0.1:1/1", filepath.Join(t.TempDir(), "missing.json")).fails(t, "open the dump: open ")
	if strings.Contains(r.stderr, "Meta address") {
		t.Errorf("load connected before checking its file")
	}
}

// TestBinaryDumpLoad: dump --binary and load --binary, as juicefs takes
// them: a backup loads into an empty database (from a file, a compressed
// file or stdin) and the volume dumps as JSON as the original did; the
// official client's backup loads too; --stat describes a backup as
// juicefs load --stat does; a damaged backup is refused in one line.
func TestBinaryDumpLoad(t *testing.T) {
	url, srv, db := newDB(t)
	if _, err := fixtures.LoadVolume(context.Background(), srv.Client(t, db), "basic", ""); err != nil {
		t.Fatal(err)
	}
	want := run(t, "dump", url).ok(t).stdout
	dir := t.TempDir()
	for _, name := range []string{"meta.bin", "meta.bin.gz", "meta.bin.zstd"} {
		file := filepath.Join(dir, name)
		r := run(t, "dump", url, file, "--binary", "--threads", "3").ok(t)
		if !strings.Contains(r.stderr, `Dump metadata into "`+file+`" succeed`) || !strings.Contains(r.stderr, "Dumped records: format 1, counter 6, node 386, edge 386") {
			t.Errorf("dump --binary does not say what it wrote:\n%s", r.stderr)
		}
		url2, _, _ := newDB(t)
		r = run(t, "load", url2, file, "--binary").ok(t)
		if !strings.Contains(r.stderr, `Load metadata from "`+file+`" succeed`) {
			t.Errorf("load --binary does not say it succeeded:\n%s", r.stderr)
		}
		if got := run(t, "dump", url2).ok(t).stdout; got != want {
			t.Errorf("%s: the loaded volume dumps differently", name)
		}
	}
	backupFile := filepath.Join(dir, "meta.bin")
	content, err := os.ReadFile(backupFile)
	if err != nil {
		t.Fatal(err)
	}
	url3, _, _ := newDB(t)
	session{stdin: string(content)}.run(t, "load", url3, "--binary").ok(t)
	if got := run(t, "dump", url3).ok(t).stdout; got != want {
		t.Errorf("a backup loaded from stdin dumps differently")
	}

	official := "../../backup/testdata/basic.bin"
	url4, _, _ := newDB(t)
	run(t, "load", url4, official, "--binary", "--threads", "2").ok(t)
	if got := run(t, "dump", url4).ok(t).stdout; got != want {
		t.Errorf("the official backup loads into a volume that dumps differently")
	}
	stat := run(t, "load", official, "--binary", "--stat").ok(t).stdout
	if !strings.HasPrefix(stat, "Backup Version: 1\n-----------------------\nName      | Num       \n") || !strings.Contains(stat, "\nnode      | 386       |\n") {
		t.Errorf("--stat printed:\n%s", stat)
	}
	stat = run(t, "load", official, "--binary", "--stat", "--offset", "-1").ok(t).stdout
	if !strings.Contains(stat, "\nformat    | 1         | [0]       \n") {
		t.Errorf("--stat --offset -1 printed:\n%s", stat)
	}
	seg := run(t, "load", official, "--binary", "--stat", "--offset", "391").ok(t).stdout
	if !strings.HasPrefix(seg, "Segment: counter\nValue: {\n  \"counters\": [\n") {
		t.Errorf("--stat --offset 391 printed:\n%s", seg)
	}

	cut := filepath.Join(dir, "cut.bin")
	os.WriteFile(cut, content[:len(content)/2], 0o644)
	url5, srv5, db5 := newDB(t)
	run(t, "load", url5, cut, "--binary").fails(t, "invalid binary backup: at byte ")
	if n, _ := srv5.Do(t, db5, "DBSIZE").AsInt64(); n != 0 {
		t.Fatalf("a refused load left %d keys", n)
	}
	run(t, "load", url, backupFile, "--binary").fails(t, "is used by volume fixture-basic")
	run(t, "load", url5, backupFile, "--stat").fails(t, "--stat and --offset describe binary backups: add --binary")
}

// TestLoadEncryptedBackup: load --encrypt-rsa-key reads the backups a mount
// of an encrypted volume stores in its bucket (one encrypted object each),
// JSON or binary, as juicefs load does; the wrong key is refused, and
// nothing is written.
func TestLoadEncryptedBackup(t *testing.T) {
	key := "../../objstore/encrypt/testdata/official/key-pkcs1.pem"
	url, _, _ := newDB(t)
	bucket := t.TempDir()
	run(t, "format", url, "enc", "--bucket", bucket, "--encrypt-rsa-key", key).ok(t)
	e := engine(t, url)
	ctx := context.Background()
	for _, d := range []string{"a", "b"} {
		if _, _, err := e.Mkdir(ctx, meta.RootInode, d, 0o755, 0); err != nil {
			t.Fatal(err)
		}
	}
	e.Sync(ctx)
	f, err := e.Load(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	store, err := volstore.Open(ctx, f, volstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path, err := autobackup.Try(ctx, e, store, autobackup.Options{Interval: time.Hour})
	if err != nil || path == "" {
		t.Fatalf("backup: %q, %v", path, err)
	}
	matches, _ := filepath.Glob(filepath.Join(bucket, "enc", "meta", "dump-*.json.gz"))
	if len(matches) != 1 {
		t.Fatalf("backups in the bucket: %v", matches)
	}
	want := run(t, "dump", url).ok(t).stdout
	url2, _, _ := newDB(t)
	run(t, "load", url2, matches[0], "--encrypt-rsa-key", key).ok(t)
	if got := run(t, "dump", url2).ok(t).stdout; fixtures.WithoutIDCounters(got) != fixtures.WithoutIDCounters(want) {
		t.Errorf("the encrypted backup loads into a different volume")
	}

	// A binary backup, encrypted the same way.
	plain := filepath.Join(t.TempDir(), "meta.bin")
	run(t, "dump", url, plain, "--binary", "--keep-secret-key").ok(t)
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	pemText, _ := os.ReadFile(key)
	rsaKey, err := encrypt.ParseKey(string(pemText), "")
	if err != nil {
		t.Fatal(err)
	}
	box, err := encrypt.New(nil, rsaKey, "aes256gcm-rsa")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal(data)
	if err != nil {
		t.Fatal(err)
	}
	encFile := filepath.Join(t.TempDir(), "meta.bin.enc")
	os.WriteFile(encFile, sealed, 0o600)
	url3, _, _ := newDB(t)
	run(t, "load", url3, encFile, "--binary", "--encrypt-rsa-key", key).ok(t)
	if got := run(t, "dump", url3).ok(t).stdout; got != want {
		t.Errorf("the encrypted binary backup loads into a different volume")
	}

	url4, srv4, db4 := newDB(t)
	other := "../../objstore/encrypt/testdata/official/key-pkcs8.pem"
	run(t, "load", url4, matches[0], "--encrypt-rsa-key", other).fails(t, "does not open with the volume's private key")
	if n, _ := srv4.Do(t, db4, "DBSIZE").AsInt64(); n != 0 {
		t.Fatalf("a refused load left %d keys", n)
	}
}
