package cli

import (
	"regexp"
	"strings"
	"testing"
)

// TestMdtest runs the workload command like juicefs mdtest and checks its
// summary lines, its extra phases and --stats.
func TestMdtest(t *testing.T) {
	url, _, _ := newDB(t)
	formatVolume(t, url, "mdtest")
	r := run(t, "mdtest", url, "/bench", "--threads", "2", "--dirs", "2", "--depth", "2", "--files", "3", "--stats").ok(t)
	for _, want := range []string{
		`Create 42 files in 7 dirs`,
		`Created 7 dirs in [^ ]+ \(\d+ dirs/s\)`,
		`Created 42 files in [^ ]+ \(\d+ files/s\)`,
		`Stat 42 files in `,
		`Listed 7 dirs in `,
		`Renamed 42 files in `,
		`Removed 42 files in `,
		`client-side cache: \d+ hits, \d+ misses`,
		`transactions: \d+ committed`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stderr) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Only the create phase, keeping the files: a second run in another
	// directory works on the same volume.
	r = run(t, "mdtest", url, "bench2", "--files", "2", "--depth", "1", "--phases", "none").ok(t)
	if strings.Contains(r.stderr, "Stat ") {
		t.Error("--phases none ran the stat phase")
	}
	run(t, "mdtest", url, "/bench3", "--phases", "stat,bogus").fails(t, `unknown phase "bogus"`)
	run(t, "mdtest", url).fails(t, "requires at least 2 arguments")
}
