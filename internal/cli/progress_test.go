package cli

import (
	"strings"
	"testing"
)

// TestProgressBars runs the tools with progress bars, as on a terminal: the
// bars are drawn on stderr, the summary lines juicefs logs only without a
// terminal are left out, and the outputs on stdout stay the same.
func TestProgressBars(t *testing.T) {
	fv := loadFixture(t, "basic", true)
	for _, tc := range []struct {
		args []string
		bar  string // a progress line that must appear
		gone string // a log line replaced by the bars
	}{
		{[]string{"fsck", fv.url}, "Scanned slices", "Found 60 blocks"},
		{[]string{"fsck", fv.url, "--path", "/", "-r"}, "Checked nodes", "Checked 369 nodes"},
		{[]string{"gc", fv.url}, "Scanned objects", "using "},
		{[]string{"summary", fv.url, "/"}, "/: ", ""},
		{[]string{"info", fv.url, "-r", "docs"}, "Summarizing", ""},
		{[]string{"rmr", fv.url, "many"}, "Removing entries", "Removed 300 entries"},
	} {
		r := runOnTerminal(t, tc.args...)
		if r.code != 0 {
			t.Fatalf("%v failed:\n%s", tc.args, r.stderr)
		}
		if !strings.Contains(r.stderr, tc.bar) {
			t.Errorf("%v: no %q progress line:\n%s", tc.args, tc.bar, r.stderr)
		}
		if tc.gone != "" && strings.Contains(r.stderr, tc.gone) {
			t.Errorf("%v logged %q although bars were drawn", tc.args, tc.gone)
		}
	}
	// The table is the same with or without bars.
	if got, want := runOnTerminal(t, "summary", fv.url, "docs").stdout, run(t, "summary", fv.url, "docs").stdout; got != want {
		t.Errorf("summary with bars:\n%s\nwithout:\n%s", got, want)
	}
}
