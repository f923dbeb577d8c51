package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	norm := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, `"nextInodes"`) && !strings.Contains(l, `"nextChunk"`) && !strings.Contains(l, `"nextSession"`) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if norm(first) != norm(second) {
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
	run(t, "dump", url, "--binary").fails(t, "not supported")
	run(t, "load", url3, bad, "--encrypt-rsa-key", "k.pem").fails(t, "not supported")
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
// effect on a JSON dump and says so; the binary backup flags are refused
// with what to do instead; a missing file is reported before connecting.
func TestLoadJuicefsFlags(t *testing.T) {
	dumpFile := fixtures.Path("empty", "dump.json")
	url, _, _ := newDB(t)
	r := run(t, "load", url, dumpFile, "--threads", "4").ok(t)
	if !strings.Contains(r.stderr, "--threads has no effect on a JSON dump") {
		t.Errorf("--threads is not said to be without effect")
	}
	url2, _, _ := newDB(t)
	for _, flags := range [][]string{{"--binary"}, {"--binary", "--stat"}, {"--binary", "--stat", "--offset", "-1"}} {
		run(t, append([]string{"load", url2, dumpFile}, flags...)...).fails(t,
			"binary backups (juicefs dump --binary) are not supported by rueidisfs yet; load a JSON dump")
	}
	r = run(t, "load", "redis://127.0.0.1:1/1", filepath.Join(t.TempDir(), "missing.json")).fails(t, "open the dump: open ")
	if strings.Contains(r.stderr, "Meta address") {
		t.Errorf("load connected before checking its file")
	}
}
