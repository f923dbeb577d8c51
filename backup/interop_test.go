package backup_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rueidisfs/rueidisfs/backup"
	"github.com/rueidisfs/rueidisfs/internal/fixtures"
)

// TestDumpMatchesOfficial: our binary dump of each official volume holds
// exactly the records of `juicefs dump --binary` of the same keyspace (in
// another order: both read the keyspace in parallel).
func TestDumpMatchesOfficial(t *testing.T) {
	for _, vol := range volumes {
		t.Run(vol, func(t *testing.T) {
			e := openFixture(t, vol)
			ours := records(t, binaryDump(t, e, backup.DumpOptions{Threads: 3}))
			theirs := records(t, officialBackup(t, vol))
			if !slices.Equal(ours, theirs) {
				t.Errorf("records differ:\n%s", diffLines(theirs, ours))
			}
		})
	}
}

// TestLoadOfficial: an official backup loads into an empty database, and
// the volume it makes dumps (as JSON) exactly as the volume backed up did
// (the fixture's dump.json, written by juicefs dump); every counter of it
// recounts right.
func TestLoadOfficial(t *testing.T) {
	for _, vol := range volumes {
		t.Run(vol, func(t *testing.T) {
			e := loadInto(t, officialBackup(t, vol))
			want, err := os.ReadFile(fixtures.Path(vol, "dump.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonDump(t, e); got != string(want) {
				t.Errorf("JSON dump after loading the official backup differs:\n%s",
					diffLines(strings.Split(string(want), "\n"), strings.Split(got, "\n")))
			}
			recountLike(t, e, openFixture(t, vol))
		})
	}
}

// TestRoundTrip: dump, load into another database, dump again: the same
// records, and the same JSON dump as the original volume.
func TestRoundTrip(t *testing.T) {
	for _, vol := range volumes {
		t.Run(vol, func(t *testing.T) {
			e := openFixture(t, vol)
			first := binaryDump(t, e, backup.DumpOptions{Threads: 2, KeepSecret: true})
			e2 := loadInto(t, first)
			second := binaryDump(t, e2, backup.DumpOptions{Threads: 5, KeepSecret: true})
			if a, b := records(t, first), records(t, second); !slices.Equal(a, b) {
				t.Errorf("records differ after a round trip:\n%s", diffLines(a, b))
			}
			if a, b := jsonDump(t, e), jsonDump(t, e2); a != b {
				t.Errorf("JSON dumps differ after a round trip:\n%s", diffLines(strings.Split(a, "\n"), strings.Split(b, "\n")))
			}
			recountLike(t, e2, e)
		})
	}
}

// diffLines shows the lines only one side has.
func diffLines(want, got []string) string {
	var b bytes.Buffer
	in := func(s string, list []string) bool { return slices.Contains(list, s) }
	n := 0
	for _, l := range want {
		if !in(l, got) && n < 20 {
			b.WriteString("- " + l + "\n")
			n++
		}
	}
	for _, l := range got {
		if !in(l, want) && n < 40 {
			b.WriteString("+ " + l + "\n")
			n++
		}
	}
	return b.String()
}
